/*
 * ops_rope.c — rotary position embedding forward/backward (RoFormer, Su et al. 2021,
 * eq. 34) with the frequency scalings of the inference engine: YaRN as DeepSeek applies
 * it (Peng et al. 2023, §3.2-3.4; cos/sin times the mscale ratio), Llama-3 bands, linear.
 * The rotation R(t θ_i) is orthogonal up to the mscale factor m: y = m R x, so the
 * backward is dx = m R^T dy — the same formula with the sine negated.
 */
#include <math.h>
#include <string.h>

#include "kernels/rope.h"
#include "train/ops.h"

void wh_tr_rope_tables(float *cos_t, float *sin_t, const wh_config *cfg, int D, int T)
{
    int half = D / 2;
    float inv_freq[512];
    float mscale = 1.0f;
    /* D <= 1024 in every supported config; larger would be a caller bug */
    if (half > 512)
        half = 512;
    wh_rope_freqs(cfg, D, inv_freq, &mscale);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double ang = (double)t * inv_freq[i];
            cos_t[(size_t)t * half + i] = (float)(cos(ang) * mscale);
            sin_t[(size_t)t * half + i] = (float)(sin(ang) * mscale);
        }
}

/* sign = +1: forward rotation, -1: its transpose */
static void rope_apply(float *out, const float *inp, const float *cos_t, const float *sin_t, int B,
                       int T, int NH, int HS, int OFF, int D, int interleaved, float sign)
{
    int half = D / 2;
    size_t row = (size_t)NH * HS;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *x = inp + ((size_t)b * T + t) * row;
            float *y = out + ((size_t)b * T + t) * row;
            if (y != x)
                memcpy(y, x, row * sizeof(float));
            const float *cs = cos_t + (size_t)t * half;
            const float *sn = sin_t + (size_t)t * half;
            for (int h = 0; h < NH; h++) {
                float *v = y + (size_t)h * HS + OFF;
                for (int i = 0; i < half; i++) {
                    int a = interleaved ? 2 * i : i;
                    int c = interleaved ? 2 * i + 1 : i + half;
                    float x0 = v[a], x1 = v[c];
                    float s = sign * sn[i];
                    v[a] = x0 * cs[i] - x1 * s;
                    v[c] = x0 * s + x1 * cs[i];
                }
            }
        }
}

void wh_tr_rope_forward(float *out, const float *inp, const float *cos_t, const float *sin_t, int B,
                        int T, int NH, int HS, int OFF, int D, int interleaved)
{
    rope_apply(out, inp, cos_t, sin_t, B, T, NH, HS, OFF, D, interleaved, 1.0f);
}

void wh_tr_rope_backward(float *dinp, const float *dout, const float *cos_t, const float *sin_t,
                         int B, int T, int NH, int HS, int OFF, int D, int interleaved)
{
    rope_apply(dinp, dout, cos_t, sin_t, B, T, NH, HS, OFF, D, interleaved, -1.0f);
}
