/*
 * model_train.c — forward and backward of a whole DeepSeek-V3-architecture model
 * (V3 paper §2.1: MLA + DeepSeekMoE blocks; §2.1.2 eq. 17-20 balance loss; §2.2 eqs. 21-25,
 * one MTP module), composed from ops.h. Layout of parameters: model_train.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "train/model_train.h"

/* ---------------------------------------------------------------- size tables */

typedef struct walker {
    float *base; /* NULL: only count */
    size_t off;
    wh_tr_tensor *table; /* NULL: do not record */
    int n;
} walker;

static float *take(walker *wk, size_t count, const char *fmt, int idx)
{
    float *p = wk->base ? wk->base + wk->off : NULL;
    if (wk->table) {
        wh_tr_tensor *t = &wk->table[wk->n];
        snprintf(t->name, sizeof t->name, fmt, idx);
        t->offset = wk->off;
        t->count = count;
    }
    wk->n++;
    wk->off += count;
    return p;
}

static int block_is_moe(const wh_tr_config *c, int l)
{
    return c->E > 0 && (l >= c->first_dense || l == c->L);
}

static void walk_block(walker *wk, wh_tr_block *b, const wh_tr_config *c, int l)
{
    size_t C = c->C, QHD = (size_t)c->NOPE + c->ROPE;
    wh_tr_block z;
    if (b == NULL)
        b = &z;
    memset(b, 0, sizeof *b);
    b->attn_norm = take(wk, C, "blk.%d.attn_norm", l);
    if (c->QLR > 0) {
        b->attn.wq_a = take(wk, (size_t)c->QLR * C, "blk.%d.wq_a", l);
        b->attn.q_a_norm = take(wk, (size_t)c->QLR, "blk.%d.q_a_norm", l);
        b->attn.wq_b = take(wk, (size_t)c->NH * QHD * c->QLR, "blk.%d.wq_b", l);
    } else {
        b->attn.wq = take(wk, (size_t)c->NH * QHD * C, "blk.%d.wq", l);
    }
    b->attn.wkv_a = take(wk, ((size_t)c->KVLR + c->ROPE) * C, "blk.%d.wkv_a", l);
    b->attn.kv_a_norm = take(wk, (size_t)c->KVLR, "blk.%d.kv_a_norm", l);
    b->attn.wkv_b = take(wk, (size_t)c->NH * (c->NOPE + c->VD) * c->KVLR, "blk.%d.wkv_b", l);
    b->attn.wo = take(wk, C * c->NH * c->VD, "blk.%d.wo", l);
    b->ffn_norm = take(wk, C, "blk.%d.ffn_norm", l);
    b->is_moe = block_is_moe(c, l);
    if (b->is_moe) {
        size_t E = c->E, MI = c->MI, SI = (size_t)c->NS * c->MI;
        b->moe.router = take(wk, E * C, "blk.%d.router", l);
        b->moe.gate = take(wk, E * MI * C, "blk.%d.exp_gate", l);
        b->moe.up = take(wk, E * MI * C, "blk.%d.exp_up", l);
        b->moe.down = take(wk, E * C * MI, "blk.%d.exp_down", l);
        if (c->NS > 0) {
            b->moe.shared.gate = take(wk, SI * C, "blk.%d.sh_gate", l);
            b->moe.shared.up = take(wk, SI * C, "blk.%d.sh_up", l);
            b->moe.shared.down = take(wk, C * SI, "blk.%d.sh_down", l);
        }
    } else {
        b->mlp.gate = take(wk, (size_t)c->FF * C, "blk.%d.gate", l);
        b->mlp.up = take(wk, (size_t)c->FF * C, "blk.%d.up", l);
        b->mlp.down = take(wk, C * c->FF, "blk.%d.down", l);
    }
}

