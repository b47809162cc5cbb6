/*
 * tasks.h — the verifiable task families of the R1 recipe (DeepSeek-R1 report, §2.2.2:
 * rule-based rewards need problems whose answers a program can check): multi-digit
 * arithmetic, Countdown and sorting. Every item is a pure function of (family, level,
 * split, index): no global state, the same bytes on every machine.
 *
 * Splits: the problem space of each family and level is cut in two by a hash of the
 * problem's canonical form (operands of + and × in order, Countdown numbers sorted,
 * sort lists sorted): one problem in eight belongs to the held-out test split, the rest
 * to train. A generator draws candidates until one falls in the requested split, so no
 * training item ever equals a test item, whatever the seed. The held-out test set of a
 * family and level is items 0..n-1 of the test split (docs/R1.md).
 *
 * Answer convention (all families): the reply is "<think>\n…\n</think>\n\n" followed by
 * an answer part holding exactly one \boxed{…}; the box holds the answer (reward.h).
 */
#ifndef WH_R1_TASKS_H
#define WH_R1_TASKS_H

#include <stdint.h>

typedef enum wh_task_family {
    WH_TASK_ARITH = 0, /* a op b with op in + - *, carries guaranteed */
    WH_TASK_COUNTDOWN, /* reach a target from given numbers with + - * / */
    WH_TASK_SORT,      /* sort a list of integers ascending or descending */
    WH_TASK_N_FAMILIES
} wh_task_family;

typedef enum wh_task_split { WH_SPLIT_TRAIN = 0, WH_SPLIT_TEST = 1 } wh_task_split;

#define WH_TASK_LEVEL_MAX 8    /* levels are 1..WH_TASK_LEVEL_MAX for every family */
#define WH_TASK_MAX_NUMS 12    /* Countdown numbers / sort list length at most */
#define WH_TASK_PROMPT_MAX 256 /* bytes of a prompt, NUL included */
#define WH_TASK_ANSWER_MAX 160 /* bytes of a reference answer, NUL included */

/* One problem. Plain data: copy it freely. */
typedef struct wh_task {
    wh_task_family family;
    int level;
    wh_task_split split;
    uint64_t index;                  /* position in its split's item stream */
    char op;                         /* arith: '+', '-' or '*' */
    int64_t a, b;                    /* arith operands: a op b */
    int n_nums;                      /* Countdown: numbers given; sort: list length */
    int64_t nums[WH_TASK_MAX_NUMS];  /* Countdown: the numbers; sort: the list as given */
    int64_t target;                  /* Countdown target; arith: the result */
    int descending;                  /* sort: 1 = largest first */
    char prompt[WH_TASK_PROMPT_MAX]; /* the user message */
    char answer[WH_TASK_ANSWER_MAX]; /* reference answer (the \boxed content); Countdown:
                                        one solution, the verifier accepts any */
} wh_task;

/* "arith", "countdown", "sort". */
const char *wh_task_family_name(wh_task_family f);
/* The family named s, or -1. */
int wh_task_family_parse(const char *s);

/* Builds item `index` of a family, level (1..WH_TASK_LEVEL_MAX) and split into *t.
 * Returns 0, or -1 for a family or level out of range. Deterministic. */
int wh_task_make(wh_task_family f, int level, wh_task_split split, uint64_t index, wh_task *t);

/* Which split a finished problem belongs to (the hash of its canonical form). */
wh_task_split wh_task_split_of(const wh_task *t);

/* ---- small deterministic PRNG shared by the generators (splitmix64) ---- */
typedef struct wh_task_rng {
    uint64_t s;
} wh_task_rng;

uint64_t wh_task_rng_next(wh_task_rng *r);
/* Uniform in [lo, hi] (hi >= lo). */
int64_t wh_task_rng_range(wh_task_rng *r, int64_t lo, int64_t hi);
/* Mixes several words into one seed. */
uint64_t wh_task_mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* Per-family generators (task_*.c): fill the family fields, prompt and answer of t from
 * rng. Return 0, or -1 when this draw was rejected (the caller draws again). */
int wh_task_gen_arith(wh_task_rng *r, int level, wh_task *t);
int wh_task_gen_countdown(wh_task_rng *r, int level, wh_task *t);
int wh_task_gen_sort(wh_task_rng *r, int level, wh_task *t);

/* The instruction every prompt ends with (the answer convention). */
#define WH_TASK_BOX_HINT "Put the final answer in \\boxed{}."

#endif
