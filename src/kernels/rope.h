/*
 * rope.h — rotary position embedding (Su et al. 2021) with the scalings whale's
 * models use: YaRN as DeepSeek defines it (frequency ramp between beta_fast and
 * beta_slow, cos/sin times mscale ratio), Llama-3 frequency bands, linear.
 */
#ifndef WH_KERNELS_ROPE_H
#define WH_KERNELS_ROPE_H

#include "whale.h"

/* inv_freq[dim/2] for the config's scaling; *cos_mscale = factor on cos and sin. */
void wh_rope_freqs(const wh_config *c, int dim, float *inv_freq, float *cos_mscale);

/* Rotates n_heads vectors x[h*stride .. + dim) at position pos, in place.
 * interleaved: pairs (2i, 2i+1); otherwise pairs (i, i + dim/2). */
void wh_rope_forward(float *x, int n_heads, int stride, int dim, int pos, const float *inv_freq,
                     float cos_mscale, int interleaved);

#endif
