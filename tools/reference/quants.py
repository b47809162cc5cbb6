# whale reference oracle -- ggml block quantisations (MIT License, part of the whale project).
#
# Independent numpy dequantisers for the GGUF/ggml block types, written from the format
# definitions (block layouts of ggml-common.h, formulas of ggml's dequantize_row_*):
#
#   type  id  elems bytes  layout                                        value
#   Q4_0   2   32    18    f16 d, u8 qs[16]                              d*(q-8)
#   Q4_1   3   32    20    f16 d, f16 m, u8 qs[16]                       d*q + m
#   Q5_0   6   32    22    f16 d, u32 qh, u8 qs[16]                      d*(q-16)
#   Q5_1   7   32    24    f16 d, f16 m, u32 qh, u8 qs[16]               d*q + m
#   Q8_0   8   32    34    f16 d, i8 qs[32]                              d*q
#   Q2_K  10  256    84    u8 scales[16], u8 qs[64], f16 d, f16 dmin     (d*sc)*q - dmin*m
#   Q3_K  11  256   110    u8 hmask[32], u8 qs[64], u8 scales[12], f16 d (d*(sc-32))*(q-4*!h)
#   Q4_K  12  256   144    f16 d, f16 dmin, u8 scales[12], u8 qs[128]    (d*sc)*q - dmin*m
#   Q5_K  13  256   176    f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
#   Q6_K  14  256   210    u8 ql[128], u8 qh[64], i8 scales[16], f16 d   (d*sc)*(q-32)
#   Q8_K  15  256   292    f32 d, i8 qs[256], i16 bsums[16]              d*q
#
# Legacy types pack element j in the low nibble of qs[j] and element j+16 in the high nibble.
# Arithmetic is float32 with every product rounded separately, in ggml's order (the scale
# products first), so the C dequantisers must match bit for bit.
#
# Running this file writes tests/fixtures/quant/blocks.bin (deterministic):
#   "WHQB" u32 version=1 u32 n_types, then per type:
#   u32 ggml_type, u32 n_blocks, u32 block_bytes, u32 block_elems,
#   n_blocks*block_bytes raw block bytes, n_blocks*block_elems float32 expected values.
# Usage: /usr/bin/python3 tools/reference/quants.py [out_path]

import os
import struct
import sys

import numpy as np

F32 = np.float32

# name: (ggml id, elements per block, bytes per block)
TYPES = {
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34),
    "Q2_K": (10, 256, 84),
    "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176),
    "Q6_K": (14, 256, 210),
    "Q8_K": (15, 256, 292),
}


def _f16(b):
    """bytes (n, 2) -> float32 (n,)"""
    return np.ascontiguousarray(b).view("<f2").astype(F32).reshape(-1)


def _bits(b):
    """u8 array (..., k) -> bits (..., 8k), little-endian bit order (bit i of the LE integer)."""
    return np.unpackbits(b, axis=-1, bitorder="little")


def _nibbles(qs):
    """u8 (nb, 16) -> (nb, 32): low nibbles are elements 0..15, high nibbles 16..31."""
    return np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int32)


