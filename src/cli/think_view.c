/* think_view.c — see think_view.h. */
#include "cli/think_view.h"

void think_view_init(think_view *v, FILE *out, int tty, int show)
{
    *v = (think_view){out, tty, show, 0, 0, 0};
}

/* Prints a part's text: leading newlines dropped, trailing ones held until more text. */
static void part_text(think_view *v, const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        if (text[i] == '\n') {
            if (v->started)
                v->held_nl++;
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        for (; v->held_nl > 0; v->held_nl--)
            fputc('\n', v->out);
        fwrite(text + i, 1, j - i, v->out);
        v->started = 1;
        i = j;
    }
}

void think_view_text(think_view *v, const char *text, size_t len, int is_reasoning)
{
    if (is_reasoning) {
        if (!v->show)
            return;
        if (v->state == 0)
            fputs(v->tty ? "\033[2m" : "<think>\n", v->out);
        v->state = 1;
    } else if (v->state != 2) {
        if (v->state == 1)
            fputs(v->tty ? "\033[0m\n\n" : "\n</think>\n\n", v->out);
        v->state = 2;
        v->started = 0;
        v->held_nl = 0;
    }
    part_text(v, text, len);
    fflush(v->out);
}

void think_view_end(think_view *v)
{
    if (v->tty && v->state == 1)
        fputs("\033[0m", v->out);
}
