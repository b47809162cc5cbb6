/*
 * grpo.c — the GRPO objective and its gradient (DeepSeekMath §4.1 eq. 3 with the
 * group-normalised outcome advantages of §4.1.2 and the k3 KL estimator of eq. 4;
 * DeepSeek-R1 §2.2.1), DAPO's clip-higher (eq. 10) and token-level aggregation (eq. 12).
 * Formulas: grpo.h. tools/reference/grpo_ref.py computes the same in PyTorch
 * (tests/test_grpo.c compares every number and gradient).
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "train/grpo.h"
#include "train/train_config.h"

int wh_grpo_batch_init(wh_grpo_batch *b, int cap, int T, int G, int B, wh_error *err)
{
    memset(b, 0, sizeof *b);
    b->stage = wh_calloc((size_t)2 * B * T, sizeof(int));
    b->cap = cap;
    b->T = T;
    b->G = G;
    size_t nt = (size_t)cap * T;
    b->tokens = wh_calloc(nt, sizeof(int));
    b->targets = wh_calloc(nt, sizeof(int));
    b->old_lp = wh_calloc(nt, sizeof(float));
    b->ref_lp = wh_calloc(nt, sizeof(float));
    b->coef = wh_calloc(nt, sizeof(float));
    b->ratio = wh_calloc(nt, sizeof(float));
    b->kl = wh_calloc(nt, sizeof(float));
    b->reward = wh_calloc((size_t)cap, sizeof(float));
    b->adv = wh_calloc((size_t)cap, sizeof(float));
    b->correct = wh_calloc((size_t)cap, sizeof(int));
    b->len = wh_calloc((size_t)cap, sizeof(int));
    b->truncated = wh_calloc((size_t)cap, sizeof(int));
    if (!b->stage || !b->tokens || !b->targets || !b->old_lp || !b->ref_lp || !b->coef ||
        !b->ratio || !b->kl || !b->reward || !b->adv || !b->correct || !b->len || !b->truncated) {
        wh_grpo_batch_free(b);
        return wh_err(err, WH_E_NOMEM, "grpo: out of memory for a batch of %d x %d", cap, T);
    }
    return WH_OK;
}

void wh_grpo_batch_free(wh_grpo_batch *b)
{
    wh_free(b->stage);
    wh_free(b->tokens);
    wh_free(b->targets);
    wh_free(b->old_lp);
    wh_free(b->ref_lp);
    wh_free(b->coef);
    wh_free(b->ratio);
    wh_free(b->kl);
    wh_free(b->reward);
    wh_free(b->adv);
    wh_free(b->correct);
    wh_free(b->len);
    wh_free(b->truncated);
    memset(b, 0, sizeof *b);
}

int wh_grpo_advantages(const float *reward, int n_groups, int G, float eps, float *adv)
{
    int flat = 0;
    for (int g = 0; g < n_groups; g++) {
        const float *r = reward + (size_t)g * G;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < G; i++)
            mean += r[i];
        mean /= G;
        for (int i = 0; i < G; i++)
            var += (r[i] - mean) * (r[i] - mean);
        double sd = G > 1 ? sqrt(var / (G - 1)) : 0.0;
        int equal = 1;
        for (int i = 1; i < G; i++)
            equal &= r[i] == r[0];
        flat += equal;
        for (int i = 0; i < G; i++)
            adv[(size_t)g * G + i] = equal ? 0.0f : (float)((r[i] - mean) / (sd + eps));
    }
    return flat;
}

void wh_grpo_coefs(wh_grpo_batch *b, int aggregation)
{
    long total = 0;
    for (int i = 0; i < b->n; i++) {
        int len = 0;
        for (int t = 0; t < b->T; t++)
            len += b->targets[(size_t)i * b->T + t] >= 0;
        b->len[i] = len;
        total += len;
    }
    for (int i = 0; i < b->n; i++)
        for (int t = 0; t < b->T; t++) {
            size_t k = (size_t)i * b->T + t;
            float c = 0.0f;
            if (b->targets[k] >= 0)
                c = aggregation == WH_AGG_SEQUENCE ? 1.0f / ((float)b->n * (float)b->len[i])
                                                   : 1.0f / (float)total;
            b->coef[k] = c;
        }
}

float wh_grpo_token(float lp, float old_lp, float ref_lp, float adv, const wh_grpo_hp *hp,
                    float *dlp, float *ratio, float *kl, int *clipped)
{
    float r = expf(lp - old_lp);
    float rc = fminf(fmaxf(r, 1.0f - hp->clip_eps), 1.0f + hp->clip_eps_high);
    float un = r * adv, cl = rc * adv;
    /* the clipped branch is the minimum and flat: no policy gradient */
    int is_clipped = cl < un;
    float pg = is_clipped ? cl : un;
    float d = is_clipped ? 0.0f : -adv * r;
    float k3 = 0.0f;
    if (hp->kl_beta != 0.0f) {
        float e = expf(ref_lp - lp);
        k3 = e - (ref_lp - lp) - 1.0f;
        d += hp->kl_beta * (1.0f - e);
    }
    *dlp = d;
    *ratio = r;
    *kl = k3;
    *clipped = is_clipped;
    return -pg + hp->kl_beta * k3;
}

/* Copies micro-batch mb (B sequences from b, padding past b->n) into the model's input. */
static void micro_input(const wh_tr_model *m, const wh_grpo_batch *b, int mb, int *tok, int *tgt)
{
    int B = m->B, T = m->T;
    for (int j = 0; j < B; j++) {
        int i = mb * B + j;
        for (int t = 0; t < T; t++) {
            size_t k = (size_t)j * T + t;
            if (i < b->n) {
                tok[k] = b->tokens[(size_t)i * T + t];
                tgt[k] = b->targets[(size_t)i * T + t];
            } else {
                tok[k] = -1;
                tgt[k] = -1;
            }
        }
    }
}