static void walk_params(walker *wk, wh_tr_weights *w, const wh_tr_config *c)
{
    size_t C = c->C;
    w->embed = take(wk, (size_t)c->V * C, "embed", 0);
    for (int l = 0; l < c->L; l++)
        walk_block(wk, w->blocks ? &w->blocks[l] : NULL, c, l);
    w->final_norm = take(wk, C, "final_norm", 0);
    w->head = take(wk, (size_t)c->V * C, "head", 0);
    if (c->mtp) {
        w->mtp.enorm = take(wk, C, "mtp.enorm", 0);
        w->mtp.hnorm = take(wk, C, "mtp.hnorm", 0);
        w->mtp.eh_proj = take(wk, C * 2 * C, "mtp.eh_proj", 0);
        walk_block(wk, w->blocks ? &w->blocks[c->L] : NULL, c, c->L);
        w->mtp_norm = take(wk, C, "mtp.norm", 0);
    }
}

/* forward's activations; ints: tokens, targets, targets2 [N], routes */
static size_t walk_acts(wh_tr_model *m, float *base, int *ibase, size_t *n_ints)
{
    const wh_tr_config *c = &m->cfg;
    size_t N = (size_t)m->B * m->T, C = c->C, V = c->V, off = 0, ioff = 0;
#define TAKE(ptr, count)                                                                           \
    do {                                                                                           \
        (ptr) = base ? base + off : NULL;                                                          \
        off += (count);                                                                            \
    } while (0)
#define TAKE_I(ptr, count)                                                                         \
    do {                                                                                           \
        (ptr) = ibase ? ibase + ioff : NULL;                                                       \
        ioff += (count);                                                                           \
    } while (0)
    TAKE_I(m->tokens, N);
    TAKE_I(m->targets, N);
    TAKE_I(m->targets2, N);
    TAKE(m->cos_t, (size_t)m->T * (c->ROPE / 2));
    TAKE(m->sin_t, (size_t)m->T * (c->ROPE / 2));
    TAKE(m->res, (size_t)(c->L + 1) * N * C);
    for (int l = 0; l < m->n_blocks; l++) {
        wh_tr_block_acts *a = &m->ba[l];
        TAKE(a->xn1, N * C);
        TAKE(a->rstd1, N);
        TAKE(a->attn, wh_tr_mla_saved_floats(&m->mla));
        TAKE(a->xmid, N * C);
        TAKE(a->xn2, N * C);
        TAKE(a->rstd2, N);
        if (block_is_moe(c, l)) {
            TAKE(a->ffn, wh_tr_moe_saved_floats(&m->moe));
            TAKE_I(a->route, wh_tr_moe_route_ints(&m->moe));
        } else {
            TAKE(a->ffn, wh_tr_mlp_saved_floats((int)N, c->FF));
            a->route = NULL;
        }
        TAKE(a->tmp, N * C);
    }
    TAKE(m->xf, N * C);
    TAKE(m->rstdf, N);
    TAKE(m->logits, N * V);
    TAKE(m->probs, N * V);
    TAKE(m->losses, N);
    TAKE(m->weights, N);
    TAKE(m->weights2, N);
    if (c->mtp) {
        TAKE(m->e, N * C);
        TAKE(m->mtp_saved, wh_tr_mtp_saved_floats((int)N, c->C));
        TAKE(m->mtp_in, N * C);
        TAKE(m->mtp_out, N * C);
        TAKE(m->xf2, N * C);
        TAKE(m->rstdf2, N);
        TAKE(m->logits2, N * V);
        TAKE(m->probs2, N * V);
        TAKE(m->losses2, N);
    }
#undef TAKE
#undef TAKE_I
    *n_ints = ioff;
    return off;
}

/* backward: dres, dm, d1, d2, dh, de [N][C], dlogits [N][V], dlosses [N], dscores [N][E],
 * then the largest op scratch */
static size_t grad_acts_floats(const wh_tr_model *m)
{
    const wh_tr_config *c = &m->cfg;
    size_t N = (size_t)m->B * m->T;
    size_t sc = wh_tr_mla_scratch_floats(&m->mla);
    size_t s2 = wh_tr_mlp_scratch_floats((int)N, c->C, c->FF > 0 ? c->FF : 1);
    if (s2 > sc)
        sc = s2;
    if (c->E > 0 && wh_tr_moe_scratch_floats(&m->moe) > sc)
        sc = wh_tr_moe_scratch_floats(&m->moe);
    if (wh_tr_mtp_scratch_floats((int)N, c->C) > sc)
        sc = wh_tr_mtp_scratch_floats((int)N, c->C);
    return 6 * N * c->C + N * c->V + N + N * (size_t)(c->E > 0 ? c->E : 1) + sc;
}

