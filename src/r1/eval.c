/*
 * eval.c — `whale eval` (eval.h): held-out items rendered in the model's chat format,
 * k samples each through the step-wise generation loop of the runtime (gen_state.h, the
 * loop wh_generate wraps), the generated tokens decoded exactly and scored by reward.c;
 * then pass@1, pass@k, cons@k, format rate and thinking length per family and level,
 * as a table and as JSON. The prompt is evaluated once per item; each sample starts
 * from that cached prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "base/alloc.h"
#include "base/error.h"
#include "r1/eval.h"
#include "runtime/gen_state.h"

wh_eval_opts wh_eval_defaults(void)
{
    wh_eval_opts o;
    memset(&o, 0, sizeof o);
    o.families = 0;
    o.level_lo = 1;
    o.level_hi = 3;
    o.n = 20;
    o.k = 4;
    o.temperature = 0.6f;
    o.top_p = 0.95f;
    o.seed = 0;
    o.max_tokens = 2048;
    o.mode = -1;
    return o;
}

double wh_eval_pass_at_k(int n, int c, int k)
{
    if (n <= 0 || k <= 0 || c <= 0)
        return 0.0;
    if (k > n)
        k = n;
    if (n - c < k)
        return 1.0;
    double prod = 1.0;
    for (int i = n - c + 1; i <= n; i++)
        prod *= 1.0 - (double)k / (double)i;
    return 1.0 - prod;
}

int wh_eval_cons(const char *const *keys, const int *parsed, const int *correct, int n)
{
    int best = -1, best_count = 0;
    for (int i = 0; i < n; i++) {
        if (!parsed[i])
            continue;
        int first = 1; /* count each key once, at its first occurrence */
        for (int j = 0; j < i && first; j++)
            if (parsed[j] && strcmp(keys[j], keys[i]) == 0)
                first = 0;
        if (!first)
            continue;
        int cnt = 0;
        for (int j = i; j < n; j++)
            cnt += parsed[j] && strcmp(keys[j], keys[i]) == 0;
        if (cnt > best_count) {
            best = i;
            best_count = cnt;
        }
    }
    return best >= 0 && correct[best];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One sample: generate from the cached prefix (prompt minus its last token), decode. */
static int sample_one(const wh_model *m, wh_session *s, const int32_t *ids, int n_ids,
                      const wh_gen_params *gp, float *logits, char **text, size_t *len,
                      wh_gen_result *res, wh_error *err)
{
    const wh_tokenizer *tok = wh_model_tokenizer(m, err);
    int rc = wh_session_truncate(s, n_ids - 1, err);
    if (rc != WH_OK)
        return rc;
    wh_gen_state *g = NULL;
    rc = wh_gen_begin(m, gp, ids + n_ids - 1, 1, &g, err);
    if (rc != WH_OK)
        return rc;
    rc = wh_session_eval(s, ids + n_ids - 1, 1, logits, 0, err);
    int done = 0;
    while (rc == WH_OK && !done) {
        int32_t next;
        int room = wh_session_ctx(s) - wh_session_pos(s);
        rc = wh_gen_step(g, logits, room - 1, NULL, NULL, &next, &done, err);
        if (rc == WH_OK && !done)
            rc = wh_session_eval(s, &next, 1, logits, 0, err);
    }
    if (rc == WH_OK) {
        wh_gen_end(g, NULL, NULL);
        *res = *wh_gen_result_of(g);
        int n_all = 0;
        const int32_t *all = wh_gen_tokens(g, &n_all);
        rc = wh_tokenizer_decode(tok, all + 1, (size_t)(n_all - 1), WH_TOK_SKIP_SPECIAL, text, len,
                                 err);
    }
    wh_gen_free(g);
    return rc;
}

static int count_tokens(const wh_tokenizer *tok, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    int32_t *ids = NULL;
    size_t nid = 0;
    if (wh_tokenizer_encode(tok, s, n, 0, &ids, &nid, NULL) != WH_OK)
        return 0;
    wh_free(ids);
    return (int)nid;
}

