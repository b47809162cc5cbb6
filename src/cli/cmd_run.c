/*
 * cmd_run.c — `whale run`: greedy generation from token ids (text in and out
 * arrives with the tokenizer). Prints the generated ids on stdout; optionally the
 * top logits of each step and a .whfx dump of every prompt position's logits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cli/cli.h"
#include "cli/think_view.h"
#include "tokenizer/chat.h"
#include "whale.h"

static void usage(void)
{
    printf("usage: whale run -m MODEL -p TEXT [options]\n"
           "       whale run -m MODEL --tokens ID,ID,... [options]\n\n"
           "  -m, --model PATH      model folder, .safetensors or .gguf\n"
           "  -p, --prompt TEXT     a user message, rendered in the model's chat format; the\n"
           "                        reply streams with its reasoning (<think>) set apart\n"
           "  --system TEXT         a system prompt\n"
           "  --tokens LIST         prompt token ids, comma-separated (greedy, prints ids)\n"
           "  -n N                  tokens to generate (default 16 with --tokens, 1024 with -p)\n"
           "  --temp T, --top-p P, --top-k K, --min-p P, --seed S\n"
           "                        sampling (R1 models default to temp 0.6, top-p 0.95;\n"
           "                        --temp 0 is greedy)\n"
           "  --think-budget N      close the reasoning after N tokens and answer\n"
           "  --hide-reasoning      print only the answer\n"
           "  --top K               print the K largest logits of each step on stderr\n"
           "  --mla absorbed|naive  MLA evaluation order (default absorbed)\n"
           "  --ctx N               context positions (default min(model, 4096))\n"
           "  -t, --threads N       threads (default: one per CPU)\n"
           "  --logits-out FILE     write prompt logits + continuation as .whfx\n"
           "  --exact               reference numerics: F32 activations against dequantised\n"
           "                        weights (default: fast 8-bit activation kernels)\n"
           "  --stop-at-eos         stop when the model's EOS id is generated\n");
}

/* "1,2,3" -> ids; returns count or -1. */
static int parse_tokens(const char *s, int32_t **out)
{
    int cap = 16, n = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (v == NULL)
        return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno != 0 || x < 0 || x > INT32_MAX || (*end != ',' && *end != '\0')) {
            free(v);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            int32_t *nv = realloc(v, (size_t)cap * sizeof *nv);
            if (nv == NULL) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[n++] = (int32_t)x;
        p = *end == ',' ? end + 1 : end;
    }
    *out = v;
    return n;
}

static void print_top(long step, const float *logits, int V, int k)
{
    fprintf(stderr, "step %ld top %d:", step, k);
    /* simple selection over a copy */
    int *ids = malloc((size_t)k * sizeof *ids);
    if (ids == NULL)
        return;
    for (int r = 0; r < k && r < V; r++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int used = 0;
            for (int q = 0; q < r; q++)
                used |= ids[q] == i;
            if (!used && (best < 0 || logits[i] > logits[best]))
                best = i;
        }
        ids[r] = best;
        fprintf(stderr, " %d:%.5f", best, (double)logits[best]);
    }
    fprintf(stderr, "\n");
    free(ids);
}

static int write_whfx(const char *path, const int32_t *toks, int T, int V, const float *logits,
                      const int32_t *gen, int G)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    uint32_t hdr[3] = {1, (uint32_t)T, (uint32_t)V};
    uint32_t g = (uint32_t)G, zero = 0;
    int ok = fwrite("WHFX", 1, 4, f) == 4 && fwrite(hdr, 4, 3, f) == 3 &&
             fwrite(toks, 4, (size_t)T, f) == (size_t)T &&
             fwrite(logits, 4, (size_t)T * V, f) == (size_t)T * V && fwrite(&g, 4, 1, f) == 1 &&
             fwrite(gen, 4, (size_t)G, f) == (size_t)G && fwrite(&zero, 4, 1, f) == 1 &&
             fwrite(&zero, 4, 1, f) == 1 && fwrite(&zero, 4, 1, f) == 1;
    return fclose(f) == 0 && ok;
}

static int on_text(void *user, const char *text, size_t len, int is_reasoning)
{
    think_view_text(user, text, len, is_reasoning);
    return 0;
}

typedef struct text_opts {
    const char *prompt, *system;
    long n_gen;
    float temp, top_p, min_p;
    long top_k, seed, think_budget;
    int temp_set, top_p_set, hide;
} text_opts;

