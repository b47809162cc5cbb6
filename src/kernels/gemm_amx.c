/*
 * gemm_amx.c — AMX (AMX-TILE and AMX-INT8, with AVX-512 around them) micro-kernels of
 * the prefill product (gemm.h) for Q4_K, Q5_K, Q6_K and Q8_0 weights: tiles of 16
 * tokens x 16 weight rows. Build flags for this file only (Makefile: *_amx.o: the
 * AVX-512 flags plus -mamx-tile -mamx-int8); without them it compiles to a stub
 * whose table is NULL. gemm.c turns the level on only when CPUID reports AMX-TILE
 * and AMX-INT8, XCR0 has the tile state and Linux grants the process the tile data
 * (arch_prctl ARCH_REQ_XCOMP_PERM); the other types use the AVX-512 kernels.
 *
 * One tdpbsud / tdpbssd: C[16 tokens][16 rows] (int32) += A[16 tokens][64 inputs]
 * (the signed Q8_K / Q8_0 activation bytes) x B (the same 64 inputs of 16 weight rows
 * in the VNNI layout: for each 4 inputs, 16 rows x 4 bytes). A C row is thus a
 * vector over 16 weight rows, which is what out[t][o..o+16) wants.
 *
 * Exact sub-block scales. The K-quants scale each sub-block (32 or 16 inputs) by a
 * small integer, but one tile product sums 64 inputs. So the unpacking multiplies
 * every weight by its sub-block scale, p = sc * q (|p| < 2^13, exact in int16), and
 * splits p into its low byte pl (0..255) and its signed high byte ph:
 * sum p*x = 256 * sum ph*x + sum pl*x, two tile products (pl unsigned: tdpbsud; ph
 * unsigned for Q4_K/Q5_K, signed for Q6_K: tdpbssd). Q6_K takes q - 32 before the
 * product. The Q4_K/Q5_K mins term sum_j m_j * (bsum_2j + bsum_2j+1) is 4 vpdpwssd
 * per token (int16 pairs of mins and of the Q8_K 32-input sums). Every integer sum is
 * exact, and per block (256 inputs; Q8_0: 32, K = 32 tile products) the C tiles are
 * stored and scaled in FP32 with AVX-512 in the order of quant.c's scalar twins, so
 * the results are bit for bit vec_dot_ref.
 *
 * Layouts. Token tiles (prepare): per Q8_K block 4 A tiles [16 tokens][64 bytes]
 * (inputs 64s..64s+63), dx float[16] and the sub-block sum pairs (AK_*); per Q8_0
 * block one A tile [16][32] and dx (AL_*). Unpacked weights of a row tile (K-quants
 * gathered 4 bytes x 16 rows at a time, which is one B tile row; Q8_0 transposed):
 * per K-quant block 4 B tiles of pl, 4 of ph, d and dmin float[16] and the min pairs
 * (PK_*); per Q8_0 block a B tile [8][16][4] and d (PL_*).
 *
 * Loops (rows_amx): K in outer chunks, row tiles, token groups, inner K chunks
 * whose unpacked weights stay in L1, token tiles; the 16 running FP32 sums of a tile
 * (one zmm per token) live in registers over an inner chunk. The tile products of
 * one step run while AVX-512 scales the previous step's C tiles. Each rows call
 * loads the tile configuration and releases the tiles when done (pool threads share
 * no tile state). Costs measured on Sapphire Rapids (one core, 1536 x 8960, 512
 * tokens): Q4_K and Q6_K about 2.7x, Q8_0 about 1.8x the AVX-512 level's speed; a tile
 * product takes about 16 cycles whatever K, and tile and vector work hardly overlap.
 */
#include "kernels/gemm.h"

/* gcc spells the AMX macros __AMX_TILE__ / __AMX_INT8__, clang __AMXTILE__ / __AMXINT8__ */
#if (defined(__AMX_TILE__) || defined(__AMXTILE__)) &&                                             \
    (defined(__AMX_INT8__) || defined(__AMXINT8__)) && defined(__AVX512F__) &&                     \
    defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && defined(__FMA__) && \
    defined(__F16C__)

#include "kernels/gemm_simd.h"

#define L 16 /* tokens per tile (C rows) */
#define R 16 /* weight rows per tile (C columns) */

/* token tiles */
#define AK_DX 4096
#define AK_BS 4160 /* int32 [16 tokens][4]: sub-block sums of pairs 2p, 2p+1 as int16 */
#define AK_BYTES 4416
#define AL_DX 512
#define AL_BYTES 576