/* Evaluates one item into it and the cell's running sums. */
static int eval_item(const wh_model *m, wh_session *s, const wh_eval_opts *o, wh_chat_family fam,
                     int mode, const wh_task *t, wh_eval_cell *c, wh_eval_item *it,
                     double *sum_think, double *sum_gen, wh_r1_score *sc, float *logits,
                     wh_error *err)
{
    const wh_tokenizer *tok = wh_model_tokenizer(m, err);
    memset(it, 0, sizeof *it);
    it->index = t->index;
    wh_chat_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.role = "user";
    msg.content = t->prompt;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = wh_chat_encode(tok, fam, &msg, 1, 1, &ids, &n_ids, err);
    if (rc != WH_OK)
        return rc;
    int ctx = wh_session_ctx(s);
    if (n_ids < 1 || (long)n_ids + 1 > ctx) {
        it->skipped = 1;
        c->n_skipped++;
        wh_free(ids);
        return WH_OK;
    }
    wh_session_reset(s);
    if (n_ids > 1)
        rc = wh_session_eval(s, ids, (int)n_ids - 1, NULL, 0, err);
    int in_reasoning = fam == WH_CHAT_R1 || fam == WH_CHAT_R1_DISTILL;
    const char *prefix = in_reasoning ? "<think>\n" : "";
    size_t pl = strlen(prefix);
    wh_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.sampler = wh_sampler_defaults();
    gp.sampler.temperature = o->temperature;
    gp.sampler.top_p = o->top_p;
    gp.max_tokens = o->max_tokens < ctx - (int)n_ids ? o->max_tokens : ctx - (int)n_ids;
    gp.think_budget = -1;
    gp.starts_in_reasoning = in_reasoning;
    for (int j = 0; j < o->k && rc == WH_OK; j++) {
        gp.sampler.seed = wh_task_mix(o->seed, (uint64_t)t->family * 256 + (uint64_t)t->level,
                                      t->index, (uint64_t)j);
        char *text = NULL;
        size_t len = 0;
        wh_gen_result res;
        memset(&res, 0, sizeof res);
        rc = sample_one(m, s, ids, (int)n_ids, &gp, logits, &text, &len, &res, err);
        if (rc != WH_OK)
            break;
        char *full = wh_malloc(pl + len + 1);
        if (full == NULL) {
            wh_free(text);
            rc = wh_err(err, WH_E_NOMEM, "eval: out of memory");
            break;
        }
        memcpy(full, prefix, pl);
        memcpy(full + pl, text, len);
        full[pl + len] = '\0';
        wh_free(text);
        wh_r1_score_response(t, full, pl + len, (wh_r1_mode)mode, &sc[j]);
        wh_r1_parsed p;
        wh_r1_parse(full, pl + len, (wh_r1_mode)mode, &p);
        *sum_think += count_tokens(tok, p.think, p.think_len);
        *sum_gen += res.n_generated;
        if (res.finish == WH_FINISH_LENGTH || res.finish == WH_FINISH_CONTEXT)
            c->n_truncated++;
        it->correct += sc[j].correct;
        it->format += sc[j].format;
        wh_free(full);
    }
    wh_free(ids);
    if (rc != WH_OK)
        return rc;
    const char *keys[256];
    int parsed[256], correct[256];
    int nk = o->k < 256 ? o->k : 256;
    for (int j = 0; j < nk; j++) {
        keys[j] = sc[j].key;
        parsed[j] = sc[j].parsed;
        correct[j] = sc[j].correct;
    }
    it->cons = wh_eval_cons(keys, parsed, correct, nk);
    return WH_OK;
}