def deq_q4_0(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    q = _nibbles(raw[:, 2:18])
    return ((q - 8).astype(F32) * d).reshape(nb * 32)


def deq_q4_1(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    m = _f16(raw[:, 2:4])[:, None]
    q = _nibbles(raw[:, 4:20])
    return (q.astype(F32) * d + m).reshape(nb * 32)


def deq_q5_0(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    hbit = _bits(raw[:, 2:6]).astype(np.int32)  # (nb, 32): bit j = 5th bit of element j
    q = _nibbles(raw[:, 6:22]) + 16 * hbit
    return ((q - 16).astype(F32) * d).reshape(nb * 32)


def deq_q5_1(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    m = _f16(raw[:, 2:4])[:, None]
    hbit = _bits(raw[:, 4:8]).astype(np.int32)
    q = _nibbles(raw[:, 8:24]) + 16 * hbit
    return (q.astype(F32) * d + m).reshape(nb * 32)


def deq_q8_0(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    q = raw[:, 2:34].view(np.int8).astype(F32)
    return (q * d).reshape(nb * 32)


def _crumbs(qs32):
    """u8 (nb, 32) -> (nb, 128): 2-bit fields, field j of byte l is element 32*j + l."""
    return np.concatenate([(qs32 >> (2 * j)) & 3 for j in range(4)], axis=1).astype(np.int32)


def deq_q2_K(raw):
    nb = raw.shape[0]
    sc = raw[:, 0:16]
    q = np.concatenate([_crumbs(raw[:, 16:48]), _crumbs(raw[:, 48:80])], axis=1)  # (nb, 256)
    d = _f16(raw[:, 80:82])[:, None]
    dmin = _f16(raw[:, 82:84])[:, None]
    dl = d * (sc & 0xF).astype(F32)  # (nb, 16), one per 16 elements
    ml = dmin * (sc >> 4).astype(F32)
    dl = np.repeat(dl, 16, axis=1)
    ml = np.repeat(ml, 16, axis=1)
    return (dl * q.astype(F32) - ml).reshape(nb * 256)


def _q3_scales(s):
    """u8 (nb, 12) -> int (nb, 16) in -32..31: low 4 bits from bytes 0..7 (low nibbles for
    scales 0..7, high nibbles for 8..15), high 2 bits from bytes 8..11 (2 bits per scale,
    scale i at byte 8 + i%4, bit position 2*(i//4))."""
    s = s.astype(np.int32)
    low = np.concatenate([s[:, 0:8] & 0xF, s[:, 0:8] >> 4], axis=1)
    high = np.stack([(s[:, 8 + (i % 4)] >> (2 * (i // 4))) & 3 for i in range(16)], axis=1)
    return (low | (high << 4)) - 32


def deq_q3_K(raw):
    nb = raw.shape[0]
    hbits = _bits(raw[:, 0:32]).reshape(nb, 32, 8)  # [block, l, bit]
    # element 128*h + 32*j + l uses bit 4h+j of hmask[l]
    hb = np.concatenate([hbits[:, :, 4 * h + j] for h in range(2) for j in range(4)], axis=1)
    low = np.concatenate([_crumbs(raw[:, 32:64]), _crumbs(raw[:, 64:96])], axis=1)
    q = low - 4 * (1 - hb.astype(np.int32))
    sc = _q3_scales(raw[:, 96:108])
    d = _f16(raw[:, 108:110])[:, None]
    dl = np.repeat(d * sc.astype(F32), 16, axis=1)
    return (dl * q.astype(F32)).reshape(nb * 256)


def _k4_scales(s):
    """u8 (nb, 12) -> (scales, mins) int (nb, 8), 6 bits each.
    j < 4: scale = s[j] & 63, min = s[j+4] & 63;
    j >= 4: scale = (s[j+4] & 15) | (s[j-4] >> 6) << 4, min = (s[j+4] >> 4) | (s[j] >> 6) << 4."""
    s = s.astype(np.int32)
    sc = np.zeros((s.shape[0], 8), np.int32)
    mn = np.zeros((s.shape[0], 8), np.int32)
    sc[:, 0:4] = s[:, 0:4] & 63
    mn[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _k4_values(q, d, dmin, sc, mn):
    dl = np.repeat(d * sc.astype(F32), 32, axis=1)
    ml = np.repeat(dmin * mn.astype(F32), 32, axis=1)
    return dl * q.astype(F32) - ml


def _k4_quants(qs):
    """u8 (nb, 128) -> (nb, 256): chunk c of 32 bytes gives elements 64c..64c+31 (low nibbles)
    and 64c+32..64c+63 (high nibbles)."""
    parts = []
    for c in range(4):
        b = qs[:, 32 * c:32 * c + 32]
        parts += [b & 0xF, b >> 4]
    return np.concatenate(parts, axis=1).astype(np.int32)


def deq_q4_K(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    dmin = _f16(raw[:, 2:4])[:, None]
    sc, mn = _k4_scales(raw[:, 4:16])
    q = _k4_quants(raw[:, 16:144])
    return _k4_values(q, d, dmin, sc, mn).reshape(nb * 256)


def deq_q5_K(raw):
    nb = raw.shape[0]
    d = _f16(raw[:, 0:2])[:, None]
    dmin = _f16(raw[:, 2:4])[:, None]
    sc, mn = _k4_scales(raw[:, 4:16])
    hbits = _bits(raw[:, 16:48]).reshape(nb, 32, 8)  # element 32*s + l uses bit s of qh[l]
    hb = np.concatenate([hbits[:, :, s] for s in range(8)], axis=1).astype(np.int32)
    q = _k4_quants(raw[:, 48:176]) + 16 * hb
    return _k4_values(q, d, dmin, sc, mn).reshape(nb * 256)


def deq_q6_K(raw):
    nb = raw.shape[0]
    ql = raw[:, 0:128]
    qh = raw[:, 128:192]
    sc = raw[:, 192:208].view(np.int8).astype(F32)
    d = _f16(raw[:, 208:210])[:, None]
    parts = []
    for h in range(2):
        lo = ql[:, 64 * h:64 * h + 32]
        hi = ql[:, 64 * h + 32:64 * h + 64]
        hb = qh[:, 32 * h:32 * h + 32]
        # 32-element groups k = 0..3: low(ql[l]), low(ql[l+32]), high(ql[l]), high(ql[l+32]),
        # each with qh bits 2k..2k+1 on top
        nib = [lo & 0xF, hi & 0xF, lo >> 4, hi >> 4]
        for k in range(4):
            parts.append(nib[k].astype(np.int32) | (((hb >> (2 * k)) & 3).astype(np.int32) << 4))
    q = np.concatenate(parts, axis=1) - 32
    dl = np.repeat(d * sc, 16, axis=1)
    return (dl * q.astype(F32)).reshape(nb * 256)


def deq_q8_K(raw):
    nb = raw.shape[0]
    d = np.ascontiguousarray(raw[:, 0:4]).view("<f4").astype(F32)  # (nb, 1)
    q = raw[:, 4:260].view(np.int8).astype(F32)
    return (d * q).reshape(nb * 256)


DEQUANT = {
    "Q4_0": deq_q4_0, "Q4_1": deq_q4_1, "Q5_0": deq_q5_0, "Q5_1": deq_q5_1,
    "Q8_0": deq_q8_0, "Q2_K": deq_q2_K, "Q3_K": deq_q3_K, "Q4_K": deq_q4_K,
    "Q5_K": deq_q5_K, "Q6_K": deq_q6_K, "Q8_K": deq_q8_K,
}


def _f16_bytes(rng, n, scale):
    """n random finite f16 scales, as (n, 2) bytes; magnitudes spread over decades."""
    v = rng.standard_normal(n) * scale * np.exp(rng.uniform(-3, 3, n))
    return np.ascontiguousarray(v.astype(np.float16)).view(np.uint8).reshape(n, 2)


def random_blocks(name, nb, rng):
    """Random bytes for every quant field, with finite random scales at the scale fields."""
    _, _, nbytes = TYPES[name]
    raw = rng.integers(0, 256, size=(nb, nbytes), dtype=np.uint8)
    f16_fields = {
        "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
        "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    }
    for off in f16_fields.get(name, []):
        raw[:, off:off + 2] = _f16_bytes(rng, nb, 0.01)
    if name == "Q8_K":
        d = (rng.standard_normal(nb) * 0.01).astype("<f4")
        raw[:, 0:4] = np.ascontiguousarray(d).view(np.uint8).reshape(nb, 4)
        # the block sums are part of the format: make them consistent
        q = raw[:, 4:260].view(np.int8).astype(np.int32).reshape(nb, 16, 16).sum(axis=2)
        raw[:, 260:292] = np.ascontiguousarray(q.astype("<i2")).view(np.uint8)
    return raw


def self_test():
    """Hand-checked values: Q4_0 with d=1 and q = j%16 gives q-8; Q8_0 with d=0.5 gives q/2."""
    raw = np.zeros((1, 18), np.uint8)
    raw[0, 0:2] = np.frombuffer(np.float16(1.0).tobytes(), np.uint8)
    raw[0, 2:18] = [j | ((15 - j) << 4) for j in range(16)]
    exp = [j - 8 for j in range(16)] + [15 - j - 8 for j in range(16)]
    assert np.array_equal(deq_q4_0(raw), np.array(exp, F32))
    raw = np.zeros((1, 34), np.uint8)
    raw[0, 0:2] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    raw[0, 2:34] = np.arange(-16, 16, dtype=np.int8).view(np.uint8)
    assert np.array_equal(deq_q8_0(raw), np.arange(-16, 16).astype(F32) * F32(0.5))


def main():
    self_test()
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "..", "tests", "fixtures", "quant", "blocks.bin")
    rng = np.random.default_rng(20250401)
    chunks = [b"WHQB", struct.pack("<II", 1, len(TYPES))]
    for name, (gid, elems, nbytes) in TYPES.items():
        nb = 16 if elems == 32 else 6
        raw = random_blocks(name, nb, rng)
        val = DEQUANT[name](raw).astype("<f4")
        assert val.shape == (nb * elems,) and np.all(np.isfinite(val))
        chunks.append(struct.pack("<IIII", gid, nb, nbytes, elems))
        chunks.append(raw.tobytes())
        chunks.append(val.tobytes())
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(b"".join(chunks))
    print("wrote %s (%d types)" % (out, len(TYPES)))


if __name__ == "__main__":
    main()
