/*
 * ops_attention.c — causal attention forward/backward (Vaswani et al. 2017, eq. 1), and
 * the two attention blocks built on it:
 *   MLA, Multi-head Latent Attention in its naive (decompressed) form, DeepSeek-V2 §2.1.2-
 *       2.1.3, eqs. 9-19 (q-LoRA optional: eqs. 12-13; decoupled RoPE key shared by all
 *       heads: eqs. 15-17), RoPE interleaved as DeepSeek's checkpoints expect;
 *   GQA, grouped-query attention (Ainslie et al. 2023) with optional q/k/v biases (Qwen2).
 * Softmax backward: ds_j = p_j (dp_j - sum_k p_k dp_k) (gradient rule: see ops.h).
 */
#include <cblas.h>
/* OpenBLAS pulls in <complex.h>, whose macro I would shadow loop indices */
#undef I
#include <math.h>
#include <string.h>

#include "train/ops.h"

/*
 * Per (batch, head) the products are BLAS calls on strided views of q, k, v (the causal
 * upper triangle is computed and then masked: at these sizes one full sgemm beats a
 * triangle of small ones), the softmax and its backward row loops in between.
 */
void wh_tr_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int NH, int NKV, int HD, int VD, float scale)
{
    int grp = NH / NKV;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int g = h / grp;
            const float *qb = q + (size_t)b * T * NH * HD + (size_t)h * HD;
            const float *kb = k + (size_t)b * T * NKV * HD + (size_t)g * HD;
            const float *vb = v + (size_t)b * T * NKV * VD + (size_t)g * VD;
            float *P = att + ((size_t)b * NH + h) * T * T;
            /* S = scale q k^T, [T][T] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HD, scale, qb, NH * HD, kb,
                        NKV * HD, 0.0f, P, T);
            for (int t = 0; t < T; t++) {
                float *p = P + (size_t)t * T;
                float mx = -INFINITY;
                for (int j = 0; j <= t; j++)
                    mx = p[j] > mx ? p[j] : mx;
                float sum = 0.0f;
                for (int j = 0; j <= t; j++) {
                    p[j] = expf(p[j] - mx);
                    sum += p[j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j <= t; j++)
                    p[j] *= inv;
                memset(p + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
            }
            /* out = P v */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, VD, T, 1.0f, P, T, vb,
                        NKV * VD, 0.0f, out + (size_t)b * T * NH * VD + (size_t)h * VD, NH * VD);
        }
}

