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
#include "model/state.h"

void wh_mlp_forward(wh_state *s, const wh_mlp_weights *w, int width, const float *xn, float *out,
                    int T)
{
    wh_matmul(s->pool, &s->mm, s->ff1, xn, w->gate, NULL, T);
    wh_matmul(s->pool, &s->mm, s->ff2, xn, w->up, NULL, T);
    wh_swiglu_forward(s->ff1, s->ff2, T * width);
    wh_matmul(s->pool, &s->mm, out, s->ff1, w->down, NULL, T);
}

/* Index of the largest value among those with keep[i]; ties to the lowest index. */
static int argmax_kept(const float *v, const unsigned char *keep, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (keep[i] && (best < 0 || v[i] > v[best]))
            best = i;
    return best;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void wh_moe_route(const wh_config *c, const float *logits, const float *bias, float *scores,
                  float *choice, float *group_score, unsigned char *keep, int *sel, float *gates)
{
    int E = c->n_routed_experts, k = c->num_experts_per_tok;
    if (scores != logits)
        memcpy(scores, logits, (size_t)E * sizeof(float));
    if (c->scoring_func == WH_SCORE_SIGMOID)
        for (int e = 0; e < E; e++)
            scores[e] = wh_sigmoid(scores[e]);
    else
        wh_softmax_forward(scores, E);
    for (int e = 0; e < E; e++)
        choice[e] = scores[e] + (c->topk_method == WH_TOPK_NOAUX_TC && bias ? bias[e] : 0.0f);

    for (int e = 0; e < E; e++)
        keep[e] = 1;
    if (c->topk_method != WH_TOPK_GREEDY && c->n_group > 1) {
        int G = c->n_group, gs = E / G;
        for (int g = 0; g < G; g++) {
            const float *v = choice + (int64_t)g * gs;
            if (c->topk_method == WH_TOPK_NOAUX_TC) {
                int a = 0;
                for (int i = 1; i < gs; i++)
                    if (v[i] > v[a])
                        a = i;
                int b = a == 0 ? 1 : 0;
                for (int i = 0; i < gs; i++)
                    if (i != a && v[i] > v[b])
                        b = i;
                group_score[g] = v[a] + v[b];
            } else {
                float mx = v[0];
                for (int i = 1; i < gs; i++)
                    if (v[i] > mx)
                        mx = v[i];
                group_score[g] = mx;
            }
        }
        /* keep the topk_group best groups */
        unsigned char gkeep[4096];
        unsigned char gavail[4096];
        for (int g = 0; g < G; g++) {
            gkeep[g] = 0;
            gavail[g] = 1;
        }
        for (int r = 0; r < c->topk_group; r++) {
            int best = argmax_kept(group_score, gavail, G);
            gkeep[best] = 1;
            gavail[best] = 0;
        }
        for (int e = 0; e < E; e++)
            keep[e] = gkeep[e / gs];
    }
    for (int r = 0; r < k; r++) {
        int best = argmax_kept(choice, keep, E);
        sel[r] = best;
        keep[best] = 0;
    }
    qsort(sel, (size_t)k, sizeof *sel, cmp_int);
    float sum = 0.0f;
    for (int r = 0; r < k; r++) {
        gates[r] = scores[sel[r]];
        sum += gates[r];
    }
    int normed = c->norm_topk_prob && k > 1;
    for (int r = 0; r < k; r++) {
        if (normed)
            gates[r] /= (sum + 1e-20f);
        if (c->scale_after_norm || !normed)
            gates[r] *= c->routed_scaling_factor;
    }
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