void wh_grpo_logprobs(wh_tr_model *m, const wh_grpo_batch *b, float *lp, double *entropy)
{
    int B = m->B, T = m->T, V = m->cfg.V;
    int n_mb = (b->n + B - 1) / B;
    int *tok = b->stage, *tgt = b->stage + (size_t)B * T;
    double ent = 0.0;
    for (int mb = 0; mb < n_mb; mb++) {
        micro_input(m, b, mb, tok, tgt);
        wh_tr_model_forward_w(m, tok, tgt, NULL);
        for (int j = 0; j < B && mb * B + j < b->n; j++)
            for (int t = 0; t < T; t++) {
                size_t k = (size_t)j * T + t, o = (size_t)(mb * B + j) * T + t;
                lp[o] = tgt[k] >= 0 ? -m->losses[k] : 0.0f;
                if (entropy && tgt[k] >= 0) {
                    const float *p = m->probs + k * V;
                    double h = 0.0;
                    for (int v = 0; v < V; v++)
                        if (p[v] > 0.0f)
                            h -= (double)p[v] * log((double)p[v]);
                    ent += h;
                }
            }
    }
    if (entropy)
        *entropy = ent;
}

void wh_grpo_loss_grad(wh_trainer *t, wh_grpo_batch *b, const wh_grpo_hp *hp, wh_grpo_pass *st)
{
    wh_tr_model *m = &t->model;
    int B = m->B, T = m->T;
    int n_mb = (b->n + B - 1) / B;
    memset(st, 0, sizeof *st);
    int *tok = b->stage, *tgt = b->stage + (size_t)B * T;
    double kl_sum = 0.0, ratio_sum = 0.0;
    long clipped = 0;
    for (int mb = 0; mb < n_mb; mb++) {
        micro_input(m, b, mb, tok, tgt);
        wh_tr_model_forward_w(m, tok, tgt, NULL);
        /* the weights depend on this forward's log-probs: set them before backward */
        for (int j = 0; j < B; j++)
            for (int tt = 0; tt < T; tt++) {
                size_t k = (size_t)j * T + tt;
                int i = mb * B + j;
                m->weights[k] = 0.0f;
                if (i >= b->n || tgt[k] < 0)
                    continue;
                size_t o = (size_t)i * T + tt;
                float lp = -m->losses[k], dlp, r, k3;
                int c;
                float l =
                    wh_grpo_token(lp, b->old_lp[o], b->ref_lp[o], b->adv[i], hp, &dlp, &r, &k3, &c);
                float pg = -(l - hp->kl_beta * k3);
                st->loss += (double)b->coef[o] * l;
                st->pg += (double)b->coef[o] * pg;
                b->ratio[o] = r;
                b->kl[o] = k3;
                kl_sum += k3;
                ratio_sum += r;
                clipped += c;
                st->tokens++;
                m->weights[k] = -b->coef[o] * dlp; /* d loss / d CE = -d loss / d lp */
            }
        m->loss = m->loss_main = 0.0f;
        wh_tr_model_zero_grad(m);
        wh_tr_model_backward(m);
        wh_trainer_accumulate(t);
    }
    t->sums[WH_TR_SUM_LOSS] = (float)st->loss;
    t->sums[WH_TR_SUM_MAIN] = (float)st->loss;
    if (st->tokens > 0) {
        st->kl = kl_sum / st->tokens;
        st->clip_frac = (double)clipped / st->tokens;
        st->ratio_mean = ratio_sum / st->tokens;
    }
}

/* ---------------------------------------------------------------- the reference */

int wh_grpo_ref_init(wh_grpo_ref *r, const wh_tr_model *m, wh_error *err)
{
    memset(r, 0, sizeof *r);
    r->n_params = m->n_params;
    r->n_bias = (size_t)m->n_blocks * (m->cfg.E > 0 ? m->cfg.E : 1);
    r->params = wh_malloc(2 * r->n_params * sizeof(float));
    r->bias = wh_malloc(2 * r->n_bias * sizeof(float));
    if (r->params == NULL || r->bias == NULL) {
        wh_grpo_ref_free(r);
        return wh_err(err, WH_E_NOMEM, "grpo: out of memory for the reference policy");
    }
    r->save_params = r->params + r->n_params;
    r->save_bias = r->bias + r->n_bias;
    wh_grpo_ref_reset(r, m);
    return WH_OK;
}

void wh_grpo_ref_reset(wh_grpo_ref *r, const wh_tr_model *m)
{
    memcpy(r->params, m->params, r->n_params * sizeof(float));
    memcpy(r->bias, m->route_bias, r->n_bias * sizeof(float));
}

void wh_grpo_ref_logprobs(wh_grpo_ref *r, wh_tr_model *m, wh_grpo_batch *b)
{
    memcpy(r->save_params, m->params, r->n_params * sizeof(float));
    memcpy(r->save_bias, m->route_bias, r->n_bias * sizeof(float));
    memcpy(m->params, r->params, r->n_params * sizeof(float));
    memcpy(m->route_bias, r->bias, r->n_bias * sizeof(float));
    wh_grpo_logprobs(m, b, b->ref_lp, NULL);
    memcpy(m->params, r->save_params, r->n_params * sizeof(float));
    memcpy(m->route_bias, r->save_bias, r->n_bias * sizeof(float));
}

void wh_grpo_ref_free(wh_grpo_ref *r)
{
    wh_free(r->params);
    wh_free(r->bias);
    memset(r, 0, sizeof *r);
}
