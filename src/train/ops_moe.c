/*
 * ops_moe.c — DeepSeekMoE forward/backward with DeepSeek-V3 routing (V3 paper §2.1.2,
 * eqs. 12-16: sigmoid affinities, bias-steered group-limited top-k, gates from the unbiased
 * affinities, normalised, times the route scale; shared experts always on), the
 * complementary sequence-wise balance loss (eqs. 17-20) and the auxiliary-loss-free
 * bias update with its load statistics (§2.1.2, "Auxiliary-Loss-Free Load Balancing").
 *
 * Experts run batched: the N*K (token, slot) assignments are bucketed by expert, each
 * expert's rows are gathered into one matrix and go through three sgemms.
 * Gradients into the router: g_r = rs * s_r / S (S = sum of the selected s), so
 *   ds_r = (rs * dg_r - sum_q dg_q g_q) / S  for selected r, 0 elsewhere (not normalised:
 *   ds_r = rs * dg_r); dlogit = ds * s (1 - s). The selection itself is piecewise constant.
 */
#include <math.h>
#include <string.h>

#include "kernels/route.h"
#include "train/ops.h"

#define MAX_E 1024

/* ---- layout of saved / scratch / route ---- */

typedef struct moe_saved {
    float *scores, *gates, *xg, *h1, *h2, *act, *y, *shared;
} moe_saved;

static size_t moe_layout(moe_saved *s, float *base, const wh_tr_moe_dims *d)
{
    size_t N = (size_t)d->N, A = N * d->K;
    size_t sizes[8] = {
        N * d->E, A,        A * d->C, A * d->I,
        A * d->I, A * d->I, A * d->C, d->NS > 0 ? wh_tr_mlp_saved_floats(d->N, d->NS * d->I) : 0};
    float **ptrs[8] = {&s->scores, &s->gates, &s->xg, &s->h1, &s->h2, &s->act, &s->y, &s->shared};
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        *ptrs[i] = base ? base + off : NULL;
        off += sizes[i];
    }
    return off;
}

size_t wh_tr_moe_saved_floats(const wh_tr_moe_dims *d)
{
    moe_saved s;
    return moe_layout(&s, NULL, d);
}

/* dY, dxg [A][C], dact, dh1, dh2 [A][I], dgates [A], dscores [N][E], tmp [N][C], shared */
size_t wh_tr_moe_scratch_floats(const wh_tr_moe_dims *d)
{
    size_t N = (size_t)d->N, A = N * d->K;
    size_t sh = d->NS > 0 ? wh_tr_mlp_scratch_floats(d->N, d->C, d->NS * d->I) : 0;
    return 2 * A * d->C + 3 * A * d->I + A + N * d->E + N * d->C + sh;
}

/* sel [N*K], off [E+1], order [N*K] */
size_t wh_tr_moe_route_ints(const wh_tr_moe_dims *d)
{
    return 2 * (size_t)d->N * d->K + (size_t)d->E + 1;
}

const float *wh_tr_moe_scores(const float *saved)
{
    return saved; /* first in the layout */
}

/* ---- routing ---- */

void wh_tr_moe_route(int *sel, float *gates, const float *scores, const float *bias,
                     const wh_tr_moe_dims *d)
{
    float choice[MAX_E], gscore[MAX_E];
    unsigned char keep[MAX_E];
    wh_route_params p = {.E = d->E,
                         .K = d->K,
                         .groups = WH_ROUTE_GROUP_TOP2,
                         .n_group = d->G,
                         .topk_group = d->TG,
                         .norm = d->norm_topk,
                         .scale_after_norm = 1,
                         .scale = d->route_scale};
    wh_route_select(&p, scores, bias, choice, keep, gscore, sel, gates);
}

/* ---- the layer ---- */

