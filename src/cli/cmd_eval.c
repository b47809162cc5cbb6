/*
 * cmd_eval.c — `whale eval`: a model on the held-out R1 task sets (src/r1/eval.h):
 * pass@1, pass@k, cons@k, format rate and thinking length per task and level, as a
 * table on stdout and optionally JSON; progress on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "r1/eval.h"
#include "whale.h"

static void usage(void)
{
    printf("usage: whale eval -m MODEL [options]\n\n"
           "Scores a model on the held-out test items of the R1 task families\n"
           "(docs/R1.md): k samples per item, answers read from \\boxed{} after </think>.\n\n"
           "  -m, --model PATH    model folder, .safetensors or .gguf\n"
           "  --tasks LIST        families, comma-separated: arith,countdown,sort (default all)\n"
           "  --levels A-B        levels (1..%d; default 1-3), or one level\n"
           "  --n N               test items per task and level (default 20)\n"
           "  --k K               samples per item (default 4, at most 256)\n"
           "  --temp T            sampling temperature (default 0.6; 0 is greedy)\n"
           "  --top-p P           nucleus (default 0.95)\n"
           "  --seed S            sampling seed (default 0)\n"
           "  --max-tokens N      tokens per sample at most (default 2048; the context bounds)\n"
           "  --mode think|answer answers after a <think> block (default), or no thinking\n"
           "                      tags (default for DeepSeek-V3-format models)\n"
           "  --json OUT          write the results as JSON (- for stdout; the table then\n"
           "                      goes to stderr)\n"
           "  --ctx N             context positions (default min(model, 4096))\n"
           "  -t, --threads N     threads (default: one per CPU)\n"
           "  -q, --quiet         no progress on stderr\n",
           WH_TASK_LEVEL_MAX);
}

/* "arith,sort" -> bit mask; 0 on an unknown name. */
static unsigned parse_families(const char *s)
{
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *p = buf;
    while (*p) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (strcmp(p, "all") == 0) {
            mask |= (1u << WH_TASK_N_FAMILIES) - 1;
        } else {
            int f = wh_task_family_parse(p);
            if (f < 0)
                return 0;
            mask |= 1u << f;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return mask;
}

/* "2" or "1-3". */
static int parse_levels(const char *s, int *lo, int *hi)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s", s);
    char *dash = strchr(buf, '-');
    long a, b;
    if (dash == NULL) {
        if (!cli_parse_long(buf, 1, WH_TASK_LEVEL_MAX, &a))
            return 0;
        *lo = *hi = (int)a;
        return 1;
    }
    *dash = '\0';
    if (!cli_parse_long(buf, 1, WH_TASK_LEVEL_MAX, &a) ||
        !cli_parse_long(dash + 1, 1, WH_TASK_LEVEL_MAX, &b) || a > b)
        return 0;
    *lo = (int)a;
    *hi = (int)b;
    return 1;
}

