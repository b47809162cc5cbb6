/*
 * ops_basic.c — forward/backward of the plain ops (see ops.h for the gradient rule):
 * token embedding, RMSNorm (Zhang & Sennrich 2019, eq. 4), linear layers through
 * OpenBLAS sgemm, SwiGLU (Shazeer 2020, eq. 6), the SwiGLU MLP, softmax cross-entropy.
 */
#include <cblas.h>
/* OpenBLAS pulls in <complex.h>, whose macro I would shadow the MLP width I */
#undef I
#include <math.h>
#include <string.h>

#include "train/ops.h"

void wh_tr_embedding_forward(float *out, const int *tokens, const float *wte, int N, int C)
{
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * C;
        if (tokens[n] < 0)
            memset(o, 0, (size_t)C * sizeof(float));
        else
            memcpy(o, wte + (size_t)tokens[n] * C, (size_t)C * sizeof(float));
    }
}

void wh_tr_embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C)
{
    if (dwte == NULL)
        return;
    for (int n = 0; n < N; n++) {
        if (tokens[n] < 0)
            continue;
        float *dw = dwte + (size_t)tokens[n] * C;
        const float *d = dout + (size_t)n * C;
        for (int c = 0; c < C; c++)
            dw[c] += d[c];
    }
}

void wh_tr_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                           float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        float r = (float)(1.0 / sqrt(ss / C + eps));
        for (int c = 0; c < C; c++)
            o[c] = x[c] * r * w[c];
        rstd[n] = r;
    }
}

/* y_i = x_i r w_i, r = (mean x^2 + eps)^-1/2, dr/dx_j = -r^3 x_j / C:
 * dx_i = r w_i dy_i - r^3 x_i / C * sum_j w_j dy_j x_j;  dw_i += dy_i x_i r. */
void wh_tr_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                            const float *w, const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float r = rstd[n];
        double dot = 0.0;
        for (int c = 0; c < C; c++)
            dot += (double)w[c] * dy[c] * x[c];
        float k = (float)(dot * r * r * r / C);
        if (dw != NULL)
            for (int c = 0; c < C; c++)
                dw[c] += dy[c] * x[c] * r;
        if (dinp != NULL) {
            float *dx = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++)
                dx[c] = r * w[c] * dy[c] - k * x[c];
        }
    }
}

void wh_tr_linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                          int IC, int OC)
{
    if (N <= 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out,
                OC);
    if (bias != NULL)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                out[(size_t)n * OC + o] += bias[o];
}

void wh_tr_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                           const float *inp, const float *w, int N, int IC, int OC)
{
    if (N <= 0)
        return;
    if (dinp != NULL) /* dinp[N][IC] = dout[N][OC] w[OC][IC] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, w, IC,
                    0.0f, dinp, IC);
    if (dw != NULL) /* dw[OC][IC] += dout^T inp */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC,
                    1.0f, dw, IC);
    if (dbias != NULL)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                dbias[o] += dout[(size_t)n * OC + o];
}

void wh_tr_swiglu_forward(float *out, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* silu(g) = g sig(g), silu'(g) = sig(g) (1 + g (1 - sig(g))) */
void wh_tr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                           const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        float sg = 1.0f / (1.0f + expf(-g));
        float silu = g * sg;
        float d = dout[i];
        dgate[i] = d * up[i] * sg * (1.0f + g * (1.0f - sg));
        dup[i] = d * silu;
    }
}

void wh_tr_crossentropy_forward(float *losses, float *probs, const float *logits,
                                const int *targets, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float mx = l[0];
        for (int v = 1; v < V; v++)
            if (l[v] > mx)
                mx = l[v];
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            p[v] = expf(l[v] - mx);
            sum += p[v];
        }
        for (int v = 0; v < V; v++)
            p[v] = (float)(p[v] / sum);
        int y = targets[n];
        /* log-sum-exp in double: exact even where p[y] underflows */
        losses[n] = y < 0 ? 0.0f : (float)(log(sum) + mx - l[y]);
    }
}

void wh_tr_crossentropy_backward(float *dlogits, const float *dlosses, const int *targets,
                                 const float *probs, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        int y = targets[n];
        if (y < 0) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        float dl = dlosses[n];
        for (int v = 0; v < V; v++)
            d[v] = dl * p[v];
        d[y] -= dl;
    }
}

void wh_tr_crossentropy_weighted_forward(float *loss, float *losses, float *probs,
                                         const float *logits, const int *targets,
                                         const float *weights, int N, int V)
{
    wh_tr_crossentropy_forward(losses, probs, logits, targets, N, V);
    double s = 0.0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0)
            s += (double)weights[n] * losses[n];
    *loss = (float)s;
}

void wh_tr_crossentropy_weighted_backward(float *dlogits, float dloss, const int *targets,
                                          const float *weights, const float *probs, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        int y = targets[n];
        if (y < 0) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        float dl = dloss * weights[n];
        for (int v = 0; v < V; v++)
            d[v] = dl * p[v];
        d[y] -= dl;
    }
}

/* ---- SwiGLU MLP ---- */

size_t wh_tr_mlp_saved_floats(int N, int I)
{
    return 3 * (size_t)N * I;
}

size_t wh_tr_mlp_scratch_floats(int N, int C, int I)
{
    return 3 * (size_t)N * I + (size_t)N * C;
}

/* saved: h1 = gate x, h2 = up x, a = silu(h1) h2, each [N][I] */
void wh_tr_mlp_forward(float *out, float *saved, const float *inp, const wh_tr_mlp_w *w, int N,
                       int C, int I)
{
    float *h1 = saved, *h2 = h1 + (size_t)N * I, *a = h2 + (size_t)N * I;
    wh_tr_linear_forward(h1, inp, w->gate, NULL, N, C, I);
    wh_tr_linear_forward(h2, inp, w->up, NULL, N, C, I);
    wh_tr_swiglu_forward(a, h1, h2, N * I);
    wh_tr_linear_forward(out, a, w->down, NULL, N, I, C);
}

void wh_tr_mlp_backward(float *dinp, wh_tr_mlp_w *dw, const float *dout, const float *inp,
                        const wh_tr_mlp_w *w, const float *saved, float *scratch, int N, int C,
                        int I)
{
    const float *h1 = saved, *h2 = h1 + (size_t)N * I, *a = h2 + (size_t)N * I;
    float *da = scratch, *dh1 = da + (size_t)N * I, *dh2 = dh1 + (size_t)N * I;
    float *tmp = dh2 + (size_t)N * I;
    wh_tr_linear_backward(da, dw->down, NULL, dout, a, w->down, N, I, C);
    wh_tr_swiglu_backward(dh1, dh2, da, h1, h2, N * I);
    wh_tr_linear_backward(dinp, dw->gate, NULL, dh1, inp, w->gate, N, C, I);
    wh_tr_linear_backward(dinp ? tmp : NULL, dw->up, NULL, dh2, inp, w->up, N, C, I);
    if (dinp != NULL)
        for (size_t i = 0; i < (size_t)N * C; i++)
            dinp[i] += tmp[i];
}