static int run_text(wh_model *m, wh_session *s, const text_opts *to)
{
    wh_error err = {0};
    const wh_tokenizer *tok = wh_model_tokenizer(m, &err);
    if (tok == NULL)
        return cli_fail("run: this model has no usable tokenizer: %s", err.msg);
    wh_chat_match how;
    wh_chat_family fam = wh_chat_detect(wh_model_chat_template(m), tok, &how);
    if (how == WH_CHAT_MATCH_NONE)
        fprintf(stderr, "whale: warning: chat template not recognised; using the plain "
                        "\"System/User/Assistant\" format\n");
    wh_chat_msg msgs[2];
    int n = 0;
    memset(msgs, 0, sizeof msgs);
    if (to->system != NULL) {
        msgs[n].role = "system";
        msgs[n++].content = to->system;
    }
    msgs[n].role = "user";
    msgs[n++].content = to->prompt;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (wh_chat_encode(tok, fam, msgs, n, 1, &ids, &n_ids, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    int r1 = fam == WH_CHAT_R1 || fam == WH_CHAT_R1_DISTILL;
    wh_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.sampler = wh_sampler_defaults();
    gp.sampler.temperature = to->temp_set ? to->temp : (r1 ? 0.6f : 0.0f);
    gp.sampler.top_p = to->top_p_set ? to->top_p : (r1 ? 0.95f : 1.0f);
    gp.sampler.top_k = (int)to->top_k;
    gp.sampler.min_p = to->min_p;
    gp.sampler.seed = (uint64_t)to->seed;
    gp.max_tokens = (int)to->n_gen;
    gp.think_budget = (int)to->think_budget;
    gp.starts_in_reasoning = fam == WH_CHAT_R1 || fam == WH_CHAT_R1_DISTILL;
    think_view o;
    think_view_init(&o, stdout, isatty(1), !to->hide);
    wh_gen_result res;
    int rc = wh_generate(s, m, ids, (int)n_ids, &gp, on_text, &o, &res, &err);
    wh_free(ids);
    think_view_end(&o);
    fputs("\n", stdout);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    static const char *fin[] = {"stop", "length", "cancelled", "context full"};
    fprintf(stderr,
            "[%s format; %d prompt tokens in %.0f ms; %d generated (%d reasoning), %.2f tok/s; "
            "first token after %.0f ms; finish: %s]\n",
            wh_chat_family_name(fam), res.n_prompt, res.prompt_ms, res.n_generated, res.n_reasoning,
            res.gen_ms > 0 ? res.n_generated * 1000.0 / res.gen_ms : 0.0, res.first_token_ms,
            fin[res.finish]);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL, *toks = NULL, *dump = NULL;
    long n_gen = -1, top = 0, ctx = 0, threads = 0;
    int naive = 0, stop_eos = 0, exact = 0;
    text_opts to;
    memset(&to, 0, sizeof to);
    to.think_budget = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has) {
            path = argv[++i];
        } else if (strcmp(a, "--tokens") == 0 && has) {
            toks = argv[++i];
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && has) {
            to.prompt = argv[++i];
        } else if (strcmp(a, "--system") == 0 && has) {
            to.system = argv[++i];
        } else if (strcmp(a, "--temp") == 0 && has) {
            if (!cli_parse_float(argv[++i], 0, 100, &to.temp))
                return cli_fail("run: --temp needs a number >= 0");
            to.temp_set = 1;
        } else if (strcmp(a, "--top-p") == 0 && has) {
            if (!cli_parse_float(argv[++i], 1e-6, 1, &to.top_p))
                return cli_fail("run: --top-p needs 0 < p <= 1");
            to.top_p_set = 1;
        } else if (strcmp(a, "--min-p") == 0 && has) {
            if (!cli_parse_float(argv[++i], 0, 1, &to.min_p))
                return cli_fail("run: --min-p needs 0..1");
        } else if (strcmp(a, "--top-k") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 1 << 24, &to.top_k))
                return cli_fail("run: --top-k needs a count >= 0");
        } else if (strcmp(a, "--seed") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 0x7fffffffL, &to.seed))
                return cli_fail("run: --seed needs 0..2147483647");
        } else if (strcmp(a, "--think-budget") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 1 << 24, &to.think_budget))
                return cli_fail("run: --think-budget needs a count >= 0");
        } else if (strcmp(a, "--hide-reasoning") == 0) {
            to.hide = 1;
        } else if (strcmp(a, "-n") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 1 << 20, &n_gen))
                return cli_fail("run: -n needs a count (0..1048576)");
        } else if (strcmp(a, "--top") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 100, &top))
                return cli_fail("run: --top needs 1..100");
        } else if (strcmp(a, "--ctx") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 1 << 24, &ctx))
                return cli_fail("run: --ctx needs a positive count");
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!cli_parse_long(argv[++i], 1, 1024, &threads))
                return cli_fail("run: --threads needs 1..1024");
        } else if (strcmp(a, "--mla") == 0 && has) {
            const char *v = argv[++i];
            if (strcmp(v, "naive") == 0)
                naive = 1;
            else if (strcmp(v, "absorbed") != 0)
                return cli_fail("run: --mla is absorbed or naive");
        } else if (strcmp(a, "--logits-out") == 0 && has) {
            dump = argv[++i];
        } else if (strcmp(a, "--exact") == 0) {
            exact = 1;
        } else if (strcmp(a, "--stop-at-eos") == 0) {
            stop_eos = 1;
        } else {
            return cli_fail("run: unexpected argument \"%s\" (see whale run --help)", a);
        }
    }
    if (path == NULL)
        return cli_fail("run: no model given: whale run -m MODEL -p \"question\"");
    if (toks == NULL && to.prompt == NULL)
        return cli_fail("run: no prompt given: -p \"question\" or --tokens 1,2,3");
    if (toks != NULL && to.prompt != NULL)
        return cli_fail("run: give either -p or --tokens, not both");
    if (n_gen < 0)
        n_gen = to.prompt ? 1024 : 16;
    to.n_gen = n_gen;
    if (to.prompt != NULL) {
        wh_error e = {0};
        wh_model *tm = NULL;
        if (wh_model_load(path, &tm, &e) != WH_OK)
            return cli_fail("%s", e.msg);
        const wh_config *tc = wh_model_config(tm);
        int n_ctx = (int)ctx;
        if (n_ctx == 0)
            n_ctx = tc->max_position_embeddings < 4096 ? tc->max_position_embeddings : 4096;
        wh_session_opts tso = {.n_ctx = n_ctx,
                               .mla = naive ? WH_MLA_NAIVE : WH_MLA_ABSORBED,
                               .n_threads = (int)threads,
                               .exact = exact};
        wh_session *ts = NULL;
        int trc;
        if (wh_session_new(tm, &tso, &ts, &e) != WH_OK)
            trc = cli_fail("%s", e.msg);
        else
            trc = run_text(tm, ts, &to);
        wh_session_free(ts);
        wh_model_free(tm);
        return trc;
    }
    int32_t *prompt = NULL;
    int T = parse_tokens(toks, &prompt);
    if (T <= 0)
        return cli_fail("run: --tokens must be non-negative integers separated by commas");

    wh_error err = {0};
    wh_model *m = NULL;
    if (wh_model_load(path, &m, &err) != WH_OK) {
        free(prompt);
        return cli_fail("%s", err.msg);
    }
    const wh_config *c = wh_model_config(m);
    int V = c->vocab_size;
    wh_session_opts so = {.n_ctx = (int)ctx,
                          .mla = naive ? WH_MLA_NAIVE : WH_MLA_ABSORBED,
                          .n_threads = (int)threads,
                          .exact = exact};
    if (so.n_ctx == 0) {
        long need = T + n_gen;
        so.n_ctx = need < c->max_position_embeddings ? (int)need : c->max_position_embeddings;
        if (so.n_ctx > 4096 && need <= 4096)
            so.n_ctx = 4096;
    }
    wh_session *s = NULL;
    int rc = 1;
    float *logits = NULL;
    int32_t *gen = NULL;
    if (wh_session_new(m, &so, &s, &err) != WH_OK) {
        cli_fail("%s", err.msg);
        goto done;
    }
    if ((long)T + n_gen > so.n_ctx) {
        cli_fail("run: %d prompt + %ld new tokens exceed the context of %d", T, n_gen, so.n_ctx);
        goto done;
    }
    logits = malloc((size_t)T * (size_t)V * sizeof(float));
    gen = malloc((size_t)(n_gen + 1) * sizeof(int32_t));
    if (logits == NULL || gen == NULL) {
        cli_fail("run: out of memory");
        goto done;
    }
    if (wh_session_eval(s, prompt, T, logits, 1, &err) != WH_OK) {
        cli_fail("%s", err.msg);
        goto done;
    }
    float *last = logits + (size_t)(T - 1) * V;
    float *step = malloc((size_t)V * sizeof(float));
    if (step == NULL) {
        cli_fail("run: out of memory");
        goto done;
    }
    memcpy(step, last, (size_t)V * sizeof(float));
    int G = 0;
    for (long i = 0; i < n_gen; i++) {
        if (top > 0)
            print_top(i, step, V, (int)top);
        int32_t next = wh_argmax(step, V);
        gen[G++] = next;
        if (stop_eos && next == c->eos_token_id)
            break;
        if (i + 1 == n_gen)
            break;
        if (wh_session_eval(s, &next, 1, step, 0, &err) != WH_OK) {
            free(step);
            cli_fail("%s", err.msg);
            goto done;
        }
    }
    for (int i = 0; i < G; i++)
        printf("%s%d", i ? " " : "", gen[i]);
    printf("\n");
    free(step);
    if (dump != NULL && !write_whfx(dump, prompt, T, V, logits, gen, G)) {
        cli_fail("run: cannot write %s", dump);
        goto done;
    }
    rc = 0;
done:
    free(logits);
    free(gen);
    free(prompt);
    wh_session_free(s);
    wh_model_free(m);
    return rc;
}
