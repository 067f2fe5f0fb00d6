#!/usr/bin/env python3
"""Tokenizer parity with Hugging Face tokenizers (npm @anush008/tokenizers 0.6.0 = tokenizers
0.22): the same ids, tokens, offsets, type ids and truncation flag as the reference on the 600
IMDB test reviews of tests/data/imdb, hand-made hard cases and a sweep over every Unicode code point, for our tokenizer
loaded from tokenizer.json and from vocab.txt + tokenizer_config.json.

Needs tests/node/setup.sh to have run (it installs the npm package; this test installs nothing).
Offsets: ours are byte offsets into the UTF-8 input, the reference's are code point offsets;
ours are converted before comparing."""
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import testdata  # noqa: E402

SOURCE = os.environ.get("SAFETENSORS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("SAFETENSORS_CLI", "safetensors-cli")
NODE_DIR = os.path.join(SOURCE, "tests", "node")
REFERENCE = os.path.join(NODE_DIR, "tokenizer_reference.js")

HARD_CASES = [
    "", " ", "   \t\n  ", "\u3000\u00a0\u2028", "Hello, my dog is cute",
    "I've been waiting for a HuggingFace course my whole life.",
    "héllo wörld Ångström naïve café", "Crème Brûlée, façade, jalapeño, Øresund",
    "x\u0301\u0300y", "e\u0301", "\u0130stanbul \u0130I", "ΣΑΣ σας", "ǅungla ﬁne ẞ",
    "中文字符测试 mixed 漢字and text", "日本語のテキスト、カタカナ。", "한국어 텍스트 각",
    "\U00020000\U0002a6df\U0002b820\U0002b920\U0002ceaf", "\uf900\ufa0b\u2f800",
    "مرحبا بالعالم! هذا اختبار.", "שלום עולם", "Привет, мир! ЁЖИК",
    "emoji 😀🤗🥰🫠 👍🏽 👨‍👩‍👧 🇫🇷", "a\u200bb a\u200cb a\u200db a\ufeffb",
    "ctrl\x00a\x01b\x07c\x0bd\x0ce\x1cf\x7fg\x85h", "tab\tnew\nline\rcr", "\ufffd\ufffdx\ufffd",
    "private \ue000\uf8ff \U000f0000 use", "unassigned \u0378\u0379 \U000e0001",
    "supercalifragilisticexpialidocious" * 4, "a" * 100, "b" * 101, "é" * 101, "xy" * 60 + " ok",
    "[SEP]", "[sep]", "[CLS] text [SEP] more [MASK] [PAD][UNK]", "x[SEP]y[SEP][SEP]", "[SEP", "[[SEP]]",
    "$^`+<=>|~ punctuation!?¿¡…—–«»“”‘’•", "don't won't can't I'm you're it's", "3.14159 1,000,000 42%",
    "<br /><br />This movie was <i>great</i>", "http://example.com/a?b=c&d=e", "user@example.com",
    "ＦＵＬＬ ｗｉｄｔｈ １２３", "ℌ𝔢𝔩𝔩𝔬 𝐁𝐨𝐥𝐝", "x\u0345y \u0f71\u0f72", "a\U0001d165\U0001d16db",
    "\u00ad-soft hyphen", "ǈ ǉ Ǌ", "ﬀ ﬃ ﬆ", "Ⅻ ⅻ ①②", "ﾊﾝｶｸ", "\u1e9e\u00df",
]


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def known_deviations():
    """Code points listed in tokenizer_parity_deviations.txt (see the comment there)."""
    points = set()
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer_parity_deviations.txt")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            span = line.split()[0].split("-")
            first = int(span[0], 16)
            points.update(range(first, int(span[-1], 16) + 1))
    return points


def code_point_sweep(skip):
    """Code points in texts of 64: 'a{c}b' words and the character on its own, so deletion,
    whitespace, punctuation, CJK spacing and lowercasing of each show in the tokens and the
    normalized text. Planes 0 and 1 whole (no surrogates), every 37th code point above, and the
    tag/variation-selector block; the known deviations are left out."""
    points = [c for c in itertools.chain(range(0x20000), range(0x20000, 0x110000, 37), range(0xE0000, 0xE0200))
              if not 0xD800 <= c <= 0xDFFF and c not in skip]
    texts = []
    for i in range(0, len(points), 64):
        texts.append(" ".join(f"a{chr(c)}b {chr(c)}" for c in points[i:i + 64]))
    return texts


def write_inputs(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t, ensure_ascii=True) + "\n")


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        fail(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {proc.stderr.decode(errors='replace')[:2000]}")
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]


