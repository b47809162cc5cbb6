/*
 * cmd_chat.c — `whale chat -m MODEL`: an interactive, multi-turn conversation.
 * The reasoning streams dimmed (or hidden with /think off) and the answer after it;
 * earlier turns' reasoning is dropped from the history as the R1 format requires; the
 * KV cache is kept across turns so only the new tokens of each turn are prefilled.
 * Ctrl-C stops the current answer, not the program. Line editing and history: libedit.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli.h"
#include "cli/think_view.h"
#include "whale.h"

typedef struct turn {
    char *role, *content, *reasoning;
} turn;

typedef struct chat {
    wh_model *m;
    wh_session *s;
    const wh_tokenizer *tok;
    wh_chat_family fam;
    turn *turns;
    int n_turns, cap_turns;
    int32_t *cached; /* tokens in the session's cache */
    int n_cached, cap_cached;
    int show_think, budget, tty, max_tokens;
    float temp, top_p;
    long seed;
    /* current answer */
    char *ans, *rsn;
    size_t n_ans, cap_ans, n_rsn, cap_rsn;
    think_view view;
    /* statistics of the last answer */
    wh_gen_result last;
} chat;

static volatile sig_atomic_t g_interrupted;
static long g_delay_ms; /* WHALE_CHAT_DELAY_MS: slows streaming, for the pty test */

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static int append(char **buf, size_t *n, size_t *cap, const char *t, size_t len)
{
    if (*n + len + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *n + len + 1)
            c *= 2;
        char *p = realloc(*buf, c);
        if (p == NULL)
            return 0;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *n, t, len);
    *n += len;
    (*buf)[*n] = '\0';
    return 1;
}

