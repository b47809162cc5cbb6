/*
 * cmd_train.c — `whale data` (text/JSONL -> token shards) and `whale train CONFIG`
 * (pretraining a DeepSeek-V3-architecture model: progress line, JSONL log, SVG loss
 * curves, atomic checkpoints, --resume, export to a HF folder; data parallel over MPI
 * when built with `make MPI=1`). docs/TRAINING.md is the manual.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#ifdef WH_MPI
#include <mpi.h>
#endif

#include "base/alloc.h"
#include "cli/cli.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/export.h"
#include "train/train_config.h"
#include "train/trainer.h"

/* OpenBLAS's (cblas.h is not included: its <complex.h> defines I, the ops' MLP width) */
void openblas_set_num_threads(int n);

/* ---------------------------------------------------------------- whale data */

static void data_usage(FILE *f)
{
    fprintf(f, "usage: whale data -t TOKENIZER -o OUT_DIR [--val FRACTION] [--seed N]\n"
               "                  [--shard-tokens N] FILE...\n"
               "  FILE: *.jsonl (one JSON object a line with a \"text\" field) or a text file\n"
               "  (one document). TOKENIZER: a tokenizer folder, tokenizer.json, .gguf or a\n"
               "  model folder. Writes OUT_DIR/train-NNNNN.tok and val-NNNNN.tok.\n");
}

int cmd_data(int argc, char **argv)
{
    wh_data_opts o = {NULL, NULL, 0.05, 1, 0};
    const char **inputs = wh_calloc((size_t)argc + 1, sizeof *inputs);
    int n = 0;
    if (inputs == NULL)
        return cli_fail("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        char *end = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            data_usage(stdout);
            wh_free(inputs);
            return 0;
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--tokenizer") == 0) && more) {
            o.tokenizer = argv[++i];
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) && more) {
            o.out_dir = argv[++i];
        } else if (strcmp(a, "--val") == 0 && more) {
            o.val_fraction = strtod(argv[++i], &end);
            if (*end)
                return cli_fail("--val: \"%s\" is not a number", argv[i]);
        } else if (strcmp(a, "--seed") == 0 && more) {
            o.seed = strtoull(argv[++i], &end, 10);
            if (*end)
                return cli_fail("--seed: \"%s\" is not a number", argv[i]);
        } else if (strcmp(a, "--shard-tokens") == 0 && more) {
            o.shard_tokens = strtoull(argv[++i], &end, 10);
            if (*end)
                return cli_fail("--shard-tokens: \"%s\" is not a number", argv[i]);
        } else if (a[0] == '-' && a[1] != '\0') {
            wh_free(inputs);
            data_usage(stderr);
            return cli_fail("data: unknown option %s", a);
        } else {
            inputs[n++] = a;
        }
    }
    if (o.tokenizer == NULL || o.out_dir == NULL || n == 0) {
        wh_free(inputs);
        data_usage(stderr);
        return 2;
    }
    wh_data_report rep;
    wh_error err = {0};
    int rc = wh_data_build(&o, inputs, n, &rep, &err);
    wh_free(inputs);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    printf("%s: train %llu documents, %llu tokens, %d shard(s); validation %llu documents, "
           "%llu tokens, %d shard(s); vocabulary %d, EOS %d\n",
           o.out_dir, (unsigned long long)rep.docs[0], (unsigned long long)rep.tokens[0],
           rep.shards[0], (unsigned long long)rep.docs[1], (unsigned long long)rep.tokens[1],
           rep.shards[1], rep.vocab, rep.eos);
    return 0;
}

/* ---------------------------------------------------------------- whale train */