static double yarn_get_mscale(double scale, double ms)
{
    return scale <= 1.0 ? 1.0 : 0.1 * ms * log(scale) + 1.0;
}

static wh_config rope_config(const wh_tr_config *c)
{
    wh_config rc;
    memset(&rc, 0, sizeof rc);
    rc.rope_theta = c->rope_theta;
    rc.rope_scaling = (wh_rope_scaling)c->rope_scaling;
    rc.rope_factor = c->rope_factor;
    rc.rope_orig_max_pos = c->rope_orig_max_pos;
    rc.yarn_beta_fast = c->yarn_beta_fast;
    rc.yarn_beta_slow = c->yarn_beta_slow;
    rc.yarn_mscale = c->yarn_mscale;
    rc.yarn_mscale_all_dim = c->yarn_mscale_all_dim;
    return rc;
}

void wh_tr_model_free(wh_tr_model *m)
{
    wh_free(m->tensors);
    wh_free(m->params);
    wh_free(m->grads);
    wh_free(m->route_bias);
    wh_free(m->acts);
    wh_free(m->ints);
    wh_free(m->grad_acts);
    wh_free(m->ba);
    wh_free(m->w.blocks);
    wh_free(m->g.blocks);
    memset(m, 0, sizeof *m);
}

int wh_tr_model_init(wh_tr_model *m, const wh_tr_config *cfg, int B, int T, wh_error *err)
{
    memset(m, 0, sizeof *m);
    const wh_tr_config *c = cfg;
#define REQUIRE(cond, what)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return wh_err(err, WH_E_INVALID, "train config: %s", what);                            \
    } while (0)
    REQUIRE(B > 0 && T > 0, "batch B and sequence length T must be positive");
    REQUIRE(c->V > 0 && c->C > 0 && c->L > 0 && c->NH > 0, "V, C, L, NH must be positive");
    REQUIRE(c->KVLR > 0 && c->ROPE > 0 && c->ROPE % 2 == 0 && c->ROPE <= 1024 && c->VD > 0,
            "kv_lora_rank, v_head_dim > 0; qk_rope_head_dim even, 2..1024");
    REQUIRE(c->E == 0 || (c->K > 0 && c->K <= c->E && c->MI > 0 && c->E <= 1024),
            "MoE: 0 < K <= E <= 1024, moe_intermediate_size > 0");
    REQUIRE(c->E == 0 || c->G <= 1 ||
                (c->E % c->G == 0 && c->TG >= 1 && c->TG <= c->G && c->E / c->G >= 2 &&
                 c->K <= c->TG * (c->E / c->G)),
            "MoE groups: E divisible by n_group, >= 2 experts a group, 1 <= topk_group <= "
            "n_group, K <= experts in the kept groups");
    REQUIRE((c->E > 0 && c->first_dense == 0) || c->FF > 0,
            "dense blocks need intermediate_size > 0");
    REQUIRE(c->mtp == 0 || c->mtp == 1, "MTP depth must be 0 or 1");
    REQUIRE(c->mtp == 0 || c->E > 0 || c->FF > 0, "the MTP block needs an MLP");
