/*
 * rng.h — the training engine's random numbers: xoshiro256** (Blackman & Vigna 2018),
 * seeded through splitmix64, and normal deviates by the Box-Muller transform in double.
 * The whole state is four words, so a checkpoint stores it and a resumed run draws the
 * same numbers as one that never stopped.
 */
#ifndef WH_TRAIN_RNG_H
#define WH_TRAIN_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct wh_tr_rng {
    uint64_t s[4];
} wh_tr_rng;

static inline uint64_t wh_tr_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void wh_tr_rng_seed(wh_tr_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = wh_tr_splitmix64(&x);
}

static inline uint64_t wh_tr_rng_next(wh_tr_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t res = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

/* uniform in [0, 1), 53 bits */
static inline double wh_tr_rng_uniform(wh_tr_rng *r)
{
    return (double)(wh_tr_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the tiny bias is irrelevant
 * for shuffling windows) */
static inline uint64_t wh_tr_rng_below(wh_tr_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)wh_tr_rng_next(r) * n) >> 64);
}

/* standard normal, Box-Muller (one deviate per call; the second is dropped so the stream
 * position is a plain count) */
static inline double wh_tr_rng_normal(wh_tr_rng *r)
{
    double u1 = wh_tr_rng_uniform(r), u2 = wh_tr_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

#endif
