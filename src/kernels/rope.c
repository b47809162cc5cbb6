/* rope.c — RoPE frequencies and rotation (see rope.h). */
#include "kernels/rope.h"

#include <math.h>

static double yarn_mscale(double scale, double m)
{
    return scale <= 1.0 ? 1.0 : 0.1 * m * log(scale) + 1.0;
}

/* dimension index whose wavelength completes num_rot rotations over max_pos */
static double yarn_correction_dim(double num_rot, int dim, double base, double max_pos)
{
    return (dim * log(max_pos / (num_rot * 2.0 * M_PI))) / (2.0 * log(base));
}

void wh_rope_freqs(const wh_config *c, int dim, float *inv_freq, float *cos_mscale)
{
    int half = dim / 2;
    double base = c->rope_theta;
    *cos_mscale = 1.0f;
    for (int i = 0; i < half; i++) {
        /* computed as HF does: base ** (2i/dim) in float32 */
        float e = (float)(2 * i) / (float)dim;
        inv_freq[i] = 1.0f / powf((float)base, e);
    }
    if (c->rope_scaling == WH_ROPE_LINEAR) {
        for (int i = 0; i < half; i++)
            inv_freq[i] /= c->rope_factor;
    } else if (c->rope_scaling == WH_ROPE_YARN) {
        double f = c->rope_factor;
        double low = floor(yarn_correction_dim(c->yarn_beta_fast, dim, base, c->rope_orig_max_pos));
        double high = ceil(yarn_correction_dim(c->yarn_beta_slow, dim, base, c->rope_orig_max_pos));
        if (low < 0)
            low = 0;
        if (high > dim - 1)
            high = dim - 1;
        if (low == high)
            high += 0.001;
        for (int i = 0; i < half; i++) {
            float ramp = (float)(((double)i - low) / (high - low));
            ramp = ramp < 0 ? 0 : (ramp > 1 ? 1 : ramp);
            float mask = 1.0f - ramp; /* 1: keep the original (extrapolated) frequency */
            float extra = inv_freq[i];
            float inter = extra / (float)f;
            inv_freq[i] = inter * (1.0f - mask) + extra * mask;
        }
        double ms = c->yarn_mscale_all_dim != 0.0f ? yarn_mscale(f, c->yarn_mscale_all_dim) : 1.0;
        *cos_mscale = (float)(yarn_mscale(f, c->yarn_mscale) / ms);
    } else if (c->rope_scaling == WH_ROPE_LLAMA3) {
        double f = c->rope_factor, lo = c->llama3_low_freq_factor, hi = c->llama3_high_freq_factor;
        double old = c->rope_orig_max_pos;
        double low_wl = old / lo, high_wl = old / hi;
        for (int i = 0; i < half; i++) {
            double fr = inv_freq[i];
            double wl = 2.0 * M_PI / fr;
            if (wl < high_wl)
                continue;
            if (wl > low_wl) {
                inv_freq[i] = (float)(fr / f);
            } else {
                double s = (old / wl - lo) / (hi - lo);
                inv_freq[i] = (float)((1.0 - s) * fr / f + s * fr);
            }
        }
    }
}

void wh_rope_forward(float *x, int n_heads, int stride, int dim, int pos, const float *inv_freq,
                     float cos_mscale, int interleaved)
{
    int half = dim / 2;
    for (int i = 0; i < half; i++) {
        float ang = (float)pos * inv_freq[i];
        float cs = cosf(ang) * cos_mscale, sn = sinf(ang) * cos_mscale;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (long)h * stride;
            int a = interleaved ? 2 * i : i;
            int b = interleaved ? 2 * i + 1 : i + half;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs - x1 * sn;
            v[b] = x0 * sn + x1 * cs;
        }
    }
}
