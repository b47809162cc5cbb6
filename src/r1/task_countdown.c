/*
 * task_countdown.c — Countdown (the TV numbers game, the task of TinyZero's R1-Zero
 * reproduction): reach a target from the given numbers with + - * / and parentheses,
 * each number used at most once. Level L gives L+2 numbers in 1..10+10L and a target
 * in 10..100L. Solvability is by construction: a random subset of the numbers is
 * combined pairwise by random operations (every intermediate a positive integer, every
 * division exact) and the result becomes the target; that expression is the reference.
 */
#include <stdio.h>
#include <string.h>

#include "r1/tasks.h"

typedef struct cd_item {
    int64_t v;
    int prec; /* 3 atom, 2 * or /, 1 + or - */
    char e[WH_TASK_ANSWER_MAX];
} cd_item;

static int op_prec(char op)
{
    return op == '*' || op == '/' ? 2 : 1;
}

/* out = x op y with the parentheses the precedence needs. Returns -1 if it does not fit. */
static int combine_expr(const cd_item *x, char op, const cd_item *y, cd_item *out)
{
    int p = op_prec(op);
    int lp = x->prec < p;
    int rp = y->prec < p || (y->prec == p && (op == '-' || op == '/'));
    int n = snprintf(out->e, sizeof out->e, "%s%s%s%c%s%s%s", lp ? "(" : "", x->e, lp ? ")" : "",
                     op, rp ? "(" : "", y->e, rp ? ")" : "");
    out->prec = p;
    return n > 0 && n < (int)sizeof out->e ? 0 : -1;
}

int wh_task_gen_countdown(wh_task_rng *r, int level, wh_task *t)
{
    static const char OPS[4] = {'+', '-', '*', '/'};
    int n = level + 2;
    if (n > WH_TASK_MAX_NUMS)
        n = WH_TASK_MAX_NUMS;
    int64_t hi = 10 + 10 * (int64_t)level, tmax = 100 * (int64_t)level;
    for (int i = 0; i < n; i++)
        t->nums[i] = wh_task_rng_range(r, 1, hi);
    t->n_nums = n;
    /* a random subset of at least 2 (at least n-1 from level 2 on) builds the target */
    int lo_use = level >= 2 ? n - 1 : 2;
    int use = (int)wh_task_rng_range(r, lo_use, n);
    int order[WH_TASK_MAX_NUMS];
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)wh_task_rng_range(r, 0, i);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    cd_item local[WH_TASK_MAX_NUMS];
    for (int i = 0; i < use; i++) {
        local[i].v = t->nums[order[i]];
        local[i].prec = 3;
        snprintf(local[i].e, sizeof local[i].e, "%lld", (long long)local[i].v);
    }
    int m = use;
    while (m > 1) {
        int i = (int)wh_task_rng_range(r, 0, m - 1);
        int j = (int)wh_task_rng_range(r, 0, m - 2);
        if (j >= i)
            j++;
        char op = OPS[wh_task_rng_range(r, 0, 3)];
        cd_item *x = &local[i], *y = &local[j];
        if ((op == '-' || op == '/') && x->v < y->v) {
            cd_item *s = x;
            x = y;
            y = s;
        }
        int64_t v;
        if (op == '+')
            v = x->v + y->v;
        else if (op == '-')
            v = x->v - y->v;
        else if (op == '*')
            v = x->v * y->v;
        else if (y->v > 1 && x->v % y->v == 0)
            v = x->v / y->v;
        else
            return -1;
        if (v <= 0 || v > 100000 || (op == '*' && (x->v == 1 || y->v == 1)))
            return -1;
        cd_item c;
        if (combine_expr(x, op, y, &c) != 0)
            return -1;
        c.v = v;
        /* replace i and j by c: c goes to the lower slot, the last item fills the other */
        int lo = i < j ? i : j, hi_i = i < j ? j : i;
        local[lo] = c;
        local[hi_i] = local[m - 1];
        m--;
    }
    int64_t target = local[0].v;
    if (target < 10 || target > tmax)
        return -1;
    for (int i = 0; i < n; i++)
        if (t->nums[i] == target)
            return -1;
    t->target = target;
    snprintf(t->answer, sizeof t->answer, "%s", local[0].e);
    int k = snprintf(t->prompt, sizeof t->prompt, "Make %lld from ", (long long)target);
    for (int i = 0; i < n; i++)
        k += snprintf(t->prompt + k, sizeof t->prompt - (size_t)k, "%s%lld", i ? ", " : "",
                      (long long)t->nums[i]);
    snprintf(t->prompt + k, sizeof t->prompt - (size_t)k,
             " with + - * / (each number at most once). " WH_TASK_BOX_HINT);
    return 0;
}