def byte_to_char_offsets(text, offsets):
    data = text.encode("utf-8")
    # char index of each byte position (positions at char starts and the end)
    index = {}
    chars = 0
    for pos in range(len(data) + 1):
        if pos == len(data) or (data[pos] & 0xC0) != 0x80:
            index[pos] = chars
            chars += 1
    return [[index[b], index[e]] for b, e in offsets]


def compare(label, texts, ours, theirs, pair=None, normalized=False):
    if len(ours) != len(texts) or len(theirs) != len(texts):
        fail(f"{label}: {len(texts)} inputs, ours gave {len(ours)} results, reference {len(theirs)}")
    differences = 0
    for i, (text, a, b) in enumerate(zip(texts, ours, theirs)):
        if normalized:
            ok = a == b
        else:
            a = dict(a)
            a["offsets"] = byte_to_char_offsets(text, a["offsets"][: len(a["offsets"])]) if pair is None else \
                _pair_offsets(text, pair, a)
            keys = ["input_ids", "tokens", "offsets", "truncated"] + (["type_ids"] if pair is not None else [])
            ok = all(a[k] == b[k] for k in keys)
        if not ok:
            differences += 1
            if differences <= 5:
                print(f"{label}: input {i} differs: {json.dumps(text[:200])}")
                if normalized:
                    print(f"  ours:      {json.dumps(a)[:400]}\n  reference: {json.dumps(b)[:400]}")
                else:
                    for k in keys:
                        if a[k] != b[k]:
                            print(f"  {k}:\n    ours:      {json.dumps(a[k])[:600]}\n    reference: {json.dumps(b[k])[:600]}")
    if differences:
        fail(f"{label}: {differences} of {len(texts)} inputs differ")
    print(f"ok: {label}: {len(texts)} inputs identical")


def _pair_offsets(first, second, enc):
    """Pair offsets: tokens with type id 1 refer to the second text."""
    out = []
    for (b, e), t in zip(enc["offsets"], enc["type_ids"]):
        out.extend(byte_to_char_offsets(second if t == 1 else first, [[b, e]]))
    return out


def main():
    node = shutil.which("node")
    if node is None:
        fail("node is not installed (scripts/setup installs nodejs)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@anush008", "tokenizers")):
        fail("tests/node/node_modules is missing: run tests/node/setup.sh first")
    tokenizer_json = os.path.join(testdata.TOKENIZER_DIR, "tokenizer.json")
    reviews = [r["text"] for r in testdata.imdb_records()]
    with tempfile.TemporaryDirectory() as tmp:
        vocab_model = os.path.join(tmp, "vocab_model")
        os.mkdir(vocab_model)
        testdata.copy_tokenizer(vocab_model, ("vocab.txt", "tokenizer_config.json"))

        def both(label, texts, extra_ours, extra_ref, pair=None):
            path = os.path.join(tmp, "inputs.jsonl")
            write_inputs(path, texts)
            theirs = run([node, REFERENCE, tokenizer_json, path] + extra_ref)
            for model in (tokenizer_json, vocab_model):
                ours = run([CLI, "tokenize", "--model", model, "--json", "--json-input", "--file", path] + extra_ours)
                kind = "tokenizer.json" if model == tokenizer_json else "vocab.txt"
                compare(f"{label} ({kind})", texts, ours, theirs, pair=pair)

        both("imdb reviews, max_length 512", reviews, ["--max-length", "512"], ["--max-length", "512"])
        both("hard cases", HARD_CASES, ["--no-truncation"], [])
        sweep = code_point_sweep(known_deviations())
        both("code point sweep", sweep, ["--no-truncation"], [])
        path = os.path.join(tmp, "sweep.jsonl")
        write_inputs(path, sweep)
        theirs = run([node, REFERENCE, tokenizer_json, path, "--normalized"])
        ours = run([CLI, "tokenize", "--model", tokenizer_json, "--json", "--json-input", "--file", path, "--normalized"])
        compare("code point sweep, normalized text", sweep, ours, theirs, normalized=True)
        short = HARD_CASES + reviews[:150]
        for side in ("right", "left"):
            for n in (5, 16):
                both(f"truncation {side} {n}", short, ["--max-length", str(n), "--truncation-side", side],
                     ["--max-length", str(n), "--direction", side])
            second = "So have I! A second sequence of a dozen or so word pieces."
            for n in (12, 24, 40):
                both(f"pairs, truncation {side} {n}", short,
                     ["--max-length", str(n), "--truncation-side", side, "--pair", second],
                     ["--max-length", str(n), "--direction", side, "--pair", second], pair=second)
    print("tokenizer parity: all identical")


if __name__ == "__main__":
    main()
