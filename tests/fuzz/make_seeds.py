#!/usr/bin/env python3
"""make_seeds.py — writes the seed corpora of the fuzz targets, tests/fuzz/corpus/<target>/.

Run from the repository root: python3 tests/fuzz/make_seeds.py. The seeds are committed;
this script documents how they were made and regenerates them. Sources: small files
written here (a tiny valid llama GGUF model, GGUFs with every value type, safetensors
files), the fixtures' config.json files, and vocabularies cut down from
../shared/testdata/tokenizer (the first ids and the merges among them).
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
TD = os.path.join(os.path.dirname(ROOT), "shared", "testdata", "tokenizer")


def save(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- GGUF ----
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def gstr(s, v=3):
    b = s.encode() if isinstance(s, str) else s
    return (struct.pack("<I", len(b)) if v == 1 else struct.pack("<Q", len(b))) + b


def gval(t, x, v=3):
    fmt = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
           BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
    if t == STR:
        return gstr(x, v)
    if t == ARR:
        et, items = x
        n = struct.pack("<I", len(items)) if v == 1 else struct.pack("<Q", len(items))
        return struct.pack("<I", et) + n + b"".join(gval(et, i, v) for i in items)
    return struct.pack(fmt[t], x)


def gguf(kvs, tensors, v=3, align=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne, ggml_type, data bytes)]."""
    out = b"GGUF" + struct.pack("<I", v)
    out += struct.pack("<II", len(tensors), len(kvs)) if v == 1 else \
        struct.pack("<QQ", len(tensors), len(kvs))
    for k, t, x in kvs:
        out += gstr(k, v) + struct.pack("<I", t) + gval(t, x, v)
    off = 0
    infos, blobs = b"", b""
    for name, ne, gt, data in tensors:
        infos += gstr(name, v) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<I", gt) + struct.pack("<Q", off)
        pad = (-len(data)) % align
        blobs += data + b"\0" * pad
        off += len(data) + pad
    out += infos
    out += b"\0" * ((-len(out)) % align)
    return out + blobs


def f32(n, seed=1):
    return b"".join(struct.pack("<f", ((i * 37 + seed) % 17 - 8) / 16.0) for i in range(n))


def f16(n, seed=1):
    return b"".join(struct.pack("<e", ((i * 37 + seed) % 17 - 8) / 16.0) for i in range(n))


def tiny_llama(arch="llama", v=3):
    H, F, V, NH, NKV, HD = 8, 16, 32, 2, 1, 4
    toks = [chr(c) for c in range(ord("a"), ord("a") + 26)] + ["Ġ", "ab", "Ġa", "<s>", "</s>", "<think>"]
    types = [1] * 29 + [3, 3, 4]
    kvs = [("general.architecture", STR, arch), ("general.name", STR, "tiny"),
           (arch + ".block_count", U32, 1), (arch + ".context_length", U32, 64),
           (arch + ".embedding_length", U32, H), (arch + ".feed_forward_length", U32, F),
           (arch + ".attention.head_count", U32, NH), (arch + ".attention.head_count_kv", U32, NKV),
           (arch + ".rope.freq_base", F32, 10000.0),
           (arch + ".attention.layer_norm_rms_epsilon", F32, 1e-5),
           ("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.pre", STR, "deepseek-v3"),
           ("tokenizer.ggml.tokens", ARR, (STR, toks)), ("tokenizer.ggml.token_type", ARR, (I32, types)),
           ("tokenizer.ggml.merges", ARR, (STR, ["a b", "Ġ a"])),
           ("tokenizer.ggml.bos_token_id", U32, 29), ("tokenizer.ggml.eos_token_id", U32, 30),
           ("tokenizer.ggml.add_bos_token", BOOL, 1),
           ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m.content }}{% endfor %}")]
    t = [("token_embd.weight", [H, V], 1, f16(H * V)), ("output_norm.weight", [H], 0, f32(H)),
         ("blk.0.attn_norm.weight", [H], 0, f32(H)), ("blk.0.ffn_norm.weight", [H], 0, f32(H)),
         ("blk.0.attn_q.weight", [H, NH * HD], 0, f32(H * NH * HD)),
         ("blk.0.attn_k.weight", [H, NKV * HD], 0, f32(H * NKV * HD)),
         ("blk.0.attn_v.weight", [H, NKV * HD], 1, f16(H * NKV * HD)),
         ("blk.0.attn_output.weight", [NH * HD, H], 0, f32(H * NH * HD)),
         ("blk.0.ffn_gate.weight", [H, F], 0, f32(H * F)), ("blk.0.ffn_up.weight", [H, F], 0, f32(H * F)),
         ("blk.0.ffn_down.weight", [F, H], 0, f32(H * F))]
    if arch == "qwen2":
        t += [("blk.0.attn_q.bias", [NH * HD], 0, f32(NH * HD)), ("blk.0.attn_k.bias", [NKV * HD], 0, f32(NKV * HD)),
              ("blk.0.attn_v.bias", [NKV * HD], 0, f32(NKV * HD)), ("output.weight", [H, V], 0, f32(H * V))]
    return gguf(kvs, t, v)


