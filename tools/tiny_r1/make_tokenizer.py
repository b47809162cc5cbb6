#!/usr/bin/env python3
"""make_tokenizer.py - trains the small byte-level BPE vocabulary of whale's tiny R1
model on its task corpus and writes a Hugging Face tokenizer.json + tokenizer_config.json.

Design: 256 byte tokens (GPT-2 byte-to-unicode alphabet) + learned merges + the DeepSeek
R1 markers as added tokens, so whale recognises the R1 chat format from the vocabulary.
Digits are always single tokens (the pre-tokenizer isolates every digit): a model this
small learns column arithmetic far better digit by digit.

usage: make_tokenizer.py CORPUS.txt OUT_DIR [--merges N]
CORPUS: one document per line (JSON-escaped or raw text; added tokens are skipped).
"""
import json
import os
import re
import sys
from collections import Counter

ADDED = [  # (content, special): BOS/EOS special; chat markers non-special as in R1
    ("<｜begin▁of▁sentence｜>", False),
    ("<｜end▁of▁sentence｜>", True),
    ("<｜User｜>", False),
    ("<｜Assistant｜>", False),
    ("<think>", False),
    ("</think>", False),
]
# Split pattern (HF regex syntax) and its ASCII twin for training here
PAT_HF = r" ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
PAT_PY = re.compile(r" ?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def byte_alphabet():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + \
        list(range(0xAE, 0x100))
    m, extra = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + extra)
            extra += 1
    return m


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    corpus, out = sys.argv[1], sys.argv[2]
    n_merges = 160
    if "--merges" in sys.argv:
        n_merges = int(sys.argv[sys.argv.index("--merges") + 1])
    alpha = byte_alphabet()
    split_added = re.compile("|".join(re.escape(a) for a, _ in ADDED))
    words = Counter()
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            for piece in split_added.split(line):
                for w in PAT_PY.findall(piece):
                    words[tuple(alpha[b] for b in w.encode("utf-8"))] += 1
    vocab = {alpha[b]: i for i, b in enumerate(sorted(range(256), key=lambda b: ord(alpha[b])))}
    merges = []
    seqs = {w: list(w) for w in words}
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), cnt = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if cnt < 2:
            break
        merges.append(f"{a} {b}")
        vocab[a + b] = len(vocab)
        for w in words:
            s = seqs[w]
            i, t = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    t.append(a + b)
                    i += 2
                else:
                    t.append(s[i])
                    i += 1
            seqs[w] = t
    added = []
    for content, special in ADDED:
        added.append({"id": len(vocab) + len(added), "content": content, "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": special})
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PAT_HF}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": merges},
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    cfg = {"add_bos_token": False, "add_eos_token": False,
           "bos_token": ADDED[0][0], "eos_token": ADDED[1][0],
           "model_max_length": 4096, "tokenizer_class": "LlamaTokenizerFast"}
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    print(f"make_tokenizer: {len(vocab)} BPE tokens ({len(merges)} merges) + {len(added)} "
          f"added = {len(vocab) + len(added)} ids -> {out}")


if __name__ == "__main__":
    main()