void wh_tr_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v, const float *att, float *scratch,
                              int B, int T, int NH, int NKV, int HD, int VD, float scale)
{
    int grp = NH / NKV;
    size_t N = (size_t)B * T;
    memset(dk, 0, N * NKV * HD * sizeof(float));
    memset(dv, 0, N * NKV * VD * sizeof(float));
    float *dS = scratch; /* [T][T] */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int g = h / grp;
            const float *qb = q + (size_t)b * T * NH * HD + (size_t)h * HD;
            const float *kb = k + (size_t)b * T * NKV * HD + (size_t)g * HD;
            const float *vb = v + (size_t)b * T * NKV * VD + (size_t)g * VD;
            const float *dob = dout + (size_t)b * T * NH * VD + (size_t)h * VD;
            const float *P = att + ((size_t)b * NH + h) * T * T;
            /* dv += P^T dout; dP = dout v^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, VD, T, 1.0f, P, T, dob, NH * VD,
                        1.0f, dv + (size_t)b * T * NKV * VD + (size_t)g * VD, NKV * VD);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, VD, 1.0f, dob, NH * VD, vb,
                        NKV * VD, 0.0f, dS, T);
            /* dS = scale P (dP - rowsum(P dP)), zero above the diagonal */
            for (int t = 0; t < T; t++) {
                const float *p = P + (size_t)t * T;
                float *d = dS + (size_t)t * T;
                float sum = 0.0f;
                for (int j = 0; j <= t; j++)
                    sum += p[j] * d[j];
                for (int j = 0; j <= t; j++)
                    d[j] = p[j] * (d[j] - sum) * scale;
                memset(d + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
            }
            /* dq = dS k (each query head is written once); dk += dS^T q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HD, T, 1.0f, dS, T, kb,
                        NKV * HD, 0.0f, dq + (size_t)b * T * NH * HD + (size_t)h * HD, NH * HD);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HD, T, 1.0f, dS, T, qb, NH * HD,
                        1.0f, dk + (size_t)b * T * NKV * HD + (size_t)g * HD, NKV * HD);
        }
}

/* ---------------------------------------------------------------- MLA */

typedef struct mla_saved {
    float *qa, *qa_rstd, *qan, *q, *c_raw, *c_rstd, *c, *kpe, *kvb, *k, *v, *att, *o;
    size_t total;
} mla_saved;

static void mla_layout(mla_saved *s, float *base, const wh_tr_mla_dims *d)
{
    size_t N = (size_t)d->B * d->T, QHD = (size_t)d->NOPE + d->ROPE;
    size_t sizes[13] = {N * d->QLR,       d->QLR ? N : 0,    N * d->QLR,
                        N * d->NH * QHD,  N * d->KVLR,       N,
                        N * d->KVLR,      N * d->ROPE,       N * d->NH * (d->NOPE + d->VD),
                        N * d->NH * QHD,  N * d->NH * d->VD, (size_t)d->B * d->NH * d->T * d->T,
                        N * d->NH * d->VD};
    float **ptrs[13] = {&s->qa,  &s->qa_rstd, &s->qan, &s->q, &s->c_raw, &s->c_rstd, &s->c,
                        &s->kpe, &s->kvb,     &s->k,   &s->v, &s->att,   &s->o};
    size_t off = 0;
    for (int i = 0; i < 13; i++) {
        *ptrs[i] = base ? base + off : NULL;
        off += sizes[i];
    }
    s->total = off;
}

size_t wh_tr_mla_saved_floats(const wh_tr_mla_dims *d)
{
    mla_saved s;
    mla_layout(&s, NULL, d);
    return s.total;
}

/* do, dq, dk [N][NH*QHD], dv, dkvb, dc, dkpe, dqan, dqa, tmp [N][C], dS [T][T] */
size_t wh_tr_mla_scratch_floats(const wh_tr_mla_dims *d)
{
    size_t N = (size_t)d->B * d->T, QHD = (size_t)d->NOPE + d->ROPE;
    return N * d->NH * d->VD * 2 + N * d->NH * QHD * 2 + N * d->NH * (d->NOPE + d->VD) +
           N * d->KVLR + N * d->ROPE + 2 * N * d->QLR + N * d->C + (size_t)d->T * d->T;
}

void wh_tr_mla_forward(float *out, float *saved, const float *inp, const wh_tr_mla_w *w,
                       const wh_tr_mla_dims *d)
{
    mla_saved s;
    mla_layout(&s, saved, d);
    int N = d->B * d->T, C = d->C, NH = d->NH, QHD = d->NOPE + d->ROPE, KVB = d->NOPE + d->VD;
    if (d->QLR > 0) {
        wh_tr_linear_forward(s.qa, inp, w->wq_a, NULL, N, C, d->QLR);
        wh_tr_rmsnorm_forward(s.qan, s.qa_rstd, s.qa, w->q_a_norm, N, d->QLR, d->eps);
        wh_tr_linear_forward(s.q, s.qan, w->wq_b, NULL, N, d->QLR, NH * QHD);
    } else {
        wh_tr_linear_forward(s.q, inp, w->wq, NULL, N, C, NH * QHD);
    }
    wh_tr_rope_forward(s.q, s.q, d->cos_t, d->sin_t, d->B, d->T, NH, QHD, d->NOPE, d->ROPE, 1);

    wh_tr_linear_forward(s.c_raw, inp, w->wkv_a, NULL, N, C, d->KVLR);
    wh_tr_rmsnorm_forward(s.c, s.c_rstd, s.c_raw, w->kv_a_norm, N, d->KVLR, d->eps);
    wh_tr_linear_forward(s.kpe, inp, w->wkv_a + (size_t)d->KVLR * C, NULL, N, C, d->ROPE);
    wh_tr_rope_forward(s.kpe, s.kpe, d->cos_t, d->sin_t, d->B, d->T, 1, d->ROPE, 0, d->ROPE, 1);

    wh_tr_linear_forward(s.kvb, s.c, w->wkv_b, NULL, N, d->KVLR, NH * KVB);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++) {
            const float *src = s.kvb + ((size_t)n * NH + h) * KVB;
            float *k = s.k + ((size_t)n * NH + h) * QHD;
            memcpy(k, src, (size_t)d->NOPE * sizeof(float));
            memcpy(k + d->NOPE, s.kpe + (size_t)n * d->ROPE, (size_t)d->ROPE * sizeof(float));
            memcpy(s.v + ((size_t)n * NH + h) * d->VD, src + d->NOPE,
                   (size_t)d->VD * sizeof(float));
        }
    wh_tr_attention_forward(s.o, s.att, s.q, s.k, s.v, d->B, d->T, NH, NH, QHD, d->VD, d->scale);
    wh_tr_linear_forward(out, s.o, w->wo, NULL, N, NH * d->VD, C);
}

static void add_into(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

void wh_tr_mla_backward(float *dinp, wh_tr_mla_w *dw, const float *dout, const float *inp,
                        const wh_tr_mla_w *w, const float *saved, float *scratch,
                        const wh_tr_mla_dims *d)
{
    mla_saved s;
    mla_layout(&s, (float *)saved, d);
    int N = d->B * d->T, C = d->C, NH = d->NH, QHD = d->NOPE + d->ROPE, KVB = d->NOPE + d->VD;
    size_t NN = (size_t)N;
    float *dO = scratch;
    float *dq = dO + NN * NH * d->VD;
    float *dk = dq + NN * NH * QHD;
    float *dv = dk + NN * NH * QHD;
    float *dkvb = dv + NN * NH * d->VD;
    float *dc = dkvb + NN * NH * KVB;
    float *dkpe = dc + NN * d->KVLR;
    float *dqan = dkpe + NN * d->ROPE;
    float *dqa = dqan + NN * d->QLR;
    float *tmp = dqa + NN * d->QLR;
    float *dp = tmp + NN * C;
    float *tmp_or_null = dinp ? tmp : NULL;

    wh_tr_linear_backward(dO, dw->wo, NULL, dout, s.o, w->wo, N, NH * d->VD, C);
    wh_tr_attention_backward(dq, dk, dv, dO, s.q, s.k, s.v, s.att, dp, d->B, d->T, NH, NH, QHD,
                             d->VD, d->scale);

    /* keys and values back into the up-projection output; the shared rotary key sums heads */
    memset(dkpe, 0, NN * d->ROPE * sizeof(float));
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++) {
            float *dst = dkvb + ((size_t)n * NH + h) * KVB;
            const float *k = dk + ((size_t)n * NH + h) * QHD;
            memcpy(dst, k, (size_t)d->NOPE * sizeof(float));
            memcpy(dst + d->NOPE, dv + ((size_t)n * NH + h) * d->VD, (size_t)d->VD * sizeof(float));
            float *kp = dkpe + (size_t)n * d->ROPE;
            for (int i = 0; i < d->ROPE; i++)
                kp[i] += k[d->NOPE + i];
        }
    wh_tr_linear_backward(dc, dw->wkv_b, NULL, dkvb, s.c, w->wkv_b, N, d->KVLR, NH * KVB);
    wh_tr_rmsnorm_backward(dc, dw->kv_a_norm, dc, s.c_raw, w->kv_a_norm, s.c_rstd, N, d->KVLR);
    wh_tr_linear_backward(dinp, dw->wkv_a, NULL, dc, inp, w->wkv_a, N, C, d->KVLR);
    wh_tr_rope_backward(dkpe, dkpe, d->cos_t, d->sin_t, d->B, d->T, 1, d->ROPE, 0, d->ROPE, 1);
    float *dwkr = dw->wkv_a ? dw->wkv_a + (size_t)d->KVLR * C : NULL;
    wh_tr_linear_backward(tmp_or_null, dwkr, NULL, dkpe, inp, w->wkv_a + (size_t)d->KVLR * C, N, C,
                          d->ROPE);
    if (dinp)
        add_into(dinp, tmp, NN * C);

    wh_tr_rope_backward(dq, dq, d->cos_t, d->sin_t, d->B, d->T, NH, QHD, d->NOPE, d->ROPE, 1);
    if (d->QLR > 0) {
        wh_tr_linear_backward(dqan, dw->wq_b, NULL, dq, s.qan, w->wq_b, N, d->QLR, NH * QHD);
        wh_tr_rmsnorm_backward(dqa, dw->q_a_norm, dqan, s.qa, w->q_a_norm, s.qa_rstd, N, d->QLR);
        wh_tr_linear_backward(tmp_or_null, dw->wq_a, NULL, dqa, inp, w->wq_a, N, C, d->QLR);
    } else {
        wh_tr_linear_backward(tmp_or_null, dw->wq, NULL, dq, inp, w->wq, N, C, NH * QHD);
    }
    if (dinp)
        add_into(dinp, tmp, NN * C);
}

/* ---------------------------------------------------------------- GQA */

size_t wh_tr_gqa_saved_floats(const wh_tr_gqa_dims *d)
{
    size_t N = (size_t)d->B * d->T;
    return N * d->NH * d->HD * 2 + N * d->NKV * d->HD * 2 + (size_t)d->B * d->NH * d->T * d->T;
}

/* do, dq [N][NH*HD], dk, dv [N][NKV*HD], tmp [N][C], dS [T][T] */
size_t wh_tr_gqa_scratch_floats(const wh_tr_gqa_dims *d)
{
    size_t N = (size_t)d->B * d->T;
    return N * d->NH * d->HD * 2 + N * d->NKV * d->HD * 2 + N * d->C + (size_t)d->T * d->T;
}

/* saved: q, k (after RoPE), v, att, o */
void wh_tr_gqa_forward(float *out, float *saved, const float *inp, const wh_tr_gqa_w *w,
                       const wh_tr_gqa_dims *d)
{
    int N = d->B * d->T, C = d->C, QD = d->NH * d->HD, KD = d->NKV * d->HD;
    float *q = saved, *k = q + (size_t)N * QD, *v = k + (size_t)N * KD, *att = v + (size_t)N * KD;
    float *o = att + (size_t)d->B * d->NH * d->T * d->T;
    wh_tr_linear_forward(q, inp, w->wq, w->bq, N, C, QD);
    wh_tr_linear_forward(k, inp, w->wk, w->bk, N, C, KD);
    wh_tr_linear_forward(v, inp, w->wv, w->bv, N, C, KD);
    wh_tr_rope_forward(q, q, d->cos_t, d->sin_t, d->B, d->T, d->NH, d->HD, 0, d->HD,
                       d->interleaved);
    wh_tr_rope_forward(k, k, d->cos_t, d->sin_t, d->B, d->T, d->NKV, d->HD, 0, d->HD,
                       d->interleaved);
    wh_tr_attention_forward(o, att, q, k, v, d->B, d->T, d->NH, d->NKV, d->HD, d->HD, d->scale);
    wh_tr_linear_forward(out, o, w->wo, NULL, N, QD, C);
}

void wh_tr_gqa_backward(float *dinp, wh_tr_gqa_w *dw, const float *dout, const float *inp,
                        const wh_tr_gqa_w *w, const float *saved, float *scratch,
                        const wh_tr_gqa_dims *d)
{
    int N = d->B * d->T, C = d->C, QD = d->NH * d->HD, KD = d->NKV * d->HD;
    const float *q = saved, *k = q + (size_t)N * QD, *v = k + (size_t)N * KD;
    const float *att = v + (size_t)N * KD, *o = att + (size_t)d->B * d->NH * d->T * d->T;
    float *dO = scratch, *dq = dO + (size_t)N * QD, *dk = dq + (size_t)N * QD;
    float *dv = dk + (size_t)N * KD, *tmp = dv + (size_t)N * KD, *dp = tmp + (size_t)N * C;
    float *tmp_or_null = dinp ? tmp : NULL;
    wh_tr_linear_backward(dO, dw->wo, NULL, dout, o, w->wo, N, QD, C);
    wh_tr_attention_backward(dq, dk, dv, dO, q, k, v, att, dp, d->B, d->T, d->NH, d->NKV, d->HD,
                             d->HD, d->scale);
    wh_tr_rope_backward(dq, dq, d->cos_t, d->sin_t, d->B, d->T, d->NH, d->HD, 0, d->HD,
                        d->interleaved);
    wh_tr_rope_backward(dk, dk, d->cos_t, d->sin_t, d->B, d->T, d->NKV, d->HD, 0, d->HD,
                        d->interleaved);
    wh_tr_linear_backward(dinp, dw->wq, dw->bq, dq, inp, w->wq, N, C, QD);
    wh_tr_linear_backward(tmp_or_null, dw->wk, dw->bk, dk, inp, w->wk, N, C, KD);
    if (dinp)
        add_into(dinp, tmp, (size_t)N * C);
    wh_tr_linear_backward(tmp_or_null, dw->wv, dw->bv, dv, inp, w->wv, N, C, KD);
    if (dinp)
        add_into(dinp, tmp, (size_t)N * C);
}
