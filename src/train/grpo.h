/*
 * grpo.h — Group Relative Policy Optimization (DeepSeekMath §4.1, eqs. 3-4 and §4.1.2;
 * DeepSeek-R1 §2.2.1) with DAPO's clip-higher, dynamic sampling and token-level loss
 * (Yu et al. 2025, §3.1, §3.2, §3.3), on the training model of model_train.h.
 *
 * For a prompt q, G responses o_1..o_G are sampled from the policy at rollout time
 * (pi_old) and scored by the rule-based reward r_i (src/r1: accuracy + format). Then
 *
 *   A_i       = (r_i - mean(r)) / (std(r) + adv_eps)        group-normalised advantage,
 *                                                          std with Bessel's correction
 *   rho_i,t   = exp(log pi(o_i,t) - log pi_old(o_i,t))      the probability ratio
 *   pg_i,t    = min(rho A_i, clip(rho, 1 - eps, 1 + eps_high) A_i)
 *   k3_i,t    = exp(ref - lp) - (ref - lp) - 1              ref = log pi_ref, lp = log pi
 *                                                          (Schulman's k3; >= 0, unbiased)
 *   loss      = sum_i,t c_i,t (-pg_i,t + beta k3_i,t)       (the objective J is -loss)
 *
 * with the aggregation weights c: "token" (DAPO eq. 12) c = 1 / sum_i |o_i| over the
 * whole batch; "sequence" (DeepSeekMath eq. 3) c = 1 / (n_seq |o_i|). Log-probabilities
 * are those of the model's softmax at temperature 1 (the rollouts may sample at another
 * temperature; pi_old is recomputed by the training forward, so with one update per
 * rollout rho is exactly 1).
 *
 * The gradient flows through lp only (old, ref, A are constants). Per token
 *   d loss / d lp = c (-A rho [the unclipped branch is the minimum] + beta (1 - exp(ref - lp)))
 * — the clipped branch has zero gradient where it is the smaller one (A > 0 and
 * rho > 1 + eps_high, or A < 0 and rho < 1 - eps) — and lp = -CE, so the model's weighted
 * cross-entropy backward with weight w = -d loss / d lp gives every parameter gradient.
 */
#ifndef WH_TRAIN_GRPO_H
#define WH_TRAIN_GRPO_H

#include <stdint.h>

#include "train/trainer.h"

typedef struct wh_grpo_hp {
    float clip_eps, clip_eps_high; /* ratio clip [1 - eps, 1 + eps_high] */
    float kl_beta;                 /* k3 weight; 0 = no KL term */
    float adv_eps;                 /* advantage denominator epsilon */
    int aggregation;               /* wh_rl_agg: 0 token, 1 sequence */
} wh_grpo_hp;

/* A rollout batch of n sequences of T positions. Sequence i is group i / G. tokens,
 * targets: the prompt and response as a training window; targets are -1 except on the
 * response's tokens (its EOS included), so the loss is on the response only. */
typedef struct wh_grpo_batch {
    int n, cap, T, G;
    int *tokens, *targets;          /* [cap][T] */
    float *old_lp, *ref_lp;         /* [cap][T] log pi_old, log pi_ref of each target */
    float *coef;                    /* [cap][T] aggregation weights c (0 off the response) */
    float *ratio, *kl;              /* [cap][T] of the last loss pass, for tests and statistics */
    float *reward, *adv;            /* [cap] */
    int *correct, *len, *truncated; /* [cap] accuracy reward, response tokens, cut off */
    int *stage; /* [2][B][T] one micro-batch's input (nothing allocated per step) */
} wh_grpo_batch;

/* B: the training model's micro-batch (sequences). */
int wh_grpo_batch_init(wh_grpo_batch *b, int cap, int T, int G, int B, wh_error *err);
void wh_grpo_batch_free(wh_grpo_batch *b);

/* A_i of n_groups groups of G rewards (formula above). Returns the number of groups whose
 * rewards are all equal (their advantages are 0). */
int wh_grpo_advantages(const float *reward, int n_groups, int G, float eps, float *adv);

/* Fills b->coef from the targets and the aggregation (token or sequence). */
void wh_grpo_coefs(wh_grpo_batch *b, int aggregation);

/* One token's loss term without c, and d(term)/d lp; *clipped = 1 when the clipped branch
 * is the minimum and constant (no policy gradient). */
float wh_grpo_token(float lp, float old_lp, float ref_lp, float adv, const wh_grpo_hp *hp,
                    float *dlp, float *ratio, float *kl, int *clipped);

/* log pi of every target of the batch under the model's current parameters (targets -1:
 * 0), by micro-batches of the model's B sequences; entropy (may be NULL) receives the
 * sum over response tokens of the policy's entropy -sum_v p log p. */
void wh_grpo_logprobs(wh_tr_model *m, const wh_grpo_batch *b, float *lp, double *entropy);

/* Loss statistics of one pass. */
typedef struct wh_grpo_pass {
    double loss;      /* sum c (-pg + beta k3) */
    double pg, kl;    /* sum c pg, and the mean k3 per response token */
    double clip_frac; /* response tokens on a clipped branch / response tokens */
    double ratio_mean;
    long tokens;
} wh_grpo_pass;

/* The loss and its gradient: per micro-batch of B sequences a forward, the per-token
 * weights from wh_grpo_token, backward, wh_trainer_accumulate — between wh_trainer_begin
 * and wh_trainer_finish(t, 1), which the caller runs. Fills b->ratio, b->kl. The model
 * must have main_only = 1. */
void wh_grpo_loss_grad(wh_trainer *t, wh_grpo_batch *b, const wh_grpo_hp *hp, wh_grpo_pass *st);

/* The reference policy: a copy of the parameters and routing biases. */
typedef struct wh_grpo_ref {
    float *params, *bias, *save_params, *save_bias;
    size_t n_params, n_bias;
} wh_grpo_ref;
int wh_grpo_ref_init(wh_grpo_ref *r, const wh_tr_model *m, wh_error *err);
/* ref = the current policy (start, and the periodic reset). */
void wh_grpo_ref_reset(wh_grpo_ref *r, const wh_tr_model *m);
/* log pi_ref of the batch's targets into b->ref_lp (the model's parameters are swapped
 * for the reference's and back). */
void wh_grpo_ref_logprobs(wh_grpo_ref *r, wh_tr_model *m, wh_grpo_batch *b);
void wh_grpo_ref_free(wh_grpo_ref *r);

#endif
