/*
 * ops_mtp.c — the input of a multi-token-prediction module, DeepSeek-V3 §2.2, eq. 21
 * (depth 1):  h' = M [RMSNorm(Emb(t_{i+1})); RMSNorm(h_i)],  M = eh_proj [C][2C].
 * The module's transformer block (eq. 22) and the shared output head (eq. 23) are the
 * ordinary block and head ops, composed by the model (model_train.c); the MTP loss is
 * eq. 24-25 there.
 * saved: cat [N][2C] (= [enorm(e) | hnorm(h)]), rstd_e [N], rstd_h [N].
 */
#include <string.h>

#include "train/ops.h"

size_t wh_tr_mtp_saved_floats(int N, int C)
{
    return 2 * (size_t)N * C + 2 * (size_t)N;
}

size_t wh_tr_mtp_scratch_floats(int N, int C)
{
    return 2 * (size_t)N * C;
}

void wh_tr_mtp_forward(float *out, float *saved, const float *h, const float *e,
                       const wh_tr_mtp_w *w, int N, int C, float eps)
{
    float *cat = saved, *rstd_e = cat + 2 * (size_t)N * C, *rstd_h = rstd_e + N;
    for (int n = 0; n < N; n++) {
        float *row = cat + 2 * (size_t)n * C;
        wh_tr_rmsnorm_forward(row, rstd_e + n, e + (size_t)n * C, w->enorm, 1, C, eps);
        wh_tr_rmsnorm_forward(row + C, rstd_h + n, h + (size_t)n * C, w->hnorm, 1, C, eps);
    }
    wh_tr_linear_forward(out, cat, w->eh_proj, NULL, N, 2 * C, C);
}

void wh_tr_mtp_backward(float *dh, float *de, wh_tr_mtp_w *dw, const float *dout, const float *h,
                        const float *e, const wh_tr_mtp_w *w, const float *saved, float *scratch,
                        int N, int C)
{
    const float *cat = saved, *rstd_e = cat + 2 * (size_t)N * C, *rstd_h = rstd_e + N;
    float *dcat = scratch;
    wh_tr_linear_backward(dcat, dw->eh_proj, NULL, dout, cat, w->eh_proj, N, 2 * C, C);
    for (int n = 0; n < N; n++) {
        const float *drow = dcat + 2 * (size_t)n * C;
        wh_tr_rmsnorm_backward(de ? de + (size_t)n * C : NULL, dw->enorm, drow, e + (size_t)n * C,
                               w->enorm, rstd_e + n, 1, C);
        wh_tr_rmsnorm_backward(dh ? dh + (size_t)n * C : NULL, dw->hnorm, drow + C,
                               h + (size_t)n * C, w->hnorm, rstd_h + n, 1, C);
    }
}