void wh_tr_moe_forward(float *out, float *saved, int *route, const float *inp, const wh_tr_moe_w *w,
                       const wh_tr_moe_dims *d)
{
    moe_saved s;
    moe_layout(&s, saved, d);
    int N = d->N, C = d->C, E = d->E, K = d->K, I = d->I, A = N * K;
    int *sel = route, *off = sel + A, *order = off + E + 1;

    wh_tr_linear_forward(s.scores, inp, w->router, NULL, N, C, E);
    for (size_t i = 0; i < (size_t)N * E; i++)
        s.scores[i] = 1.0f / (1.0f + expf(-s.scores[i]));
    for (int n = 0; n < N; n++)
        wh_tr_moe_route(sel + (size_t)n * K, s.gates + (size_t)n * K, s.scores + (size_t)n * E,
                        w->bias, d);

    /* bucket assignments by expert (stable: token order within an expert) */
    for (int e = 0; e <= E; e++)
        off[e] = 0;
    for (int a = 0; a < A; a++)
        off[sel[a] + 1]++;
    for (int e = 0; e < E; e++)
        off[e + 1] += off[e];
    for (int e = 0; e < E; e++) {
        int p = off[e];
        for (int a = 0; a < A; a++)
            if (sel[a] == e)
                order[p++] = a;
    }
    for (int p = 0; p < A; p++)
        memcpy(s.xg + (size_t)p * C, inp + (size_t)(order[p] / K) * C, (size_t)C * sizeof(float));

    for (int e = 0; e < E; e++) {
        int rows = off[e + 1] - off[e];
        if (rows == 0)
            continue;
        size_t r0 = (size_t)off[e];
        const float *wg = w->gate + (size_t)e * I * C, *wu = w->up + (size_t)e * I * C;
        const float *wd = w->down + (size_t)e * C * I;
        wh_tr_linear_forward(s.h1 + r0 * I, s.xg + r0 * C, wg, NULL, rows, C, I);
        wh_tr_linear_forward(s.h2 + r0 * I, s.xg + r0 * C, wu, NULL, rows, C, I);
        wh_tr_swiglu_forward(s.act + r0 * I, s.h1 + r0 * I, s.h2 + r0 * I, rows * I);
        wh_tr_linear_forward(s.y + r0 * C, s.act + r0 * I, wd, NULL, rows, I, C);
    }

    if (d->NS > 0)
        wh_tr_mlp_forward(out, s.shared, inp, &w->shared, N, C, d->NS * I);
    else
        memset(out, 0, (size_t)N * C * sizeof(float));
    for (int p = 0; p < A; p++) {
        int a = order[p];
        float g = s.gates[a];
        float *o = out + (size_t)(a / K) * C;
        const float *y = s.y + (size_t)p * C;
        for (int c = 0; c < C; c++)
            o[c] += g * y[c];
    }
}

void wh_tr_moe_backward(float *dinp, wh_tr_moe_w *dw, const float *dout, const float *dscores_extra,
                        const float *inp, const wh_tr_moe_w *w, const float *saved,
                        const int *route, float *scratch, const wh_tr_moe_dims *d)
{
    moe_saved s;
    moe_layout(&s, (float *)saved, d);
    int N = d->N, C = d->C, E = d->E, K = d->K, I = d->I, A = N * K;
    const int *off = route + A, *order = off + E + 1;
    float *dY = scratch, *dxg = dY + (size_t)A * C, *dact = dxg + (size_t)A * C;
    float *dh1 = dact + (size_t)A * I, *dh2 = dh1 + (size_t)A * I, *dg = dh2 + (size_t)A * I;
    float *ds = dg + A, *tmp = ds + (size_t)N * E, *sh_scratch = tmp + (size_t)N * C;

    if (d->NS > 0)
        wh_tr_mlp_backward(dinp, &dw->shared, dout, inp, &w->shared, s.shared, sh_scratch, N, C,
                           d->NS * I);
    else if (dinp)
        memset(dinp, 0, (size_t)N * C * sizeof(float));

    for (int p = 0; p < A; p++) {
        int a = order[p];
        const float *dn = dout + (size_t)(a / K) * C;
        const float *y = s.y + (size_t)p * C;
        float *dy = dY + (size_t)p * C;
        float g = s.gates[a], dot = 0.0f;
        for (int c = 0; c < C; c++) {
            dy[c] = g * dn[c];
            dot += dn[c] * y[c];
        }
        dg[a] = dot;
    }
    for (int e = 0; e < E; e++) {
        int rows = off[e + 1] - off[e];
        if (rows == 0)
            continue;
        size_t r0 = (size_t)off[e];
        size_t wo = (size_t)e * I * C;
        const float *wg = w->gate + wo, *wu = w->up + wo, *wd = w->down + wo;
        float *dwg = dw->gate ? dw->gate + wo : NULL, *dwu = dw->up ? dw->up + wo : NULL;
        float *dwd = dw->down ? dw->down + wo : NULL;
        wh_tr_linear_backward(dact + r0 * I, dwd, NULL, dY + r0 * C, s.act + r0 * I, wd, rows, I,
                              C);
        wh_tr_swiglu_backward(dh1 + r0 * I, dh2 + r0 * I, dact + r0 * I, s.h1 + r0 * I,
                              s.h2 + r0 * I, rows * I);
        wh_tr_linear_backward(dxg + r0 * C, dwg, NULL, dh1 + r0 * I, s.xg + r0 * C, wg, rows, C, I);
        /* dY of this expert is spent: reuse it for the up-projection's input gradient */
        wh_tr_linear_backward(dY + r0 * C, dwu, NULL, dh2 + r0 * I, s.xg + r0 * C, wu, rows, C, I);
        for (size_t i = 0; i < (size_t)rows * C; i++)
            dxg[r0 * C + i] += dY[r0 * C + i];
    }
    if (dinp)
        for (int p = 0; p < A; p++) {
            float *dn = dinp + (size_t)(order[p] / K) * C;
            const float *dx = dxg + (size_t)p * C;
            for (int c = 0; c < C; c++)
                dn[c] += dx[c];
        }

    /* router: through the selected gates only, plus the balance loss's dscores */
    if (dscores_extra)
        memcpy(ds, dscores_extra, (size_t)N * E * sizeof(float));
    else
        memset(ds, 0, (size_t)N * E * sizeof(float));
    int normed = d->norm_topk && K > 1;
    for (int n = 0; n < N; n++) {
        const int *sel = route + (size_t)n * K;
        const float *sc = s.scores + (size_t)n * E;
        const float *g = s.gates + (size_t)n * K, *dgn = dg + (size_t)n * K;
        float *dsn = ds + (size_t)n * E;
        if (normed) {
            float sum = 0.0f, gdg = 0.0f;
            for (int r = 0; r < K; r++) {
                sum += sc[sel[r]];
                gdg += dgn[r] * g[r];
            }
            sum += 1e-20f;
            for (int r = 0; r < K; r++)
                dsn[sel[r]] += (d->route_scale * dgn[r] - gdg) / sum;
        } else {
            for (int r = 0; r < K; r++)
                dsn[sel[r]] += d->route_scale * dgn[r];
        }
        for (int e = 0; e < E; e++)
            dsn[e] *= sc[e] * (1.0f - sc[e]);
    }
    wh_tr_linear_backward(dinp ? tmp : NULL, dw->router, NULL, ds, inp, w->router, N, C, E);
    if (dinp)
        for (size_t i = 0; i < (size_t)N * C; i++)
            dinp[i] += tmp[i];
}