int wh_eval_run(const wh_model *m, wh_session *s, const wh_eval_opts *o, wh_eval_report *rep,
                wh_error *err)
{
    memset(rep, 0, sizeof *rep);
    rep->opts = *o;
    if (o->level_lo < 1 || o->level_hi > WH_TASK_LEVEL_MAX || o->level_lo > o->level_hi)
        return wh_err(err, WH_E_INVALID, "eval: levels %d-%d (1..%d)", o->level_lo, o->level_hi,
                      WH_TASK_LEVEL_MAX);
    if (o->n < 1 || o->k < 1 || o->k > 256 || o->max_tokens < 1)
        return wh_err(err, WH_E_INVALID, "eval: n %d, k %d (1..256), max_tokens %d", o->n, o->k,
                      o->max_tokens);
    const wh_tokenizer *tok = wh_model_tokenizer(m, err);
    if (tok == NULL)
        return wh_err_wrap(err, "eval: the model has no usable tokenizer");
    wh_chat_family fam = wh_chat_detect(wh_model_chat_template(m), tok, NULL);
    int mode = o->mode >= 0 ? o->mode : fam == WH_CHAT_V3 ? WH_R1_ANSWER_ONLY : WH_R1_THINK;
    rep->chat_family = wh_chat_family_name(fam);
    rep->mode = mode;
    unsigned fams = o->families ? o->families : (1u << WH_TASK_N_FAMILIES) - 1;
    int n_fam = 0;
    for (int f = 0; f < WH_TASK_N_FAMILIES; f++)
        n_fam += (fams >> f) & 1;
    int n_lvl = o->level_hi - o->level_lo + 1;
    rep->cells = wh_calloc((size_t)(n_fam * n_lvl), sizeof *rep->cells);
    wh_r1_score *sc = wh_calloc((size_t)o->k, sizeof *sc);
    float *logits = wh_malloc((size_t)wh_model_config(m)->vocab_size * sizeof(float));
    int rc = WH_OK;
    if (rep->cells == NULL || sc == NULL || logits == NULL)
        rc = wh_err(err, WH_E_NOMEM, "eval: out of memory");
    double t0 = now_s();
    int total = n_fam * n_lvl * o->n, done = 0;
    for (int f = 0; f < WH_TASK_N_FAMILIES && rc == WH_OK; f++) {
        if (!((fams >> f) & 1))
            continue;
        for (int lv = o->level_lo; lv <= o->level_hi && rc == WH_OK; lv++) {
            wh_eval_cell *c = &rep->cells[rep->n_cells++];
            c->family = (wh_task_family)f;
            c->level = lv;
            c->k = o->k;
            c->items = wh_calloc((size_t)o->n, sizeof *c->items);
            if (c->items == NULL) {
                rc = wh_err(err, WH_E_NOMEM, "eval: out of memory");
                break;
            }
            double sum_think = 0, sum_gen = 0, sum_fmt = 0;
            for (int i = 0; i < o->n && rc == WH_OK; i++) {
                wh_task t;
                if (wh_task_make((wh_task_family)f, lv, WH_SPLIT_TEST, (uint64_t)i, &t) != 0) {
                    rc = wh_err(err, WH_E_INVALID, "eval: no test item %d of %s level %d", i,
                                wh_task_family_name((wh_task_family)f), lv);
                    break;
                }
                wh_eval_item *it = &c->items[i];
                rc =
                    eval_item(m, s, o, fam, mode, &t, c, it, &sum_think, &sum_gen, sc, logits, err);
                if (rc != WH_OK)
                    break;
                c->n_items = i + 1;
                c->pass1 += (double)it->correct / o->k;
                c->passk += wh_eval_pass_at_k(o->k, it->correct, o->k);
                c->consk += it->cons;
                sum_fmt += it->format;
                done++;
                /* running means for the progress line */
                wh_eval_cell view = *c;
                view.pass1 /= c->n_items;
                view.passk /= c->n_items;
                view.consk /= c->n_items;
                view.format_rate = sum_fmt / ((double)c->n_items * o->k);
                if (o->progress)
                    o->progress(o->user, &view, done, total);
            }
            if (c->n_items > 0) {
                double ns = (double)c->n_items * o->k;
                c->pass1 /= c->n_items;
                c->passk /= c->n_items;
                c->consk /= c->n_items;
                c->format_rate = sum_fmt / ns;
                c->think_tokens = sum_think / ns;
                c->gen_tokens = sum_gen / ns;
            }
        }
    }
    rep->seconds = now_s() - t0;
    wh_free(sc);
    wh_free(logits);
    wh_session_reset(s);
    return rc;
}

