#!/usr/bin/env python3
"""make_tok_corpus.py — the mixed text for bench/tok_bench.sh (tokenizer speed).

Writes SIZE bytes (default 4 MiB) of UTF-8 text mixing, in blocks of 1-8 KiB:
  prose   English sentences from a word-level Markov chain trained on the repo's
          Markdown files (docs/, README.md, tools/**/README.md)           ~35 %
  code    slices of the repo's C/Python sources (src/, tests/, bench/, tools/) ~30 %
  chinese generated Chinese sentences (common words, CJK punctuation, some
          Latin words and digits mixed in)                                  ~15 %
  numbers CSV rows, decimals, dates, hex, phone-like numbers, long digit runs ~12 %
  cases   the test strings of ../shared/testdata/tokenizer/deepseek-v3/cases.jsonl
          (when present; multilingual, emoji, whitespace runs)             ~8 %
Deterministic: fixed seed, files read in sorted order from a pinned commit (REF below),
so the text is the same in every checkout that has that commit.
Control characters other than \\t and \\n are dropped so that every vocabulary,
DeepSeek LLM's included, has BPE tokens for every byte of the text. Lines that spell a
DeepSeek added token ("<\uff5c...\uff5c>", e.g. <\uff5cfim\u2581begin\uff5c>) are dropped: HF and whale
always split out the non-special ones, llama.cpp makes the FIM ones control tokens (not
split without parse_special), a known difference that has nothing to do with speed.

usage: make_tok_corpus.py OUT [SIZE_BYTES]
"""
import fnmatch
import glob
import io
import json
import os
import random
import subprocess
import sys
import tarfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CASES = os.path.join(ROOT, "..", "shared", "testdata", "tokenizer", "deepseek-v3", "cases.jsonl")


def clean(s):
    return "".join(c for c in s if c in "\t\n" or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0))


# The repo text comes from this commit (git archive), so that the corpus stays the same
# byte for byte while the tree changes; without git (or the commit) the working tree's
# files are used and the sha256 that tok_bench.sh prints will differ.
REF = "c26423b48b4dcd663f3a2a45b4c110dc378e5a8d"
_TREE = None


def tree():
    global _TREE
    if _TREE is None:
        _TREE = {}
        try:
            tar = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", REF],
                                 capture_output=True, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
                for m in tf.getmembers():
                    if m.isfile():
                        _TREE[m.name] = tf.extractfile(m).read().decode("utf-8", "replace")
        except (OSError, subprocess.CalledProcessError, tarfile.TarError):
            sys.stderr.write("make_tok_corpus.py: commit %s not available, using the working tree\n" % REF[:7])
    return _TREE


def files(patterns):
    t = tree()
    if t:
        return sorted(f for f in t if any(fnmatch.fnmatchcase(f, p) or
                                          fnmatch.fnmatchcase(f, p.replace("**/", "")) for p in patterns))
    out = []
    for p in patterns:
        out += glob.glob(os.path.join(ROOT, p), recursive=True)
    return sorted(set(os.path.relpath(f, ROOT) for f in out if os.path.isfile(f)))


def read(f):
    t = tree()
    if t:
        return clean(t[f])
    with open(os.path.join(ROOT, f), encoding="utf-8", errors="replace") as fh:
        return clean(fh.read())


class Prose:
    def __init__(self, rng):
        self.rng = rng
        words = []
        for f in files(["*.md", "docs/*.md", "tools/**/README.md", "bench/*.md"]):
            for line in read(f).split("\n"):
                line = line.strip()
                if not line or line.startswith(("|", "```", "#", "    ")):
                    continue
                words += line.replace("`", "").replace("*", "").split()
        if len(words) < 100:
            words = ("the model reads each token once and the tokenizer splits text into "
                     "pieces before merging adjacent pairs by rank").split() * 20
        self.chain = {}
        for a, b in zip(words, words[1:]):
            self.chain.setdefault(a, []).append(b)
        self.starts = [w for w in words if w[:1].isupper()] or words

    def block(self, n):
        out, rng = [], self.rng
        size = 0
        while size < n:
            w = rng.choice(self.starts)
            sent = [w]
            for _ in range(rng.randint(6, 30)):
                nxt = self.chain.get(w)
                if not nxt:
                    break
                w = rng.choice(nxt)
                sent.append(w)
            s = " ".join(sent)
            if s[-1] not in ".!?:":
                s += "."
            out.append(s)
            size += len(s) + 1
            if rng.random() < 0.15:
                out.append("\n\n")
        return " ".join(out).replace(" \n\n ", "\n\n") + "\n\n"


class Code:
    def __init__(self, rng):
        self.rng = rng
        self.texts = [read(f) for f in files(["src/**/*.c", "src/**/*.h", "tests/*.c",
                                              "bench/*.c", "tools/**/*.py", "tools/**/*.c"])]
        self.texts = [t for t in self.texts if len(t) > 200] or ["int main(void) { return 0; }\n" * 50]

    def block(self, n):
        t = self.rng.choice(self.texts)
        if len(t) <= n:
            return t
        i = self.rng.randrange(0, len(t) - n)
        i = t.rfind("\n", 0, i) + 1
        j = t.find("\n", i + n)
        return t[i:j + 1 if j >= 0 else len(t)]