static void train_usage(FILE *f)
{
    fprintf(f, "usage: whale train CONFIG [--KEY VALUE]... [--resume] [--no-export]\n"
               "  CONFIG: key = value lines ('#' comments); --KEY VALUE overrides a key.\n"
               "  --resume continues from OUT/checkpoint.bin bit-identically.\n"
               "  --stop-after N stops (with a checkpoint) after step N, as an interruption.\n"
               "  Writes OUT/checkpoint.bin, OUT/log.jsonl, OUT/loss.svg, OUT/model/ (HF).\n"
               "keys:\n");
    wh_train_opts_help(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_eta(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* Loss curves from the JSONL log (which spans resumed runs) as an SVG line chart. */
static void write_svg(const char *log_path, const char *svg_path)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return;
    int cap = 1024, n = 0, nv = 0;
    double *xs = wh_malloc(4 * (size_t)cap * sizeof(double));
    if (xs == NULL) {
        fclose(f);
        return;
    }
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        json_object *o = json_tokener_parse(line), *v;
        if (o == NULL)
            continue;
        if (n + 1 >= cap) {
            double *nx = wh_realloc(xs, 8 * (size_t)cap * sizeof(double));
            if (nx == NULL) {
                json_object_put(o);
                break;
            }
            /* layout: [0, cap) step/loss pairs, [2cap, 4cap) val pairs: move val half */
            memmove(nx + 4 * (size_t)cap, nx + 2 * (size_t)cap, 2 * (size_t)nv * sizeof(double));
            xs = nx;
            cap *= 2;
        }
        if (json_object_object_get_ex(o, "step", &v)) {
            double step = json_object_get_double(v);
            if (json_object_object_get_ex(o, "loss", &v)) {
                xs[2 * n] = step;
                xs[2 * n + 1] = json_object_get_double(v);
                n++;
            }
            if (json_object_object_get_ex(o, "val_loss", &v) && nv < cap) {
                xs[2 * (size_t)cap + 2 * nv] = step;
                xs[2 * (size_t)cap + 2 * nv + 1] = json_object_get_double(v);
                nv++;
            }
        }
        json_object_put(o);
    }
    fclose(f);
    FILE *s = fopen(svg_path, "w");
    if (s == NULL || n == 0) {
        if (s)
            fclose(s);
        wh_free(xs);
        return;
    }
    const double *val = xs + 2 * (size_t)cap;
    double x0 = xs[0], x1 = xs[2 * (n - 1)], y0 = xs[1], y1 = xs[1];
    for (int i = 0; i < n; i++) {
        y0 = fmin(y0, xs[2 * i + 1]);
        y1 = fmax(y1, xs[2 * i + 1]);
    }
    for (int i = 0; i < nv; i++) {
        y0 = fmin(y0, val[2 * i + 1]);
        y1 = fmax(y1, val[2 * i + 1]);
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
    fprintf(s,
            "<text x=\"%.0f\" y=\"18\">whale train: loss (blue) and validation loss (red)"
            "</text>\n",
            L);
    fprintf(s, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L,
            H - Bm, W - R, H - Bm);
    fprintf(s, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, T,
            L, H - Bm);
    for (int k = 0; k <= 4; k++) {
        double y = y0 + (y1 - y0) * k / 4, x = x0 + (x1 - x0) * k / 4;
        fprintf(s, "<text x=\"4\" y=\"%.1f\">%.3f</text>\n", PY(y) + 4, y);
        fprintf(s, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", PX(x),
                H - Bm + 16, x);
    }
    fprintf(s, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", W / 2, H - 6);
    fprintf(s, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < n; i++)
        fprintf(s, "%.1f,%.1f ", PX(xs[2 * i]), PY(xs[2 * i + 1]));
    fprintf(s, "\"/>\n");
    if (nv > 0) {
        fprintf(s, "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" points=\"");
        for (int i = 0; i < nv; i++)
            fprintf(s, "%.1f,%.1f ", PX(val[2 * i]), PY(val[2 * i + 1]));
        fprintf(s, "\"/>\n");
        for (int i = 0; i < nv; i++)
            fprintf(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#d62728\"/>\n",
                    PX(val[2 * i]), PY(val[2 * i + 1]));
    }
#undef PX
#undef PY
    fprintf(s, "</svg>\n");
    fclose(s);
    wh_free(xs);
}

typedef struct run {
    wh_train_opts o;
    wh_trainer t;
    wh_tr_loader train, val;
    int *tok, *tgt; /* [grad_accum][B][T] */
    int rank, size;
    FILE *log;
    char path_ckpt[1100], path_log[1100], path_svg[1100], path_model[1100];
} run;

static int my_first_micro(const run *r)
{
    return r->rank * (r->o.grad_accum / r->size);
}

static void fill_batch(run *r)
{
    int B = r->o.batch, T = r->o.seq_len, A = r->o.grad_accum / r->size, first = my_first_micro(r);
    for (int i = 0; i < A; i++)
        for (int b = 0; b < B; b++) {
            uint64_t s = r->t.data_pos + (uint64_t)(first + i) * B + b;
            size_t off = ((size_t)i * B + b) * T;
            wh_tr_loader_get(&r->train, s, r->tok + off, r->tgt + off);
        }
}

static float eval_val(run *r)
{
    int B = r->o.batch, T = r->o.seq_len;
    int nb = r->o.eval_batches > 0 ? r->o.eval_batches : 1;
    double s = 0.0;
    int done = 0;
    for (int i = 0; i < nb; i++) {
        if ((uint64_t)(i + 1) * B > r->val.n_windows && i > 0)
            break;
        for (int b = 0; b < B; b++)
            wh_tr_loader_get(&r->val, (uint64_t)i * B + b, r->tok + (size_t)b * T,
                             r->tgt + (size_t)b * T);
        s += wh_trainer_eval(&r->t, r->tok, r->tgt, 1);
        done++;
    }
    return (float)(s / done);
}

static void log_step(run *r, double tok_s, double eta, float val_loss, int have_val)
{
    wh_trainer *t = &r->t;
    const wh_tr_model *m = &t->model;
    char eta_s[32];
    fmt_eta(eta_s, sizeof eta_s, eta);
    if (t->step % r->o.log_interval == 0 || t->step == r->o.hp.steps || have_val) {
        fprintf(stderr, "step %5d/%d  loss %.4f", t->step, r->o.hp.steps, t->loss);
        if (have_val)
            fprintf(stderr, "  val %.4f", val_loss);
        fprintf(stderr, "  lr %.2e  |g| %.3f  %.0f tok/s  ETA %s\n", t->lr, t->grad_norm, tok_s,
                eta_s);
    }
    if (r->log == NULL)
        return;
    fprintf(r->log,
            "{\"step\":%d,\"loss\":%.7g,\"loss_main\":%.7g,\"loss_mtp\":%.7g,"
            "\"loss_bal\":%.7g,",
            t->step, t->loss, t->loss_main, t->loss_mtp, t->loss_bal);
    if (have_val)
        fprintf(r->log, "\"val_loss\":%.7g,", val_loss);
    fprintf(r->log,
            "\"lr\":%.7g,\"grad_norm\":%.7g,\"tokens_per_s\":%.1f,\"tokens\":%llu,"
            "\"experts\":[",
            t->lr, t->grad_norm, tok_s, (unsigned long long)(t->data_pos * (uint64_t)r->o.seq_len));
    int first = 1;
    for (int l = 0; l < m->n_blocks; l++) {
        if (!m->w.blocks[l].is_moe)
            continue;
        wh_tr_load_stats st;
        wh_tr_moe_load_stats(&st, wh_trainer_load(t, l), m->route_bias + (size_t)l * t->E1,
                             m->cfg.E);
        fprintf(r->log,
                "%s{\"layer\":%d,\"load_max\":%.0f,\"load_mean\":%.2f,"
                "\"max_over_mean\":%.4f,\"bias_min\":%.6g,\"bias_max\":%.6g,"
                "\"bias_mean_abs\":%.6g}",
                first ? "" : ",", l, st.max_load, st.mean_load, st.max_over_mean, st.bias_min,
                st.bias_max, st.bias_mean_abs);
        first = 0;
    }
    fprintf(r->log, "]}\n");
    fflush(r->log);
}

static int same_config(const wh_tr_ckpt *ck, const run *r, char *why, size_t n)
{
    const wh_tr_config *a = &ck->cfg, *b = &r->o.model;
    if (memcmp(a, b, sizeof *a) != 0) {
        snprintf(why, n, "its model config differs from the one given");
        return 0;
    }
    if (ck->B != r->o.batch || ck->T != r->o.seq_len || ck->grad_accum != r->o.grad_accum) {
        snprintf(why, n, "it was written with batch_size %d, seq_len %d, grad_accum %d", ck->B,
                 ck->T, ck->grad_accum);
        return 0;
    }
    if (ck->seed != r->o.seed) {
        snprintf(why, n, "it was written with seed %llu", (unsigned long long)ck->seed);
        return 0;
    }
    return 1;
}

static int train_main(run *r, int resume, int do_export, int stop_after)
{
    wh_error err = {0};
    wh_train_opts *o = &r->o;
    int rc = wh_train_opts_check(o, &err);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    if (o->grad_accum % r->size != 0)
        return cli_fail("train: grad_accum %d is not a multiple of the %d MPI ranks", o->grad_accum,
                        r->size);
    if (o->threads > 0)
        openblas_set_num_threads(o->threads);
    rc = wh_tr_loader_open(&r->train, o->data, "train", o->seq_len, 1, o->seed, &err);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    if (r->train.n_windows == 0)
        return cli_fail("%s: no training window of %d+1 tokens (more data or a shorter seq_len)",
                        o->data, o->seq_len);
    rc = wh_tr_loader_open(&r->val, o->data, "val", o->seq_len, 0, o->seed, &err);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    if (o->model.V == 0)
        o->model.V = (int)r->train.vocab;
    if ((uint32_t)o->model.V < r->train.vocab)
        return cli_fail("train: vocab_size %d is smaller than the data's vocabulary %u", o->model.V,
                        r->train.vocab);
    if (o->model.G < 1)
        o->model.G = 1;
    if (o->model.TG < 1)
        o->model.TG = 1;
    rc = wh_trainer_init(&r->t, &o->model, o->batch, o->seq_len, &o->hp, &err);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    size_t nseq = (size_t)o->grad_accum * o->batch * o->seq_len;
    r->tok = wh_malloc(nseq * sizeof(int));
    r->tgt = wh_malloc(nseq * sizeof(int));
    if (!r->tok || !r->tgt)
        return cli_fail("out of memory");
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST)
        return cli_fail("%s: cannot create folder: %s", o->out, strerror(errno));
    snprintf(r->path_ckpt, sizeof r->path_ckpt, "%s/checkpoint.bin", o->out);
    snprintf(r->path_log, sizeof r->path_log, "%s/log.jsonl", o->out);
    snprintf(r->path_svg, sizeof r->path_svg, "%s/loss.svg", o->out);
    snprintf(r->path_model, sizeof r->path_model, "%s/model", o->out);
    if (resume) {
        wh_tr_ckpt ck;
        rc = wh_tr_ckpt_open(&ck, r->path_ckpt, &err);
        if (rc != WH_OK)
            return cli_fail("cannot resume: %s", err.msg);
        char why[256];
        if (!same_config(&ck, r, why, sizeof why)) {
            wh_tr_ckpt_close(&ck);
            return cli_fail("cannot resume from %s: %s", r->path_ckpt, why);
        }
        rc = wh_tr_ckpt_apply(&ck, &r->t, &err);
        wh_tr_ckpt_close(&ck);
        if (rc != WH_OK)
            return cli_fail("cannot resume: %s", err.msg);
    } else {
        wh_trainer_init_params(&r->t, o->seed);
    }
    if (r->rank == 0) {
        r->log = fopen(r->path_log, resume ? "a" : "w");
        if (r->log == NULL)
            return cli_fail("%s: cannot open: %s", r->path_log, strerror(errno));
        fprintf(stderr,
                "whale train: %zu parameters, %d blocks%s, V %d, batch %d x %d x %d micro-batches "
                "on %d rank(s), %llu training windows, %llu validation windows%s\n",
                r->t.model.n_params, o->model.L, o->model.mtp ? " + MTP" : "", o->model.V, o->batch,
                o->seq_len, o->grad_accum, r->size, (unsigned long long)r->train.n_windows,
                (unsigned long long)r->val.n_windows, resume ? ", resumed" : "");
        if (resume)
            fprintf(stderr, "resumed at step %d\n", r->t.step);
    }
    double t_start = now_s();
    int steps_done = 0;
    while (r->t.step < o->hp.steps && (stop_after <= 0 || r->t.step < stop_after)) {
        double t0 = now_s();
        fill_batch(r);
        wh_trainer_begin(&r->t);
        int A = o->grad_accum / r->size;
        size_t per = (size_t)o->batch * o->seq_len;
        for (int i = 0; i < A; i++)
            wh_trainer_micro(&r->t, r->tok + i * per, r->tgt + i * per);
#ifdef WH_MPI
        if (r->size > 1) {
            size_t done = 0;
            while (done < r->t.n_reduce) {
                size_t k = r->t.n_reduce - done > (1u << 30) ? (1u << 30) : r->t.n_reduce - done;
                MPI_Allreduce(MPI_IN_PLACE, r->t.reduce + done, (int)k, MPI_FLOAT, MPI_SUM,
                              MPI_COMM_WORLD);
                done += k;
            }
        }
#endif
        wh_trainer_finish(&r->t, o->grad_accum);
        r->t.data_pos += (uint64_t)o->grad_accum * o->batch;
        steps_done++;
        double dt = now_s() - t0, el = now_s() - t_start;
        double tok_s = (double)nseq / (dt > 0 ? dt : 1e-9);
        double eta = el / steps_done * (o->hp.steps - r->t.step);
        int have_val = 0;
        float val_loss = 0.0f;
        if (r->rank == 0 && r->val.n_windows > 0 && o->eval_interval > 0 &&
            (r->t.step % o->eval_interval == 0 || r->t.step == o->hp.steps)) {
            val_loss = eval_val(r);
            have_val = 1;
        }
        if (r->rank == 0) {
            log_step(r, tok_s, eta, val_loss, have_val);
            if (!isfinite(r->t.loss))
                return cli_fail("train: the loss is not finite at step %d (lower lr?)", r->t.step);
            int ck = r->t.step == o->hp.steps || r->t.step == stop_after ||
                     (o->checkpoint_interval > 0 && r->t.step % o->checkpoint_interval == 0);
            if (ck) {
                rc = wh_tr_ckpt_save(r->path_ckpt, &r->t, o->seed, o->grad_accum, &err);
                if (rc != WH_OK)
                    return cli_fail("%s", err.msg);
                write_svg(r->path_log, r->path_svg);
            }
        }
    }
    if (r->rank == 0) {
        write_svg(r->path_log, r->path_svg);
        if (do_export && r->t.step == o->hp.steps) {
            int max_pos = o->seq_len;
            if (o->model.rope_scaling == WH_ROPE_YARN)
                max_pos = (int)(o->model.rope_orig_max_pos * o->model.rope_factor);
            if (max_pos < o->seq_len)
                max_pos = o->seq_len;
            rc = wh_tr_export_hf(&r->t.model, r->path_model, -1,
                                 r->train.eos != 0xFFFFFFFFu ? (int)r->train.eos : -1, max_pos,
                                 &err);
            if (rc != WH_OK)
                return cli_fail("%s", err.msg);
        }
        fprintf(stderr, "done: step %d, loss %.4f; %s, %s%s%s\n", r->t.step, r->t.loss,
                r->path_ckpt, r->path_svg, do_export ? ", " : "", do_export ? r->path_model : "");
    }
    return 0;
}

int cmd_train(int argc, char **argv)
{
    static run r; /* large; zeroed */
    memset(&r, 0, sizeof r);
    r.size = 1;
#ifdef WH_MPI
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r.size);
#endif
    wh_train_opts_defaults(&r.o);
    int resume = 0, do_export = 1, rc = 0, stop_after = 0;
    const char *config = NULL;
    wh_error err = {0};
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            train_usage(stdout);
            config = "";
            break;
        } else if (strcmp(a, "--resume") == 0) {
            resume = 1;
        } else if (strcmp(a, "--no-export") == 0) {
            do_export = 0;
        } else if (strcmp(a, "--stop-after") == 0 && i + 1 < argc) {
            char *end = NULL;
            stop_after = (int)strtol(argv[++i], &end, 10);
            if (*end || stop_after <= 0)
                rc = cli_fail("--stop-after: \"%s\" is not a positive step", argv[i]);
        } else if (strncmp(a, "--", 2) == 0) {
            if (i + 1 >= argc) {
                rc = cli_fail("%s needs a value", a);
                break;
            }
            /* applied after the config file: collected in a second pass below */
            i++;
        } else if (config == NULL) {
            config = a;
            if (wh_train_opts_load(&r.o, config, &err) != WH_OK)
                rc = cli_fail("%s", err.msg);
        } else {
            rc = cli_fail("train: one config file, got \"%s\" too", a);
        }
    }
    if (rc == 0 && config == NULL) {
        train_usage(stderr);
        rc = 2;
    }
    for (int i = 1; i < argc && rc == 0 && config[0]; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "--resume") == 0 || strcmp(a, "--no-export") == 0)
            continue;
        if (strcmp(a, "--stop-after") == 0) {
            i++;
            continue;
        }
        char key[128];
        snprintf(key, sizeof key, "%s", a + 2);
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        if (wh_train_opts_set(&r.o, key, argv[i + 1], a, &err) != WH_OK)
            rc = cli_fail("%s", err.msg);
        i++;
    }
    if (rc == 0 && config[0])
        rc = train_main(&r, resume, do_export, stop_after);
    if (r.log)
        fclose(r.log);
    wh_trainer_free(&r.t);
    wh_tr_loader_close(&r.train);
    wh_tr_loader_close(&r.val);
    wh_free(r.tok);
    wh_free(r.tgt);
#ifdef WH_MPI
    MPI_Finalize();
#endif
    return rc;
}
