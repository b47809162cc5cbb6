/*
 * cmd_serve.c — `whale serve`: the OpenAI / DeepSeek-compatible HTTP API and the web
 * chat page (src/serve/http.c) in front of the continuous-batching engine
 * (src/serve/engine.c). Listens first (so /health answers 503 while the model
 * loads), then loads the model and starts the engine; SIGINT or SIGTERM stops it
 * cleanly: the listener closes, waiting requests are cancelled, threads are joined.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "cli/cli.h"
#include "serve/engine.h"
#include "serve/http.h"
#include "whale.h"

static void usage(void)
{
    printf("usage: whale serve -m MODEL [options]\n\n"
           "  -m, --model PATH   model folder, .safetensors or .gguf\n"
           "  --host ADDR        address to listen on (default 127.0.0.1: this machine only)\n"
           "  --port N           port (default 8080; 0 picks a free one, printed at start)\n"
           "  --api-key KEY      require \"Authorization: Bearer KEY\" on /v1/* (the page,\n"
           "                     /health and /metrics stay open)\n"
           "  --parallel N       requests generated at once (KV-cache slots, default 4)\n"
           "  --queue N          requests waiting for a slot before 429 (default 64)\n"
           "  --ctx N            context positions per slot (default min(model, 4096))\n"
           "  -t, --threads N    threads for the forward pass (default: one per CPU)\n"
           "  --cors ORIGIN      send CORS headers allowing ORIGIN (default: none)\n"
           "  --max-body BYTES   request body limit (default 1048576)\n"
           "  --timeout SECONDS  close a connection idle this long, or whose request's headers\n"
           "                     and body take longer to arrive (default 30)\n\n"
           "endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,\n"
           "GET /health, GET /metrics, GET / (web chat). See docs/SERVER.md.\n");
}

/* The model's name for the API: the last component of its path. */
static void model_name(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    snprintf(out, cap, "%.*s", (int)(n - b), path + b);
}

int cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    wh_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.port = 8080;
    long v, parallel = 4, queue = 64, ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has) {
            path = argv[++i];
        } else if (strcmp(a, "--host") == 0 && has) {
            ho.host = argv[++i];
        } else if (strcmp(a, "--port") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 65535, &v))
                return cli_fail("serve: --port needs 0..65535");
            ho.port = (int)v;
        } else if (strcmp(a, "--api-key") == 0 && has) {
            ho.api_key = argv[++i];
            if (ho.api_key[0] == '\0')
                return cli_fail("serve: --api-key must not be empty");
        } else if (strcmp(a, "--cors") == 0 && has) {
            ho.cors = argv[++i];
        } else if (strcmp(a, "--parallel") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 256, &parallel))
                return cli_fail("serve: --parallel needs 1..256");
        } else if (strcmp(a, "--queue") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 65536, &queue))
                return cli_fail("serve: --queue needs 1..65536");
        } else if (strcmp(a, "--ctx") == 0 && has) {
            if (!cli_parse_long(argv[++i], 16, 1 << 24, &ctx))
                return cli_fail("serve: --ctx needs 16..16777216");
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!cli_parse_long(argv[++i], 1, 1024, &threads))
                return cli_fail("serve: --threads needs 1..1024");
        } else if (strcmp(a, "--max-body") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1024, 1L << 30, &v))
                return cli_fail("serve: --max-body needs 1024..1073741824 bytes");
            ho.max_body = (size_t)v;
        } else if (strcmp(a, "--timeout") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, 86400, &v))
                return cli_fail("serve: --timeout needs 1..86400 seconds");
            ho.timeout_s = (int)v;
        } else {
            return cli_fail("serve: unexpected argument \"%s\" (see whale serve --help)", a);
        }
    }
    if (path == NULL)
        return cli_fail("serve: no model given: whale serve -m MODEL");
    ho.assets = wh_web_assets;
    ho.n_assets = wh_web_n_assets;

    /* Signals are taken by sigwait below; every thread started from here inherits
     * the mask, so none of them is interrupted. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    wh_error err = {0};
    wh_http *h = NULL;
    if (wh_http_start(&ho, &h, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    const char *host = ho.host ? ho.host : "127.0.0.1";
    int v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "whale: listening on http://%s%s%s:%d (loading %s)\n", v6 ? "[" : "", host,
            v6 ? "]" : "", wh_http_port(h), path);

    int rc = 1;
    wh_model *m = NULL;
    wh_engine *e = NULL;
    const wh_tokenizer *tok = NULL;
    if (wh_model_load(path, &m, &err) != WH_OK) {
        cli_fail("%s", err.msg);
        goto done;
    }
    tok = wh_model_tokenizer(m, &err);
    if (tok == NULL) {
        cli_fail("serve: this model has no usable tokenizer: %s", err.msg);
        goto done;
    }
    wh_chat_match how;
    wh_chat_family fam = wh_chat_detect(wh_model_chat_template(m), tok, &how);
    if (how == WH_CHAT_MATCH_NONE)
        fprintf(stderr, "whale: warning: chat template not recognised; using the plain "
                        "\"System/User/Assistant\" format\n");
    const wh_config *cfg = wh_model_config(m);
    int n_ctx = (int)ctx;
    if (n_ctx == 0)
        n_ctx = cfg->max_position_embeddings < 4096 ? cfg->max_position_embeddings : 4096;
    wh_engine_opts eo = {.n_slots = (int)parallel,
                         .n_ctx = n_ctx,
                         .n_threads = (int)threads,
                         .max_queue = (int)queue};
    if (wh_engine_new(m, &eo, &e, &err) != WH_OK) {
        cli_fail("%s", err.msg);
        goto done;
    }
    char name[256];
    model_name(path, name, sizeof name);
    wh_http_model hm = {e, tok, fam, name, n_ctx, cfg->vocab_size};
    wh_http_set_model(h, &hm);
    fprintf(stderr, "whale: ready: %s (%s format), %ld slots of %d positions, queue %ld\n", name,
            wh_chat_family_name(fam), parallel, n_ctx, queue);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    fprintf(stderr, "whale: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
done:
    wh_http_stop(h); /* wakes and joins every handler; their requests are cancelled */
    wh_engine_free(e);
    wh_model_free(m);
    return rc;
}
