/*
 * moe.c — DeepSeekMoE (DeepSeekMoE paper; V2 §2.2; V3 §2.1.2) and the SwiGLU MLP.
 *
 * Router, per token, logits = W_g x over E routed experts:
 *   V3 (sigmoid, noaux_tc): s = sigmoid(logits); choice = s + b (b, the
 *       auxiliary-loss-free balancing bias, only steers selection); group score =
 *       sum of the top-2 choices in each of n_group groups; keep topk_group groups;
 *       top-k of choice among them; gates = s at the chosen experts (unbiased).
 *   V2 (softmax): s = softmax(logits); greedy top-k, or group-limited greedy
 *       with group score = max of the group.
 *   Gates: normalised to sum 1 when norm_topk_prob (and k > 1), times
 *       routed_scaling_factor (V3 always; HF V2 only when not normalised).
 *   out = sum_i g_i FFN_i(x) + sum of the shared experts (one MLP of n_shared widths).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/act.h"
#include "kernels/linear.h"
#include "kernels/matmul.h"
#include "kernels/route.h"
#include "model/state.h"

void wh_mlp_forward(wh_state *s, const wh_mlp_weights *w, int width, const float *xn, float *out,
                    int T)
{
    wh_matmul(s->pool, &s->mm, s->ff1, xn, w->gate, NULL, T);
    wh_matmul(s->pool, &s->mm, s->ff2, xn, w->up, NULL, T);
    wh_swiglu_forward(s->ff1, s->ff2, T * width);
    wh_matmul(s->pool, &s->mm, out, s->ff1, w->down, NULL, T);
}

void wh_moe_route(const wh_config *c, const float *logits, const float *bias, float *scores,
                  float *choice, float *group_score, unsigned char *keep, int *sel, float *gates)
{
    int E = c->n_routed_experts;
    if (scores != logits)
        memcpy(scores, logits, (size_t)E * sizeof(float));
    if (c->scoring_func == WH_SCORE_SIGMOID)
        for (int e = 0; e < E; e++)
            scores[e] = wh_sigmoid(scores[e]);
    else
        wh_softmax_forward(scores, E);
    int v3 = c->topk_method == WH_TOPK_NOAUX_TC;
    wh_route_params p = {
        .E = E,
        .K = c->num_experts_per_tok,
        .groups = c->topk_method == WH_TOPK_GREEDY ? WH_ROUTE_NO_GROUPS
                  : v3                             ? WH_ROUTE_GROUP_TOP2
                                                   : WH_ROUTE_GROUP_MAX,
        .n_group = c->n_group,
        .topk_group = c->topk_group,
        .norm = c->norm_topk_prob,
        .scale_after_norm = c->scale_after_norm,
        .scale = c->routed_scaling_factor,
    };
    wh_route_select(&p, scores, v3 ? bias : NULL, choice, keep, group_score, sel, gates);
}

/* Experts are gathered by token: the rows routed to an expert go through its three
 * matrices together, so a prefill reads each expert's weights once, not once per
 * token. Per token the contributions are added in ascending expert order, the same
 * order as one token at a time. */
void wh_moe_forward(wh_state *s, int layer, const float *xn, float *out, int T)
{
    const wh_model *m = s->m;
    const wh_config *c = &m->cfg;
    const wh_layer *ly = &m->layers[layer];
    int H = c->hidden_size, k = c->num_experts_per_tok, mI = c->moe_intermediate_size;
    int E = c->n_routed_experts;

    if (c->n_shared_experts > 0)
        wh_mlp_forward(s, &ly->shared, mI * c->n_shared_experts, xn, out, T);
    else
        memset(out, 0, (size_t)T * H * sizeof(float));

    /* route every token */
    wh_matmul(s->pool, &s->mm, s->router_all, xn, ly->router, NULL, T);
    memset(s->ex_cnt, 0, (size_t)E * sizeof(int));
    for (int t = 0; t < T; t++) {
        wh_moe_route(c, s->router_all + (int64_t)t * E, ly->router_bias, s->router, s->choice,
                     s->group_score, s->keep, s->sel_all + (int64_t)t * k,
                     s->gate_all + (int64_t)t * k);
        for (int r = 0; r < k; r++) {
            int e = s->sel_all[(int64_t)t * k + r];
            s->ex_cnt[e]++;
            if (s->record_routing)
                s->routing[((int64_t)layer * s->n_batch + t) * k + r] = e;
        }
    }
    /* group (token, gate) pairs by expert: counting sort */
    int off = 0;
    for (int e = 0; e < E; e++) {
        int n = s->ex_cnt[e];
        s->ex_cnt[e] = off;
        off += n;
    }
    for (int t = 0; t < T; t++)
        for (int r = 0; r < k; r++) {
            int e = s->sel_all[(int64_t)t * k + r];
            int at = s->ex_cnt[e]++;
            s->ex_tok[at] = t;
            s->ex_gate[at] = s->gate_all[(int64_t)t * k + r];
        }
    /* ex_cnt[e] now holds the end of expert e's run */
    int begin = 0;
    for (int e = 0; e < E; e++) {
        int end = s->ex_cnt[e], n = end - begin;
        if (n == 0)
            continue;
        for (int j = 0; j < n; j++)
            memcpy(s->moe_x + (int64_t)j * H, xn + (int64_t)s->ex_tok[begin + j] * H,
                   (size_t)H * sizeof(float));
        const wh_mlp_weights *w = &ly->experts[e];
        wh_matmul(s->pool, &s->mm, s->moe_e1, s->moe_x, w->gate, NULL, n);
        wh_matmul(s->pool, &s->mm, s->moe_e2, s->moe_x, w->up, NULL, n);
        wh_swiglu_forward(s->moe_e1, s->moe_e2, n * mI);
        wh_matmul(s->pool, &s->mm, s->moe_eo, s->moe_e1, w->down, NULL, n);
        for (int j = 0; j < n; j++) {
            float g = s->ex_gate[begin + j];
            float *o = out + (int64_t)s->ex_tok[begin + j] * H;
            const float *eo = s->moe_eo + (int64_t)j * H;
            for (int i = 0; i < H; i++)
                o[i] += g * eo[i];
        }
        begin = end;
    }
}