void wh_eval_report_free(wh_eval_report *rep)
{
    if (rep == NULL)
        return;
    for (int i = 0; i < rep->n_cells; i++)
        wh_free(rep->cells[i].items);
    wh_free(rep->cells);
    memset(rep, 0, sizeof *rep);
}

/* Item-weighted means over the levels of family f (a synthetic cell without items). */
static int family_total(const wh_eval_report *rep, int f, wh_eval_cell *t)
{
    memset(t, 0, sizeof *t);
    t->family = (wh_task_family)f;
    double w = 0;
    for (int i = 0; i < rep->n_cells; i++) {
        const wh_eval_cell *c = &rep->cells[i];
        if ((int)c->family != f || c->n_items == 0)
            continue;
        double n = c->n_items;
        t->k = c->k;
        t->n_items += c->n_items;
        t->pass1 += c->pass1 * n;
        t->passk += c->passk * n;
        t->consk += c->consk * n;
        t->format_rate += c->format_rate * n;
        t->think_tokens += c->think_tokens * n;
        t->gen_tokens += c->gen_tokens * n;
        t->n_truncated += c->n_truncated;
        t->n_skipped += c->n_skipped;
        w += n;
    }
    if (w == 0)
        return 0;
    t->pass1 /= w;
    t->passk /= w;
    t->consk /= w;
    t->format_rate /= w;
    t->think_tokens /= w;
    t->gen_tokens /= w;
    return 1;
}

static void print_row(FILE *f, const wh_eval_cell *c, const char *level)
{
    fprintf(f, "%-10s %5s %5d %3d %7.1f %7.1f %7.1f %7.1f %8.1f %8.1f %6d %5d\n",
            wh_task_family_name(c->family), level, c->n_items, c->k, 100 * c->pass1, 100 * c->passk,
            100 * c->consk, 100 * c->format_rate, c->think_tokens, c->gen_tokens, c->n_truncated,
            c->n_skipped);
}

void wh_eval_print_table(const wh_eval_report *rep, FILE *f)
{
    int k = rep->opts.k;
    char pk[16], ck[16];
    snprintf(pk, sizeof pk, "pass@%d", k);
    snprintf(ck, sizeof ck, "cons@%d", k);
    fprintf(f, "%-10s %5s %5s %3s %7s %7s %7s %7s %8s %8s %6s %5s\n", "task", "level", "n", "k",
            "pass@1", pk, ck, "format", "think", "tokens", "trunc", "skip");
    for (int i = 0; i < rep->n_cells; i++) {
        char lv[8];
        snprintf(lv, sizeof lv, "%d", rep->cells[i].level);
        print_row(f, &rep->cells[i], lv);
    }
    for (int fam = 0; fam < WH_TASK_N_FAMILIES; fam++) {
        wh_eval_cell t;
        if (family_total(rep, fam, &t))
            print_row(f, &t, "all");
    }
    fprintf(f,
            "(percentages; think = mean tokens of the thought, tokens = mean generated; "
            "%s format, %.0f s)\n",
            rep->chat_family, rep->seconds);
}

/* A number written with 6 significant digits (0.6, not 0.60000002384185791). */
static json_object *jnum(double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", v);
    return json_object_new_double_s(strtod(buf, NULL), buf);
}

