/*
 * trainer.c — initialisation, gradient accumulation, clipping, AdamW and the
 * auxiliary-loss-free bias update for one training run. See trainer.h for the step's
 * contract; tools/reference/train_ref.py runs the same ten steps in PyTorch.
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "train/optim.h"
#include "train/trainer.h"

wh_tr_hparams wh_tr_hparams_defaults(void)
{
    wh_tr_hparams h = {
        .steps = 1000,
        .warmup = 100,
        .schedule = WH_SCHED_COSINE,
        .decay_steps = 0,
        .lr = 3e-3f,
        .lr_min = 3e-4f,
        .beta1 = 0.9f,
        .beta2 = 0.95f,
        .adam_eps = 1e-8f,
        .weight_decay = 0.1f,
        .clip = 1.0f,
        .gamma = 1e-3f,
        .init_std = 0.02f,
    };
    return h;
}

void wh_trainer_free(wh_trainer *t)
{
    wh_tr_model_free(&t->model);
    wh_free(t->reduce);
    wh_free(t->m);
    wh_free(t->decay);
    memset(t, 0, sizeof *t);
}

int wh_trainer_init(wh_trainer *t, const wh_tr_config *cfg, int B, int T, const wh_tr_hparams *hp,
                    wh_error *err)
{
    memset(t, 0, sizeof *t);
    int rc = wh_tr_model_init(&t->model, cfg, B, T, err);
    if (rc != WH_OK)
        return rc;
    t->hp = *hp;
    wh_tr_model *m = &t->model;
    t->E1 = cfg->E > 0 ? cfg->E : 1;
    size_t nl = (size_t)m->n_blocks * t->E1;
    t->n_reduce = m->n_params + nl + WH_TR_N_SUMS;
    t->reduce = wh_calloc(t->n_reduce, sizeof(float));
    t->m = wh_calloc(2 * m->n_params, sizeof(float));
    t->decay = wh_calloc((size_t)m->n_tensors, 1);
    if (!t->reduce || !t->m || !t->decay) {
        size_t need = t->n_reduce + 2 * m->n_params;
        wh_trainer_free(t);
        return wh_err(err, WH_E_NOMEM, "train: out of memory for %zu optimizer floats", need);
    }
    t->gsum = t->reduce;
    t->load = t->gsum + m->n_params;
    t->sums = t->load + nl;
    t->v = t->m + m->n_params;
    /* by convention norm weights are not decayed (they start at 1, not near 0) */
    for (int i = 0; i < m->n_tensors; i++)
        t->decay[i] = strstr(m->tensors[i].name, "norm") == NULL;
    return WH_OK;
}

static int is_residual_out(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *leaf = dot ? dot + 1 : name;
    return strcmp(leaf, "wo") == 0 || strcmp(leaf, "down") == 0 || strcmp(leaf, "exp_down") == 0 ||
           strcmp(leaf, "sh_down") == 0;
}

void wh_trainer_init_params(wh_trainer *t, uint64_t seed)
{
    wh_tr_model *m = &t->model;
    wh_tr_rng_seed(&t->rng, seed);
    double std = t->hp.init_std;
    double std_out = std / sqrt(2.0 * m->n_blocks);
    for (int i = 0; i < m->n_tensors; i++) {
        const wh_tr_tensor *tn = &m->tensors[i];
        float *p = m->params + tn->offset;
        if (strstr(tn->name, "norm") != NULL) {
            for (size_t j = 0; j < tn->count; j++)
                p[j] = 1.0f;
            continue;
        }
        double s = is_residual_out(tn->name) ? std_out : std;
        for (size_t j = 0; j < tn->count; j++)
            p[j] = (float)(s * wh_tr_rng_normal(&t->rng));
    }
    memset(m->route_bias, 0, (size_t)m->n_blocks * t->E1 * sizeof(float));
    memset(t->m, 0, 2 * m->n_params * sizeof(float));
    t->step = 0;
    t->data_pos = 0;
}