def every_type(v=3):
    kvs = [("u8", U8, 200), ("i8", I8, -5), ("u16", U16, 60000), ("i16", I16, -300),
           ("u32", U32, 1 << 31), ("i32", I32, -7), ("f32", F32, 0.5), ("bool", BOOL, 1),
           ("str", STR, "h\u00e9llo"), ("u64", U64, 1 << 40), ("i64", I64, -(1 << 40)), ("f64", F64, 2.5),
           ("arr.i32", ARR, (I32, [1, 2, 3])), ("arr.str", ARR, (STR, ["a", "", "bc"])),
           ("arr.arr", ARR, (ARR, [(U8, [1, 2]), (STR, ["x"])])), ("general.alignment", U32, 64)]
    t = [("a", [4], 0, f32(4)), ("b", [32, 2], 8, bytes(68)), ("c", [0, 3], 0, b""),
         ("d", [2, 2, 2, 2], 30, bytes(32))]
    return gguf(kvs, t, v, align=64)


def seeds_gguf():
    save("fuzz_gguf", "tiny-llama.gguf", tiny_llama("llama"))
    save("fuzz_gguf", "tiny-qwen2.gguf", tiny_llama("qwen2"))
    save("fuzz_gguf", "every-type-v3.gguf", every_type(3))
    save("fuzz_gguf", "every-type-v2.gguf", every_type(2))
    save("fuzz_gguf", "every-type-v1.gguf", every_type(1))
    save("fuzz_gguf", "empty.gguf", gguf([], []))
    # the metadata of a real deepseek2 file (no tensors): every key the MLA mapping reads
    with open(os.path.join(ROOT, "tests", "fixtures", "dsv2-lite.gguf"), "rb") as f:
        d = f.read(4096)
    save("fuzz_gguf", "dsv2-lite-head.gguf", d)
    with open(os.path.join(ROOT, "tests", "fixtures", "dsv3.gguf"), "rb") as f:
        d = f.read(4096)
    save("fuzz_gguf", "dsv3-head.gguf", d)


