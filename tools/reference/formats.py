# whale reference oracle -- file formats (MIT License, part of the whale project).
#
# Small self-contained writers/readers for the formats the fixtures use:
#   * number encodings: bf16 / f16 rounding, FP8 E4M3FN encode/decode, 128x128 block FP8
#     quantization (DeepSeek-V3 release layout), GGML Q8_0 blocks;
#   * safetensors (single file + sharded index);
#   * GGUF v3;
#   * the .whfx expected-output format (docs/FIXTURE_FORMAT.md).
# Everything is written from the format descriptions with struct/numpy only.

import json
import struct

import numpy as np

# ----------------------------------------------------------------------------------------
# number formats
# ----------------------------------------------------------------------------------------


def f32_to_bf16_bits(x):
    """Round float32 -> bfloat16 (round to nearest, ties to even); returns uint16 bits."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_bf16(x):
    return bf16_bits_to_f32(f32_to_bf16_bits(x)).reshape(np.shape(x))


def round_f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


# FP8 E4M3FN: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits, no infinities,
# S.1111.111 is NaN, largest finite value 448, subnormals 2^-6 * m/8.
def _fp8_e4m3_table():
    vals = np.zeros(256, dtype=np.float64)
    for code in range(256):
        s = -1.0 if code & 0x80 else 1.0
        e = (code >> 3) & 0xF
        m = code & 0x7
        if e == 0xF and m == 0x7:
            vals[code] = np.nan
        elif e == 0:
            vals[code] = s * (m / 8.0) * 2.0 ** -6
        else:
            vals[code] = s * (1.0 + m / 8.0) * 2.0 ** (e - 7)
    return vals


FP8_TABLE = _fp8_e4m3_table()
FP8_MAX = 448.0
_FP8_POS = FP8_TABLE[:127]  # codes 0..126: 0 .. 448, strictly increasing


def fp8_e4m3_decode(codes):
    return FP8_TABLE[np.asarray(codes, dtype=np.uint8)].astype(np.float32)


def fp8_e4m3_encode(x):
    """float -> E4M3FN codes, round to nearest, ties to even code; saturates at +-448."""
    x = np.asarray(x, dtype=np.float64)
    a = np.minimum(np.abs(x), FP8_MAX)
    hi = np.searchsorted(_FP8_POS, a, side="left")  # first value >= a
    hi = np.minimum(hi, 126)
    lo = np.maximum(hi - 1, 0)
    dlo = a - _FP8_POS[lo]
    dhi = _FP8_POS[hi] - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo).astype(np.uint8)
    code = np.where(a == _FP8_POS[hi], hi, code).astype(np.uint8)
    code = code | np.where(np.signbit(x), 0x80, 0).astype(np.uint8)
    return code


def fp8_block_quantize(w, block=128):
    """DeepSeek-V3 style weight quantization: per 128x128 block scale_inv = amax/448,
    stored fp8 = e4m3(w / scale_inv). Returns (codes uint8 [out,in], scale_inv f32
    [ceil(out/128), ceil(in/128)], dequantized f32 [out,in])."""
    w = np.asarray(w, dtype=np.float32)
    out_dim, in_dim = w.shape
    nb_o, nb_i = -(-out_dim // block), -(-in_dim // block)
    scale = np.zeros((nb_o, nb_i), dtype=np.float32)
    codes = np.zeros(w.shape, dtype=np.uint8)
    deq = np.zeros(w.shape, dtype=np.float32)
    for bo in range(nb_o):
        for bi in range(nb_i):
            blk = w[bo * block:(bo + 1) * block, bi * block:(bi + 1) * block]
            s = np.float32(np.abs(blk).max()) / np.float32(FP8_MAX)
            if s == 0:
                s = np.float32(1.0)
            scale[bo, bi] = s
            c = fp8_e4m3_encode(blk.astype(np.float32) / s)
            codes[bo * block:(bo + 1) * block, bi * block:(bi + 1) * block] = c
            deq[bo * block:(bo + 1) * block, bi * block:(bi + 1) * block] = fp8_e4m3_decode(c) * s
    return codes, scale, deq


def fp8_block_dequantize(codes, scale, block=128):
    vals = fp8_e4m3_decode(codes)
    s = np.repeat(np.repeat(scale, block, axis=0), block, axis=1)[:codes.shape[0], :codes.shape[1]]
    return (vals * s).astype(np.float32)


QK8_0 = 32


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def q8_0_quantize(x):
    """x: float32 array whose last dim is a multiple of 32 (rows contiguous).
    Returns (raw bytes of the Q8_0 blocks, dequantized float32 array of x's shape)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.shape[-1] % QK8_0 == 0
    blocks = x.reshape(-1, QK8_0)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    inv = np.where(d > 0, np.float32(1.0) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = _round_half_away((blocks * inv[:, None]).astype(np.float32)).astype(np.int8)
    d16 = d.astype(np.float16)
    raw = np.zeros((blocks.shape[0], 34), dtype=np.uint8)
    raw[:, 0:2] = d16.view(np.uint8).reshape(-1, 2)
    raw[:, 2:] = q.view(np.uint8)
    deq = (d16.astype(np.float32)[:, None] * q.astype(np.float32)).reshape(x.shape)
    return raw.tobytes(), deq.astype(np.float32)


def q8_0_dequantize(raw, shape):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    q = b[:, 2:].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(shape)


# ----------------------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------------------

ST_DTYPE_SIZE = {"F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1}


def st_tensor(dtype, arr):
    """Build a (dtype, shape, bytes) record; arr holds values (F32/F16) or raw codes
    (BF16 as uint16 bits, F8_E4M3 as uint8 codes)."""
    arr = np.ascontiguousarray(arr)
    if dtype == "F32":
        data = arr.astype("<f4").tobytes()
    elif dtype == "F16":
        data = arr.astype("<f2").tobytes()
    elif dtype == "BF16":
        assert arr.dtype == np.uint16
        data = arr.astype("<u2").tobytes()
    elif dtype == "F8_E4M3":
        assert arr.dtype == np.uint8
        data = arr.tobytes()
    else:
        raise ValueError(dtype)
    return (dtype, list(arr.shape), data)


def write_safetensors(path, tensors):
    """tensors: dict name -> (dtype, shape, bytes). Returns total tensor data bytes."""
    header = {}
    off = 0
    names = sorted(tensors)
    for n in names:
        dt, shape, data = tensors[n]
        assert len(data) == ST_DTYPE_SIZE[dt] * int(np.prod(shape, dtype=np.int64))
        header[n] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for n in names:
            f.write(tensors[n][2])
    return off


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], buf[base + b:base + e])
    return out, header.get("__metadata__")


def st_decode(dtype, shape, data):
    """Decode a safetensors record to float32 values."""
    if dtype == "F32":
        a = np.frombuffer(data, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(data, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        a = bf16_bits_to_f32(np.frombuffer(data, dtype="<u2"))
    elif dtype == "F8_E4M3":
        a = fp8_e4m3_decode(np.frombuffer(data, dtype=np.uint8))
    else:
        raise ValueError(dtype)
    return a.reshape(shape).astype(np.float32)


# ----------------------------------------------------------------------------------------
# GGUF v3
# ----------------------------------------------------------------------------------------

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL = 0, 1, 2, 3, 4, 5, 6, 7
GGUF_STR, GGUF_ARR, GGUF_U64, GGUF_I64, GGUF_F64 = 8, 9, 10, 11, 12
_GGUF_SCALAR = {GGUF_U8: "<B", GGUF_I8: "<b", GGUF_U16: "<H", GGUF_I16: "<h", GGUF_U32: "<I",
                GGUF_I32: "<i", GGUF_F32: "<f", GGUF_BOOL: "<?", GGUF_U64: "<Q", GGUF_I64: "<q",
                GGUF_F64: "<d"}

GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16 = 0, 1, 8, 30
GGUF_ALIGN = 32


def _gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _gval(vtype, v):
    if vtype == GGUF_STR:
        return _gstr(v)
    if vtype == GGUF_ARR:
        etype, items = v
        out = struct.pack("<IQ", etype, len(items))
        return out + b"".join(_gval(etype, it) for it in items)
    return struct.pack(_GGUF_SCALAR[vtype], v)


def gguf_tensor(ggml_type, arr_torch_order):
    """Build a GGUF tensor record from an array in torch (row-major, outermost-first) order.
    ne is the reversed shape. Returns dict(type, ne, data, values) where values is the
    float32 array the file represents (dequantized), in torch order."""
    a = np.ascontiguousarray(arr_torch_order, dtype=np.float32)
    ne = list(reversed(a.shape))
    if ggml_type == GGML_F32:
        data, vals = a.astype("<f4").tobytes(), a
    elif ggml_type == GGML_F16:
        h = a.astype("<f2")
        data, vals = h.tobytes(), h.astype(np.float32)
    elif ggml_type == GGML_BF16:
        bits = f32_to_bf16_bits(a)
        data, vals = bits.astype("<u2").tobytes(), bf16_bits_to_f32(bits).reshape(a.shape)
    elif ggml_type == GGML_Q8_0:
        data, vals = q8_0_quantize(a)
    else:
        raise ValueError(ggml_type)
    return {"type": ggml_type, "ne": ne, "data": data, "values": vals}


def write_gguf(path, kvs, tensors):
    """kvs: list of (key, vtype, value) (arrays: value=(elem_type, list)).
    tensors: list of (name, record from gguf_tensor)."""
    out = bytearray()
    out += b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, vt, v in kvs:
        out += _gstr(k) + struct.pack("<I", vt) + _gval(vt, v)
    off = 0
    offsets = []
    for name, t in tensors:
        offsets.append(off)
        out += _gstr(name) + struct.pack("<I", len(t["ne"]))
        out += b"".join(struct.pack("<Q", n) for n in t["ne"])
        out += struct.pack("<IQ", t["type"], off)
        off += len(t["data"])
        off += (-off) % GGUF_ALIGN
    out += b"\0" * ((-len(out)) % GGUF_ALIGN)
    base = len(out)
    for (name, t), o in zip(tensors, offsets):
        assert len(out) == base + o
        out += t["data"]
        out += b"\0" * ((-len(out)) % GGUF_ALIGN)
    with open(path, "wb") as f:
        f.write(out)


def read_gguf(path):
    """Parse a GGUF v3 file. Returns (kv dict key->value, tensors dict name->(type, ne, bytes))."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def rstr():
        nonlocal pos
        n = rd("<Q")
        s = buf[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def rval(vt):
        if vt == GGUF_STR:
            return rstr()
        if vt == GGUF_ARR:
            et = rd("<I")
            n = rd("<Q")
            return [rval(et) for _ in range(n)]
        return rd(_GGUF_SCALAR[vt])

    assert buf[:4] == b"GGUF"
    pos = 4
    version = rd("<I")
    assert version == 3
    nt, nkv = rd("<Q"), rd("<Q")
    kv = {}
    for _ in range(nkv):
        k = rstr()
        vt = rd("<I")
        kv[k] = rval(vt)
    infos = []
    for _ in range(nt):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        tt = rd("<I")
        off = rd("<Q")
        infos.append((name, ne, tt, off))
    align = kv.get("general.alignment", GGUF_ALIGN)
    base = pos + ((-pos) % align)
    tensors = {}
    for name, ne, tt, off in infos:
        assert off % align == 0
        n = int(np.prod(ne, dtype=np.int64))
        size = {GGML_F32: 4 * n, GGML_F16: 2 * n, GGML_BF16: 2 * n, GGML_Q8_0: n // 32 * 34}[tt]
        tensors[name] = (tt, ne, buf[base + off:base + off + size])
    return kv, tensors


def gguf_decode(tt, ne, data):
    shape = list(reversed(ne))
    if tt == GGML_F32:
        return np.frombuffer(data, dtype="<f4").reshape(shape).astype(np.float32)
    if tt == GGML_F16:
        return np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(shape)
    if tt == GGML_BF16:
        return bf16_bits_to_f32(np.frombuffer(data, dtype="<u2")).reshape(shape)
    if tt == GGML_Q8_0:
        return q8_0_dequantize(data, shape)
    raise ValueError(tt)


def gpt2_byte_tokens():
    """The GPT-2 byte -> printable unicode character mapping, as 256 one-char strings
    (token i is the character for byte i)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    toks = [mapping[b] for b in range(256)]
    assert len(set(toks)) == 256
    return toks


def gguf_tokenizer_kvs(vocab, bos, eos):
    assert vocab == 256
    toks = gpt2_byte_tokens()
    # a byte-level vocabulary of exactly the 256 byte tokens has no room for a merged
    # token, so it has no merges (a merge whose result is not a token is invalid)
    merges = []
    return [
        ("tokenizer.ggml.model", GGUF_STR, "gpt2"),
        ("tokenizer.ggml.pre", GGUF_STR, "default"),
        ("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, toks)),
        ("tokenizer.ggml.token_type", GGUF_ARR, (GGUF_I32, [1] * vocab)),
        ("tokenizer.ggml.merges", GGUF_ARR, (GGUF_STR, merges)),
        ("tokenizer.ggml.bos_token_id", GGUF_U32, bos),
        ("tokenizer.ggml.eos_token_id", GGUF_U32, eos),
    ]


# ----------------------------------------------------------------------------------------
# .whfx expected outputs (docs/FIXTURE_FORMAT.md)
# ----------------------------------------------------------------------------------------


def write_whfx(path, tokens, logits, gen, moe_layers, top_k, n_bias_changed):
    """moe_layers: list of (layer_index, int array [T][top_k] sorted ascending)."""
    tokens = np.asarray(tokens, dtype="<i4")
    logits = np.ascontiguousarray(logits, dtype="<f4")
    T, V = logits.shape
    assert tokens.shape == (T,)
    out = bytearray(b"WHFX")
    out += struct.pack("<III", 1, T, V)
    out += tokens.tobytes() + logits.tobytes()
    out += struct.pack("<I", len(gen)) + np.asarray(gen, dtype="<i4").tobytes()
    out += struct.pack("<II", len(moe_layers), top_k if moe_layers else 0)
    for li, sel in moe_layers:
        sel = np.asarray(sel, dtype="<i4")
        assert sel.shape == (T, top_k)
        assert (np.diff(sel, axis=1) > 0).all()
        out += struct.pack("<I", li) + sel.tobytes()
    out += struct.pack("<I", n_bias_changed)
    with open(path, "wb") as f:
        f.write(out)


def read_whfx(path):
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:4] == b"WHFX"
    version, T, V = struct.unpack_from("<III", buf, 4)
    assert version == 1
    pos = 16
    tokens = np.frombuffer(buf, "<i4", T, pos); pos += 4 * T
    logits = np.frombuffer(buf, "<f4", T * V, pos).reshape(T, V); pos += 4 * T * V
    (G,) = struct.unpack_from("<I", buf, pos); pos += 4
    gen = np.frombuffer(buf, "<i4", G, pos); pos += 4 * G
    M, K = struct.unpack_from("<II", buf, pos); pos += 8
    layers = []
    for _ in range(M):
        (li,) = struct.unpack_from("<I", buf, pos); pos += 4
        sel = np.frombuffer(buf, "<i4", T * K, pos).reshape(T, K); pos += 4 * T * K
        layers.append((li, sel))
    (nb,) = struct.unpack_from("<I", buf, pos); pos += 4
    assert pos == len(buf)
    return {"tokens": tokens, "logits": logits, "gen": gen, "top_k": K, "moe": layers,
            "n_bias_changed": nb}
