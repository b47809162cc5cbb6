/*
 * reward.c — the rule-based rewards of R1 (reward.h): the response parser with its format
 * check, the per-family verifiers, and Countdown's expression evaluator — a recursive-
 * descent parser over integers, + - * / and parentheses with bounded depth, exact
 * division and overflow-checked int64 arithmetic (never an eval of the text).
 */
#include <stdio.h>
#include <string.h>

#include "r1/reward.h"

static const char TH_OPEN[] = "<think>";
static const char TH_CLOSE[] = "</think>";
static const char BOXED[] = "\\boxed";

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const char *find(const char *h, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    if (nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0)
            return h + i;
    return NULL;
}

static size_t count(const char *h, size_t hn, const char *needle)
{
    size_t c = 0, nn = strlen(needle);
    const char *p = h, *end = h + hn;
    const char *q = find(p, (size_t)(end - p), needle);
    while (q != NULL) {
        c++;
        p = q + nn;
        q = find(p, (size_t)(end - p), needle);
    }
    return c;
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static int fail(wh_r1_parsed *p, const char *why)
{
    p->ok = 0;
    p->why = why;
    return 0;
}

/* The answer part: exactly one \boxed{...} with balanced braces and a non-empty body. */
static int parse_answer(const char *a, size_t n, wh_r1_parsed *p)
{
    p->answer = a;
    p->answer_len = n;
    size_t nb = count(a, n, BOXED);
    if (nb == 0)
        return fail(p, "no \\boxed{} in the answer");
    if (nb > 1)
        return fail(p, "more than one \\boxed in the answer");
    const char *b = find(a, n, BOXED);
    const char *end = a + n;
    const char *q = b + strlen(BOXED);
    if (q >= end || *q != '{')
        return fail(p, "\\boxed not followed by {");
    q++;
    const char *body = q;
    int depth = 1;
    while (q < end) {
        if (*q == '{')
            depth++;
        else if (*q == '}')
            depth--;
        if (depth == 0)
            break;
        q++;
    }
    if (depth != 0)
        return fail(p, "unclosed \\boxed{");
    const char *c = body;
    size_t cn = (size_t)(q - body);
    trim(&c, &cn);
    if (cn == 0)
        return fail(p, "empty \\boxed{}");
    p->boxed = c;
    p->boxed_len = cn;
    p->ok = 1;
    p->why = "";
    return 1;
}

int wh_r1_parse(const char *text, size_t len, wh_r1_mode mode, wh_r1_parsed *p)
{
    memset(p, 0, sizeof *p);
    p->why = "";
    if (text == NULL)
        return fail(p, "no text");
    if (mode == WH_R1_ANSWER_ONLY) {
        if (find(text, len, TH_OPEN) || find(text, len, TH_CLOSE))
            return fail(p, "thinking tags in an answer-only response");
        return parse_answer(text, len, p);
    }
    const char *s = text, *end = text + len;
    while (s < end && is_space(*s))
        s++;
    size_t ol = strlen(TH_OPEN), cl = strlen(TH_CLOSE);
    if ((size_t)(end - s) < ol || memcmp(s, TH_OPEN, ol) != 0)
        return fail(p, "does not open with <think>");
    const char *th = s + ol;
    const char *close = find(th, (size_t)(end - th), TH_CLOSE);
    p->think = th;
    p->think_len = close ? (size_t)(close - th) : (size_t)(end - th);
    if (find(th, p->think_len, TH_OPEN))
        return fail(p, "a second <think> inside the thought");
    if (close == NULL)
        return fail(p, "no </think>");
    const char *a = close + cl;
    size_t an = (size_t)(end - a);
    if (find(a, an, TH_OPEN) || find(a, an, TH_CLOSE))
        return fail(p, "a thinking tag after </think>");
    return parse_answer(a, an, p);
}

/* ---- canonical integers and lists ---- */

/* U+2212 MINUS SIGN, U+00D7 MULTIPLICATION SIGN, U+00F7 DIVISION SIGN in UTF-8 */
static const char U_MINUS[] = "\xe2\x88\x92";
static const char U_TIMES[] = "\xc3\x97";
static const char U_DIV[] = "\xc3\xb7";

static int starts(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(s, lit, l) == 0;
}

int wh_r1_canon_int(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    } else if (starts(s, n, U_MINUS)) {
        neg = 1;
        i = strlen(U_MINUS);
    }
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t nd = i - d0;
    if (i != n || nd == 0 || nd > 64)
        return -1;
    if (nd > 1 && s[d0] == '0')
        return -1; /* leading zero */
    if (neg && nd == 1 && s[d0] == '0')
        return -1; /* "-0" */
    if (nd + (size_t)neg + 1 > cap)
        return -1;
    size_t k = 0;
    if (neg)
        out[k++] = '-';
    memcpy(out + k, s + d0, nd);
    out[k + nd] = '\0';
    return 0;
}

static int check_arith(const wh_task *t, const char *a, size_t n, char *key, size_t cap,
                       const char **why)
{
    char c[80];
    if (wh_r1_canon_int(a, n, c, sizeof c) != 0) {
        *why = "not an integer in canonical form";
        return -1;
    }
    if (key != NULL)
        snprintf(key, cap, "%s", c);
    if (strcmp(c, t->answer) != 0) {
        *why = "wrong value";
        return 0;
    }
    return 1;
}

