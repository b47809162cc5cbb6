/* sample.h — internal helpers of the sampler (public API in whale.h). */
#ifndef WH_RUNTIME_SAMPLE_H
#define WH_RUNTIME_SAMPLE_H

#include <stdint.h>

/* xoshiro256** seeded through splitmix64: the same seed gives the same stream. */
typedef struct wh_rng {
    uint64_t s[4];
} wh_rng;

void wh_rng_seed(wh_rng *r, uint64_t seed);
uint64_t wh_rng_next(wh_rng *r);
/* Uniform in [0, 1). */
double wh_rng_uniform(wh_rng *r);

#endif