float wh_tr_lr_at(const wh_tr_hparams *hp, int step)
{
    switch (hp->schedule) {
    case WH_SCHED_WSD:
        return wh_tr_lr_wsd(step, hp->warmup, hp->steps, hp->decay_steps, hp->lr, hp->lr_min);
    case WH_SCHED_CONSTANT:
        return step < hp->warmup ? hp->lr * (float)(step + 1) / (float)hp->warmup : hp->lr;
    default:
        return wh_tr_lr_warmup_cosine(step, hp->warmup, hp->steps, hp->lr, hp->lr_min);
    }
}

void wh_trainer_begin(wh_trainer *t)
{
    memset(t->reduce, 0, t->n_reduce * sizeof(float));
}

void wh_trainer_micro(wh_trainer *t, const int *tokens, const int *targets)
{
    wh_tr_model *m = &t->model;
    wh_tr_model_forward(m, tokens, targets);
    wh_tr_model_zero_grad(m);
    wh_tr_model_backward(m);
    wh_trainer_accumulate(t);
}

void wh_trainer_accumulate(wh_trainer *t)
{
    wh_tr_model *m = &t->model;
    for (size_t i = 0; i < m->n_params; i++)
        t->gsum[i] += m->grads[i];
    int N = m->B * m->T;
    for (int l = 0; l < m->n_blocks; l++)
        if (m->w.blocks[l].is_moe)
            wh_tr_moe_count_load(t->load + (size_t)l * t->E1, m->ba[l].route, m->tokens, N,
                                 m->cfg.K, m->cfg.E);
    t->sums[WH_TR_SUM_LOSS] += m->loss;
    t->sums[WH_TR_SUM_MAIN] += m->loss_main;
    t->sums[WH_TR_SUM_MTP] += m->loss_mtp;
    t->sums[WH_TR_SUM_BAL] += m->loss_bal;
}

float wh_trainer_finish(wh_trainer *t, int n_micro)
{
    wh_tr_model *m = &t->model;
    if (n_micro > 1) {
        float k = 1.0f / (float)n_micro;
        for (size_t i = 0; i < m->n_params; i++)
            t->gsum[i] *= k;
    }
    t->grad_norm = wh_tr_clip_grad_norm(t->gsum, m->n_params, t->hp.clip);
    t->lr = wh_tr_lr_at(&t->hp, t->step);
    wh_tr_adamw h = {t->lr, t->hp.beta1, t->hp.beta2, t->hp.adam_eps, t->hp.weight_decay};
    for (int i = 0; i < m->n_tensors; i++) {
        const wh_tr_tensor *tn = &m->tensors[i];
        wh_tr_adamw_update(m->params + tn->offset, t->gsum + tn->offset, t->m + tn->offset,
                           t->v + tn->offset, tn->count, t->step + 1, &h, t->decay[i]);
    }
    if (t->hp.gamma != 0.0f)
        for (int l = 0; l < m->n_blocks; l++)
            if (m->w.blocks[l].is_moe)
                wh_tr_moe_bias_update(m->route_bias + (size_t)l * t->E1,
                                      t->load + (size_t)l * t->E1, m->cfg.E, t->hp.gamma);
    float k = 1.0f / (float)n_micro;
    t->loss = t->sums[WH_TR_SUM_LOSS] * k;
    t->loss_main = t->sums[WH_TR_SUM_MAIN] * k;
    t->loss_mtp = t->sums[WH_TR_SUM_MTP] * k;
    t->loss_bal = t->sums[WH_TR_SUM_BAL] * k;
    t->step++;
    return t->loss;
}

float wh_trainer_step(wh_trainer *t, const int *tokens, const int *targets, int n_micro)
{
    size_t N = (size_t)t->model.B * t->model.T;
    wh_trainer_begin(t);
    for (int i = 0; i < n_micro; i++)
        wh_trainer_micro(t, tokens + i * N, targets + i * N);
    return wh_trainer_finish(t, n_micro);
}

float wh_trainer_eval(wh_trainer *t, const int *tokens, const int *targets, int n_micro)
{
    size_t N = (size_t)t->model.B * t->model.T;
    double s = 0.0;
    for (int i = 0; i < n_micro; i++)
        s += wh_tr_model_forward(&t->model, tokens + i * N, targets + i * N);
    return n_micro > 0 ? (float)(s / n_micro) : 0.0f;
}

const float *wh_trainer_load(const wh_trainer *t, int l)
{
    return t->load + (size_t)l * t->E1;
}
