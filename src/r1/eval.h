/*
 * eval.h — `whale eval`: a model against the held-out test sets of the task families.
 * For each family, level and test item, k samples are drawn in the model's chat format;
 * each is scored by reward.h. Per family and level: pass@1 (mean correctness over the k
 * samples), pass@k (the unbiased estimator of Chen et al. 2021), cons@k (majority vote
 * over the parsed answers, as DeepSeek-R1 reports cons@64), the format-reward rate and
 * the mean thinking length. Formulas in docs/R1.md.
 */
#ifndef WH_R1_EVAL_H
#define WH_R1_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "r1/reward.h"
#include "r1/tasks.h"
#include "whale.h"

typedef struct wh_eval_cell wh_eval_cell;

typedef struct wh_eval_opts {
    unsigned families;      /* bit f selects family f; 0 = all */
    int level_lo, level_hi; /* 1..WH_TASK_LEVEL_MAX */
    int n;                  /* test items per family and level (items 0..n-1) */
    int k;                  /* samples per item */
    float temperature;      /* 0 = greedy */
    float top_p;            /* 1 = off */
    uint64_t seed;          /* sample j of an item is seeded by (seed, family, level, item, j) */
    int max_tokens;         /* generated tokens per sample at most (the context also bounds) */
    int mode;               /* -1: from the chat family (V3: answer-only, else think);
                               else a wh_r1_mode */
    /* Called after each item (may be NULL): the cell so far, items done and in total. */
    void (*progress)(void *user, const wh_eval_cell *c, int done, int total);
    void *user;
} wh_eval_opts;

/* Defaults: all families, levels 1-3, n 20, k 4, temperature 0.6, top-p 0.95 (the
 * sampling DeepSeek-R1 was evaluated with), seed 0, max_tokens 2048, mode from the model. */
wh_eval_opts wh_eval_defaults(void);

/* One test item's outcome. */
typedef struct wh_eval_item {
    uint64_t index;
    int correct; /* samples correct, 0..k */
    int format;  /* samples well-formed */
    int cons;    /* the majority answer is correct */
    int skipped; /* the prompt did not fit the context: scored 0 */
} wh_eval_item;

struct wh_eval_cell {
    wh_task_family family;
    int level;
    int n_items, k;
    double pass1, passk, consk; /* means over items */
    double format_rate;         /* well-formed samples / samples */
    double think_tokens;        /* mean tokens of the thought per sample */
    double gen_tokens;          /* mean generated tokens per sample */
    int n_truncated;            /* samples stopped by max_tokens or the context */
    int n_skipped;              /* items whose prompt did not fit the context */
    wh_eval_item *items;        /* n_items */
};

typedef struct wh_eval_report {
    wh_eval_opts opts;
    const char *chat_family; /* wh_chat_family_name of the format used */
    int mode;                /* the wh_r1_mode used */
    int n_cells;
    wh_eval_cell *cells;
    double seconds;
} wh_eval_report;

/* Runs the evaluation on model m through session s (its context bounds each sample).
 * The session's sequence 0 is reset. Returns WH_OK or an error from generation. */
int wh_eval_run(const wh_model *m, wh_session *s, const wh_eval_opts *o, wh_eval_report *rep,
                wh_error *err);
void wh_eval_report_free(wh_eval_report *rep);

/* The table (one row per family and level, then one per family over its levels). */
void wh_eval_print_table(const wh_eval_report *rep, FILE *f);
/* The report as JSON (docs/R1.md lists the fields). Returns 0 or -1 on a write error. */
int wh_eval_write_json(const wh_eval_report *rep, const char *model, FILE *f);

/* ---- the estimators (pure; unit-tested) ---- */

/* Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k),
 * computed as 1 - prod_{i=n-c+1..n} (1 - k/i). Requires 0 <= c <= n, 1 <= k <= n. */
double wh_eval_pass_at_k(int n, int c, int k);

/* Majority vote over n samples: keys[i] is sample i's canonical answer, parsed[i] whether
 * it has one, correct[i] whether it is right. The most frequent key wins, a tie goes to
 * the key seen first. Returns 1 when the winner is correct, 0 otherwise or when no
 * sample parsed. */
int wh_eval_cons(const char *const *keys, const int *parsed, const int *correct, int n);

#endif