#undef REQUIRE
    m->cfg = *c;
    m->B = B;
    m->T = T;
    m->n_blocks = c->L + c->mtp;
    int N = B * T;
    wh_config rc = rope_config(c);
    double scale = 1.0 / sqrt((double)(c->NOPE + c->ROPE));
    if (c->rope_scaling == WH_ROPE_YARN && c->yarn_mscale_all_dim != 0.0f) {
        double ms = yarn_get_mscale(c->rope_factor, c->yarn_mscale_all_dim);
        scale *= ms * ms;
    }
    m->mla = (wh_tr_mla_dims){B,       T,     c->C,   c->NH,        c->QLR, c->KVLR, c->NOPE,
                              c->ROPE, c->VD, c->eps, (float)scale, NULL,   NULL};
    m->moe = (wh_tr_moe_dims){N,     c->C, c->E,  c->K,         c->MI,
                              c->NS, c->G, c->TG, c->norm_topk, c->route_scale};

    walker wk = {0};
    walk_params(&wk, &m->w, c);
    m->n_tensors = wk.n;
    m->n_params = wk.off;
    m->tensors = wh_calloc((size_t)wk.n, sizeof *m->tensors);
    m->params = wh_calloc(m->n_params, sizeof(float));
    m->grads = wh_calloc(m->n_params, sizeof(float));
    m->w.blocks = wh_calloc((size_t)m->n_blocks, sizeof(wh_tr_block));
    m->g.blocks = wh_calloc((size_t)m->n_blocks, sizeof(wh_tr_block));
    m->ba = wh_calloc((size_t)m->n_blocks, sizeof(wh_tr_block_acts));
    m->route_bias = wh_calloc((size_t)m->n_blocks * (c->E > 0 ? c->E : 1), sizeof(float));
    if (!m->tensors || !m->params || !m->grads || !m->w.blocks || !m->g.blocks || !m->ba ||
        !m->route_bias) {
        wh_tr_model_free(m);
        return wh_err(err, WH_E_NOMEM, "train: out of memory for %zu parameters", wk.off);
    }
    walker wp = {m->params, 0, m->tensors, 0};
    walk_params(&wp, &m->w, c);
    walker wg = {m->grads, 0, NULL, 0};
    walk_params(&wg, &m->g, c);
    for (int l = 0; l < m->n_blocks; l++)
        if (m->w.blocks[l].is_moe) {
            m->w.blocks[l].moe.bias = m->route_bias + (size_t)l * c->E;
            m->g.blocks[l].moe.bias = NULL;
        }

    size_t n_ints = 0;
    m->n_acts = walk_acts(m, NULL, NULL, &n_ints);
    m->n_grad_acts = grad_acts_floats(m);
    m->acts = wh_calloc(m->n_acts, sizeof(float));
    m->ints = wh_calloc(n_ints, sizeof(int));
    m->grad_acts = wh_calloc(m->n_grad_acts, sizeof(float));
    if (!m->acts || !m->ints || !m->grad_acts) {
        size_t need = m->n_acts + m->n_grad_acts;
        wh_tr_model_free(m);
        return wh_err(err, WH_E_NOMEM, "train: out of memory for %zu activation floats", need);
    }
    walk_acts(m, m->acts, m->ints, &n_ints);
    wh_tr_rope_tables(m->cos_t, m->sin_t, &rc, c->ROPE, T);
    m->mla.cos_t = m->cos_t;
    m->mla.sin_t = m->sin_t;
    return WH_OK;
}

