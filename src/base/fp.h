/*
 * fp.h — scalar conversions of the storage floats whale reads: IEEE half (F16),
 * bfloat16 (BF16) and OCP FP8 E4M3FN (the DeepSeek-V3 release format: bias 7,
 * no infinities, S.1111.111 is NaN, max 448).
 */
#ifndef WH_BASE_FP_H
#define WH_BASE_FP_H

#include <stdint.h>
#include <string.h>

static inline float wh_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t wh_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float wh_bf16_to_f32(uint16_t h)
{
    return wh_bits_f32((uint32_t)h << 16);
}

/* Round to nearest even; NaN stays NaN. */
static inline uint16_t wh_f32_to_bf16(float f)
{
    uint32_t u = wh_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float wh_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31)
        return wh_bits_f32(sign | 0x7f800000u | (man << 13));
    return wh_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Round to nearest even, overflow to infinity. */
static inline uint16_t wh_f32_to_f16(float f)
{
    uint32_t u = wh_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return sign | 0x7c00u;
    if (a < 0x38800000u) {
        /* subnormal half: value / 2^-24, rounded to nearest even */
        float v = wh_bits_f32(a) * 16777216.0f;
        float r = __builtin_rintf(v);
        return sign | (uint16_t)r;
    }
    uint32_t mant = a & 0x7fffffu;
    uint32_t exp = (a >> 23) - 112u;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++;
    return sign | (uint16_t)h;
}

static inline float wh_fp8_e4m3_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t exp = (b >> 3) & 0xfu;
    uint32_t man = b & 0x7u;
    if (exp == 15 && man == 7)
        return wh_bits_f32(sign | 0x7fc00000u);
    if (exp == 0) {
        float v = (float)man * (1.0f / 512.0f); /* man/8 * 2^-6 */
        return sign ? -v : v;
    }
    return wh_bits_f32(sign | ((exp + 120u) << 23) | (man << 20));
}

#endif
