/*
 * optim.h — AdamW with decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 2, with
 * Adam's bias correction, Kingma & Ba 2015, Algorithm 1), global-norm gradient clipping
 * (Pascanu et al. 2013, Algorithm 2), learning-rate schedules: linear warmup + cosine
 * decay, and warmup-stable-decay (MiniCPM, Hu et al. 2024, §4.1; linear decay here).
 * Parameters, gradients and both moments are flat arrays of one layout (model_train.h),
 * so every function is one loop.
 */
#ifndef WH_TRAIN_OPTIM_H
#define WH_TRAIN_OPTIM_H

#include <stddef.h>

typedef struct wh_tr_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} wh_tr_adamw;

/* One step t (1-based) over n values: m, v (n each, zero before step 1) are updated;
 *   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,
 *   p -= lr * ( m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd * p ).
 * decay: 0 to skip the weight decay for these values (norm weights, by convention). */
void wh_tr_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, int t,
                        const wh_tr_adamw *h, int decay);

/* The L2 norm of n gradients (accumulated in double). */
float wh_tr_grad_norm(const float *grads, size_t n);
/* Scales grads so their norm is at most max_norm (max_norm <= 0: no clipping); returns the
 * norm before clipping, for the log. */
float wh_tr_clip_grad_norm(float *grads, size_t n, float max_norm);

/* lr at step (0-based): linear warmup to lr_max over `warmup` steps, then cosine to lr_min at
 * step `total` (and lr_min after). */
float wh_tr_lr_warmup_cosine(int step, int warmup, int total, float lr_max, float lr_min);
/* lr at step: warmup, constant lr_max, then linear decay to lr_min over the last `decay`
 * steps before `total`. */
float wh_tr_lr_wsd(int step, int warmup, int total, int decay, float lr_max, float lr_min);

#endif
