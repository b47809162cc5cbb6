/*
 * task_arith.c — multi-digit arithmetic: a + b, a - b, a * b. Level L has (L+1)-digit
 * operands for + and -, (L+1)-digit by L-digit for *; every problem has at least one
 * carry (+, *) or borrow (-), so the column method has something to teach. Results fit
 * in int64 at every level (9-by-8 digits < 10^17).
 */
#include <stdio.h>

#include "r1/tasks.h"

static int64_t pow10_i(int d)
{
    int64_t p = 1;
    for (int i = 0; i < d; i++)
        p *= 10;
    return p;
}

/* A uniform d-digit number (no leading zero). */
static int64_t digits_n(wh_task_rng *r, int d)
{
    int64_t lo = d == 1 ? 0 : pow10_i(d - 1);
    return wh_task_rng_range(r, lo, pow10_i(d) - 1);
}

static int has_carry_add(int64_t a, int64_t b)
{
    for (; a > 0 || b > 0; a /= 10, b /= 10)
        if (a % 10 + b % 10 >= 10)
            return 1;
    return 0;
}

/* Borrow in big - small (big >= small). */
static int has_borrow_sub(int64_t big, int64_t small)
{
    for (; small > 0; big /= 10, small /= 10)
        if (big % 10 < small % 10)
            return 1;
    return 0;
}

/* A carry in some digit-by-number row of the long multiplication. */
static int has_carry_mul(int64_t a, int64_t b)
{
    for (; b > 0; b /= 10) {
        int64_t d = b % 10, carry = 0;
        for (int64_t x = a; x > 0; x /= 10) {
            int64_t p = d * (x % 10) + carry;
            carry = p / 10;
            if (carry > 0)
                return 1;
        }
    }
    return 0;
}

int wh_task_gen_arith(wh_task_rng *r, int level, wh_task *t)
{
    static const char OPS[3] = {'+', '-', '*'};
    char op = OPS[wh_task_rng_range(r, 0, 2)];
    int da = level + 1, db = op == '*' ? level : level + 1;
    int64_t a = digits_n(r, da), b = digits_n(r, db);
    int64_t v;
    if (op == '+') {
        if (!has_carry_add(a, b))
            return -1;
        v = a + b;
    } else if (op == '-') {
        if (a == b || !has_borrow_sub(a > b ? a : b, a > b ? b : a))
            return -1;
        v = a - b;
    } else {
        if (b < 2 || !has_carry_mul(a, b))
            return -1;
        v = a * b;
    }
    t->op = op;
    t->a = a;
    t->b = b;
    t->target = v;
    snprintf(t->prompt, sizeof t->prompt, "Compute %lld %c %lld. " WH_TASK_BOX_HINT, (long long)a,
             op, (long long)b);
    snprintf(t->answer, sizeof t->answer, "%lld", (long long)v);
    return 0;
}
