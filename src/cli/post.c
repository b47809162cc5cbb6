/*
 * post.c — the parts `whale sft`, `whale grpo` and `whale distill` share (post.h): config
 * and flags, tokenizer and chat family, a trainer started from init_from, the export with
 * its tokenizer, SVG charts of the JSONL log. docs/R1.md is the manual.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/post.h"
#include "train/export.h"

void openblas_set_num_threads(int n);

double post_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int own_flag(const char *a, const char *const *own, int n_own, int *takes_value)
{
    for (int i = 0; i < n_own; i++) {
        size_t n = strlen(own[i]);
        int val = n > 0 && own[i][n - 1] == '=';
        if (strncmp(a, own[i], val ? n - 1 : n) == 0 && a[val ? n - 1 : n] == '\0') {
            *takes_value = val;
            return 1;
        }
    }
    return 0;
}

int post_parse(post_run *r, int argc, char **argv, const char *const *own, int n_own)
{
    wh_train_opts_defaults(&r->o);
    wh_error err = {0};
    const char *config = NULL;
    for (int i = 1; i < argc; i++) { /* the config file first, then the overrides */
        int tv = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 2;
        if (own_flag(argv[i], own, n_own, &tv)) {
            i += tv;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            i++;
        } else if (config == NULL) {
            config = argv[i];
        } else {
            return cli_fail("one config file, got \"%s\" too", argv[i]);
        }
    }
    if (config == NULL)
        return 2;
    if (wh_train_opts_load(&r->o, config, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int tv = 0;
        if (own_flag(a, own, n_own, &tv)) {
            i += tv;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            continue;
        if (i + 1 >= argc)
            return cli_fail("%s needs a value", a);
        char key[128];
        snprintf(key, sizeof key, "%s", a + 2);
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        if (wh_train_opts_set(&r->o, key, argv[i + 1], a, &err) != WH_OK)
            return cli_fail("%s", err.msg);
        i++;
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int try_tokenizer(post_run *r, const char *path, wh_error *err)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/tokenizer.json", path);
    struct stat st;
    if (is_dir(path) && stat(p, &st) != 0)
        return WH_E_MISSING;
    return wh_sft_tokenizer(path, &r->tok, &r->fam, r->tok_dir, sizeof r->tok_dir, err);
}

int post_setup(post_run *r, int main_only)
{
    wh_train_opts *o = &r->o;
    wh_error err = {0};
    if (o->batch <= 0 || o->seq_len <= 1 || o->grad_accum <= 0 || o->hp.steps <= 0)
        return cli_fail("batch_size, grad_accum, steps must be > 0 and seq_len > 1");
    if (o->threads > 0)
        openblas_set_num_threads(o->threads);
    /* the tokenizer */
    const char *init = o->rl.init_from;
    int rc = WH_E_MISSING;
    if (o->rl.tokenizer[0]) {
        rc = wh_sft_tokenizer(o->rl.tokenizer, &r->tok, &r->fam, r->tok_dir, sizeof r->tok_dir,
                              &err);
        if (rc != WH_OK)
            return cli_fail("%s", err.msg);
    } else if (init[0]) {
        char parent[1100], cand[3][1200];
        snprintf(parent, sizeof parent, "%s", init);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = '\0';
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(parent, sizeof parent, ".");
        snprintf(cand[0], sizeof cand[0], "%s", init);
        snprintf(cand[1], sizeof cand[1], "%s", parent);
        snprintf(cand[2], sizeof cand[2], "%s/model", is_dir(init) ? init : parent);
        for (int i = 0; i < 3 && rc != WH_OK; i++)
            if (is_dir(cand[i]))
                rc = try_tokenizer(r, cand[i], &err);
    }
    if (r->tok == NULL)
        return cli_fail("no tokenizer: set tokenizer = FOLDER (none found beside init_from "
                        "\"%s\")",
                        init);
    /* the model */
    wh_tr_init src;
    memset(&src, 0, sizeof src);
    int have_src = 0;
    if (init[0]) {
        rc = wh_tr_init_open(&src, init, &err);
        if (rc != WH_OK)
            return cli_fail("init_from: %s", err.msg);
        have_src = 1;
        float lambda = o->model.mtp_lambda, alpha = o->model.bal_alpha;
        o->model = src.cfg;
        o->model.mtp_lambda = lambda;
        o->model.bal_alpha = alpha;
    } else if (o->model.V == 0) {
        o->model.V = wh_tokenizer_n_vocab(r->tok);
    }
    if (o->model.V < wh_tokenizer_n_vocab(r->tok)) {
        if (have_src)
            wh_tr_init_close(&src);
        return cli_fail("the model's vocabulary (%d) is smaller than the tokenizer's (%d)",
                        o->model.V, wh_tokenizer_n_vocab(r->tok));
    }
    if (o->model.G < 1)
        o->model.G = 1;
    if (o->model.TG < 1)
        o->model.TG = 1;
    rc = wh_trainer_init(&r->t, &o->model, o->batch, o->seq_len, &o->hp, &err);
    if (rc == WH_OK) {
        r->have_trainer = 1;
        r->t.model.main_only = main_only;
        if (have_src)
            rc = wh_tr_init_apply(&src, &r->t.model, &err);
        else
            wh_trainer_init_params(&r->t, o->seed);
    }
    if (have_src)
        wh_tr_init_close(&src);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST)
        return cli_fail("%s: cannot create folder: %s", o->out, strerror(errno));
    snprintf(r->path_ckpt, sizeof r->path_ckpt, "%s/checkpoint.bin", o->out);
    snprintf(r->path_log, sizeof r->path_log, "%s/log.jsonl", o->out);
    snprintf(r->path_model, sizeof r->path_model, "%s/model", o->out);
    return 0;
}

int post_export(post_run *r, const char *dir)
{
    wh_error err = {0};
    int max_pos = r->o.seq_len + 1;
    if (r->o.model.rope_scaling == WH_ROPE_YARN &&
        (int)(r->o.model.rope_orig_max_pos * r->o.model.rope_factor) > max_pos)
        max_pos = (int)(r->o.model.rope_orig_max_pos * r->o.model.rope_factor);
    int rc = wh_tr_export_hf(&r->t.model, dir, wh_tokenizer_bos(r->tok), wh_tokenizer_eos(r->tok),
                             max_pos, &err);
    if (rc == WH_OK)
        rc = wh_sft_copy_tokenizer(r->tok_dir, dir, &err);
    return rc == WH_OK ? 0 : cli_fail("%s", err.msg);
}

void post_free(post_run *r)
{
    if (r->have_trainer)
        wh_trainer_free(&r->t);
    wh_tokenizer_free(r->tok);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- the chart */

void post_plot(const char *log_path, const char *svg_path, const char *title,
               const char *const *fields, int n_fields)
{
    static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    FILE *f = fopen(log_path, "r");
    if (f == NULL || n_fields < 1 || n_fields > 8) {
        if (f)
            fclose(f);
        return;
    }
    size_t cap = 256, n = 0;
    double *v = wh_malloc(cap * (1 + (size_t)n_fields) * sizeof(double)); /* step, fields */
    char *line = wh_malloc(1 << 16);
    if (v == NULL || line == NULL) {
        wh_free(v);
        wh_free(line);
        fclose(f);
        return;
    }
    size_t w = 1 + (size_t)n_fields;
    while (fgets(line, 1 << 16, f)) {
        json_object *o = json_tokener_parse(line), *x;
        if (o == NULL)
            continue;
        if (n == cap) {
            double *nv = wh_realloc(v, 2 * cap * w * sizeof(double));
            if (nv == NULL) {
                json_object_put(o);
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[n * w] = json_object_object_get_ex(o, "step", &x) ? json_object_get_double(x) : n;
        for (int k = 0; k < n_fields; k++)
            v[n * w + 1 + k] =
                json_object_object_get_ex(o, fields[k], &x) ? json_object_get_double(x) : NAN;
        n++;
        json_object_put(o);
    }
    fclose(f);
    wh_free(line);
    FILE *s = n > 0 ? fopen(svg_path, "w") : NULL;
    if (s == NULL) {
        wh_free(v);
        return;
    }
    double x0 = v[0], x1 = v[(n - 1) * w], y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < n_fields; k++)
            if (isfinite(v[i * w + 1 + k])) {
                y0 = fmin(y0, v[i * w + 1 + k]);
                y1 = fmax(y1, v[i * w + 1 + k]);
            }
    if (!isfinite(y0)) {
        y0 = 0;
        y1 = 1;
    }
    if (x1 <= x0)
        x1 = x0 + 1;
    if (y1 <= y0)
        y1 = y0 + 1;
    const double W = 640, H = 400, L = 60, R = 20, T = 30, Bm = 40;
#define PX(x) (L + ((x)-x0) / (x1 - x0) * (W - L - R))
#define PY(y) (T + (y1 - (y)) / (y1 - y0) * (H - T - Bm))
    fprintf(s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H);
    fprintf(s, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(s, "<text x=\"%.0f\" y=\"18\">%s:", L, title);
    for (int k = 0; k < n_fields; k++)
        fprintf(s, " <tspan fill=\"%s\">%s</tspan>", colours[k], fields[k]);
    fprintf(s, "</text>\n");
    fprintf(s, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L,
            H - Bm, W - R, H - Bm);
    fprintf(s, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, T,
            L, H - Bm);
    for (int k = 0; k <= 4; k++) {
        double y = y0 + (y1 - y0) * k / 4, x = x0 + (x1 - x0) * k / 4;
        fprintf(s, "<text x=\"4\" y=\"%.1f\">%.3g</text>\n", PY(y) + 4, y);
        fprintf(s, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", PX(x),
                H - Bm + 16, x);
    }
    fprintf(s, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", W / 2, H - 6);
    for (int k = 0; k < n_fields; k++) {
        fprintf(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                colours[k]);
        for (size_t i = 0; i < n; i++)
            if (isfinite(v[i * w + 1 + k]))
                fprintf(s, "%.1f,%.1f ", PX(v[i * w]), PY(v[i * w + 1 + k]));
        fprintf(s, "\"/>\n");
    }
#undef PX
#undef PY
    fprintf(s, "</svg>\n");
    fclose(s);
    wh_free(v);
}
