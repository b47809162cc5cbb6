/* think_view.h — how `whale run` and `whale chat` show a streamed R1 reply: the
 * reasoning set apart (dimmed on a terminal, between <think> tags otherwise), the
 * answer after it, without the blank lines the model writes around </think>. */
#ifndef WHALE_CLI_THINK_VIEW_H
#define WHALE_CLI_THINK_VIEW_H

#include <stddef.h>
#include <stdio.h>

typedef struct think_view {
    FILE *out;
    int tty;     /* dim the reasoning instead of printing tags */
    int show;    /* 0: the reasoning is not printed */
    int state;   /* 0 nothing yet, 1 in the reasoning, 2 in the answer */
    int started; /* the current part has printed something other than newlines */
    int held_nl; /* newlines held back: printed only if more text of the part follows */
} think_view;

void think_view_init(think_view *v, FILE *out, int tty, int show);
/* One streamed piece of text; is_reasoning as the generator reports it. */
void think_view_text(think_view *v, const char *text, size_t len, int is_reasoning);
/* After the reply: restores the terminal if the reasoning was never closed. */
void think_view_end(think_view *v);

#endif