/* ---- complementary sequence-wise balance loss ---- */

/* f[E] for sequence b */
static void balance_f(float *f, const int *sel, int b, int T, int E, int K)
{
    for (int e = 0; e < E; e++)
        f[e] = 0.0f;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < K; r++)
            f[sel[((size_t)b * T + t) * K + r]] += 1.0f;
    for (int e = 0; e < E; e++)
        f[e] *= (float)E / ((float)K * T);
}

void wh_tr_balance_forward(float *loss, const float *scores, const int *sel, int B, int T, int E,
                           int K, float alpha)
{
    float f[MAX_E];
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        balance_f(f, sel, b, T, E, K);
        for (int t = 0; t < T; t++) {
            const float *s = scores + ((size_t)b * T + t) * E;
            double S = 0.0, fs = 0.0;
            for (int e = 0; e < E; e++) {
                S += s[e];
                fs += (double)f[e] * s[e];
            }
            total += fs / S / T; /* sum_i f_i P_i, one position's share */
        }
    }
    *loss = (float)(alpha * total / B);
}

/* d/ds_i (sum_j f_j s_j / S) = (f_i - sum_j f_j s_j / S) / S */
void wh_tr_balance_backward(float *dscores, float dloss, const float *scores, const int *sel, int B,
                            int T, int E, int K, float alpha)
{
    float f[MAX_E];
    for (int b = 0; b < B; b++) {
        balance_f(f, sel, b, T, E, K);
        for (int t = 0; t < T; t++) {
            const float *s = scores + ((size_t)b * T + t) * E;
            float *ds = dscores + ((size_t)b * T + t) * E;
            double S = 0.0, fs = 0.0;
            for (int e = 0; e < E; e++) {
                S += s[e];
                fs += (double)f[e] * s[e];
            }
            double k = (double)dloss * alpha / B / T / S;
            for (int e = 0; e < E; e++)
                ds[e] = (float)(k * (f[e] - fs / S));
        }
    }
}

/* ---- auxiliary-loss-free balancing ---- */

void wh_tr_moe_count_load(float *load, const int *sel, const int *tokens, int N, int K, int E)
{
    for (size_t a = 0; a < (size_t)N * K; a++)
        if ((tokens == NULL || tokens[a / (size_t)K] >= 0) && sel[a] >= 0 && sel[a] < E)
            load[sel[a]] += 1.0f;
}

void wh_tr_moe_bias_update(float *bias, const float *load, int E, float gamma)
{
    double mean = 0.0;
    for (int e = 0; e < E; e++)
        mean += load[e];
    mean /= E;
    for (int e = 0; e < E; e++) {
        double diff = mean - load[e];
        bias[e] += gamma * (float)((diff > 0) - (diff < 0));
    }
}

void wh_tr_moe_load_stats(wh_tr_load_stats *st, const float *load, const float *bias, int E)
{
    double sum = 0.0, babs = 0.0;
    float mx = load[0], bmin = bias ? bias[0] : 0.0f, bmax = bmin;
    for (int e = 0; e < E; e++) {
        sum += load[e];
        if (load[e] > mx)
            mx = load[e];
        if (bias) {
            babs += fabsf(bias[e]);
            if (bias[e] < bmin)
                bmin = bias[e];
            if (bias[e] > bmax)
                bmax = bias[e];
        }
    }
    st->max_load = mx;
    st->mean_load = (float)(sum / E);
    st->max_over_mean = sum > 0 ? (float)(mx / (sum / E)) : 0.0f;
    st->bias_min = bmin;
    st->bias_max = bmax;
    st->bias_mean_abs = (float)(babs / E);
}
