/*
 * optim.c — AdamW (Loshchilov & Hutter 2019, Algorithm 2), global-norm clipping
 * (Pascanu et al. 2013), warmup + cosine and warmup-stable-decay schedules. See optim.h.
 */
#include <math.h>

#include "train/optim.h"

void wh_tr_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, int t,
                        const wh_tr_adamw *h, int decay)
{
    float c1 = 1.0f - powf(h->beta1, (float)t);
    float c2 = 1.0f - powf(h->beta2, (float)t);
    float wd = decay ? h->weight_decay : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = h->beta1 * m[i] + (1.0f - h->beta1) * g;
        v[i] = h->beta2 * v[i] + (1.0f - h->beta2) * g * g;
        float mh = m[i] / c1, vh = v[i] / c2;
        params[i] -= h->lr * (mh / (sqrtf(vh) + h->eps) + wd * params[i]);
    }
}

float wh_tr_grad_norm(const float *grads, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)grads[i] * grads[i];
    return (float)sqrt(s);
}

float wh_tr_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    float norm = wh_tr_grad_norm(grads, n);
    if (max_norm > 0.0f && norm > max_norm) {
        float k = max_norm / (norm + 1e-6f);
        for (size_t i = 0; i < n; i++)
            grads[i] *= k;
    }
    return norm;
}

float wh_tr_lr_warmup_cosine(int step, int warmup, int total, float lr_max, float lr_min)
{
    if (step < warmup)
        return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total || total <= warmup)
        return lr_min;
    double p = (double)(step - warmup) / (double)(total - warmup);
    return (float)(lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(M_PI * p)));
}

float wh_tr_lr_wsd(int step, int warmup, int total, int decay, float lr_max, float lr_min)
{
    if (step < warmup)
        return lr_max * (float)(step + 1) / (float)warmup;
    int start = total - decay;
    if (step < start)
        return lr_max;
    if (step >= total || decay <= 0)
        return lr_min;
    double p = (double)(step - start) / (double)decay;
    return (float)(lr_max + (lr_min - lr_max) * p);
}