/* unpacked weights */
#define PK_PL 0
#define PK_PH 4096
#define PK_D 8192
#define PK_DMIN 8256
#define PK_MN 8320 /* int32 [4][16 rows]: mins of sub-blocks 2p, 2p+1 as int16 */
#define PK_BYTES 8576
#define PL_D 512
#define PL_BYTES 576

#define KCK 4  /* K-quant blocks per chunk: 34 KiB unpacked */
#define KCL 32 /* Q8_0 blocks per chunk: 18 KiB unpacked */

/* The AMX tile configuration (palette 1): bytes per row and rows of each tile. */
typedef struct tilecfg {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;
_Static_assert(sizeof(tilecfg) == 64, "tile configuration");

/* K-quants: tile 0 A, 1-2 B (pl, ph), 4-7 C (two steps); all 16 rows x 64 bytes. */
static const _Alignas(64) tilecfg g_cfg_k = {
    1, 0, {0}, {64, 64, 64, 0, 64, 64, 64, 64}, {16, 16, 16, 0, 16, 16, 16, 16}};
/* Q8_0: A tiles 0, 2 (16 x 32 bytes), B tiles 1, 3 (8 x 64), C tiles 4-7. */
static const _Alignas(64) tilecfg g_cfg_l = {
    1, 0, {0}, {32, 64, 32, 64, 64, 64, 64, 64}, {16, 8, 16, 8, 16, 16, 16, 16}};

/* gcc's tileloadd has no memory operand: order the stores that fill a buffer
 * before the tile loads that read it */
#define AMX_BARRIER() __asm__ volatile("" ::: "memory")

/* ---------------- token tiles ---------------- */

static void prepare(const wh_gemm_args *a, int t0, int t1)
{
    const wh_quant_traits *tr = wh_quant_traits_get(a->type);
    const wh_quant_traits *xt = wh_quant_traits_get(tr->vec_dot_type);
    int kq = tr->vec_dot_type == WH_DT_Q8_K;
    int64_t nblk = a->K / (kq ? WH_QK_K : WH_QK);
    uint64_t xrb = wh_dtype_row_bytes(tr->vec_dot_type, a->K);
    uint64_t blk = kq ? AK_BYTES : AL_BYTES;
    uint8_t *prep = wg_prep_base(a);
    int tau0 = t0 / L, tau1 = (t1 + L - 1) / L;
    for (int tau = tau0; tau < tau1; tau++) {
        uint8_t *tile = prep + (uint64_t)tau * (uint64_t)nblk * blk;
        for (int l = 0; l < L; l++) {
            int t = tau * L + l;
            const uint8_t *row = NULL;
            if (t < a->T) {
                row = a->xq + (uint64_t)t * xrb;
                xt->quantize(a->x + (int64_t)t * a->K, a->xq + (uint64_t)t * xrb, a->K);
            }
            for (int64_t b = 0; b < nblk; b++) {
                uint8_t *tb = tile + (uint64_t)b * blk;
                float dx = 0.0f;
                if (kq) {
                    const wh_block_q8_K *y = row != NULL ? (const wh_block_q8_K *)row + b : NULL;
                    for (int s = 0; s < 4; s++) {
                        if (y != NULL)
                            memcpy(tb + 1024 * s + 64 * l, y->qs + 64 * s, 64);
                        else
                            memset(tb + 1024 * s + 64 * l, 0, 64);
                    }
                    if (y != NULL)
                        dx = y->d;
                    memcpy(tb + AK_DX + 4 * l, &dx, 4);
                    for (int p = 0; p < 4; p++) {
                        /* the 32-input sums of sub-blocks 2p and 2p+1 (|s| <= 4064) */
                        uint32_t v = 0;
                        if (y != NULL) {
                            int s0 = y->bsums[4 * p] + y->bsums[4 * p + 1];
                            int s1 = y->bsums[4 * p + 2] + y->bsums[4 * p + 3];
                            v = (uint32_t)(uint16_t)s0 | (uint32_t)(uint16_t)s1 << 16;
                        }
                        memcpy(tb + AK_BS + 16 * l + 4 * p, &v, 4);
                    }
                } else {
                    const wh_block_q8_0 *y = row != NULL ? (const wh_block_q8_0 *)row + b : NULL;
                    if (y != NULL) {
                        memcpy(tb + 32 * l, y->qs, 32);
                        dx = wg_f16(y->d);
                    } else {
                        memset(tb + 32 * l, 0, 32);
                    }
                    memcpy(tb + AL_DX + 4 * l, &dx, 4);
                }
            }
        }
    }
}

/* ---------------- weight unpacking (16 rows in the lanes) ---------------- */

/* 4 bytes at p + row offset of each lane; lanes outside m read nothing and are 0 */
WG_AI __m512i gat(__mmask16 m, __m512i vidx, const uint8_t *p)
{
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, vidx, p, 1);
}

