/*
 * sft.c — SFT data in the R1 chat format with the loss on the assistant's tokens
 * (DeepSeek-R1 report §2.3.1 cold start, §2.4 distillation), the tokenizer and chat
 * family of a post-training run, and its starting point (init_from). Contracts and the
 * rendering rule: sft.h; docs/R1.md, "SFT".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapfile.h"
#include "model/model.h"
#include "train/export.h"
#include "train/sft.h"

const char *wh_r1_reply_prefix(wh_chat_family f)
{
    switch (f) {
    case WH_CHAT_R1:
    case WH_CHAT_R1_DISTILL:
        return "";
    case WH_CHAT_V3:
        return "<think>\n";
    case WH_CHAT_PLAIN:
        return " <think>\n";
    }
    return "";
}

const char *wh_r1_score_prefix(wh_chat_family f)
{
    return f == WH_CHAT_R1 || f == WH_CHAT_R1_DISTILL ? "<think>\n" : "";
}

int wh_r1_render_train(const wh_tokenizer *tok, wh_chat_family fam, const wh_chat_msg *msgs,
                       int n_msgs, const char *reasoning, const char *content, int32_t **ids,
                       size_t *n_ids, size_t *n_prompt, wh_error *err)
{
    *ids = NULL;
    *n_ids = *n_prompt = 0;
    int32_t eos = wh_tokenizer_eos(tok);
    if (eos < 0)
        return wh_err(err, WH_E_INVALID, "sft: the tokenizer has no end-of-sequence token");
    int32_t *p = NULL, *r = NULL;
    size_t np = 0, nr = 0;
    int rc = wh_chat_encode(tok, fam, msgs, n_msgs, 1, &p, &np, err);
    if (rc != WH_OK)
        return rc;
    const char *pre = wh_r1_reply_prefix(fam), *mid = "\n</think>\n\n";
    if (reasoning == NULL)
        reasoning = "";
    size_t lp = strlen(pre), lr = strlen(reasoning), lm = strlen(mid), lc = strlen(content);
    char *text = wh_malloc(lp + lr + lm + lc + 1);
    if (text == NULL) {
        wh_free(p);
        return wh_err(err, WH_E_NOMEM, "sft: out of memory");
    }
    memcpy(text, pre, lp);
    memcpy(text + lp, reasoning, lr);
    memcpy(text + lp + lr, mid, lm);
    memcpy(text + lp + lr + lm, content, lc);
    text[lp + lr + lm + lc] = '\0';
    rc = wh_tokenizer_encode(tok, text, lp + lr + lm + lc, 0, &r, &nr, err);
    wh_free(text);
    if (rc != WH_OK) {
        wh_free(p);
        return rc;
    }
    int32_t *all = wh_malloc((np + nr + 1) * sizeof *all);
    if (all == NULL) {
        wh_free(p);
        wh_free(r);
        return wh_err(err, WH_E_NOMEM, "sft: out of memory");
    }
    memcpy(all, p, np * sizeof *all);
    memcpy(all + np, r, nr * sizeof *all);
    all[np + nr] = eos;
    wh_free(p);
    wh_free(r);
    *ids = all;
    *n_ids = np + nr + 1;
    *n_prompt = np;
    return WH_OK;
}

int wh_sft_layout(const int32_t *ids, size_t n_ids, size_t n_prompt, int T, int *tokens,
                  int *targets, float *weights)
{
    for (int t = 0; t < T; t++) {
        size_t i = (size_t)t;
        if (i + 1 < n_ids) {
            tokens[t] = ids[i];
            targets[t] = ids[i + 1];
            weights[t] = i + 1 >= n_prompt ? 1.0f : 0.0f;
        } else {
            tokens[t] = -1;
            targets[t] = -1;
            weights[t] = 0.0f;
        }
    }
    return n_ids > (size_t)T + 1;
}

void wh_sft_free(wh_sft_set *s)
{
    wh_free(s->tokens);
    wh_free(s->targets);
    wh_free(s->mask);
    memset(s, 0, sizeof *s);
}

static const char *str_field(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* One line into sequence s->n (capacity already there). */
static int sft_line(wh_sft_set *s, json_object *o, const wh_tokenizer *tok, wh_chat_family fam,
                    const char *where, wh_error *err)
{
    json_object *msgs;
    if (!json_object_object_get_ex(o, "messages", &msgs) ||
        !json_object_is_type(msgs, json_type_array) || json_object_array_length(msgs) < 2)
        return wh_err(err, WH_E_FORMAT, "%s: want \"messages\": an array of at least 2", where);
    int n = (int)json_object_array_length(msgs);
    if (n > 64)
        return wh_err(err, WH_E_FORMAT, "%s: more than 64 messages", where);
    wh_chat_msg m[64];
    memset(m, 0, sizeof m);
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(msgs, (size_t)i);
        m[i].role = str_field(e, "role");
        m[i].content = str_field(e, "content");
        if (m[i].role == NULL || m[i].content == NULL)
            return wh_err(err, WH_E_FORMAT, "%s: message %d needs string role and content", where,
                          i);
    }
    if (strcmp(m[n - 1].role, "assistant") != 0)
        return wh_err(err, WH_E_FORMAT, "%s: the last message is not the assistant's", where);
    const char *reasoning =
        str_field(json_object_array_get_idx(msgs, (size_t)n - 1), "reasoning_content");
    int32_t *ids = NULL;
    size_t n_ids = 0, n_prompt = 0;
    int rc = wh_r1_render_train(tok, fam, m, n - 1, reasoning, m[n - 1].content, &ids, &n_ids,
                                &n_prompt, err);
    if (rc != WH_OK)
        return wh_err_wrap(err, "%s", where);
    size_t off = (size_t)s->n * s->T;
    s->n_truncated +=
        wh_sft_layout(ids, n_ids, n_prompt, s->T, s->tokens + off, s->targets + off, s->mask + off);
    wh_free(ids);
    for (int t = 0; t < s->T; t++)
        s->n_reply += s->mask[off + t] > 0.0f;
    s->n++;
    return WH_OK;
}

