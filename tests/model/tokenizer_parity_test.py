#!/usr/bin/env python3
"""Tokenizer parity with Hugging Face tokenizers (npm @anush008/tokenizers 0.6.0 = tokenizers
0.22): the same ids, tokens, offsets, type ids and truncation flag as the reference on the 600
IMDB test reviews of tests/data/imdb, hand-made hard cases, every Unicode scalar value (tokens of
"a" + c + "b" and the normalized text of c), a seeded multilingual fuzz set of 24,000 strings and
every pair of combining marks that survives accent stripping, for our tokenizer loaded from
tokenizer.json and from vocab.txt + tokenizer_config.json; zero differences allowed.

Needs tests/node/setup.sh to have run (it installs the npm package; this test installs nothing).
Offsets: the reference's are code point offsets (not UTF-16 units). Ours are checked in both
conventions: `--offsets chars` directly (tokenizer.json), the default byte offsets converted
(vocab.txt)."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np

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


def code_point_sweep():
    """Every Unicode scalar value, 64 to a text: the word "a{c}b" and c on its own, so deletion,
    whitespace, punctuation, CJK spacing, stripping and lowercasing of each show in the tokens
    and the normalized text (spaces isolate the pieces: no normalization step crosses them)."""
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    return [" ".join(f"a{chr(c)}b {chr(c)}" for c in points[i:i + 64]) for i in range(0, len(points), 64)]


def span(first, last):
    return [chr(c) for c in range(first, last + 1) if not 0xD800 <= c <= 0xDFFF]


# Pools of the fuzz set: each string mixes a few of them.
SPACES = [chr(c) for c in (0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                           0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x180E, 0x200B, 0xFEFF)]
MARKS = (span(0x300, 0x36F) + span(0x483, 0x489) + span(0x591, 0x5C7) + span(0x610, 0x61A) + span(0x64B, 0x65F)
         + span(0x7EB, 0x7F3) + span(0x7FD, 0x7FD) + span(0x816, 0x82D) + span(0x898, 0x89F) + span(0x8CA, 0x8FF)
         + span(0x93C, 0x94D) + span(0xE31, 0xE3A) + span(0xE47, 0xE4E) + span(0xF71, 0xF84) + span(0x1AB0, 0x1ACE)
         + span(0x1B34, 0x1B44) + span(0x1DC0, 0x1DFF) + span(0x20D0, 0x20F0) + span(0x302A, 0x302F)
         + span(0xFE20, 0xFE2F) + span(0x1D165, 0x1D172) + span(0x1D17B, 0x1D18B) + span(0x1E8D0, 0x1E8D6)
         + span(0x11938, 0x11943))
POOLS = {
    "latin": list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + ["the", "movie", "Film", "naïve"],
    "ascii_punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "cjk": span(0x4E00, 0x9FFF) + span(0x3400, 0x4DBF) + span(0x20000, 0x2A6DF) + span(0x2B740, 0x2B81F)
    + span(0x2B820, 0x2CEAF) + span(0xF900, 0xFAFF) + span(0x2F800, 0x2FA1F) + span(0x3000, 0x303F),
    "kana": span(0x3040, 0x30FF) + span(0x31F0, 0x31FF) + span(0xFF61, 0xFF9F) + span(0x1B000, 0x1B16F),
    "hangul": span(0xAC00, 0xD7A3) + span(0x1100, 0x11FF) + span(0x3130, 0x318F) + span(0xA960, 0xA97F),
    "arabic": span(0x600, 0x6FF) + span(0x750, 0x77F) + span(0x870, 0x8FF) + span(0xFB50, 0xFDFF) + span(0xFE70, 0xFEFF),
    "thai": span(0xE00, 0xE7F) + span(0xE80, 0xEFF),
    "devanagari": span(0x900, 0x97F) + span(0xA8E0, 0xA8FF) + span(0x980, 0x9FF) + span(0x11900, 0x1195F),
    "marks": MARKS,
    "emoji": span(0x1F300, 0x1F64F) + span(0x1F900, 0x1FAFF) + span(0x2600, 0x27BF) + span(0x1F3FB, 0x1F3FF)
    + span(0x1F1E6, 0x1F1FF) + ["\u200d", "\ufe0f", "\u20e3", "\U000e0067", "\U000e007f"]
    + ["\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd", "\U0001f1eb\U0001f1f7",
       "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "1\ufe0f\u20e3"],
    "nfd": [],  # filled in fuzz_set
    "control": span(0x0, 0x1F) + span(0x7F, 0x9F) + ["\u00ad", "\u061c", "\u180e", "\ufeff", "\ufffd", "\U000e0001"]
    + span(0x200B, 0x200F) + span(0x202A, 0x202E) + span(0x2060, 0x206F) + span(0xFFF9, 0xFFFB)
    + span(0xE000, 0xE00F) + span(0xF0000, 0xF0004),
    "spaces": SPACES,
    "newer": span(0x2E43, 0x2E5D) + span(0x1C80, 0x1C8A) + span(0xA7C0, 0xA7DC) + span(0x10D40, 0x10D8F)
    + span(0x16EA0, 0x16ED3) + span(0x1E900, 0x1E95F) + span(0x10EAD, 0x10EAD) + span(0x11B00, 0x11B09)
    + ["\u166d", "\u1734", "\u1885", "\u1886", "\ua9bd", "\U000111c9", "\u0378", "\U0001fbff", "\U000e01ef"],
    "cased": span(0x100, 0x24F) + span(0x370, 0x3FF) + span(0x400, 0x52F) + span(0x1E00, 0x1FFF)
    + span(0x2C00, 0x2C7F) + span(0x10400, 0x1044F) + span(0x1E900, 0x1E943) + ["\u0130", "\u1e9e", "\u2126"],
}


def fuzz_set(count=24000, seed=15):
    """Seeded adversarial multilingual strings: pieces from two or three pools, joined with
    nothing, a space or another Unicode space."""
    import unicodedata
    rng = random.Random(seed)
    pools = dict(POOLS)
    pools["nfd"] = [unicodedata.normalize("NFD", c) for c in pools["cased"] + span(0xAC00, 0xAC40) + span(0xC0, 0xFF)]
    names = sorted(pools)
    texts = []
    for _ in range(count):
        chosen = rng.sample(names, rng.randint(1, 3))
        pieces = []
        for _ in range(rng.randint(1, 24)):
            pieces.append(rng.choice(pools[rng.choice(chosen)]))
            r = rng.random()
            if r < 0.2:
                pieces.append(" ")
            elif r < 0.25:
                pieces.append(rng.choice(SPACES))
        text = "".join(pieces)
        texts.append(text)
    return texts


def mark_pairs():
    """"a" + m1 + m2 + "b" for every pair of combining marks of the pools: canonical ordering
    after decomposition, then accent stripping."""
    marks = MARKS + span(0x1D15E, 0x1D164) + span(0x1D1BB, 0x1D1C0)
    return [" ".join(f"a{m1}{m2}b" for m2 in marks) for m1 in marks]


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
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # index[b]: the number of characters that start before byte b
    index = np.concatenate(([0], np.cumsum((data & 0xC0) != 0x80))).tolist()
    return [[index[b], index[e]] for b, e in offsets]


def compare(label, texts, ours, theirs, pair=None, normalized=False, byte_offsets=True):
    if len(ours) != len(texts) or len(theirs) != len(texts):
        fail(f"{label}: {len(texts)} inputs, ours gave {len(ours)} results, reference {len(theirs)}")
    differences = 0
    for i, (text, a, b) in enumerate(zip(texts, ours, theirs)):
        if normalized:
            ok = a == b
        else:
            a = dict(a)
            if byte_offsets:
                a["offsets"] = byte_to_char_offsets(text, a["offsets"]) if pair is None else \
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

        def both(label, texts, extra_ours, extra_ref, pair=None, normalized=True, vocab=True):
            """Tokens from tokenizer.json with --offsets chars and (with `vocab`) from vocab.txt
            with byte offsets; with `normalized`, the normalized texts too."""
            path = os.path.join(tmp, "inputs.jsonl")
            write_inputs(path, texts)
            theirs = run([node, REFERENCE, tokenizer_json, path] + extra_ref)
            for model, unit in ((tokenizer_json, "chars"), (vocab_model, "bytes"))[: 2 if vocab else 1]:
                ours = run([CLI, "tokenize", "--model", model, "--json", "--json-input", "--file", path,
                            "--offsets", unit] + extra_ours)
                kind = "tokenizer.json" if model == tokenizer_json else "vocab.txt"
                compare(f"{label} ({kind}, {unit} offsets)", texts, ours, theirs, pair=pair,
                        byte_offsets=unit == "bytes")
            if normalized:
                theirs = run([node, REFERENCE, tokenizer_json, path, "--normalized"])
                ours = run([CLI, "tokenize", "--model", tokenizer_json, "--json", "--json-input", "--file", path,
                            "--normalized"])
                compare(f"{label}, normalized text", texts, ours, theirs, normalized=True)

        both("imdb reviews, max_length 512", reviews, ["--max-length", "512"], ["--max-length", "512"])
        both("hard cases", HARD_CASES, ["--no-truncation"], [])
        # The loading path does not change character handling: one model for the biggest set.
        both("every code point", code_point_sweep(), ["--no-truncation"], [], vocab=False)
        both("multilingual fuzz set", fuzz_set(), ["--no-truncation"], [])
        both("pairs of combining marks", mark_pairs(), ["--no-truncation"], [])
        short = HARD_CASES + reviews[:150]
        for side in ("right", "left"):
            for n in (5, 16):
                both(f"truncation {side} {n}", short, ["--max-length", str(n), "--truncation-side", side],
                     ["--max-length", str(n), "--direction", side], normalized=False)
            second = "So have I! A second sequence of a dozen or so word pieces."
            for n in (12, 24, 40):
                both(f"pairs, truncation {side} {n}", short,
                     ["--max-length", str(n), "--truncation-side", side, "--pair", second],
                     ["--max-length", str(n), "--direction", side, "--pair", second], pair=second,
                     normalized=False)
    print("tokenizer parity: all identical")


if __name__ == "__main__":
    main()