static int check_sort(const wh_task *t, const char *a, size_t n, char *key, size_t cap,
                      const char **why)
{
    trim(&a, &n);
    if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
        a++;
        n -= 2;
    } else if (n > 0 && (a[0] == '[' || a[n - 1] == ']')) {
        *why = "unbalanced [ ]";
        return -1;
    }
    char canon[WH_R1_KEY_MAX];
    size_t k = 0;
    int items = 0;
    const char *p = a, *end = a + n;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        const char *it = p;
        size_t in = (size_t)(ie - p);
        trim(&it, &in);
        char c[80];
        if (wh_r1_canon_int(it, in, c, sizeof c) != 0) {
            *why = "a list item is not an integer in canonical form";
            return -1;
        }
        size_t cl = strlen(c);
        if (k + cl + 3 > sizeof canon || ++items > 64) {
            *why = "list too long";
            return -1;
        }
        if (k > 0) {
            memcpy(canon + k, ", ", 2);
            k += 2;
        }
        memcpy(canon + k, c, cl);
        k += cl;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    canon[k] = '\0';
    if (key != NULL)
        snprintf(key, cap, "%s", canon);
    if (strcmp(canon, t->answer) != 0) {
        *why = "wrong list";
        return 0;
    }
    return 1;
}

/* ---- Countdown expressions ---- */

typedef struct xp {
    const char *s, *end;
    const int64_t *nums;
    int n;
    unsigned used; /* bit i: nums[i] taken */
    int depth;
    const char *why; /* first error */
    int semantic;    /* the error is in the arithmetic or the numbers, not the syntax */
    char norm[WH_R1_EXPR_MAX + 8]; /* the expression re-written in ASCII, no spaces */
    size_t nn;
} xp;

static void skip_ws(xp *x)
{
    while (x->s < x->end && is_space(*x->s))
        x->s++;
}

static void emit(xp *x, const char *t, size_t n)
{
    if (x->nn + n < sizeof x->norm) {
        memcpy(x->norm + x->nn, t, n);
        x->nn += n;
    }
}

/* The operator at x->s among `ops` ("+-" or "* /"), consuming it; 0 if none. */
static char peek_op(xp *x, int mul)
{
    skip_ws(x);
    size_t n = (size_t)(x->end - x->s);
    struct {
        const char *lit;
        char op;
    } const tab[] = {{"+", '+'},       {"-", '-'}, {U_MINUS, '-'}, {"*", '*'},    {U_TIMES, '*'},
                     {"\\times", '*'}, {"/", '/'}, {U_DIV, '/'},   {"\\div", '/'}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        int is_mul = tab[i].op == '*' || tab[i].op == '/';
        if (is_mul != mul || !starts(x->s, n, tab[i].lit))
            continue;
        x->s += strlen(tab[i].lit);
        return tab[i].op;
    }
    return 0;
}

static int x_fail(xp *x, const char *why)
{
    if (x->why == NULL)
        x->why = why;
    return -1;
}

/* A well-formed expression that breaks the rules: a wrong answer rather than no answer. */
static int x_wrong(xp *x, const char *why)
{
    if (x->why == NULL)
        x->semantic = 1;
    return x_fail(x, why);
}

static int parse_expr(xp *x, int64_t *v);

static int parse_number(xp *x, int64_t *v)
{
    const char *d = x->s;
    while (x->s < x->end && *x->s >= '0' && *x->s <= '9')
        x->s++;
    size_t nd = (size_t)(x->s - d);
    if (nd == 0)
        return x_fail(x, "expected a number or (");
    if (nd > 1 && d[0] == '0')
        return x_fail(x, "a number with a leading zero");
    if (nd > 18)
        return x_wrong(x, "a number that was not given");
    int64_t val = 0;
    for (size_t i = 0; i < nd; i++)
        val = val * 10 + (d[i] - '0');
    int slot = -1;
    for (int i = 0; i < x->n; i++)
        if (x->nums[i] == val && !(x->used & (1u << i))) {
            slot = i;
            break;
        }
    if (slot < 0) {
        for (int i = 0; i < x->n; i++)
            if (x->nums[i] == val)
                return x_wrong(x, "a number used more often than given");
        return x_wrong(x, "a number that was not given");
    }
    x->used |= 1u << slot;
    emit(x, d, nd);
    *v = val;
    return 0;
}

static int parse_factor(xp *x, int64_t *v)
{
    skip_ws(x);
    if (x->s < x->end && *x->s == '(') {
        x->depth++;
        if (x->depth > WH_R1_EXPR_DEPTH)
            return x_fail(x, "parentheses nested too deeply");
        x->s++;
        emit(x, "(", 1);
        if (parse_expr(x, v) != 0)
            return -1;
        skip_ws(x);
        if (x->s >= x->end || *x->s != ')')
            return x_fail(x, "missing )");
        x->s++;
        emit(x, ")", 1);
        x->depth--;
        return 0;
    }
    return parse_number(x, v);
}