WG_AI __m512i set1(uint32_t v)
{
    return _mm512_set1_epi32((int)v);
}

/* byte i (0..3) of each lane, zero-extended */
WG_AI __m512i byte32(__m512i v, const int i)
{
    return _mm512_and_si512(_mm512_srli_epi32(v, 8 * i), set1(0xFF));
}

/* byte i of each lane, zero-extended, replicated in both 16-bit halves */
WG_AI __m512i byte16(__m512i v, const int i)
{
    __m512i x = byte32(v, i);
    return _mm512_or_si512(x, _mm512_slli_epi32(x, 16));
}

/* signed byte i of each lane, replicated in both 16-bit halves */
WG_AI __m512i sbyte16(__m512i v, const int i)
{
    __m512i x = _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * i), 24);
    return _mm512_or_si512(_mm512_and_si512(x, set1(0xFFFF)), _mm512_slli_epi32(x, 16));
}

/* half-precision in the low 16 bits of each lane -> float */
WG_AI __m512 half_lo(__m512i v)
{
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(v, set1(0xFFFF))));
}

/* p = q * sc per byte of q (int16; sc in both halves of each lane, sgn: q signed):
 * the low bytes of p to pl, the high bytes to ph (one B tile row each). */
WG_AI void split(__m512i q, __m512i sc16, const int sgn, uint8_t *pl, uint8_t *ph)
{
    __m512i qe, qo;
    if (sgn) {
        qe = _mm512_srai_epi16(_mm512_slli_epi16(q, 8), 8);
        qo = _mm512_srai_epi16(q, 8);
    } else {
        qe = _mm512_and_si512(q, _mm512_set1_epi16(0xFF));
        qo = _mm512_srli_epi16(q, 8);
    }
    __m512i pe = _mm512_mullo_epi16(qe, sc16), po = _mm512_mullo_epi16(qo, sc16);
    const __mmask64 odd = 0xAAAAAAAAAAAAAAAAull;
    _mm512_store_si512((__m512i *)pl, _mm512_mask_blend_epi8(odd, pe, _mm512_slli_epi16(po, 8)));
    _mm512_store_si512((__m512i *)ph, _mm512_mask_blend_epi8(odd, _mm512_srli_epi16(pe, 8), po));
}

/* Q4_K / Q5_K block of 16 rows (lane r: the block at base + r*rb). */
WG_AI void unpack_q45k(const uint8_t *base, __m512i vidx, __mmask16 m, const int q5, uint8_t *pk)
{
    __m512i hdr = gat(m, vidx, base);
    __m512i u0 = gat(m, vidx, base + 4), u1 = gat(m, vidx, base + 8), u2 = gat(m, vidx, base + 12);
    const __m512i m6 = set1(0x3f3f3f3f), m4 = set1(0x0f0f0f0f), m2 = set1(0x03030303);
    /* as wh_q4k_scale_min: bytes j of sc[0] / mn[0] are sub-blocks j, of sc[1] / mn[1] j+4 */
    __m512i sc[2], mn[2];
    sc[0] = _mm512_and_si512(u0, m6);
    sc[1] = _mm512_or_si512(_mm512_and_si512(u2, m4),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m2), 4));
    mn[0] = _mm512_and_si512(u1, m6);
    mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m2), 4));
    _mm512_store_ps((float *)(pk + PK_D), half_lo(hdr));
    _mm512_store_ps((float *)(pk + PK_DMIN), half_lo(_mm512_srli_epi32(hdr, 16)));
    __m512i qh[8];
    WG_UNROLL
    for (int g = 0; g < 8; g++)
        qh[g] = q5 ? gat(m, vidx, base + 16 + 4 * g) : _mm512_setzero_si512();
    const uint8_t *qs = base + (q5 ? 48 : 16);
    const __m512i one = set1(0x01010101);
    WG_UNROLL
    for (int c = 0; c < 4; c++) {
        /* inputs 64c..64c+63 = tile step c: sub-block 2c (low nibbles), 2c+1 (high) */
        const int j0 = 2 * c, j1 = 2 * c + 1;
        __m512i s0 = byte16(sc[j0 / 4], j0 % 4), s1 = byte16(sc[j1 / 4], j1 % 4);
        /* the two mins as int16 pairs, for vpdpwssd with the activations' sums */
        _mm512_store_si512((__m512i *)(pk + PK_MN + 64 * c),
                           _mm512_or_si512(byte32(mn[j0 / 4], j0 % 4),
                                           _mm512_slli_epi32(byte32(mn[j1 / 4], j1 % 4), 16)));
        uint8_t *pl = pk + PK_PL + 1024 * c, *ph = pk + PK_PH + 1024 * c;
        WG_UNROLL
        for (int g = 0; g < 8; g++) {
            __m512i v = gat(m, vidx, qs + 32 * c + 4 * g);
            __m512i lo = _mm512_and_si512(v, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi32(v, 4), m4);
            if (q5) {
                lo = _mm512_or_si512(
                    lo, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[g], j0), one), 4));
                hi = _mm512_or_si512(
                    hi, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[g], j1), one), 4));
            }
            split(lo, s0, 0, pl + 64 * g, ph + 64 * g);
            split(hi, s1, 0, pl + 64 * (8 + g), ph + 64 * (8 + g));
        }
    }
}