int wh_sft_load(wh_sft_set *s, const char *path, const wh_tokenizer *tok, wh_chat_family fam, int T,
                wh_error *err)
{
    memset(s, 0, sizeof *s);
    s->T = T;
    char *text = NULL;
    uint64_t len = 0;
    int rc = wh_read_text(path, (uint64_t)1 << 32, &text, &len, err);
    if (rc != WH_OK)
        return rc;
    int lines = 0;
    for (uint64_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    lines++;
    s->tokens = wh_malloc((size_t)lines * T * sizeof(int));
    s->targets = wh_malloc((size_t)lines * T * sizeof(int));
    s->mask = wh_malloc((size_t)lines * T * sizeof(float));
    if (!s->tokens || !s->targets || !s->mask) {
        wh_free(text);
        wh_sft_free(s);
        return wh_err(err, WH_E_NOMEM, "%s: out of memory for %d conversations", path, lines);
    }
    char *line = text;
    int lineno = 0;
    while (line && rc == WH_OK) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char where[1200];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        const char *q = line;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (*q) {
            json_object *o = json_tokener_parse(line);
            if (o == NULL)
                rc = wh_err(err, WH_E_FORMAT, "%s: not a JSON object", where);
            else
                rc = sft_line(s, o, tok, fam, where, err);
            json_object_put(o);
        }
        line = nl ? nl + 1 : NULL;
    }
    wh_free(text);
    if (rc == WH_OK && s->n == 0)
        rc = wh_err(err, WH_E_FORMAT, "%s: no conversation", path);
    if (rc != WH_OK)
        wh_sft_free(s);
    return rc;
}

