/*
 * reward.h — reading an R1 response and the rule-based rewards (DeepSeek-R1 report,
 * §2.2.2: an accuracy reward from a verifier and a format reward for the thinking tags).
 *
 * The convention (docs/R1.md): a response is
 *     [whitespace] "<think>" THOUGHT "</think>" ANSWER
 * with no other "<think>" or "</think>" anywhere, and ANSWER holding exactly one
 * "\boxed" — followed by "{", a balanced-brace CONTENT and "}" — whose trimmed CONTENT
 * is not empty. CONTENT is the final answer; the thought is never read for it. A
 * response that breaks any rule gets neither reward: no hedging with two boxes, no
 * answer left inside the thought, nothing without "</think>".
 *
 * Answers per family: arith — one integer, optional "-" (or U+2212), no leading zeros,
 * no spaces, separators or "+"; countdown — an expression over the given numbers with
 * + - * / (also U+2212, U+00D7, U+00F7, \times, \div) and parentheses, each number at
 * most once, every division exact, value = target, optionally followed by "= target";
 * sort — the integers comma-separated, optionally in [ ].
 */
#ifndef WH_R1_REWARD_H
#define WH_R1_REWARD_H

#include <stddef.h>

#include "r1/tasks.h"

typedef enum wh_r1_mode {
    WH_R1_THINK = 0,       /* the response must open with a <think> block (R1 models) */
    WH_R1_ANSWER_ONLY = 1, /* no thinking tags at all (non-reasoning models such as V3) */
} wh_r1_mode;

/* The parts of a response; pointers into the text. */
typedef struct wh_r1_parsed {
    int ok;            /* well-formed: the format reward's condition */
    const char *why;   /* static reason when !ok, "" when ok */
    const char *think; /* the thought (between the tags; NULL without one) */
    size_t think_len;
    const char *answer; /* everything after "</think>" */
    size_t answer_len;
    const char *boxed; /* the trimmed content of the one \boxed{} */
    size_t boxed_len;
} wh_r1_parsed;

/* Splits text[0..len) (any bytes) by the convention. Returns p->ok. When the thought is
 * not closed, think runs to the end of the text (so its length can still be measured). */
int wh_r1_parse(const char *text, size_t len, wh_r1_mode mode, wh_r1_parsed *p);

#define WH_R1_KEY_MAX 256

typedef struct wh_r1_score {
    int format;              /* 1 when well-formed */
    int correct;             /* 1 when well-formed and the verifier accepts the answer */
    int parsed;              /* the answer has the family's syntax: it votes in cons@k */
    char key[WH_R1_KEY_MAX]; /* the answer in canonical form (the vote), "" if !parsed */
    const char *why;         /* static reason it is not correct, "" when correct */
} wh_r1_score;

/* Scores a whole response for task t. */
void wh_r1_score_response(const wh_task *t, const char *text, size_t len, wh_r1_mode mode,
                          wh_r1_score *s);

/* The R1 reward: accuracy (0/1) + format (0/1). */
float wh_r1_reward(const wh_r1_score *s);

/* Checks an answer (a box's content) against t. Returns 1 correct, 0 well-formed but
 * wrong, -1 not an answer of the family's syntax. key (may be NULL) receives the
 * canonical form when the return is >= 0; why (may be NULL) a static reason when < 1. */
int wh_task_check(const wh_task *t, const char *ans, size_t len, char *key, size_t key_cap,
                  const char **why);

/* Countdown: the value of an expression over the numbers nums[0..n) (each at most once).
 * Returns 0 and *value, or -1 with a static reason in *why: syntax, a number not given or
 * used too often, division by zero or with a remainder, int64 overflow, nesting deeper
 * than WH_R1_EXPR_DEPTH. The text may end with "= N"; then N must equal the value. */
#define WH_R1_EXPR_DEPTH 32
#define WH_R1_EXPR_MAX 512 /* bytes of an expression at most */
int wh_countdown_eval(const char *expr, size_t len, const int64_t *nums, int n, int64_t *value,
                      const char **why);

/* Integer in canonical form: optional '-' or U+2212, then "0" or a digit 1-9 and digits.
 * Writes "-123" style text to out. Returns 0, or -1 (not canonical, or > 64 digits). */
int wh_r1_canon_int(const char *s, size_t n, char *out, size_t cap);

#endif
