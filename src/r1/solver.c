/*
 * solver.c — the teacher of the cold-start SFT and of distillation (DeepSeek-R1 report,
 * §2.3.1: long chain-of-thought examples in a readable pattern, the answer after the
 * thought). Each solver writes the work a person would do, step by step, and only what
 * it actually did: column addition with carries, column subtraction with borrows, long
 * multiplication row by row, Countdown's depth-first search with every tried step (tried
 * steps beyond a budget are summarised, the successful path is always written), and
 * insertion sort with each comparison. The JSONL writer uses json-c for the escaping.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/alloc.h"
#include "r1/solver.h"

/* ---- a growable text buffer ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->cap ? b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *np = wh_realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* ---- arithmetic ---- */

/* Decimal digits of v >= 0, least significant first; returns the count. */
static int digits_of(int64_t v, int d[20])
{
    int n = 0;
    do {
        d[n++] = (int)(v % 10);
        v /= 10;
    } while (v > 0);
    return n;
}

/* Writes the column addition of a + b (both >= 0); returns the sum. */
static int64_t trace_add(sbuf *b, int64_t x, int64_t y)
{
    int dx[20], dy[20], out[21];
    int nx = digits_of(x, dx), ny = digits_of(y, dy);
    int n = nx > ny ? nx : ny, k = 0, carry = 0;
    sb_printf(b, "%lld + %lld, column by column from the right:\n", (long long)x, (long long)y);
    for (int i = 0; i < n; i++) {
        int s = carry;
        int first = 1;
        if (i < nx) {
            sb_printf(b, "%d", dx[i]);
            s += dx[i];
            first = 0;
        }
        if (i < ny) {
            sb_printf(b, first ? "%d" : " + %d", dy[i]);
            s += dy[i];
            first = 0;
        }
        int alone = (i < nx) + (i < ny) == 1 && carry == 0;
        if (carry)
            sb_printf(b, " + %d", carry);
        carry = s / 10;
        out[k++] = s % 10;
        if (alone)
            sb_printf(b, ", write %d\n", s);
        else if (carry)
            sb_printf(b, " = %d, write %d, carry %d\n", s, s % 10, carry);
        else
            sb_printf(b, " = %d, write %d\n", s, s);
    }
    if (carry) {
        sb_printf(b, "carry %d, write %d\n", carry, carry);
        out[k++] = carry;
    }
    sb_printf(b, "digits from the right:");
    for (int i = 0; i < k; i++)
        sb_printf(b, " %d", out[i]);
    sb_printf(b, "\n%lld + %lld = %lld\n", (long long)x, (long long)y, (long long)(x + y));
    return x + y;
}

/* Column subtraction big - small (big >= small >= 0). */
static void trace_sub(sbuf *b, int64_t big, int64_t small)
{
    int dx[20], dy[20], out[20];
    int nx = digits_of(big, dx), ny = digits_of(small, dy);
    int borrow = 0;
    sb_printf(b, "%lld - %lld, column by column from the right:\n", (long long)big,
              (long long)small);
    for (int i = 0; i < nx; i++) {
        int y = i < ny ? dy[i] : 0;
        int d = dx[i] - y - borrow;
        char expr[48];
        if (i < ny && borrow)
            snprintf(expr, sizeof expr, "%d - %d - 1", dx[i], y);
        else if (i < ny)
            snprintf(expr, sizeof expr, "%d - %d", dx[i], y);
        else if (borrow)
            snprintf(expr, sizeof expr, "%d - 1", dx[i]);
        else
            snprintf(expr, sizeof expr, "%d", dx[i]);
        if (d < 0) {
            sb_printf(b, "%s is negative, borrow: 1%s = %d, write %d, borrow 1\n", expr, expr,
                      d + 10, d + 10);
            out[i] = d + 10;
            borrow = 1;
        } else {
            if (i < ny || borrow)
                sb_printf(b, "%s = %d, write %d\n", expr, d, d);
            else
                sb_printf(b, "%d, write %d\n", d, d);
            out[i] = d;
            borrow = 0;
        }
    }
    sb_printf(b, "digits from the right:");
    for (int i = 0; i < nx; i++)
        sb_printf(b, " %d", out[i]);
    sb_printf(b, "\n%lld - %lld = %lld\n", (long long)big, (long long)small,
              (long long)(big - small));
}