void wh_tr_model_zero_grad(wh_tr_model *m)
{
    memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ---------------------------------------------------------------- blocks */

static void block_forward(wh_tr_model *m, int l, const float *x_in, float *x_out)
{
    const wh_tr_config *c = &m->cfg;
    const wh_tr_block *b = &m->w.blocks[l];
    wh_tr_block_acts *a = &m->ba[l];
    int N = m->B * m->T, C = c->C;
    size_t NC = (size_t)N * C;
    wh_tr_rmsnorm_forward(a->xn1, a->rstd1, x_in, b->attn_norm, N, C, c->eps);
    wh_tr_mla_forward(a->tmp, a->attn, a->xn1, &b->attn, &m->mla);
    for (size_t i = 0; i < NC; i++)
        a->xmid[i] = x_in[i] + a->tmp[i];
    wh_tr_rmsnorm_forward(a->xn2, a->rstd2, a->xmid, b->ffn_norm, N, C, c->eps);
    if (b->is_moe)
        wh_tr_moe_forward(a->tmp, a->ffn, a->route, a->xn2, &b->moe, &m->moe);
    else
        wh_tr_mlp_forward(a->tmp, a->ffn, a->xn2, &b->mlp, N, C, c->FF);
    for (size_t i = 0; i < NC; i++)
        x_out[i] = a->xmid[i] + a->tmp[i];
}

/* dx_in = d loss / d x_in given dx_out (may alias) */
static void block_backward(wh_tr_model *m, int l, float *dx_in, const float *dx_out,
                           const float *x_in)
{
    const wh_tr_config *c = &m->cfg;
    const wh_tr_block *b = &m->w.blocks[l];
    wh_tr_block *gb = &m->g.blocks[l];
    const wh_tr_block_acts *a = &m->ba[l];
    int N = m->B * m->T, C = c->C;
    size_t NC = (size_t)N * C;
    float *d1 = m->grad_acts + 2 * NC, *d2 = d1 + NC;
    float *dscores = m->grad_acts + 6 * NC + (size_t)N * c->V + N;
    float *scratch = dscores + (size_t)N * (c->E > 0 ? c->E : 1);

    if (b->is_moe) {
        const float *extra = NULL;
        if (c->bal_alpha != 0.0f && !m->main_only) {
            wh_tr_balance_backward(dscores, 1.0f, wh_tr_moe_scores(a->ffn), a->route, m->B, m->T,
                                   c->E, c->K, c->bal_alpha);
            extra = dscores;
        }
        wh_tr_moe_backward(d2, &gb->moe, dx_out, extra, a->xn2, &b->moe, a->ffn, a->route, scratch,
                           &m->moe);
    } else {
        wh_tr_mlp_backward(d2, &gb->mlp, dx_out, a->xn2, &b->mlp, a->ffn, scratch, N, C, c->FF);
    }
    wh_tr_rmsnorm_backward(d2, gb->ffn_norm, d2, a->xmid, b->ffn_norm, a->rstd2, N, C);
    for (size_t i = 0; i < NC; i++)
        d2[i] += dx_out[i]; /* d xmid */
    wh_tr_mla_backward(d1, &gb->attn, d2, a->xn1, &b->attn, a->attn, scratch, &m->mla);
    wh_tr_rmsnorm_backward(d1, gb->attn_norm, d1, x_in, b->attn_norm, a->rstd1, N, C);
    for (size_t i = 0; i < NC; i++)
        dx_in[i] = d1[i] + d2[i];
}

/* ---------------------------------------------------------------- model */

static float mean_loss(const float *losses, const int *targets, int N, int *count)
{
    double s = 0.0;
    int n_valid = 0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0) {
            s += losses[n];
            n_valid++;
        }
    *count = n_valid;
    return n_valid ? (float)(s / n_valid) : 0.0f;
}

float wh_tr_model_forward(wh_tr_model *m, const int *tokens, const int *targets)
{
    return wh_tr_model_forward_w(m, tokens, targets, NULL);
}