/* Q6_K block of 16 rows: w = q - 32, 16 sub-blocks of 16 with int8 scales. */
WG_AI void unpack_q6k(const uint8_t *base, __m512i vidx, __mmask16 m, uint8_t *pk)
{
    /* d at byte 208: read bytes 206..209 so that the last block reads nothing beyond */
    _mm512_store_ps((float *)(pk + PK_D), half_lo(_mm512_srli_epi32(gat(m, vidx, base + 206), 16)));
    __m512i S[4];
    WG_UNROLL
    for (int i = 0; i < 4; i++)
        S[i] = gat(m, vidx, base + 192 + 4 * i);
    const __m512i m4 = set1(0x0f0f0f0f), m3 = set1(0x03030303), off = _mm512_set1_epi8(32);
    WG_UNROLL
    for (int h = 0; h < 2; h++) {
        WG_UNROLL
        for (int g = 0; g < 8; g++) {
            __m512i A = gat(m, vidx, base + 64 * h + 4 * g);
            __m512i B = gat(m, vidx, base + 64 * h + 32 + 4 * g);
            __m512i Q = gat(m, vidx, base + 128 + 32 * h + 4 * g);
            __m512i q[4];
            q[0] = _mm512_or_si512(_mm512_and_si512(A, m4),
                                   _mm512_slli_epi32(_mm512_and_si512(Q, m3), 4));
            q[1] = _mm512_or_si512(
                _mm512_and_si512(B, m4),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(Q, 2), m3), 4));
            q[2] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32(A, 4), m4),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(Q, 4), m3), 4));
            q[3] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32(B, 4), m4),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(Q, 6), m3), 4));
            WG_UNROLL
            for (int k = 0; k < 4; k++) {
                /* inputs 128h + 32k + 4g.. : step 2h + k/2, B row 8(k&1) + g */
                const int sb = 8 * h + 2 * k + g / 4, s = 2 * h + k / 2, kk = 8 * (k & 1) + g;
                __m512i w = _mm512_sub_epi8(q[k], off);
                split(w, sbyte16(S[sb / 4], sb % 4), 1, pk + PK_PL + 1024 * s + 64 * kk,
                      pk + PK_PH + 1024 * s + 64 * kk);
            }
        }
    }
}

/* Q8_0 block of 16 rows (nr of them real): the B tile of 8 x (16 rows x 4 bytes),
 * and d. Row r's 32 bytes go to the low (r < 8) or high half of zmm r % 8; an 8 x 8
 * transpose of 4-byte groups in each half then gives B row kk in zmm kk (cheaper
 * than 8 gathers). */
