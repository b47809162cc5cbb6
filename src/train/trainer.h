/*
 * trainer.h — one training run's state and its step: seeded initialisation, gradient
 * accumulation over micro-batches, global-norm clipping, AdamW with a schedule, and the
 * auxiliary-loss-free bias update (DeepSeek-V3 §2.1.2). Built on model_train.h and
 * optim.h; the data loader, checkpoints and the front end are separate (data.h,
 * checkpoint.h, src/cli/cmd_train.c).
 *
 * One step:
 *   wh_trainer_begin    zero the reduce buffer
 *   wh_trainer_micro    per micro-batch: forward, backward into the model's gradients
 *                       (zeroed first), then reduce.grads += grads, per-expert load and
 *                       the losses added in
 *   (data parallel: MPI_Allreduce(SUM) over reduce[0 .. n_reduce) — one buffer)
 *   wh_trainer_finish   gradients /= micro-batches in the global batch, clip, AdamW at
 *                       step+1 with the scheduled lr, bias update from the summed load
 * Every rank applies the same update to the same parameters, so they stay identical.
 * A single process accumulating micro-batches 1 and 2 computes 0 + g1 + g2; two ranks
 * compute g1 and g2 and the all-reduce adds them: the same sum, bit for bit.
 */
#ifndef WH_TRAIN_TRAINER_H
#define WH_TRAIN_TRAINER_H

#include <stdint.h>

#include "train/model_train.h"
#include "train/rng.h"

typedef enum wh_tr_schedule { WH_SCHED_COSINE = 0, WH_SCHED_WSD, WH_SCHED_CONSTANT } wh_tr_schedule;

typedef struct wh_tr_hparams {
    int steps;        /* total optimizer steps (the schedule's length) */
    int warmup;       /* linear warmup steps */
    int schedule;     /* wh_tr_schedule */
    int decay_steps;  /* WSD: steps of the final linear decay */
    float lr, lr_min; /* peak and final learning rate */
    float beta1, beta2, adam_eps, weight_decay;
    float clip;     /* max global gradient norm; <= 0: none */
    float gamma;    /* bias update speed (auxiliary-loss-free balancing); 0: off */
    float init_std; /* std of the normal initialisation */
} wh_tr_hparams;

/* The defaults documented in docs/TRAINING.md. */
wh_tr_hparams wh_tr_hparams_defaults(void);

/* Sums reported by a step (means over the global batch after wh_trainer_finish). */
enum { WH_TR_SUM_LOSS = 0, WH_TR_SUM_MAIN, WH_TR_SUM_MTP, WH_TR_SUM_BAL, WH_TR_N_SUMS };

typedef struct wh_trainer {
    wh_tr_model model;
    wh_tr_hparams hp;
    size_t n_reduce; /* floats in reduce */
    float *reduce;   /* [n_params] gradient sum, [n_blocks][E] expert load, [4] loss sums */
    float *gsum, *load, *sums; /* views into reduce */
    float *m, *v;              /* AdamW moments [n_params] each, one allocation */
    unsigned char *decay;      /* [n_tensors]: 1 = weight decay applies */
    int E1;                    /* experts per load row (E, or 1 for a dense model) */
    int step;                  /* optimizer steps done */
    uint64_t data_pos; /* sequences consumed (the loader's position; the front end sets it) */
    wh_tr_rng rng;
    /* results of the last step */
    float loss, loss_main, loss_mtp, loss_bal, grad_norm, lr;
} wh_trainer;

/* Lays out the model (micro-batches of B sequences of T tokens) and the optimizer state;
 * parameters are zero until wh_trainer_init_params or a checkpoint fills them. */
int wh_trainer_init(wh_trainer *t, const wh_tr_config *cfg, int B, int T, const wh_tr_hparams *hp,
                    wh_error *err);
void wh_trainer_free(wh_trainer *t);

/* Seeded initialisation (docs/TRAINING.md): every norm weight 1; every other matrix
 * N(0, init_std^2), except the projections that write into the residual stream (wo,
 * down, exp_down, sh_down), N(0, (init_std / sqrt(2 * blocks))^2) as in GPT-2 §2.3;
 * routing biases 0; moments 0; step 0. Values are drawn in size-table order from one
 * xoshiro256** stream seeded with `seed`, which then stays in t->rng. */
void wh_trainer_init_params(wh_trainer *t, uint64_t seed);

/* The learning rate of step (0-based) under hp. */
float wh_tr_lr_at(const wh_tr_hparams *hp, int step);

void wh_trainer_begin(wh_trainer *t);
/* tokens, targets [B][T]. */
void wh_trainer_micro(wh_trainer *t, const int *tokens, const int *targets);
/* The second half of wh_trainer_micro, for a caller that ran its own forward and
 * backward on t->model (zeroed gradients first; SFT's and GRPO's weighted losses):
 * reduce.grads += grads, the expert load and the losses added in. */
void wh_trainer_accumulate(wh_trainer *t);
/* n_micro: micro-batches in the global batch (over all ranks). Returns the mean loss. */
float wh_trainer_finish(wh_trainer *t, int n_micro);
/* begin + n_micro micro-batches (tokens, targets [n_micro][B][T]) + finish. */
float wh_trainer_step(wh_trainer *t, const int *tokens, const int *targets, int n_micro);

/* Mean validation loss (main CE + lambda MTP + balance, as in training) over n_micro
 * micro-batches; parameters and optimizer untouched. */
float wh_trainer_eval(wh_trainer *t, const int *tokens, const int *targets, int n_micro);

/* Expert load of MoE block l in the last step (n_blocks x E1 floats in t->load). */
const float *wh_trainer_load(const wh_trainer *t, int l);

#endif
