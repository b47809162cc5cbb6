/*
 * route.h — the DeepSeekMoE expert choice for one token, shared by inference
 * (model/moe.c) and training (train/ops_moe.c):
 *   choice = scores + bias (bias, the auxiliary-loss-free balancing term of V3, only
 *   steers the selection); with groups, each group is scored (V3: the sum of its two
 *   best choices; V2: its best), the topk_group best groups are kept; top-K of choice
 *   among the kept experts, ties to the lower index; sel ascending; gates = the
 *   unbiased scores at sel, normalised to sum 1 when norm (and K > 1), times scale
 *   (always when scale_after_norm, else only when not normalised — HF V2).
 */
#ifndef WH_KERNELS_ROUTE_H
#define WH_KERNELS_ROUTE_H

typedef enum wh_route_groups {
    WH_ROUTE_NO_GROUPS = 0, /* plain top-K */
    WH_ROUTE_GROUP_MAX,     /* V2 group-limited greedy: a group scores its best */
    WH_ROUTE_GROUP_TOP2,    /* V3 noaux_tc: a group scores the sum of its two best */
} wh_route_groups;

typedef struct wh_route_params {
    int E, K;                /* routed experts, experts per token (K <= E) */
    wh_route_groups groups;  /* with n_group > 1 dividing E, 1 <= topk_group <= n_group */
    int n_group, topk_group; /* */
    int norm;                /* normalise the gates to sum 1 */
    int scale_after_norm;    /* multiply by scale also after normalising */
    float scale;             /* routed scaling factor */
} wh_route_params;

/* scores [E] (after the scoring function), bias [E] or NULL; scratch choice [E],
 * keep [E], group_score [n_group]; out sel [K], gates [K]. */
void wh_route_select(const wh_route_params *p, const float *scores, const float *bias,
                     float *choice, unsigned char *keep, float *group_score, int *sel,
                     float *gates);

#endif
