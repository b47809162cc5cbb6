/* route.c — see route.h. */
#include "kernels/route.h"

/* Index of the largest value among those with keep[i]; ties to the lowest index. */
static int argmax_kept(const float *v, const unsigned char *keep, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (keep[i] && (best < 0 || v[i] > v[best]))
            best = i;
    return best;
}

/* Keeps the experts of the topk_group best-scoring groups (keep[] is 1 on entry). */
static void keep_groups(const wh_route_params *p, const float *choice, unsigned char *keep,
                        float *group_score)
{
    int G = p->n_group, gs = p->E / G;
    for (int g = 0; g < G; g++) {
        const float *v = choice + g * gs;
        int a = 0;
        for (int i = 1; i < gs; i++)
            if (v[i] > v[a])
                a = i;
        float s = v[a];
        if (p->groups == WH_ROUTE_GROUP_TOP2 && gs > 1) {
            int b = a == 0 ? 1 : 0;
            for (int i = 0; i < gs; i++)
                if (i != a && v[i] > v[b])
                    b = i;
            s += v[b];
        }
        group_score[g] = s;
    }
    /* the topk_group best groups, ties to the lower index; a group is taken when its
     * first expert is kept */
    for (int e = 0; e < p->E; e++)
        keep[e] = 0;
    for (int r = 0; r < p->topk_group; r++) {
        int best = -1;
        for (int g = 0; g < G; g++)
            if (!keep[g * gs] && (best < 0 || group_score[g] > group_score[best]))
                best = g;
        for (int e = best * gs; e < (best + 1) * gs; e++)
            keep[e] = 1;
    }
}

void wh_route_select(const wh_route_params *p, const float *scores, const float *bias,
                     float *choice, unsigned char *keep, float *group_score, int *sel, float *gates)
{
    int E = p->E, K = p->K;
    for (int e = 0; e < E; e++) {
        choice[e] = scores[e] + (bias ? bias[e] : 0.0f);
        keep[e] = 1;
    }
    if (p->groups != WH_ROUTE_NO_GROUPS && p->n_group > 1 && p->topk_group < p->n_group)
        keep_groups(p, choice, keep, group_score);
    for (int r = 0; r < K; r++) {
        int best = argmax_kept(choice, keep, E);
        sel[r] = best;
        keep[best] = 0;
    }
    for (int i = 1; i < K; i++) /* ascending; K is small */
        for (int j = i; j > 0 && sel[j - 1] > sel[j]; j--) {
            int t = sel[j];
            sel[j] = sel[j - 1];
            sel[j - 1] = t;
        }
    float sum = 0.0f;
    for (int r = 0; r < K; r++) {
        gates[r] = scores[sel[r]];
        sum += gates[r];
    }
    int normed = p->norm && K > 1;
    for (int r = 0; r < K; r++) {
        if (normed)
            gates[r] /= (sum + 1e-20f);
        if (p->scale_after_norm || !normed)
            gates[r] *= p->scale;
    }
}