static int on_text(void *user, const char *text, size_t len, int is_reasoning)
{
    chat *c = user;
    if (is_reasoning) {
        append(&c->rsn, &c->n_rsn, &c->cap_rsn, text, len);
    } else {
        append(&c->ans, &c->n_ans, &c->cap_ans, text, len);
    }
    think_view_text(&c->view, text, len, is_reasoning);
    if (g_delay_ms > 0) {
        struct timespec ts = {g_delay_ms / 1000, (g_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return g_interrupted ? 1 : 0;
}

static int add_turn(chat *c, const char *role, const char *content, const char *reasoning)
{
    if (c->n_turns == c->cap_turns) {
        int cap = c->cap_turns ? 2 * c->cap_turns : 16;
        turn *t = realloc(c->turns, (size_t)cap * sizeof *t);
        if (t == NULL)
            return 0;
        c->turns = t;
        c->cap_turns = cap;
    }
    turn *t = &c->turns[c->n_turns];
    t->role = strdup(role);
    t->content = strdup(content ? content : "");
    t->reasoning = reasoning ? strdup(reasoning) : NULL;
    if (t->role == NULL || t->content == NULL)
        return 0;
    c->n_turns++;
    return 1;
}

static void clear_turns(chat *c)
{
    for (int i = 0; i < c->n_turns; i++) {
        free(c->turns[i].role);
        free(c->turns[i].content);
        free(c->turns[i].reasoning);
    }
    c->n_turns = 0;
}

/* Renders the whole conversation, reuses the cached prefix, generates the reply. */
static int reply(chat *c)
{
    wh_chat_msg *msgs = calloc((size_t)c->n_turns + 1, sizeof *msgs);
    if (msgs == NULL)
        return cli_fail("chat: out of memory");
    for (int i = 0; i < c->n_turns; i++) {
        msgs[i].role = c->turns[i].role;
        msgs[i].content = c->turns[i].content;
        msgs[i].reasoning = c->turns[i].reasoning;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    wh_error err = {0};
    int rc = wh_chat_encode(c->tok, c->fam, msgs, c->n_turns, 1, &ids, &n_ids, &err);
    free(msgs);
    if (rc != WH_OK)
        return cli_fail("%s", err.msg);
    /* KV reuse: keep the longest common prefix, evaluate the rest (at least one token) */
    int keep = 0;
    while (keep < c->n_cached && keep < (int)n_ids && c->cached[keep] == ids[keep])
        keep++;
    if (keep == (int)n_ids)
        keep--;
    if ((int)n_ids + 1 > wh_session_ctx(c->s)) {
        wh_free(ids);
        fprintf(stderr,
                "whale: the conversation (%zu tokens) no longer fits the context of %d "
                "tokens; /reset to start over\n",
                n_ids, wh_session_ctx(c->s));
        return 1;
    }
    wh_session_truncate(c->s, keep, NULL);
    wh_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.sampler = wh_sampler_defaults();
    gp.sampler.temperature = c->temp;
    gp.sampler.top_p = c->top_p;
    gp.sampler.seed = (uint64_t)c->seed;
    gp.max_tokens = c->max_tokens;
    int room = wh_session_ctx(c->s) - (int)n_ids - 1;
    if (gp.max_tokens > room)
        gp.max_tokens = room;
    gp.think_budget = c->budget;
    gp.starts_in_reasoning = c->fam == WH_CHAT_R1 || c->fam == WH_CHAT_R1_DISTILL;
    c->n_ans = c->n_rsn = 0;
    think_view_init(&c->view, stdout, c->tty, c->show_think);
    g_interrupted = 0;
    rc = wh_generate(c->s, c->m, ids + keep, (int)n_ids - keep, &gp, on_text, c, &c->last, &err);
    think_view_end(&c->view);
    fputs("\n", stdout);
    if (rc != WH_OK) {
        wh_free(ids);
        return cli_fail("%s", err.msg);
    }
    /* what the cache now holds: the prompt and the generated tokens it evaluated */
    int held = wh_session_pos(c->s);
    if (held > c->cap_cached) {
        int32_t *p = realloc(c->cached, (size_t)held * sizeof(int32_t));
        if (p == NULL) {
            wh_free(ids);
            return cli_fail("chat: out of memory");
        }
        c->cached = p;
        c->cap_cached = held;
    }
    int n_copy = held < (int)n_ids ? held : (int)n_ids;
    memcpy(c->cached, ids, (size_t)n_copy * sizeof(int32_t));
    c->n_cached = n_copy; /* generated tokens are re-rendered by the template next turn */
    wh_free(ids);
    add_turn(c, "assistant", c->ans ? c->ans : "", c->rsn);
    static const char *fin[] = {"", " (stopped: length)", " (stopped by you)", " (context full)"};
    fprintf(stderr,
            "%s[%d tokens (%d reasoning), %.2f tok/s, first token %.0f ms, prompt %d new "
            "of %zu tokens%s]%s\n",
            c->tty ? "\033[2m" : "", c->last.n_generated, c->last.n_reasoning,
            c->last.gen_ms > 0 ? c->last.n_generated * 1000.0 / c->last.gen_ms : 0.0,
            c->last.first_token_ms, (int)n_ids - keep, n_ids, fin[c->last.finish],
            c->tty ? "\033[0m" : "");
    return 0;
}

static int save(chat *c, const char *path)
{
    json_object *arr = json_object_new_array();
    for (int i = 0; i < c->n_turns; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "role", json_object_new_string(c->turns[i].role));
        json_object_object_add(o, "content", json_object_new_string(c->turns[i].content));
        if (c->turns[i].reasoning)
            json_object_object_add(o, "reasoning_content",
                                   json_object_new_string(c->turns[i].reasoning));
        json_object_array_add(arr, o);
    }
    int ok = json_object_to_file_ext(path, arr, JSON_C_TO_STRING_PRETTY) == 0;
    json_object_put(arr);
    if (!ok)
        fprintf(stderr, "whale: cannot write %s: %s\n", path, strerror(errno));
    else
        printf("saved %d messages to %s\n", c->n_turns, path);
    return ok;
}

static int load(chat *c, const char *path)
{
    json_object *arr = json_object_from_file(path);
    if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        fprintf(stderr, "whale: %s: not a saved conversation (a JSON array of messages)\n", path);
        return 0;
    }
    clear_turns(c);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i), *r, *t, *rs;
        if (!json_object_object_get_ex(o, "role", &r) ||
            !json_object_object_get_ex(o, "content", &t) ||
            !json_object_is_type(r, json_type_string) ||
            !json_object_is_type(t, json_type_string)) {
            fprintf(stderr, "whale: %s: message %zu needs role and content strings\n", path, i);
            clear_turns(c);
            json_object_put(arr);
            return 0;
        }
        const char *reason = json_object_object_get_ex(o, "reasoning_content", &rs) &&
                                     json_object_is_type(rs, json_type_string)
                                 ? json_object_get_string(rs)
                                 : NULL;
        add_turn(c, json_object_get_string(r), json_object_get_string(t), reason);
    }
    json_object_put(arr);
    printf("loaded %d messages from %s\n", c->n_turns, path);
    return 1;
}