WG_AI void unpack_q8_0(const uint8_t *base, __m512i vidx, __mmask16 m, uint64_t rb, int nr,
                       uint8_t *pk)
{
    _mm512_store_ps((float *)(pk + PL_D), half_lo(gat(m, vidx, base)));
    __m512i z[8], t[8], u[8];
    WG_UNROLL
    for (int r = 0; r < 8; r++) {
        __m256i lo = r < nr ? _mm256_loadu_si256((const __m256i *)(base + r * rb + 2))
                            : _mm256_setzero_si256();
        __m256i hi = r + 8 < nr ? _mm256_loadu_si256((const __m256i *)(base + (r + 8) * rb + 2))
                                : _mm256_setzero_si256();
        z[r] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    WG_UNROLL
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]);
    }
    WG_UNROLL
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    const __m512i lo4 = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi4 = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    WG_UNROLL
    for (int k = 0; k < 4; k++) {
        _mm512_store_si512((__m512i *)(pk + 64 * k),
                           _mm512_permutex2var_epi64(u[k], lo4, u[k + 4]));
        _mm512_store_si512((__m512i *)(pk + 64 * (k + 4)),
                           _mm512_permutex2var_epi64(u[k], hi4, u[k + 4]));
    }
}

/* ---------------- the products ---------------- */

enum { KIND_Q4K, KIND_Q5K, KIND_Q6K, KIND_Q8_0 };

/* The tile products of one K-quant block (pb: 16 rows, xb: 16 tokens) into C tiles 4
 * (pl) and 5 (ph) on even steps, 6 and 7 on odd ones; k_store writes them to cb. */
#define K_ISSUE(CL, CH)                                                                            \
    do {                                                                                           \
        _tile_zero(CL);                                                                            \
        _tile_zero(CH);                                                                            \
        WG_UNROLL                                                                                  \
        for (int s = 0; s < 4; s++) {                                                              \
            _tile_loadd(0, xb + 1024 * s, 64);                                                     \
            _tile_loadd(1, pb + PK_PL + 1024 * s, 64);                                             \
            _tile_dpbsud(CL, 0, 1);                                                                \
            _tile_loadd(2, pb + PK_PH + 1024 * s, 64);                                             \
            if (kind == KIND_Q6K)                                                                  \
                _tile_dpbssd(CH, 0, 2);                                                            \
            else                                                                                   \
                _tile_dpbsud(CH, 0, 2);                                                            \
        }                                                                                          \
    } while (0)

WG_AI void k_issue(const uint8_t *xb, const uint8_t *pb, const int kind, int odd)
{
    if (odd)
        K_ISSUE(6, 7);
    else
        K_ISSUE(4, 5);
}

WG_AI void k_store(int odd, int32_t *cb)
{
    if (odd) {
        _tile_stored(6, cb, 64);
        _tile_stored(7, cb + L * R, 64);
    } else {
        _tile_stored(4, cb, 64);
        _tile_stored(5, cb + L * R, 64);
    }
}

/* Per token: the block's dot with 16 rows, in the twins' order, added to acc. */
WG_AI void k_post(const int32_t *cb, const uint8_t *xb, const uint8_t *pb, const int kind,
                  __m512 *acc)
{
    const float *dx = (const float *)(xb + AK_DX);
    __m512 d = _mm512_load_ps((const float *)(pb + PK_D));
    __m512 dmin = _mm512_load_ps((const float *)(pb + PK_DMIN));
    WG_UNROLL
    for (int l = 0; l < L; l++) {
        __m512i is = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(cb + L * R + R * l), 8),
                                      _mm512_load_si512(cb + R * l));
        __m512 vdx = _mm512_set1_ps(dx[l]);
        if (kind != KIND_Q6K) {
            /* msum = sum_j m_j * (bsums 2j + 2j+1), as quant.c's twin: exact in int32 */
            __m512i ms = _mm512_setzero_si512();
            WG_UNROLL
            for (int p = 0; p < 4; p++)
                ms = _mm512_dpwssd_epi32(ms, set1((uint32_t)wg_ld32(xb + AK_BS + 16 * l + 4 * p)),
                                         _mm512_load_si512(pb + PK_MN + 64 * p));
            __m512 t1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(is));
            __m512 t2 = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(ms));
            acc[l] = _mm512_add_ps(acc[l], _mm512_mul_ps(vdx, _mm512_sub_ps(t1, t2)));
        } else {
            __m512 sc = _mm512_mul_ps(vdx, d);
            acc[l] = _mm512_add_ps(acc[l], _mm512_mul_ps(sc, _mm512_cvtepi32_ps(is)));
        }
    }
}

/* The tile products of one Q8_0 step, blocks b and (two) b+1, into C tiles 4 and 5
 * (even steps) or 6 and 7 (odd steps); A tiles 0 and 2, B tiles 1 and 3. Two blocks
 * per step: the FP32 pass over the previous step hides the products' latency before
 * l_store. */