/* One row of long multiplication: x * d for a digit d. */
static int64_t trace_mul_digit(sbuf *b, int64_t x, int d)
{
    int dx[20];
    int nx = digits_of(x, dx), carry = 0;
    if (d <= 1) {
        sb_printf(b, "%lld * %d = %lld\n", (long long)x, d, (long long)(x * d));
        return x * d;
    }
    sb_printf(b, "%lld * %d:", (long long)x, d);
    for (int i = 0; i < nx; i++) {
        int p = dx[i] * d + carry;
        sb_printf(b, i ? "; %d * %d" : " %d * %d", dx[i], d);
        if (carry)
            sb_printf(b, " + %d", carry);
        if (i == nx - 1)
            sb_printf(b, " = %d, write %d", p, p);
        else if (p / 10)
            sb_printf(b, " = %d, write %d, carry %d", p, p % 10, p / 10);
        else
            sb_printf(b, " = %d, write %d", p, p);
        carry = p / 10;
    }
    sb_printf(b, "\n%lld * %d = %lld\n", (long long)x, d, (long long)(x * d));
    return x * d;
}

static void trace_mul(sbuf *b, int64_t x, int64_t y)
{
    int dy[20];
    int ny = digits_of(y, dy);
    if (ny == 1) {
        trace_mul_digit(b, x, dy[0]);
        return;
    }
    sb_printf(b, "%lld * %lld: multiply %lld by each digit of %lld from the right.\n", (long long)x,
              (long long)y, (long long)x, (long long)y);
    int64_t rows[20], shift = 1;
    for (int i = 0; i < ny; i++) {
        int64_t r = trace_mul_digit(b, x, dy[i]);
        rows[i] = r * shift;
        if (i > 0)
            sb_printf(b, "shifted %d place%s: %lld\n", i, i > 1 ? "s" : "", (long long)rows[i]);
        shift *= 10;
    }
    sb_printf(b, "add the rows:");
    for (int i = 0; i < ny; i++)
        sb_printf(b, "%s%lld", i ? " + " : " ", (long long)rows[i]);
    sb_printf(b, "\n");
    int64_t acc = rows[0];
    for (int i = 1; i < ny; i++) {
        if (rows[i] == 0)
            continue;
        acc = trace_add(b, acc, rows[i]);
    }
    sb_printf(b, "%lld * %lld = %lld\n", (long long)x, (long long)y, (long long)acc);
}

static void solve_arith(const wh_task *t, sbuf *b)
{
    int64_t x = t->a, y = t->b;
    if (t->op == '+') {
        trace_add(b, x, y);
    } else if (t->op == '-') {
        if (x >= y) {
            trace_sub(b, x, y);
        } else {
            sb_printf(b, "%lld < %lld, so %lld - %lld = -(%lld - %lld).\n", (long long)x,
                      (long long)y, (long long)x, (long long)y, (long long)y, (long long)x);
            trace_sub(b, y, x);
            sb_printf(b, "so %lld - %lld = %lld\n", (long long)x, (long long)y, (long long)(x - y));
        }
    } else {
        trace_mul(b, x, y);
    }
}

/* ---- Countdown: depth-first search over pairwise combinations ---- */

#define CD_NODE_BUDGET 200000 /* combinations tried at most */
#define CD_LINE_BUDGET 32     /* dead-end lines written before they are summarised */
#define CD_MAX_VALUE 100000   /* intermediates above this are not tried (as the generator) */

typedef struct cd_val {
    int64_t v;
    int prec; /* 3 number, 2 * /, 1 + - */
    char e[WH_TASK_ANSWER_MAX];
} cd_val;

typedef struct cd_move {
    int i, j; /* the larger operand first (i) */
    char op;
    int64_t r;
} cd_move;

typedef struct cd_line {
    int depth;
    int leaf;    /* a line that lists the last combinations of two numbers */
    int on_path; /* part of the solution */
    char text[200];
} cd_line;

typedef struct cd_search {
    int64_t target;
    long nodes;
    cd_line *lines;
    int n_lines, cap_lines;
    int oom;
    cd_val solution;
    uint64_t *seen; /* open-addressing set of visited states (hash of the sorted values) */
    size_t seen_cap, seen_n;
} cd_search;

static int cd_seen_put(uint64_t *tab, size_t cap, uint64_t h)
{
    for (size_t k = (size_t)h;; k++) {
        uint64_t *slot = &tab[k & (cap - 1)];
        if (*slot == h)
            return 1;
        if (*slot == 0) {
            *slot = h;
            return 0;
        }
    }
}

/* Marks the multiset vals[0..n) visited; returns 1 if it already was. The same numbers
 * reached by another order of steps (a+b then c+d, or c+d then a+b) are searched once.
 * The table doubles when half full; without memory it forgets (searches again). */
