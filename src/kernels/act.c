/* act.c — SwiGLU, softmax, sigmoid (see act.h). */
#include "kernels/act.h"

#include <math.h>

float wh_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void wh_swiglu_forward(float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void wh_softmax_forward(float *x, int n)
{
    float m = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}