static void help(void)
{
    printf("commands:\n"
           "  /help            this list\n"
           "  /reset           forget the conversation\n"
           "  /save FILE       save the conversation as JSON\n"
           "  /load FILE       load a saved conversation\n"
           "  /think on|off    show or hide the reasoning\n"
           "  /budget N        close the reasoning after N tokens (-1: no limit)\n"
           "  /stats           figures of the last answer\n"
           "  /quit            leave (or Ctrl-D)\n"
           "Ctrl-C stops the current answer.\n");
}

static void usage(void)
{
    printf("usage: whale chat -m MODEL [options]\n\n"
           "  -m PATH           model folder or .gguf\n"
           "  --system TEXT     system prompt\n"
           "  --temp T          temperature (R1 default 0.6)\n"
           "  --top-p P         nucleus (R1 default 0.95)\n"
           "  --seed S          sampling seed\n"
           "  -n N              tokens per answer at most (default 4096)\n"
           "  --think-budget N  close the reasoning after N tokens\n"
           "  --hide-reasoning  do not show the reasoning\n"
           "  --ctx N           context (default min(model, 8192))\n"
           "  -t N              threads\n");
}

int cmd_chat(int argc, char **argv)
{
    const char *path = NULL, *system = NULL;
    chat c;
    memset(&c, 0, sizeof c);
    c.show_think = 1;
    c.budget = -1;
    c.max_tokens = 4096;
    c.temp = -1;
    c.top_p = -1;
    long ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        int ok = 1;
        long v = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) {
            path = argv[++i];
        } else if (!strcmp(a, "--system") && has) {
            system = argv[++i];
        } else if (!strcmp(a, "--temp") && has) {
            ok = cli_parse_float(argv[++i], 0.0, 100.0, &c.temp);
        } else if (!strcmp(a, "--top-p") && has) {
            ok = cli_parse_float(argv[++i], 1e-9, 1.0, &c.top_p);
        } else if (!strcmp(a, "--seed") && has) {
            ok = cli_parse_long(argv[++i], LONG_MIN, LONG_MAX, &c.seed);
        } else if (!strcmp(a, "-n") && has) {
            ok = cli_parse_long(argv[++i], 1, 1L << 24, &v);
            c.max_tokens = (int)v;
        } else if (!strcmp(a, "--think-budget") && has) {
            ok = cli_parse_long(argv[++i], -1, 1L << 24, &v);
            c.budget = (int)v;
        } else if (!strcmp(a, "--ctx") && has) {
            ok = cli_parse_long(argv[++i], 0, 1L << 24, &ctx);
        } else if (!strcmp(a, "-t") && has) {
            ok = cli_parse_long(argv[++i], 0, 1024, &threads);
        } else if (!strcmp(a, "--hide-reasoning")) {
            c.show_think = 0;
        } else {
            return cli_fail("chat: unexpected argument \"%s\" (see whale chat --help)", a);
        }
        if (!ok)
            return cli_fail("chat: %s needs a number in range (see whale chat --help)", a);
    }
    if (path == NULL)
        return cli_fail("chat: no model given: whale chat -m MODEL");
    if (c.max_tokens <= 0 || ctx < 0 || threads < 0 || (c.temp < 0 && c.temp != -1) ||
        (c.top_p != -1 && !(c.top_p > 0 && c.top_p <= 1)))
        return cli_fail("chat: bad option value (see whale chat --help)");
    wh_error err = {0};
    if (wh_model_load(path, &c.m, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    c.tok = wh_model_tokenizer(c.m, &err);
    if (c.tok == NULL) {
        wh_model_free(c.m);
        return cli_fail("chat: this model has no usable tokenizer: %s", err.msg);
    }
    wh_chat_match how;
    c.fam = wh_chat_detect(wh_model_chat_template(c.m), c.tok, &how);
    if (how == WH_CHAT_MATCH_NONE)
        fprintf(stderr, "whale: warning: chat template not recognised; using the plain format\n");
    int r1 = c.fam == WH_CHAT_R1 || c.fam == WH_CHAT_R1_DISTILL;
    if (c.temp == -1)
        c.temp = r1 ? 0.6f : 0.0f;
    if (c.top_p == -1)
        c.top_p = r1 ? 0.95f : 1.0f;
    const wh_config *cfg = wh_model_config(c.m);
    wh_session_opts so = {.n_ctx = (int)ctx, .n_threads = (int)threads};
    if (so.n_ctx == 0)
        so.n_ctx = cfg->max_position_embeddings < 8192 ? cfg->max_position_embeddings : 8192;
    if (wh_session_new(c.m, &so, &c.s, &err) != WH_OK) {
        wh_model_free(c.m);
        return cli_fail("%s", err.msg);
    }
    c.tty = isatty(1);
    const char *delay = getenv("WHALE_CHAT_DELAY_MS");
    g_delay_ms = delay ? strtol(delay, NULL, 10) : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    if (system != NULL)
        add_turn(&c, "system", system, NULL);
    printf("whale chat — %s (%s format). /help for commands, Ctrl-C stops an answer, Ctrl-D "
           "leaves.\n",
           path, wh_chat_family_name(c.fam));
    using_history();
    for (;;) {
        g_interrupted = 0;
        char *line = readline(c.tty ? "\001\033[1m\002> \001\033[0m\002" : "> ");
        if (line == NULL && g_interrupted) { /* Ctrl-C at the prompt: a fresh line */
            printf("\n");
            continue;
        }
        if (line == NULL)
            break;
        if (g_interrupted) { /* Ctrl-C at the prompt: a fresh line */
            free(line);
            continue;
        }
        if (line[0] != '\0')
            add_history(line);
        if (line[0] == '/') {
            char arg[1024] = "";
            char cmd[32] = "";
            sscanf(line, "/%31s %1023[^\n]", cmd, arg);
            if (!strcmp(cmd, "help")) {
                help();
            } else if (!strcmp(cmd, "reset")) {
                clear_turns(&c);
                if (system != NULL)
                    add_turn(&c, "system", system, NULL);
                printf("conversation cleared\n");
            } else if (!strcmp(cmd, "save") && arg[0]) {
                save(&c, arg);
            } else if (!strcmp(cmd, "load") && arg[0]) {
                load(&c, arg);
            } else if (!strcmp(cmd, "think") && (!strcmp(arg, "on") || !strcmp(arg, "off"))) {
                c.show_think = !strcmp(arg, "on");
                printf("reasoning %s\n", c.show_think ? "shown" : "hidden");
            } else if (!strcmp(cmd, "budget") && arg[0]) {
                long b;
                if (!cli_parse_long(arg, -1, 1L << 24, &b)) {
                    printf("/budget needs a token count (-1: no limit)\n");
                    free(line);
                    continue;
                }
                c.budget = (int)b;
                printf("thinking budget: %d%s\n", c.budget, c.budget < 0 ? " (none)" : " tokens");
            } else if (!strcmp(cmd, "stats")) {
                printf("last answer: %d tokens (%d reasoning) in %.0f ms, %.2f tok/s; prompt %d "
                       "tokens in %.0f ms; first token %.0f ms; %d messages\n",
                       c.last.n_generated, c.last.n_reasoning, c.last.gen_ms,
                       c.last.gen_ms > 0 ? c.last.n_generated * 1000.0 / c.last.gen_ms : 0.0,
                       c.last.n_prompt, c.last.prompt_ms, c.last.first_token_ms, c.n_turns);
            } else if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit")) {
                free(line);
                break;
            } else {
                printf("unknown command; /help lists them\n");
            }
            free(line);
            continue;
        }
        if (line[0] == '\0') {
            free(line);
            continue;
        }
        add_turn(&c, "user", line, NULL);
        free(line);
        reply(&c);
    }
    printf("\n");
    clear_turns(&c);
    free(c.turns);
    free(c.cached);
    free(c.ans);
    free(c.rsn);
    wh_session_free(c.s);
    wh_model_free(c.m);
    return 0;
}