static int cd_seen(cd_search *s, const cd_val *vals, int n)
{
    int64_t v[WH_TASK_MAX_NUMS];
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && v[j - 1] > vals[i].v) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = vals[i].v;
    }
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint64_t)v[i]) * 0x100000001b3ull;
    h |= 1; /* 0 marks an empty slot */
    if (2 * (s->seen_n + 1) > s->seen_cap) {
        size_t cap = s->seen_cap ? 2 * s->seen_cap : 4096;
        uint64_t *tab = wh_calloc(cap, sizeof *tab);
        if (tab == NULL)
            return 0;
        for (size_t i = 0; i < s->seen_cap; i++)
            if (s->seen[i] != 0)
                cd_seen_put(tab, cap, s->seen[i]);
        wh_free(s->seen);
        s->seen = tab;
        s->seen_cap = cap;
    }
    int was = cd_seen_put(s->seen, s->seen_cap, h);
    s->seen_n += !was;
    return was;
}

static cd_line *cd_add_line(cd_search *s, int depth)
{
    if (s->n_lines == s->cap_lines) {
        int cap = s->cap_lines ? s->cap_lines * 2 : 64;
        cd_line *nl = wh_realloc(s->lines, (size_t)cap * sizeof *nl);
        if (nl == NULL) {
            s->oom = 1;
            return NULL;
        }
        s->lines = nl;
        s->cap_lines = cap;
    }
    cd_line *l = &s->lines[s->n_lines++];
    memset(l, 0, sizeof *l);
    l->depth = depth;
    return l;
}

static int64_t i64_abs(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Every move from vals[0..n): each pair, the larger operand first, with the operations
 * that keep a positive integer (no * or / by 1). Sorted closest to the target first;
 * the insertion sort keeps ties in generation order. */
static int cd_moves(const cd_val *vals, int n, int64_t target, cd_move *mv)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int hi = vals[i].v >= vals[j].v ? i : j;
            int lo = hi == i ? j : i;
            int64_t a = vals[hi].v, b = vals[lo].v;
            cd_move m = {hi, lo, '+', a + b};
            if (m.r <= CD_MAX_VALUE)
                mv[k++] = m;
            if (a - b > 0) {
                m.op = '-';
                m.r = a - b;
                mv[k++] = m;
            }
            if (a > 1 && b > 1 && a * b <= CD_MAX_VALUE) {
                m.op = '*';
                m.r = a * b;
                mv[k++] = m;
            }
            if (b > 1 && a % b == 0) {
                m.op = '/';
                m.r = a / b;
                mv[k++] = m;
            }
        }
    for (int i = 1; i < k; i++) {
        cd_move m = mv[i];
        int j = i - 1;
        while (j >= 0 && i64_abs(mv[j].r - target) > i64_abs(m.r - target)) {
            mv[j + 1] = mv[j];
            j--;
        }
        mv[j + 1] = m;
    }
    return k;
}

/* out = x op y, parenthesised as the precedence needs. */
static void cd_combine(const cd_val *x, char op, const cd_val *y, int64_t r, cd_val *out)
{
    int p = op == '*' || op == '/' ? 2 : 1;
    int lp = x->prec < p;
    int rp = y->prec < p || (y->prec == p && (op == '-' || op == '/'));
    int w = snprintf(out->e, sizeof out->e, "%s%s%s%c%s%s%s", lp ? "(" : "", x->e, lp ? ")" : "",
                     op, rp ? "(" : "", y->e, rp ? ")" : "");
    if (w < 0 || (size_t)w >= sizeof out->e) /* cannot happen: 12 numbers fit easily */
        out->e[0] = '\0';
    out->prec = p;
    out->v = r;
}