WG_AI void l_issue(const uint8_t *xb, const uint8_t *pb, int two, int odd)
{
    if (odd) {
        _tile_zero(6);
        _tile_loadd(0, xb, 32);
        _tile_loadd(1, pb, 64);
        _tile_dpbssd(6, 0, 1);
        if (two) {
            _tile_zero(7);
            _tile_loadd(2, xb + AL_BYTES, 32);
            _tile_loadd(3, pb + PL_BYTES, 64);
            _tile_dpbssd(7, 2, 3);
        }
    } else {
        _tile_zero(4);
        _tile_loadd(0, xb, 32);
        _tile_loadd(1, pb, 64);
        _tile_dpbssd(4, 0, 1);
        if (two) {
            _tile_zero(5);
            _tile_loadd(2, xb + AL_BYTES, 32);
            _tile_loadd(3, pb + PL_BYTES, 64);
            _tile_dpbssd(5, 2, 3);
        }
    }
}

WG_AI void l_store(int two, int odd, int32_t *cb)
{
    if (odd) {
        _tile_stored(6, cb, 64);
        if (two)
            _tile_stored(7, cb + L * R, 64);
    } else {
        _tile_stored(4, cb, 64);
        if (two)
            _tile_stored(5, cb + L * R, 64);
    }
}

/* the Q8_0 block's (d*dx)*si of 16 rows, for 16 tokens */
WG_AI void l_post(const int32_t *cb, const uint8_t *xb, const uint8_t *pb, __m512 *acc)
{
    const float *dx = (const float *)(xb + AL_DX);
    __m512 d = _mm512_load_ps((const float *)(pb + PL_D));
    WG_UNROLL
    for (int l = 0; l < L; l++) {
        __m512 sc = _mm512_mul_ps(d, _mm512_set1_ps(dx[l]));
        acc[l] = _mm512_add_ps(
            acc[l], _mm512_mul_ps(sc, _mm512_cvtepi32_ps(_mm512_load_si512(cb + R * l))));
    }
}

/* The weights of the next unpacking (blocks [b0, b0+nb) of rows [o, o+n)), fetched
 * a few lines per step while this chunk is multiplied: a burst of prefetches would
 * stall on the fill buffers. */
typedef struct pf_stream {
    const char *base;
    uint64_t rb;
    int rows, lpr, r, l; /* rows, lines per row; the next line */
} pf_stream;

static inline void pf_init(pf_stream *p, const wh_gemm_args *a, uint64_t rb, uint64_t wblk, long o,
                           long n, int64_t b0, int64_t nb)
{
    p->base = (const char *)a->w + (uint64_t)o * rb + (uint64_t)b0 * wblk;
    p->rb = rb;
    p->rows = (int)(a->O - o < n ? (o < a->O ? a->O - o : 0) : n);
    p->lpr = (int)(((uint64_t)nb * wblk + 63) / 64 + 1); /* +1: blocks start anywhere */
    p->r = p->l = 0;
}

WG_AI void pf_step(pf_stream *p, int64_t k)
{
    for (; k > 0 && p->r < p->rows; k--) {
        _mm_prefetch(p->base + (uint64_t)p->r * p->rb + 64 * (uint64_t)p->l, _MM_HINT_T1);
        if (++p->l == p->lpr) {
            p->l = 0;
            p->r++;
        }
    }
}

/*
 * Rows [o0, o1) for all tokens. Loops: K in outer chunks of KO blocks (their token
 * tiles stay in L2); in each, row tiles of 16; per row tile, tokens in groups of up
 * to TG; per group, inner chunks of KI blocks unpacked once (L1) and multiplied with
 * every token tile of the group. The running sums of a tile stay in 16 zmm over an
 * inner chunk, in accbuf (contiguous, per token tile of the group) between inner
 * chunks and in out only between outer chunks, so out's scattered lines (a token's
 * 16 rows are one line, tokens O floats apart) are visited once per outer chunk.
 * When every token's row of out has the same alignment, the row tiles sit on out's
 * cache lines (a shorter first tile) and whole tiles of the last outer chunk are
 * written with streaming stores: each such line is written once, by one 64-byte
 * store, and reading it first for ownership (most of them miss the caches) was the
 * largest single cost of the kernel.
 */
#define TG 512 /* tokens per group: accbuf 32 KiB */