/* ---------------------------------------------------------------- tokenizer, init_from */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int wh_sft_tokenizer(const char *path, wh_tokenizer **tok, wh_chat_family *fam, char *dir,
                     size_t dir_cap, wh_error *err)
{
    *tok = NULL;
    if (is_dir(path)) {
        snprintf(dir, dir_cap, "%s", path);
    } else {
        snprintf(dir, dir_cap, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, dir_cap, ".");
    }
    int rc = wh_tokenizer_load(path, tok, err);
    if (rc != WH_OK)
        return rc;
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    const char *tmpl = NULL;
    json_object *o = is_file(cfg) ? json_object_from_file(cfg) : NULL, *v;
    if (o && json_object_object_get_ex(o, "chat_template", &v) &&
        json_object_is_type(v, json_type_string))
        tmpl = json_object_get_string(v);
    *fam = wh_chat_detect(tmpl, *tok, NULL);
    json_object_put(o);
    return WH_OK;
}

static int copy_file(const char *src, const char *dst, wh_error *err)
{
    char *text = NULL;
    uint64_t len = 0;
    int rc = wh_read_text(src, (uint64_t)1 << 31, &text, &len, err);
    if (rc != WH_OK)
        return rc;
    FILE *f = fopen(dst, "wb");
    if (f == NULL) {
        wh_free(text);
        return wh_err(err, WH_E_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    int bad = fwrite(text, 1, (size_t)len, f) != (size_t)len;
    bad |= fclose(f) != 0;
    wh_free(text);
    return bad ? wh_err(err, WH_E_IO, "%s: write failed", dst) : WH_OK;
}

int wh_sft_copy_tokenizer(const char *src_dir, const char *dst_dir, wh_error *err)
{
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%s/%s", src_dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", dst_dir, files[i]);
        if (strcmp(a, b) == 0 || !is_file(a))
            continue;
        int rc = copy_file(a, b, err);
        if (rc != WH_OK)
            return rc;
    }
    return WH_OK;
}

int wh_tr_init_open(wh_tr_init *s, const char *path, wh_error *err)
{
    memset(s, 0, sizeof *s);
    char p[1200], cfgp[1200];
    snprintf(p, sizeof p, "%s", path);
    snprintf(cfgp, sizeof cfgp, "%s/config.json", path);
    if (is_dir(path) && !is_file(cfgp))
        snprintf(p, sizeof p, "%s/checkpoint.bin", path);
    size_t n = strlen(p);
    if (is_file(p) && n >= 4 && strcmp(p + n - 4, ".bin") == 0) {
        int rc = wh_tr_ckpt_open(&s->ck, p, err);
        if (rc != WH_OK)
            return rc;
        s->is_ckpt = 1;
        s->cfg = s->ck.cfg;
        return WH_OK;
    }
    int rc = wh_model_load(path, &s->model, err);
    if (rc != WH_OK)
        return wh_err_wrap(err, "init_from");
    rc = wh_tr_config_from_model(s->model, &s->cfg, err);
    if (rc != WH_OK) {
        wh_model_free(s->model);
        s->model = NULL;
    }
    return rc;
}

int wh_tr_init_apply(const wh_tr_init *s, wh_tr_model *m, wh_error *err)
{
    if (!s->is_ckpt)
        return wh_tr_import_hf(m, s->model, err);
    size_t nb = (size_t)m->n_blocks * (m->cfg.E > 0 ? m->cfg.E : 1);
    if (s->ck.n_params != m->n_params || s->ck.n_bias != nb)
        return wh_err(err, WH_E_INVALID,
                      "init_from: the checkpoint holds %llu parameters, the "
                      "model %zu",
                      (unsigned long long)s->ck.n_params, m->n_params);
    memcpy(m->params, s->ck.params, m->n_params * sizeof(float));
    memcpy(m->route_bias, s->ck.bias, nb * sizeof(float));
    return WH_OK;
}

void wh_tr_init_close(wh_tr_init *s)
{
    if (s->is_ckpt)
        wh_tr_ckpt_close(&s->ck);
    if (s->model)
        wh_model_free(s->model);
    memset(s, 0, sizeof *s);
}