/* Returns 1 when the target was reached below this node. */
static int cd_dfs(cd_search *s, const cd_val *vals, int n, int depth)
{
    cd_move mv[WH_TASK_MAX_NUMS * WH_TASK_MAX_NUMS * 2];
    int k = cd_moves(vals, n, s->target, mv);
    if (n == 2) { /* the last combinations: one line */
        cd_line *l = cd_add_line(s, depth);
        if (l == NULL)
            return 0;
        l->leaf = 1;
        size_t len = 0;
        for (int q = 0; q < k; q++) {
            const cd_move *m = &mv[q];
            s->nodes++;
            int w = snprintf(l->text + len, sizeof l->text - len, "%s%lld %c %lld = %lld",
                             q ? ", " : "", (long long)vals[m->i].v, m->op, (long long)vals[m->j].v,
                             (long long)m->r);
            if (w > 0 && (size_t)w < sizeof l->text - len)
                len += (size_t)w;
            if (m->r == s->target) {
                snprintf(l->text + len, sizeof l->text - len, ", reached");
                l->on_path = 1;
                cd_combine(&vals[m->i], m->op, &vals[m->j], m->r, &s->solution);
                return 1;
            }
        }
        snprintf(l->text + len, sizeof l->text - len, "%sno", k ? ": " : "");
        return 0;
    }
    for (int q = 0; q < k; q++) {
        const cd_move *m = &mv[q];
        s->nodes++;
        if (s->nodes > CD_NODE_BUDGET || s->oom)
            return 0;
        cd_val next[WH_TASK_MAX_NUMS];
        int nn = 0;
        cd_val c;
        cd_combine(&vals[m->i], m->op, &vals[m->j], m->r, &c);
        next[nn++] = c;
        for (int t = 0; t < n; t++)
            if (t != m->i && t != m->j)
                next[nn++] = vals[t];
        if (m->r != s->target && cd_seen(s, next, nn))
            continue;
        int line = s->n_lines;
        cd_line *l = cd_add_line(s, depth);
        if (l == NULL)
            return 0;
        if (m->r == s->target) {
            snprintf(l->text, sizeof l->text, "%lld %c %lld = %lld, reached",
                     (long long)vals[m->i].v, m->op, (long long)vals[m->j].v, (long long)m->r);
            l->on_path = 1;
            s->solution = c;
            return 1;
        }
        size_t len = 0;
        int w = snprintf(l->text, sizeof l->text, "%lld %c %lld = %lld, left",
                         (long long)vals[m->i].v, m->op, (long long)vals[m->j].v, (long long)m->r);
        len = w > 0 ? (size_t)w : 0;
        for (int t = 0; t < nn && len < sizeof l->text; t++) {
            w = snprintf(l->text + len, sizeof l->text - len, " %lld", (long long)next[t].v);
            if (w > 0)
                len += (size_t)w;
        }
        if (cd_dfs(s, next, nn, depth + 1)) {
            s->lines[line].on_path = 1;
            return 1;
        }
    }
    return 0;
}

static int solve_countdown(const wh_task *t, sbuf *b, char *answer, size_t cap)
{
    cd_search s;
    memset(&s, 0, sizeof s);
    s.target = t->target;
    cd_val vals[WH_TASK_MAX_NUMS];
    for (int i = 0; i < t->n_nums; i++) {
        vals[i].v = t->nums[i];
        vals[i].prec = 3;
        snprintf(vals[i].e, sizeof vals[i].e, "%lld", (long long)t->nums[i]);
    }
    int found = cd_dfs(&s, vals, t->n_nums, 0);
    wh_free(s.seen);
    if (!found || s.oom) {
        wh_free(s.lines);
        return -1;
    }
    sb_printf(b, "target %lld from", (long long)t->target);
    for (int i = 0; i < t->n_nums; i++)
        sb_printf(b, " %lld", (long long)t->nums[i]);
    sb_printf(b, ". Combine two numbers at a time, closest to the target first.\n");
    int skipped = 0;
    for (int i = 0; i < s.n_lines; i++) {
        const cd_line *l = &s.lines[i];
        if (!l->on_path && i >= CD_LINE_BUDGET) {
            skipped++;
            continue;
        }
        if (skipped > 0) {
            for (int d = 0; d < l->depth; d++)
                sb_printf(b, "  ");
            sb_printf(b, "(%d more tries, no)\n", skipped);
            skipped = 0;
        }
        for (int d = 0; d < l->depth; d++)
            sb_printf(b, "  ");
        sb_printf(b, "%s\n", l->text);
    }
    sb_printf(b, "so %s = %lld\n", s.solution.e, (long long)t->target);
    snprintf(answer, cap, "%s", s.solution.e);
    wh_free(s.lines);
    return 0;
}

/* ---- sorting: insertion sort, comparing from the end of the sorted part ---- */

static void sb_list(sbuf *b, const int64_t *v, int n)
{
    sb_printf(b, "[");
    for (int i = 0; i < n; i++)
        sb_printf(b, "%s%lld", i ? ", " : "", (long long)v[i]);
    sb_printf(b, "]");
}