# ---- safetensors ----
def st(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def seeds_safetensors():
    save("fuzz_safetensors", "f32-bf16.safetensors",
         st({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
             "b": {"dtype": "BF16", "shape": [4], "data_offsets": [16, 24]}}, bytes(24)))
    save("fuzz_safetensors", "fp8-scale.safetensors",
         st({"w.weight": {"dtype": "F8_E4M3", "shape": [2, 3], "data_offsets": [0, 6]},
             "w.weight_scale_inv": {"dtype": "F32", "shape": [1, 1], "data_offsets": [8, 12]}}, bytes(12)))
    save("fuzz_safetensors", "every-dtype.safetensors",
         st({n: {"dtype": n, "shape": [2], "data_offsets": [8 * i, 8 * i + 2 * s]}
             for i, (n, s) in enumerate([("F16", 2), ("I8", 1), ("I16", 2), ("I32", 4), ("I64", 8),
                                         ("F64", 8), ("U8", 1), ("BOOL", 1)])}, bytes(128)))
    save("fuzz_safetensors", "scalar-empty.safetensors",
         st({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
             "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]}}, bytes(4)))
    save("fuzz_safetensors", "overlap.safetensors",
         st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
    with open(os.path.join(ROOT, "tests", "fixtures", "qwen2", "model.safetensors"), "rb") as f:
        save("fuzz_safetensors", "qwen2-head.safetensors", f.read(4096))


def seeds_st_index():
    save("fuzz_st_index", "valid.json", json.dumps(
        {"metadata": {"total_size": 24}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors",
                                                        "z": "b.safetensors"}}))
    save("fuzz_st_index", "missing.json", json.dumps({"weight_map": {"x": "b.safetensors"}}))
    save("fuzz_st_index", "escape.json", json.dumps({"weight_map": {"x": "../a.safetensors"}}))
    save("fuzz_st_index", "subdir.json", json.dumps({"weight_map": {"x": "sub/a.safetensors"}}))


def seeds_config():
    fx = os.path.join(ROOT, "tests", "fixtures")
    for d in sorted(os.listdir(fx)):
        p = os.path.join(fx, d, "config.json")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                save("fuzz_config", d + ".json", f.read())


# ---- tokenizers ----
def small_tokenizer_json(src, n_ids):
    with open(src, encoding="utf-8") as f:
        d = json.load(f)
    vocab = {k: v for k, v in d["model"]["vocab"].items() if v < n_ids}
    merges = []
    for m in d["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    d["model"]["vocab"] = vocab
    d["model"]["merges"] = merges
    d["added_tokens"] = [t for t in d["added_tokens"] if t["id"] < n_ids + 4000][:12]
    d = {k: v for k, v in d.items() if k in ("version", "added_tokens", "normalizer", "pre_tokenizer",
                                             "post_processor", "decoder", "model")}
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode()


def seeds_tokenizer_json():
    for name, n in [("deepseek-v3", 400), ("qwen", 400), ("deepseek-r1", 300)]:
        p = os.path.join(TD, name, "tokenizer.json")
        if not os.path.isfile(p):
            continue
        data = small_tokenizer_json(p, n)
        cfg = os.path.join(TD, name, "tokenizer_config.json")
        if os.path.isfile(cfg):
            with open(cfg, "rb") as f:
                c = json.load(f)
            c.pop("chat_template", None)
            data += b"\xff" + json.dumps(c).encode()
        save("fuzz_tokenizer_json", name + ".json", data)
    save("fuzz_tokenizer_json", "minimal.json", json.dumps(
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
         "added_tokens": [{"id": 3, "content": "<s>", "special": True}],
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
         "normalizer": {"type": "NFC"}}))


def gguf_strings(path):
    """tokens, token_type, merges of a GGUF vocabulary file (v2/v3)."""
    with open(path, "rb") as f:
        d = f.read()
    v, nt, nkv = struct.unpack_from("<IQQ", d, 4)
    pos = 24
    out = {}

    def rs(p):
        n, = struct.unpack_from("<Q", d, p)
        return d[p + 8:p + 8 + n], p + 8 + n

    sizes = {U8: 1, I8: 1, U16: 2, I16: 2, U32: 4, I32: 4, F32: 4, BOOL: 1, U64: 8, I64: 8, F64: 8}
    for _ in range(nkv):
        k, pos = rs(pos)
        t, = struct.unpack_from("<I", d, pos)
        pos += 4
        if t == STR:
            s, pos = rs(pos)
            out[k.decode()] = s
        elif t == ARR:
            et, n = struct.unpack_from("<IQ", d, pos)
            pos += 12
            if et == STR:
                items = []
                for _ in range(n):
                    s, pos = rs(pos)
                    items.append(s)
                out[k.decode()] = items
            else:
                out[k.decode()] = [struct.unpack_from("<i", d, pos + 4 * i)[0] for i in range(n)] \
                    if et == I32 else None
                pos += n * sizes[et]
        else:
            pos += sizes[t]
    return out


def seeds_gguf_vocab():
    p = os.path.join(TD, "ggml-vocab-deepseek-coder.gguf")
    g = gguf_strings(p)
    toks = g["tokenizer.ggml.tokens"]
    types = g.get("tokenizer.ggml.token_type") or [1] * len(toks)
    keep = set(range(300))
    # the control tokens too (they sit at the end of the vocabulary)
    ctl = [i for i, t in enumerate(types) if t in (3, 4)][:8]
    ids = sorted(keep) + ctl
    have = {toks[i] for i in ids}
    merges = [m for m in g.get("tokenizer.ggml.merges", [])
              if b" " in m and m.split(b" ", 1)[0] in have and m.split(b" ", 1)[1] in have
              and m.replace(b" ", b"", 1) in have][:200]
    body = b"\0".join(bytes([types[i] % 8 or 1]) + toks[i] for i in ids) + b"\0\0" + b"\0".join(merges)
    pre = g.get("tokenizer.ggml.pre", b"deepseek-coder")
    save("fuzz_gguf_vocab", "coder-flags-all", bytes([1 | 2 | 4 | 8 | 16 | 32, 10, 11]) + pre + b"\0" + body)
    save("fuzz_gguf_vocab", "coder-no-types", bytes([2 | 8, 1, 2]) + body)
    save("fuzz_gguf_vocab", "tiny", bytes([1 | 2 | 4, 0, 0]) + b"deepseek-v3\0\x01a\0\x01b\0\x01ab\0\x03<s>\0\0a b")
    save("fuzz_gguf_vocab", "bad-model", bytes([64, 0, 0]) + b"llama\0\x01a\0")


def seeds_encode():
    p = os.path.join(TD, "deepseek-v3", "cases.jsonl")
    with open(p, encoding="utf-8") as f:
        cases = [json.loads(line)["text"] for line in f if line.strip()]
    cases = [t for t in cases if len(t.encode("utf-8", "surrogatepass")) <= 2048]
    for i, t in enumerate(cases[:40]):
        save("fuzz_encode", "case%02d" % i, t.encode("utf-8", "surrogatepass"))
    save("fuzz_encode", "invalid-utf8", b"a\xff\xfe\xc3(\xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf z")
    save("fuzz_encode", "specials", "<｜begin▁of▁sentence｜>x<｜User｜>hi<think>\n</think>\n\n<｜end▁of▁sentence｜>")
    save("fuzz_encode", "spaces-digits", b"   \t\n\n12345678 \r\n  x  " + "１２３ 漢字かなカナ".encode())


def chat_msg(role, content, flags=0, reasoning=None, calls=()):
    flags |= (len(calls) << 2)
    if reasoning is not None:
        flags |= 2
    b = bytes([role, flags]) + content.encode() + b"\0"
    if reasoning is not None:
        b += reasoning.encode() + b"\0"
    for t, n, a in calls:
        b += t.encode() + b"\0" + n.encode() + b"\0" + a.encode() + b"\0"
    return b


def seeds_chat():
    save("fuzz_chat", "basic", bytes([1]) + chat_msg(0, "You are helpful.") + chat_msg(1, "Hi") +
         chat_msg(2, "<think>x</think>Hello", reasoning="x") + chat_msg(1, "Again"))
    save("fuzz_chat", "tools", bytes([3]) + chat_msg(1, "weather?") +
         chat_msg(2, "", flags=1, calls=[("function", "get_weather", "{\"city\":\"Paris\"}"),
                                          ("function", "get_time", "{}")]) +
         chat_msg(3, "{\"t\":20}") + chat_msg(3, "{\"h\":1}") + chat_msg(2, "Sunny."))
    save("fuzz_chat", "bad-role", bytes([0]) + chat_msg(4, "x") + chat_msg(5, "y"))
    save("fuzz_chat", "template", b"\x05{% if not add_generation_prompt is defined %}"
         b"<\xef\xbd\x9cAssistant\xef\xbd\x9c><think>\\n{% endif %}")


def seeds_api():
    save("fuzz_api", "chat", json.dumps({"model": "x", "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 16, "temperature": 0.6,
        "top_p": 0.9, "top_k": 5, "min_p": 0.1, "seed": 42, "stop": ["\n\n", "END"],
        "logit_bias": {"5": -100, "7": 2.5}, "presence_penalty": 0.5, "frequency_penalty": 0.1,
        "repetition_penalty": 1.1, "think_budget": 8, "n": 2}))
    save("fuzz_api", "tools", json.dumps({"messages": [
        {"role": "user", "content": "w?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}))
    save("fuzz_api", "completion", json.dumps({"prompt": "Once upon", "max_tokens": 5, "stop": "x",
                                               "echo": False, "seed": 1}))
    save("fuzz_api", "bad", b"{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}], \"n\": 99}")
    save("fuzz_api", "nested", b"[" * 40 + b"]" * 40)


if __name__ == "__main__":
    for fn in (seeds_gguf, seeds_safetensors, seeds_st_index, seeds_config, seeds_tokenizer_json,
               seeds_gguf_vocab, seeds_encode, seeds_chat, seeds_api):
        fn()
    sys.exit(0)