static json_object *cell_json(const wh_eval_cell *c, int with_items)
{
    json_object *o = json_object_new_object();
    char key[32];
    json_object_object_add(o, "task", json_object_new_string(wh_task_family_name(c->family)));
    if (c->level > 0)
        json_object_object_add(o, "level", json_object_new_int(c->level));
    else
        json_object_object_add(o, "level", json_object_new_string("all"));
    json_object_object_add(o, "n", json_object_new_int(c->n_items));
    json_object_object_add(o, "k", json_object_new_int(c->k));
    json_object_object_add(o, "pass@1", jnum(c->pass1));
    snprintf(key, sizeof key, "pass@%d", c->k);
    json_object_object_add(o, "pass@k", jnum(c->passk));
    if (c->k > 1)
        json_object_object_add(o, key, jnum(c->passk));
    snprintf(key, sizeof key, "cons@%d", c->k);
    json_object_object_add(o, "cons@k", jnum(c->consk));
    if (c->k > 1)
        json_object_object_add(o, key, jnum(c->consk));
    json_object_object_add(o, "format", jnum(c->format_rate));
    json_object_object_add(o, "think_tokens", jnum(c->think_tokens));
    json_object_object_add(o, "gen_tokens", jnum(c->gen_tokens));
    json_object_object_add(o, "truncated", json_object_new_int(c->n_truncated));
    json_object_object_add(o, "skipped", json_object_new_int(c->n_skipped));
    if (with_items) {
        /* pass@j for j = 1, 2, 4, ... < k, from the same samples */
        json_object *pj = json_object_new_object();
        for (int j = 1; j <= c->k; j *= 2) {
            double sum = 0;
            for (int i = 0; i < c->n_items; i++)
                sum += wh_eval_pass_at_k(c->k, c->items[i].correct, j);
            snprintf(key, sizeof key, "%d", j);
            json_object_object_add(pj, key, jnum(c->n_items ? sum / c->n_items : 0));
        }
        json_object_object_add(o, "pass_at", pj);
        json_object *items = json_object_new_array();
        for (int i = 0; i < c->n_items; i++) {
            const wh_eval_item *it = &c->items[i];
            json_object *io = json_object_new_object();
            json_object_object_add(io, "index", json_object_new_int64((int64_t)it->index));
            json_object_object_add(io, "correct", json_object_new_int(it->correct));
            json_object_object_add(io, "format", json_object_new_int(it->format));
            json_object_object_add(io, "cons", json_object_new_int(it->cons));
            json_object_object_add(io, "skipped", json_object_new_int(it->skipped));
            json_object_array_add(items, io);
        }
        json_object_object_add(o, "items", items);
    }
    return o;
}

int wh_eval_write_json(const wh_eval_report *rep, const char *model, FILE *f)
{
    const wh_eval_opts *o = &rep->opts;
    json_object *root = json_object_new_object();
    if (root == NULL)
        return -1;
    json_object_object_add(root, "model", json_object_new_string(model ? model : ""));
    json_object_object_add(root, "chat_format", json_object_new_string(rep->chat_family));
    json_object_object_add(
        root, "mode",
        json_object_new_string(rep->mode == WH_R1_ANSWER_ONLY ? "answer-only" : "think"));
    json_object_object_add(root, "split", json_object_new_string("test"));
    json_object_object_add(root, "n", json_object_new_int(o->n));
    json_object_object_add(root, "k", json_object_new_int(o->k));
    json_object_object_add(root, "temperature", jnum(o->temperature));
    json_object_object_add(root, "top_p", jnum(o->top_p));
    json_object_object_add(root, "seed", json_object_new_int64((int64_t)o->seed));
    json_object_object_add(root, "max_tokens", json_object_new_int(o->max_tokens));
    json_object_object_add(root, "seconds", jnum(rep->seconds));
    json_object *res = json_object_new_array();
    for (int i = 0; i < rep->n_cells; i++)
        json_object_array_add(res, cell_json(&rep->cells[i], 1));
    json_object_object_add(root, "results", res);
    json_object *tot = json_object_new_array();
    for (int fam = 0; fam < WH_TASK_N_FAMILIES; fam++) {
        wh_eval_cell t;
        if (family_total(rep, fam, &t))
            json_object_array_add(tot, cell_json(&t, 0));
    }
    json_object_object_add(root, "totals", tot);
    const char *s = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    int ok = s != NULL && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    json_object_put(root);
    return ok ? 0 : -1;
}
