/*
 * solver.h — the programmatic teacher: solvers that write their step-by-step work as an
 * R1 thought (column arithmetic with carries and borrows, long multiplication, Countdown
 * depth-first search with the tried steps, insertion sort by comparisons), and the JSONL
 * writer of the SFT conversations built from them (docs/R1.md).
 */
#ifndef WH_R1_SOLVER_H
#define WH_R1_SOLVER_H

#include <stdio.h>

#include "r1/tasks.h"

/* A solved task: the thought (no tags) and the answer part ("\boxed{…}"). */
typedef struct wh_r1_trace {
    char *think;
    size_t think_len;
    char *answer;
    size_t answer_len;
} wh_r1_trace;

/* Solves t. Returns 0, or -1 when out of memory or (Countdown) the search gave up within
 * its node budget — never for a generated task in practice; the caller skips the item.
 * Release with wh_r1_trace_free. */
int wh_r1_solve(const wh_task *t, wh_r1_trace *tr);
void wh_r1_trace_free(wh_r1_trace *tr);

/* The whole assistant text in the convention: "<think>\n" think "\n</think>\n\n" answer.
 * Returns a new buffer (free with wh_free) and its length, or NULL when out of memory. */
char *wh_r1_trace_text(const wh_r1_trace *tr, size_t *len);

/* Writes one SFT line:
 * {"messages":[{"role":"user","content":P},{"role":"assistant","content":A,
 *   "reasoning_content":T}],"task":F,"level":L,"split":S,"index":I,"answer":R}
 * Returns 0, or -1 on a write error or out of memory. */
int wh_r1_write_sft(FILE *f, const wh_task *t, const wh_r1_trace *tr);

#endif