ZH_WORDS = (
    "我们 你们 他们 这个 那个 什么 时候 今天 明天 昨天 中国 北京 上海 城市 国家 人民 政府 经济 发展 "
    "社会 文化 历史 科学 技术 计算机 程序 模型 语言 数据 训练 推理 问题 答案 方法 系统 网络 信息 "
    "学习 工作 生活 朋友 老师 学生 学校 大学 研究 实验 结果 分析 重要 可以 已经 因为 所以 但是 "
    "如果 虽然 而且 或者 非常 特别 一般 一些 许多 所有 每个 自己 大家 需要 应该 能够 开始 继续 "
    "完成 提高 增加 减少 改变 保持 使用 提供 进行 表示 认为 知道 觉得 希望 喜欢 看到 听到 说话 "
    "写作 阅读 思考 时间 地方 世界 环境 自然 山 水 天 地 风 雨 雪 花 树 鸟 鱼 春天 夏天 秋天 冬天 "
    "早上 晚上 中午 一 二 三 四 五 六 七 八 九 十 百 千 万 亿 的 了 在 是 有 和 就 不 也 都 很 到 "
    "说 要 去 会 着 没有 看 好 还 这 那 里 上 下 大 小 多 少 新 老 长 短 高 低 快 慢 深度求索 "
    "人工智能 大语言模型 分词器 词表 编码 解码 速度 基准测试 矩阵 向量 参数 注意力 专家 路由"
).split()
ZH_PUNCT = ["，", "，", "，", "、", "；", "："]
ZH_END = ["。", "。", "。", "！", "？", "……"]
LATIN = ["AI", "GPU", "CPU", "DeepSeek", "R1", "BPE", "token", "GGUF", "Python", "C11", "API"]


class Chinese:
    def __init__(self, rng):
        self.rng = rng

    def block(self, n):
        rng, out, size = self.rng, [], 0
        while size < n:
            parts = []
            for _ in range(rng.randint(1, 4)):
                k = rng.randint(3, 9)
                ws = [rng.choice(ZH_WORDS) for _ in range(k)]
                if rng.random() < 0.2:
                    ws.insert(rng.randrange(len(ws)), rng.choice(LATIN))
                if rng.random() < 0.15:
                    ws.insert(rng.randrange(len(ws)), str(rng.randint(1, 2025)))
                parts.append("".join(ws))
            s = "".join(p + rng.choice(ZH_PUNCT) for p in parts[:-1]) + parts[-1] + rng.choice(ZH_END)
            if rng.random() < 0.1:
                s = "“" + s + "”"
            out.append(s)
            size += len(s.encode())
            if rng.random() < 0.12:
                out.append("\n")
        return "".join(out) + "\n\n"


class Numbers:
    def __init__(self, rng):
        self.rng = rng

    def line(self):
        rng = self.rng
        k = rng.randrange(7)
        if k == 0:
            return ",".join(str(rng.randint(-10**rng.randint(1, 9), 10**rng.randint(1, 9))) for _ in range(rng.randint(3, 10)))
        if k == 1:
            return " ".join("%.*f" % (rng.randint(1, 6), rng.uniform(-1e4, 1e4)) for _ in range(rng.randint(3, 8)))
        if k == 2:
            return "%04d-%02d-%02d %02d:%02d:%02d.%03d" % (rng.randint(1970, 2030), rng.randint(1, 12), rng.randint(1, 28),
                                                         rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999))
        if k == 3:
            return " ".join("0x%0*x" % (rng.choice([2, 4, 8, 16]), rng.getrandbits(rng.choice([8, 16, 32, 64]))) for _ in range(rng.randint(2, 6)))
        if k == 4:
            return "+%d (%03d) %03d-%04d" % (rng.randint(1, 99), rng.randint(0, 999), rng.randint(0, 999), rng.randint(0, 9999))
        if k == 5:
            return "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(10, 80)))
        return "| %d | %.2f | %d%% | %.3e |" % (rng.randint(0, 10**6), rng.uniform(0, 1000), rng.randint(0, 100), rng.uniform(1e-9, 1e9))

    def block(self, n):
        out, size = [], 0
        while size < n:
            s = self.line()
            out.append(s)
            size += len(s) + 1
        return "\n".join(out) + "\n\n"


class Cases:
    def __init__(self, rng):
        self.rng = rng
        self.texts = []
        if os.path.isfile(CASES):
            with open(CASES, encoding="utf-8") as fh:
                for line in fh:
                    t = clean(json.loads(line)["text"])
                    if t:
                        self.texts.append(t)
        if not self.texts:
            self.texts = ["Hello world! 你好，世界。 🦙 ¿Qué tal? Привет мир.  \t  x"]

    def block(self, n):
        out, size = [], 0
        while size < n:
            s = self.rng.choice(self.texts)
            out.append(s)
            size += len(s.encode())
        return "\n".join(out) + "\n\n"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_path = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 4 << 20
    rng = random.Random(20250101)
    kinds = [(Prose(rng), 35), (Code(rng), 30), (Chinese(rng), 15), (Numbers(rng), 12), (Cases(rng), 8)]
    gens = [g for g, _ in kinds]
    weights = [w for _, w in kinds]
    parts, total = [], 0
    while total < size:
        g = rng.choices(gens, weights)[0]
        b = g.block(rng.randint(1024, 8192))
        b = "\n".join(line for line in b.split("\n") if "<\uff5c" not in line).encode("utf-8")
        parts.append(b)
        total += len(b)
    data = b"".join(parts)[:size]
    data = data.decode("utf-8", "ignore").encode("utf-8")  # never end inside a sequence
    with open(out_path, "wb") as fh:
        fh.write(data)


if __name__ == "__main__":
    main()
