/* norm.c — RMSNorm forward (see norm.h). */
#include "kernels/norm.h"

#include <math.h>

void wh_rmsnorm_forward(float *out, const float *inp, const float *weight, int T, int C, float eps)
{
    for (int t = 0; t < T; t++) {
        const float *x = inp + (long)t * C;
        float *y = out + (long)t * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        float r = 1.0f / sqrtf((float)(ss / C) + eps);
        for (int c = 0; c < C; c++)
            y[c] = x[c] * r * weight[c];
    }
}