float wh_tr_model_forward_w(wh_tr_model *m, const int *tokens, const int *targets,
                            const float *weights)
{
    const wh_tr_config *c = &m->cfg;
    int N = m->B * m->T, C = c->C, V = c->V, cnt = 0;
    size_t NC = (size_t)N * C;
    int with_mtp = c->mtp && !m->main_only;
    memcpy(m->tokens, tokens, (size_t)N * sizeof(int));
    memcpy(m->targets, targets, (size_t)N * sizeof(int));

    wh_tr_embedding_forward(m->res, tokens, m->w.embed, N, C);
    for (int l = 0; l < c->L; l++)
        block_forward(m, l, m->res + l * NC, m->res + (l + 1) * NC);
    const float *h = m->res + c->L * NC;
    wh_tr_rmsnorm_forward(m->xf, m->rstdf, h, m->w.final_norm, N, C, c->eps);
    wh_tr_linear_forward(m->logits, m->xf, m->w.head, NULL, N, C, V);
    if (weights == NULL) {
        /* the mean over valid targets: weight 1/count each (backward's dlosses) */
        wh_tr_crossentropy_forward(m->losses, m->probs, m->logits, targets, N, V);
        m->loss_main = mean_loss(m->losses, targets, N, &cnt);
        for (int n = 0; n < N; n++)
            m->weights[n] = cnt ? 1.0f / cnt : 0.0f;
    } else {
        memcpy(m->weights, weights, (size_t)N * sizeof(float));
        wh_tr_crossentropy_weighted_forward(&m->loss_main, m->losses, m->probs, m->logits, targets,
                                            m->weights, N, V);
    }

    m->loss_mtp = 0.0f;
    if (with_mtp) {
        for (int b = 0; b < m->B; b++)
            for (int t = 0; t < m->T; t++) {
                int n = b * m->T + t;
                m->targets2[n] = t + 1 < m->T ? targets[n + 1] : -1;
                m->weights2[n] = t + 1 < m->T && weights ? weights[n + 1] : 0.0f;
            }
        wh_tr_embedding_forward(m->e, targets, m->w.embed, N, C);
        wh_tr_mtp_forward(m->mtp_in, m->mtp_saved, h, m->e, &m->w.mtp, N, C, c->eps);
        block_forward(m, c->L, m->mtp_in, m->mtp_out);
        wh_tr_rmsnorm_forward(m->xf2, m->rstdf2, m->mtp_out, m->w.mtp_norm, N, C, c->eps);
        wh_tr_linear_forward(m->logits2, m->xf2, m->w.head, NULL, N, C, V);
        if (weights == NULL) {
            wh_tr_crossentropy_forward(m->losses2, m->probs2, m->logits2, m->targets2, N, V);
            m->loss_mtp = mean_loss(m->losses2, m->targets2, N, &cnt);
            for (int n = 0; n < N; n++) /* backward's dlosses: lambda / count */
                m->weights2[n] = cnt ? c->mtp_lambda / cnt : 0.0f;
        } else {
            wh_tr_crossentropy_weighted_forward(&m->loss_mtp, m->losses2, m->probs2, m->logits2,
                                                m->targets2, m->weights2, N, V);
            for (int n = 0; n < N; n++)
                m->weights2[n] *= c->mtp_lambda;
        }
    }

    m->loss_bal = 0.0f;
    if (c->bal_alpha != 0.0f && !m->main_only)
        for (int l = 0; l < m->n_blocks; l++)
            if (m->w.blocks[l].is_moe) {
                float lb = 0.0f;
                wh_tr_balance_forward(&lb, wh_tr_moe_scores(m->ba[l].ffn), m->ba[l].route, m->B,
                                      m->T, c->E, c->K, c->bal_alpha);
                m->loss_bal += lb;
            }
    m->loss = m->loss_main + (with_mtp ? c->mtp_lambda * m->loss_mtp : 0.0f) + m->loss_bal;
    return m->loss;
}

void wh_tr_model_backward(wh_tr_model *m)
{
    const wh_tr_config *c = &m->cfg;
    int N = m->B * m->T, C = c->C, V = c->V;
    size_t NC = (size_t)N * C;
    float *dres = m->grad_acts, *dm = dres + NC, *dh = dm + 3 * NC, *de = dh + NC;
    float *dlogits = de + NC;
    const float *h = m->res + c->L * NC;

    wh_tr_crossentropy_weighted_backward(dlogits, 1.0f, m->targets, m->weights, m->probs, N, V);
    wh_tr_linear_backward(dm, m->g.head, NULL, dlogits, m->xf, m->w.head, N, C, V);
    wh_tr_rmsnorm_backward(dres, m->g.final_norm, dm, h, m->w.final_norm, m->rstdf, N, C);

    if (c->mtp && !m->main_only) {
        /* weights2 already holds lambda times the MTP target weights */
        wh_tr_crossentropy_weighted_backward(dlogits, 1.0f, m->targets2, m->weights2, m->probs2, N,
                                             V);
        wh_tr_linear_backward(dm, m->g.head, NULL, dlogits, m->xf2, m->w.head, N, C, V);
        wh_tr_rmsnorm_backward(dm, m->g.mtp_norm, dm, m->mtp_out, m->w.mtp_norm, m->rstdf2, N, C);
        block_backward(m, c->L, dm, dm, m->mtp_in);
        float *scratch =
            m->grad_acts + 6 * NC + (size_t)N * V + N + (size_t)N * (c->E > 0 ? c->E : 1);
        wh_tr_mtp_backward(dh, de, &m->g.mtp, dm, h, m->e, &m->w.mtp, m->mtp_saved, scratch, N, C);
        for (size_t i = 0; i < NC; i++)
            dres[i] += dh[i];
        wh_tr_embedding_backward(m->g.embed, de, m->targets, N, C);
    }
    for (int l = c->L - 1; l >= 0; l--)
        block_backward(m, l, dres, dres, m->res + l * NC);
    wh_tr_embedding_backward(m->g.embed, dres, m->tokens, N, C);
}