WG_AI void rows_amx(const wh_gemm_args *a, long o0, long o1, const int kind)
{
    const int kq = kind != KIND_Q8_0;
    const int64_t bs = kq ? WH_QK_K : WH_QK, KI = kq ? KCK : KCL, KO = kq ? 8 : 64;
    const uint64_t pblk = kq ? PK_BYTES : PL_BYTES, xblk = kq ? AK_BYTES : AL_BYTES;
    int64_t nblk = a->K / bs;
    uint64_t rb = wh_dtype_row_bytes(a->type, a->K), wblk = wh_dtype_row_bytes(a->type, bs);
    _Alignas(64) uint8_t pack[KCK * PK_BYTES > KCL * PL_BYTES ? KCK * PK_BYTES : KCL * PL_BYTES];
    _Alignas(64) int32_t cbuf[2 * 2 * L * R]; /* two steps' C tiles */
    _Alignas(64) float accbuf[TG * R];
    const uint8_t *prep = wg_prep_base(a);
    int ntiles = (a->T + L - 1) / L;
    const __m512i vidx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           set1((uint32_t)rb));
    int lead = 0, stream = 0; /* rows in the first tile; streaming stores allowed */
    if ((a->O * 4) % 64 == 0) {
        lead = (int)((16 - ((uintptr_t)(a->out + o0) & 63) / 4) % 16);
        stream = ((uintptr_t)a->out & 3) == 0;
    }
    _tile_loadconfig(kq ? &g_cfg_k : &g_cfg_l);
    for (int64_t B0 = 0; B0 < nblk; B0 += KO) {
        int64_t nO = nblk - B0 < KO ? nblk - B0 : KO;
        int first = B0 == 0, last = B0 + nO == nblk;
        int nr;
        for (long o = o0; o < o1; o += nr) {
            nr = o1 - o < R ? (int)(o1 - o) : R;
            if (o == o0 && lead > 0 && lead < nr)
                nr = lead;
            int nts = stream && last && nr == R; /* streaming stores for this tile */
            __mmask16 m = nr >= R ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
            __m512 bias = last && a->bias != NULL ? _mm512_maskz_loadu_ps(m, a->bias + o)
                                                  : _mm512_setzero_ps();
            for (int g0 = 0; g0 < ntiles; g0 += TG / L) {
                int g1 = ntiles - g0 < TG / L ? ntiles : g0 + TG / L;
                for (int64_t b0 = B0; b0 < B0 + nO; b0 += KI) {
                    int64_t nb = B0 + nO - b0 < KI ? B0 + nO - b0 : KI;
                    int in_first = b0 == B0, in_last = b0 + nb == B0 + nO;
                    /* the next chunk of these rows (or, at the tile's last chunk, the
                     * next rows' first): from memory while this one is used */
                    pf_stream pf;
                    if (!in_last)
                        pf_init(&pf, a, rb, wblk, o, nr, b0 + nb, nb);
                    else
                        pf_init(&pf, a, rb, wblk, o + nr, g1 == ntiles ? R : 0, B0, nb);
                    for (int64_t b = 0; b < nb; b++) {
                        const uint8_t *base = a->w + (uint64_t)o * rb + (uint64_t)(b0 + b) * wblk;
                        uint8_t *pk = pack + b * pblk;
                        if (kind == KIND_Q6K)
                            unpack_q6k(base, vidx, m, pk);
                        else if (kind == KIND_Q8_0)
                            unpack_q8_0(base, vidx, m, rb, nr, pk);
                        else
                            unpack_q45k(base, vidx, m, kind == KIND_Q5K, pk);
                    }
                    AMX_BARRIER();
                    /* steps of (token tile, 1 K-quant block or 2 Q8_0 blocks),
                     * software-pipelined: the tile products of step i+1 run while the
                     * FP32 pass reads step i's C tiles, and are stored after it (a tile
                     * store waits for its products) */
                    const int64_t sb = kq ? 1 : 2, ns = (nb + sb - 1) / sb;
                    int64_t n = (int64_t)(g1 - g0) * ns;
                    int64_t pfk = ((int64_t)pf.rows * pf.lpr + n - 1) / n; /* lines per step */
                    const uint8_t *xt0 =
                        prep + ((uint64_t)g0 * (uint64_t)nblk + (uint64_t)b0) * xblk;
                    if (kq) {
                        k_issue(xt0, pack, kind, 0);
                        k_store(0, cbuf);
                    } else {
                        l_issue(xt0, pack, nb > 1, 0);
                        l_store(nb > 1, 0, cbuf);
                    }
                    __m512 acc[L];
                    int tau = g0;
                    int64_t b = 0;
                    for (int64_t i = 0; i < n; i++) {
                        int t0 = tau * L, nt = a->T - t0 < L ? a->T - t0 : L;
                        const uint8_t *xb =
                            prep + ((uint64_t)tau * (uint64_t)nblk + (uint64_t)(b0 + b)) * xblk;
                        const uint8_t *pb = pack + b * pblk;
                        int32_t *cb = cbuf + (i & 1) * 2 * L * R;
                        int32_t *cn = cbuf + ((i + 1) & 1) * 2 * L * R;
                        int more = i + 1 < n, odd = (int)((i + 1) & 1);
                        int two = b + 1 < nb; /* Q8_0: this step has 2 blocks */
                        int64_t bn = b + sb < nb ? b + sb : 0;
                        pf_step(&pf, pfk);
                        int twon = bn + 1 < nb;
                        if (more) {
                            int tau1 = bn > 0 ? tau : tau + 1;
                            const uint8_t *xn =
                                prep +
                                ((uint64_t)tau1 * (uint64_t)nblk + (uint64_t)(b0 + bn)) * xblk;
                            if (kq)
                                k_issue(xn, pack + bn * pblk, kind, odd);
                            else
                                l_issue(xn, pack + bn * pblk, twon, odd);
                        }
                        float *ab = accbuf + (tau - g0) * L * R;
                        if (b == 0) {
                            WG_UNROLL
                            for (int l = 0; l < L; l++) {
                                if (!in_first)
                                    acc[l] = _mm512_load_ps(ab + R * l);
                                else if (first || l >= nt)
                                    acc[l] = _mm512_setzero_ps();
                                else
                                    acc[l] = _mm512_maskz_loadu_ps(
                                        m, a->out + (int64_t)(t0 + l) * a->O + o);
                            }
                        }
                        if (kq) {
                            k_post(cb, xb, pb, kind, acc);
                        } else {
                            l_post(cb, xb, pb, acc);
                            if (two)
                                l_post(cb + L * R, xb + AL_BYTES, pb + PL_BYTES, acc);
                        }
                        if (more && kq)
                            k_store(odd, cn);
                        else if (more)
                            l_store(twon, odd, cn);
                        b = bn;
                        if (b == 0) {
                            WG_UNROLL
                            for (int l = 0; l < L; l++) {
                                if (!in_last)
                                    _mm512_store_ps(ab + R * l, acc[l]);
                                else if (l < nt && nts)
                                    _mm512_stream_ps(a->out + (int64_t)(t0 + l) * a->O + o,
                                                     _mm512_add_ps(acc[l], bias));
                                else if (l < nt) /* as the 1x1 path: dot + b */
                                    _mm512_mask_storeu_ps(a->out + (int64_t)(t0 + l) * a->O + o, m,
                                                          last ? _mm512_add_ps(acc[l], bias)
                                                               : acc[l]);
                            }
                            tau++;
                        }
                    }
                }
            }
        }
    }
    _tile_release();
    if (stream)
        _mm_sfence(); /* the streaming stores before the pool's barrier */
}

