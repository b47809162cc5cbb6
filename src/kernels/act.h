/* act.h — activations and softmax used by the blocks. */
#ifndef WH_KERNELS_ACT_H
#define WH_KERNELS_ACT_H

/* gate[i] = silu(gate[i]) * up[i]  (SwiGLU, Shazeer 2020) */
void wh_swiglu_forward(float *gate, const float *up, int n);

/* In-place softmax over n values (max-subtracted, FP32). */
void wh_softmax_forward(float *x, int n);

float wh_sigmoid(float x);

#endif
