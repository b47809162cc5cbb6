/*
 * model_train.h — a DeepSeek-V3-architecture model for training (V3 paper §2: MLA,
 * DeepSeekMoE with auxiliary-loss-free balancing and the sequence-wise balance loss,
 * one MTP module), built from the ops in ops.h. llm.c's layout: parameters in ONE
 * allocation laid out by a size table, gradients in a second of the same layout, the
 * forward's saved activations in a third, backward's buffers in a fourth.
 *
 * Parameter order (the size table, also the order of the state file, see
 * tools/reference/train_ref.py):
 *   embed [V][C]
 *   for each main block l < L:                              "blk.l.*"
 *     attn_norm [C]
 *     q-LoRA: wq_a [QLR][C], q_a_norm [QLR], wq_b [NH*(NOPE+ROPE)][QLR]
 *       else: wq [NH*(NOPE+ROPE)][C]
 *     wkv_a [KVLR+ROPE][C], kv_a_norm [KVLR], wkv_b [NH*(NOPE+VD)][KVLR], wo [C][NH*VD]
 *     ffn_norm [C]
 *     MoE (l >= first_dense, E > 0): router [E][C], exp_gate [E][MI][C],
 *       exp_up [E][MI][C], exp_down [E][C][MI], NS > 0: sh_gate [NS*MI][C],
 *       sh_up [NS*MI][C], sh_down [C][NS*MI]
 *     dense: gate [FF][C], up [FF][C], down [C][FF]
 *   final_norm [C], head [V][C]
 *   MTP (mtp = 1): mtp.enorm [C], mtp.hnorm [C], mtp.eh_proj [C][2C], the block "blk.L.*"
 *     (MoE when E > 0), mtp.norm [C]; the embedding and head are shared.
 * The routing bias [(L+mtp)][E] is state, not a parameter (no gradient).
 *
 * Loss = CE(main) + mtp_lambda * CE(MTP) + sum over MoE blocks of the balance loss.
 * With per-target weights w (wh_tr_model_forward_w; SFT's assistant mask, GRPO's token
 * coefficients): CE(main) = sum_n w_n CE_n and CE(MTP) = sum_n w_{n+1} CE2_n (the MTP
 * target of position t is the main target of t+1, and carries its weight).
 * main_only = 1 (set by the caller; GRPO) leaves out the MTP module and the balance loss:
 * loss = CE(main) alone.
 * MTP at position t reads h_t (the last block's output, before the final norm) and the
 * embedding of targets[t] (= token t+1) and predicts targets[t+1]; the last position of
 * each sequence has no MTP target.
 */
#ifndef WH_TRAIN_MODEL_TRAIN_H
#define WH_TRAIN_MODEL_TRAIN_H

#include "train/ops.h"

typedef struct wh_tr_config {
    int V, C, L;                       /* vocab, hidden size, main blocks */
    int NH, QLR, KVLR, NOPE, ROPE, VD; /* MLA; QLR 0: no q-LoRA */
    int FF;                            /* dense MLP width */
    int E, K, MI, NS, G, TG;           /* MoE: experts, top-k, expert width, shared, groups */
    int first_dense, norm_topk, mtp;   /* mtp: MTP depth, 0 or 1 */
    float eps, route_scale, mtp_lambda, bal_alpha;
    /* RoPE (fields as in wh_config) */
    float rope_theta, rope_factor, yarn_beta_fast, yarn_beta_slow, yarn_mscale, yarn_mscale_all_dim;
    int rope_scaling, rope_orig_max_pos; /* wh_rope_scaling */
} wh_tr_config;

typedef struct wh_tr_block {
    float *attn_norm, *ffn_norm;
    wh_tr_mla_w attn;
    int is_moe;
    wh_tr_mlp_w mlp;
    wh_tr_moe_w moe;
} wh_tr_block;

typedef struct wh_tr_weights {
    float *embed, *final_norm, *head, *mtp_norm;
    wh_tr_mtp_w mtp;
    wh_tr_block *blocks; /* L + mtp */
} wh_tr_weights;

typedef struct wh_tr_tensor {
    char name[48];
    size_t offset, count;
} wh_tr_tensor;

typedef struct wh_tr_block_acts {
    float *xn1, *rstd1, *attn, *xmid, *xn2, *rstd2, *ffn, *tmp;
    int *route;
} wh_tr_block_acts;

typedef struct wh_tr_model {
    wh_tr_config cfg;
    int B, T, n_blocks; /* n_blocks = L + mtp */
    wh_tr_mla_dims mla;
    wh_tr_moe_dims moe;

    int n_tensors;
    wh_tr_tensor *tensors;
    size_t n_params;
    float *params, *grads; /* one allocation each */
    wh_tr_weights w, g;    /* views into params / grads */
    float *route_bias;     /* [n_blocks][E] */

    size_t n_acts, n_grad_acts;
    float *acts;      /* forward's saved activations, one allocation */
    int *ints;        /* tokens, targets, MTP targets, routes */
    float *grad_acts; /* backward's buffers, one allocation */
    float *cos_t, *sin_t;
    wh_tr_block_acts *ba; /* n_blocks */
    float *res;           /* [L+1][N][C] residual stream */
    float *xf, *rstdf, *logits, *probs, *losses;
    float *e, *mtp_saved, *mtp_in, *mtp_out, *xf2, *rstdf2, *logits2, *probs2, *losses2;
    float *weights, *weights2; /* [N] the loss weight of each main / MTP target */
    int *tokens, *targets, *targets2;
    int main_only; /* 1: main CE only (no MTP, no balance loss) */

    float loss, loss_main, loss_mtp, loss_bal;
} wh_tr_model;

/* Lays out and allocates everything for batches of B sequences of T tokens; parameters
 * start at zero (the caller fills m->params). WH_E_INVALID names a bad field. */
int wh_tr_model_init(wh_tr_model *m, const wh_tr_config *cfg, int B, int T, wh_error *err);
void wh_tr_model_free(wh_tr_model *m);

/* tokens, targets [B][T] (a negative target is ignored); returns the total loss and sets
 * loss_main, loss_mtp, loss_bal. */
float wh_tr_model_forward(wh_tr_model *m, const int *tokens, const int *targets);
/* The same with a loss weight per target (weights [B][T]): loss_main = sum_n w_n CE_n
 * (no normalisation: the weights carry it), loss_mtp = sum_n w_{n+1} CE2_n. weights NULL is
 * wh_tr_model_forward. After it, m->losses[n] = -log p(targets[n]) and m->probs the
 * softmax of every row (GRPO reads both). */
float wh_tr_model_forward_w(wh_tr_model *m, const int *tokens, const int *targets,
                            const float *weights);
void wh_tr_model_zero_grad(wh_tr_model *m);
/* Accumulates d(loss)/d(params) into m->grads for the last forward. */
void wh_tr_model_backward(wh_tr_model *m);

#endif