static void rows_q4_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_amx(a, o0, o1, KIND_Q4K);
}

static void rows_q5_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_amx(a, o0, o1, KIND_Q5K);
}

static void rows_q6_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_amx(a, o0, o1, KIND_Q6K);
}

static void rows_q8_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_amx(a, o0, o1, KIND_Q8_0);
}

static const wh_gemm_kernels g_kernels = {
    .prepare =
        {
            [WH_DT_Q8_0] = prepare,
            [WH_DT_Q4_K] = prepare,
            [WH_DT_Q5_K] = prepare,
            [WH_DT_Q6_K] = prepare,
        },
    .rows =
        {
            [WH_DT_Q8_0] = rows_q8_0,
            [WH_DT_Q4_K] = rows_q4_K,
            [WH_DT_Q5_K] = rows_q5_K,
            [WH_DT_Q6_K] = rows_q6_K,
        },
    .row_tile = R,
    .token_tile = L,
    .min_tokens = 4, /* measured: from 3-4 tokens on, faster than the 1x1 dots */
};

const wh_gemm_kernels *wh_gemm_amx_kernels(void)
{
    return &g_kernels;
}

#else

const wh_gemm_kernels *wh_gemm_amx_kernels(void)
{
    return NULL; /* built without the AMX flags */
}

#endif