static void solve_sort(const wh_task *t, sbuf *b, char *answer, size_t cap)
{
    int desc = t->descending;
    int64_t s[WH_TASK_MAX_NUMS];
    int n = 0;
    sb_printf(b, "Sort %s by inserting one number at a time, comparing from the end.\n",
              desc ? "largest first" : "smallest first");
    s[n++] = t->nums[0];
    sb_printf(b, "start: ");
    sb_list(b, s, n);
    sb_printf(b, "\n");
    for (int i = 1; i < t->n_nums; i++) {
        int64_t x = t->nums[i];
        sb_printf(b, "insert %lld:", (long long)x);
        int pos = n;
        while (pos > 0) {
            int64_t y = s[pos - 1];
            int before = desc ? x > y : x < y; /* x goes before y */
            sb_printf(b, "%s %lld %c %lld", pos < n ? "," : "", (long long)x, x < y ? '<' : '>',
                      (long long)y);
            if (!before)
                break;
            pos--;
        }
        for (int j = n; j > pos; j--)
            s[j] = s[j - 1];
        s[pos] = x;
        n++;
        sb_printf(b, " -> ");
        sb_list(b, s, n);
        sb_printf(b, "\n");
    }
    size_t k = 0;
    for (int i = 0; i < n && k < cap; i++) {
        int w = snprintf(answer + k, cap - k, "%s%lld", i ? ", " : "", (long long)s[i]);
        if (w > 0)
            k += (size_t)w;
    }
}

/* ---- entry points ---- */

int wh_r1_solve(const wh_task *t, wh_r1_trace *tr)
{
    memset(tr, 0, sizeof *tr);
    sbuf b = {0};
    char ans[WH_TASK_ANSWER_MAX];
    ans[0] = '\0';
    if (t->family == WH_TASK_ARITH) {
        solve_arith(t, &b);
        snprintf(ans, sizeof ans, "%lld", (long long)t->target);
    } else if (t->family == WH_TASK_COUNTDOWN) {
        if (solve_countdown(t, &b, ans, sizeof ans) != 0) {
            wh_free(b.p);
            return -1;
        }
    } else if (t->family == WH_TASK_SORT) {
        solve_sort(t, &b, ans, sizeof ans);
    } else {
        return -1;
    }
    /* drop the last newline: the text layout adds "\n</think>" */
    if (!b.oom && b.n > 0 && b.p[b.n - 1] == '\n')
        b.p[--b.n] = '\0';
    sbuf a = {0};
    sb_printf(&a, "\\boxed{%s}", ans);
    if (b.oom || a.oom || b.p == NULL) {
        wh_free(b.p);
        wh_free(a.p);
        return -1;
    }
    tr->think = b.p;
    tr->think_len = b.n;
    tr->answer = a.p;
    tr->answer_len = a.n;
    return 0;
}

void wh_r1_trace_free(wh_r1_trace *tr)
{
    if (tr == NULL)
        return;
    wh_free(tr->think);
    wh_free(tr->answer);
    memset(tr, 0, sizeof *tr);
}

char *wh_r1_trace_text(const wh_r1_trace *tr, size_t *len)
{
    sbuf b = {0};
    sb_printf(&b, "<think>\n%.*s\n</think>\n\n%.*s", (int)tr->think_len, tr->think,
              (int)tr->answer_len, tr->answer);
    if (b.oom) {
        wh_free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

int wh_r1_write_sft(FILE *f, const wh_task *t, const wh_r1_trace *tr)
{
    json_object *root = json_object_new_object();
    json_object *msgs = json_object_new_array();
    json_object *user = json_object_new_object();
    json_object *asst = json_object_new_object();
    if (root == NULL || msgs == NULL || user == NULL || asst == NULL) {
        json_object_put(root);
        json_object_put(msgs);
        json_object_put(user);
        json_object_put(asst);
        return -1;
    }
    json_object_object_add(user, "role", json_object_new_string("user"));
    json_object_object_add(user, "content", json_object_new_string(t->prompt));
    json_object_object_add(asst, "role", json_object_new_string("assistant"));
    json_object_object_add(asst, "content",
                           json_object_new_string_len(tr->answer, (int)tr->answer_len));
    json_object_object_add(asst, "reasoning_content",
                           json_object_new_string_len(tr->think, (int)tr->think_len));
    json_object_array_add(msgs, user);
    json_object_array_add(msgs, asst);
    json_object_object_add(root, "messages", msgs);
    json_object_object_add(root, "task", json_object_new_string(wh_task_family_name(t->family)));
    json_object_object_add(root, "level", json_object_new_int(t->level));
    json_object_object_add(root, "split",
                           json_object_new_string(t->split == WH_SPLIT_TEST ? "test" : "train"));
    json_object_object_add(root, "index", json_object_new_int64((int64_t)t->index));
    json_object_object_add(root, "answer", json_object_new_string(t->answer));
    const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    int ok = s != NULL && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    json_object_put(root);
    return ok ? 0 : -1;
}
