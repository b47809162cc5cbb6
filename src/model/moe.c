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

void wh_moe_forward(wh_state *s, int layer, const float *xn, float *out, int T)
{
    const wh_model *m = s->m;
    const wh_config *c = &m->cfg;
    const wh_layer *ly = &m->layers[layer];
    int H = c->hidden_size, k = c->num_experts_per_tok, mI = c->moe_intermediate_size;
    float gates[256];

    if (c->n_shared_experts > 0)
        wh_mlp_forward(s, &ly->shared, mI * c->n_shared_experts, xn, out, T);
    else
        memset(out, 0, (size_t)T * H * sizeof(float));

    for (int t = 0; t < T; t++) {
        const float *x = xn + (int64_t)t * H;
        float *o = out + (int64_t)t * H;
        wh_matmul(s->pool, &s->mm, s->router, x, ly->router, NULL, 1);
        wh_moe_route(c, s->router, ly->router_bias, s->router, s->choice, s->group_score, s->keep,
                     s->sel, gates);
        if (s->record_routing)
            for (int r = 0; r < k; r++)
                s->routing[((int64_t)layer * s->n_batch + t) * k + r] = s->sel[r];
        for (int r = 0; r < k; r++) {
            const wh_mlp_weights *w = &ly->experts[s->sel[r]];
            wh_matmul(s->pool, &s->mm, s->e1, x, w->gate, NULL, 1);
            wh_matmul(s->pool, &s->mm, s->e2, x, w->up, NULL, 1);
            wh_swiglu_forward(s->e1, s->e2, mI);
            wh_matmul(s->pool, &s->mm, s->eo, s->e1, w->down, NULL, 1);
            for (int i = 0; i < H; i++)
                o[i] += gates[r] * s->eo[i];
        }
    }
}
