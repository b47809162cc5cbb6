/* trcfg.h — test-side decoding of the model header that tools/reference writes into the
 * training fixtures (state files of test_train/test_train_ops, GRPO fixtures of
 * test_grpo): 21 int32 fields then 10 float32 fields, in this order. */
#ifndef WH_TESTS_TRCFG_H
#define WH_TESTS_TRCFG_H

#include <stdint.h>

#include "train/model_train.h"

static inline wh_tr_config trcfg_decode(const int32_t *h, const float *fh)
{
    wh_tr_config c = {.V = h[0],
                      .C = h[1],
                      .L = h[2],
                      .NH = h[3],
                      .QLR = h[4],
                      .KVLR = h[5],
                      .NOPE = h[6],
                      .ROPE = h[7],
                      .VD = h[8],
                      .FF = h[9],
                      .E = h[10],
                      .K = h[11],
                      .MI = h[12],
                      .NS = h[13],
                      .G = h[14],
                      .TG = h[15],
                      .first_dense = h[16],
                      .norm_topk = h[17],
                      .mtp = h[18],
                      .rope_scaling = h[19],
                      .rope_orig_max_pos = h[20],
                      .eps = fh[0],
                      .route_scale = fh[1],
                      .mtp_lambda = fh[2],
                      .bal_alpha = fh[3],
                      .rope_theta = fh[4],
                      .rope_factor = fh[5],
                      .yarn_beta_fast = fh[6],
                      .yarn_beta_slow = fh[7],
                      .yarn_mscale = fh[8],
                      .yarn_mscale_all_dim = fh[9]};
    return c;
}

#endif