static void on_progress(void *user, const wh_eval_cell *c, int done, int total)
{
    (void)user;
    fprintf(stderr, "\r[%d/%d] %s level %d: item %d, pass@1 %.1f%%, format %.1f%%   ", done, total,
            wh_task_family_name(c->family), c->level, c->n_items, 100 * c->pass1,
            100 * c->format_rate);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

int cmd_eval(int argc, char **argv)
{
    const char *path = NULL, *json = NULL;
    long ctx = 0, threads = 0, v;
    int quiet = 0;
    wh_eval_opts o = wh_eval_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has) {
            path = argv[++i];
        } else if (strcmp(a, "--tasks") == 0 && has) {
            o.families = parse_families(argv[++i]);
            if (o.families == 0)
                return cli_fail("eval: --tasks takes arith, countdown, sort (comma-separated)");
        } else if (strcmp(a, "--levels") == 0 && has) {
            if (!parse_levels(argv[++i], &o.level_lo, &o.level_hi))
                return cli_fail("eval: --levels takes L or A-B within 1..%d", WH_TASK_LEVEL_MAX);
        } else if (strcmp(a, "--n") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 1000000, &v))
                return cli_fail("eval: --n needs 1..1000000");
            o.n = (int)v;
        } else if (strcmp(a, "--k") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 256, &v))
                return cli_fail("eval: --k needs 1..256");
            o.k = (int)v;
        } else if (strcmp(a, "--temp") == 0 && has) {
            if (!cli_parse_float(argv[++i], 0, 100, &o.temperature))
                return cli_fail("eval: --temp needs a number >= 0");
        } else if (strcmp(a, "--top-p") == 0 && has) {
            if (!cli_parse_float(argv[++i], 1e-6, 1, &o.top_p))
                return cli_fail("eval: --top-p needs 0 < p <= 1");
        } else if (strcmp(a, "--seed") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 0x7fffffffL, &v))
                return cli_fail("eval: --seed needs 0..2147483647");
            o.seed = (uint64_t)v;
        } else if (strcmp(a, "--max-tokens") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 1 << 24, &v))
                return cli_fail("eval: --max-tokens needs a positive count");
            o.max_tokens = (int)v;
        } else if (strcmp(a, "--mode") == 0 && has) {
            const char *mv = argv[++i];
            if (strcmp(mv, "think") == 0)
                o.mode = WH_R1_THINK;
            else if (strcmp(mv, "answer") == 0)
                o.mode = WH_R1_ANSWER_ONLY;
            else
                return cli_fail("eval: --mode is think or answer");
        } else if (strcmp(a, "--json") == 0 && has) {
            json = argv[++i];
        } else if (strcmp(a, "--ctx") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 1 << 24, &ctx))
                return cli_fail("eval: --ctx needs a positive count");
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!cli_parse_long(argv[++i], 1, 1024, &threads))
                return cli_fail("eval: --threads needs 1..1024");
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else {
            return cli_fail("eval: unexpected argument \"%s\" (see whale eval --help)", a);
        }
    }
    if (path == NULL)
        return cli_fail("eval: no model given: whale eval -m MODEL");
    wh_error err = {0};
    wh_model *m = NULL;
    if (wh_model_load(path, &m, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    const wh_tokenizer *tok = wh_model_tokenizer(m, &err);
    if (tok == NULL) {
        wh_model_free(m);
        return cli_fail("eval: this model has no usable tokenizer: %s", err.msg);
    }
    wh_chat_match how;
    wh_chat_family fam = wh_chat_detect(wh_model_chat_template(m), tok, &how);
    if (how == WH_CHAT_MATCH_NONE && !quiet)
        fprintf(stderr, "whale: warning: chat template not recognised; using the plain "
                        "\"System/User/Assistant\" format\n");
    wh_session_opts so;
    memset(&so, 0, sizeof so);
    so.n_ctx = (int)ctx;
    so.n_threads = (int)threads;
    wh_session *s = NULL;
    if (wh_session_new(m, &so, &s, &err) != WH_OK) {
        wh_model_free(m);
        return cli_fail("%s", err.msg);
    }
    if (!quiet) {
        o.progress = on_progress;
        fprintf(stderr, "eval: %s format, context %d, k %d, temperature %g\n",
                wh_chat_family_name(fam), wh_session_ctx(s), o.k, (double)o.temperature);
    }
    wh_eval_report rep;
    int rc = wh_eval_run(m, s, &o, &rep, &err);
    if (rc != WH_OK) {
        if (!quiet)
            fputc('\n', stderr);
        rc = cli_fail("%s", err.msg);
    } else {
        /* with --json - the JSON owns stdout and the table goes to stderr */
        wh_eval_print_table(&rep, json != NULL && strcmp(json, "-") == 0 ? stderr : stdout);
        if (json != NULL) {
            FILE *f = strcmp(json, "-") == 0 ? stdout : fopen(json, "w");
            int ok = f != NULL && wh_eval_write_json(&rep, path, f) == 0;
            if (f != NULL && f != stdout && fclose(f) != 0)
                ok = 0;
            if (!ok)
                rc = cli_fail("eval: cannot write %s", json);
        }
    }
    wh_eval_report_free(&rep);
    wh_session_free(s);
    wh_model_free(m);
    return rc;
}