static int parse_term(xp *x, int64_t *v)
{
    if (parse_factor(x, v) != 0)
        return -1;
    for (;;) {
        char op = peek_op(x, 1);
        if (op == 0)
            return 0;
        emit(x, &op, 1);
        int64_t r;
        if (parse_factor(x, &r) != 0)
            return -1;
        if (op == '*') {
            if (__builtin_mul_overflow(*v, r, v))
                return x_wrong(x, "overflow");
        } else {
            if (r == 0)
                return x_wrong(x, "division by zero");
            if (*v % r != 0)
                return x_wrong(x, "division with a remainder");
            *v /= r;
        }
    }
}

static int parse_expr(xp *x, int64_t *v)
{
    if (parse_term(x, v) != 0)
        return -1;
    for (;;) {
        char op = peek_op(x, 0);
        if (op == 0)
            return 0;
        emit(x, &op, 1);
        int64_t r;
        if (parse_term(x, &r) != 0)
            return -1;
        int o = op == '+' ? __builtin_add_overflow(*v, r, v) : __builtin_sub_overflow(*v, r, v);
        if (o)
            return x_wrong(x, "overflow");
    }
}

/* Parses and evaluates; on success x->norm holds the ASCII form. */
static int countdown_run(xp *x, const char *expr, size_t len, const int64_t *nums, int n,
                         int64_t *value)
{
    memset(x, 0, sizeof *x);
    x->s = expr;
    x->end = expr + len;
    x->nums = nums;
    x->n = n > 32 ? 32 : n;
    if (len > WH_R1_EXPR_MAX)
        return x_fail(x, "expression too long");
    int64_t v = 0;
    if (parse_expr(x, &v) != 0)
        return -1;
    skip_ws(x);
    if (x->s < x->end && *x->s == '=') { /* "expr = N": N must be the value */
        x->s++;
        skip_ws(x);
        const char *d = x->s;
        while (x->s < x->end && !is_space(*x->s))
            x->s++;
        char c[80], want[32];
        if (wh_r1_canon_int(d, (size_t)(x->s - d), c, sizeof c) != 0)
            return x_fail(x, "= not followed by an integer");
        snprintf(want, sizeof want, "%lld", (long long)v);
        if (strcmp(c, want) != 0)
            return x_fail(x, "= states a value the expression does not have");
        skip_ws(x);
    }
    if (x->s != x->end)
        return x_fail(x, "unexpected text after the expression");
    x->norm[x->nn] = '\0';
    *value = v;
    return 0;
}

int wh_countdown_eval(const char *expr, size_t len, const int64_t *nums, int n, int64_t *value,
                      const char **why)
{
    xp x;
    int rc = countdown_run(&x, expr, len, nums, n, value);
    if (why != NULL)
        *why = rc == 0 ? "" : x.why;
    return rc;
}

/* Syntax errors are -1 (no vote); a misused number or a bad division is a wrong answer. */
static int check_countdown(const wh_task *t, const char *a, size_t n, char *key, size_t cap,
                           const char **why)
{
    xp x;
    int64_t v = 0;
    if (countdown_run(&x, a, n, t->nums, t->n_nums, &v) != 0) {
        *why = x.why;
        if (!x.semantic)
            return -1;
        if (key != NULL)
            snprintf(key, cap, "invalid");
        return 0;
    }
    if (v != t->target) {
        *why = "the expression does not reach the target";
        if (key != NULL)
            snprintf(key, cap, "=%lld", (long long)v);
        return 0;
    }
    /* every correct expression is the same answer for the vote */
    if (key != NULL)
        snprintf(key, cap, "=%lld", (long long)v);
    return 1;
}

int wh_task_check(const wh_task *t, const char *ans, size_t len, char *key, size_t key_cap,
                  const char **why)
{
    const char *w = "";
    int rc;
    if (key != NULL && key_cap > 0)
        key[0] = '\0';
    if (t->family == WH_TASK_ARITH)
        rc = check_arith(t, ans, len, key, key_cap, &w);
    else if (t->family == WH_TASK_COUNTDOWN)
        rc = check_countdown(t, ans, len, key, key_cap, &w);
    else if (t->family == WH_TASK_SORT)
        rc = check_sort(t, ans, len, key, key_cap, &w);
    else {
        rc = -1;
        w = "unknown family";
    }
    if (why != NULL)
        *why = rc == 1 ? "" : w;
    return rc;
}

void wh_r1_score_response(const wh_task *t, const char *text, size_t len, wh_r1_mode mode,
                          wh_r1_score *s)
{
    memset(s, 0, sizeof *s);
    wh_r1_parsed p;
    if (!wh_r1_parse(text, len, mode, &p)) {
        s->why = p.why;
        return;
    }
    s->format = 1;
    int rc = wh_task_check(t, p.boxed, p.boxed_len, s->key, sizeof s->key, &s->why);
    s->parsed = rc >= 0;
    s->correct = rc == 1;
    if (!s->parsed)
        s->key[0] = '\0';
}

float wh_r1_reward(const wh_r1_score *s)
{
    return (float)s->format + (float)s->correct;
}
