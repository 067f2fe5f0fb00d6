#!/usr/bin/env python3
"""Generates src/model/tokenizer/unicode_tables.cpp: the Unicode character data of Hugging Face
tokenizers' BERT normalizer and pre-tokenizer (tokenizers 0.22), as compact code point ranges.

The reference mixes three Unicode versions (docs/MODEL.md, "Unicode versions"), each reproduced
here from the Unicode 15.0 data files of the Debian package unicode-data plus a small table of
exceptions for what changed since:
- its character classes (Cc/Cf/Co deleted, Mn stripped, P* split) come from the crate
  unicode_categories 0.1.1, Unicode 8.0: a code point assigned after 8.0 (DerivedAge.txt) is in
  no class, and the few whose General_Category changed since 8.0 keep their 8.0 category
  (CATEGORY_IN_8_0 below);
- its canonical decomposition and combining classes come from the crate
  unicode-normalization-alignments 0.1.12, Unicode 9.0: a code point assigned after 9.0 has no
  decomposition and combining class 0 (decompositions and classes of assigned characters never
  change: Unicode normalization stability policy);
- whitespace and lowercasing come from Rust's std (char::is_whitespace, char::to_lowercase),
  Unicode 17.0 in the Rust that built the reference: White_Space is unchanged since 6.3
  (PropList.txt), lowercase mappings are those of 15.0 plus the case pairs added in 16.0 and
  17.0 (LOWERCASE_AFTER_15_0 below).
Every exception was found, and the whole table is checked, by measuring the reference (npm
@anush008/tokenizers) on every code point: tests/model/tokenizer_parity_test.py.

usage: scripts/python scripts/gen_unicode_tables.py [UCD_DIR] > src/model/tokenizer/unicode_tables.cpp
  UCD_DIR: the Unicode 15.0 data files (default /usr/share/unicode, Debian's unicode-data).
"""
import os
import sys

# General_Category in Unicode 8.0 of the code points assigned by 8.0 whose category changed
# later (UnicodeData.txt of https://www.unicode.org/Public/8.0.0/ucd/ against 15.0.0; every
# entry confirmed on the reference, which treats each as its 8.0 category). Only changes into or
# out of the classes the reference uses (C*, Mn, P*) matter.
CATEGORY_IN_8_0 = {
    0x166D: "Po",  # CANADIAN SYLLABICS CHI SIGN: So in 15.0
    0x1734: "Mn",  # HANUNOO SIGN PAMUDPOD: Mc in 15.0
    0x1885: "Lo",  # MONGOLIAN LETTER ALI GALI BALUDA: Mn in 15.0
    0x1886: "Lo",  # MONGOLIAN LETTER ALI GALI THREE BALUDA: Mn in 15.0
    0xA9BD: "Mc",  # JAVANESE CONSONANT SIGN KERET: Mn in 15.0
    0x111C9: "Po",  # SHARADA SANDHI MARK: Mn in 15.0
}

# Simple lowercase mappings added after Unicode 15.0, which Rust's std (Unicode 17.0) applies:
# (first, last, lowercase of first); the range maps one to one. Sources: UnicodeData.txt of
# https://www.unicode.org/Public/16.0.0/ucd/ and https://www.unicode.org/Public/17.0.0/ucd/.
LOWERCASE_AFTER_15_0 = [
    (0x1C89, 0x1C89, 0x1C8A),  # 16.0 CYRILLIC CAPITAL LETTER TJE
    (0xA7CB, 0xA7CB, 0x0264),  # 16.0 LATIN CAPITAL LETTER RAMS HORN
    (0xA7CC, 0xA7CC, 0xA7CD),  # 16.0 LATIN CAPITAL LETTER S WITH DIAGONAL STROKE
    (0xA7CE, 0xA7CE, 0xA7CF),  # 17.0 LATIN CAPITAL LETTER PHARYNGEAL VOICED FRICATIVE
    (0xA7D2, 0xA7D2, 0xA7D3),  # 17.0 LATIN CAPITAL LETTER DOUBLE THORN
    (0xA7D4, 0xA7D4, 0xA7D5),  # 17.0 LATIN CAPITAL LETTER DOUBLE WYNN
    (0xA7DA, 0xA7DA, 0xA7DB),  # 16.0 LATIN CAPITAL LETTER LAMBDA
    (0xA7DC, 0xA7DC, 0x019B),  # 16.0 LATIN CAPITAL LETTER LAMBDA WITH STROKE
    (0x10D50, 0x10D65, 0x10D70),  # 16.0 GARAY CAPITAL LETTER A..
    (0x16EA0, 0x16EB8, 0x16EBB),  # 17.0 BERIA ERFE CAPITAL LETTER ARKAB..
]

CLASSES_VERSION = (8, 0)  # unicode_categories 0.1.1
NORMALIZATION_VERSION = (9, 0)  # unicode-normalization-alignments 0.1.12

# Flags of a code point (chars.hpp char_flags).
OTHER, WHITESPACE, PUNCTUATION, NONSPACING_MARK, DECOMPOSES = 1, 2, 4, 8, 16


def ucd_lines(path):
    """(first, last, fields) of each data line of a UCD file in the ranges-and-fields format."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            first, _, last = fields[0].partition("..")
            yield int(first, 16), int(last or first, 16), fields[1:]


def read_ucd(ucd):
    age = {}
    for first, last, (version,) in ucd_lines(os.path.join(ucd, "DerivedAge.txt")):
        for c in range(first, last + 1):
            age[c] = tuple(int(x) for x in version.split("."))
    white_space = set()
    for first, last, fields in ucd_lines(os.path.join(ucd, "PropList.txt")):
        if fields[0] == "White_Space":
            white_space.update(range(first, last + 1))
    category, ccc, lower, decomposes = {}, {}, {}, set(range(0xAC00, 0xD7A4))  # Hangul syllables
    range_first = None
    with open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            c = int(fields[0], 16)
            if fields[1].endswith(", First>"):
                range_first = c
                continue
            first = range_first if fields[1].endswith(", Last>") else c
            range_first = None
            for x in range(first, c + 1):
                category[x] = fields[2]
                ccc[x] = int(fields[3])
            if fields[5] and not fields[5].startswith("<"):
                decomposes.add(c)  # canonical decomposition mapping
            if fields[13]:
                lower[c] = int(fields[13], 16)
    return age, white_space, category, ccc, lower, decomposes


def check_special_casing(ucd):
    """Rust's to_lowercase is the simple mapping except for SpecialCasing's unconditional
    multi-character lowercase mappings; chars.cpp handles the only one (U+0130) in code."""
    multi = []
    for first, _, fields in ucd_lines(os.path.join(ucd, "SpecialCasing.txt")):
        lower, condition = fields[0].split(), fields[3] if len(fields) > 3 else ""
        if len(lower) > 1 and not condition:
            multi.append(first)
    if multi != [0x130]:
        sys.exit(f"gen_unicode_tables: unconditional multi-char lowercase mappings {multi}, expected [0x130]")


def ranges_of(values):
    """Maximal runs of consecutive code points with the same nonzero value: (first, last, v)."""
    out = []
    for c in sorted(values):
        v = values[c]
        if out and out[-1][1] == c - 1 and out[-1][2] == v:
            out[-1][1] = c
        else:
            out.append([c, c, v])
    return out


def lowercase_runs(lower):
    """Runs (first, last, stride, delta): every stride-th code point from first maps to c + delta."""
    runs = []
    for c in sorted(lower):
        delta = lower[c] - c
        if runs:
            first, last, stride, d = runs[-1]
            step = c - last
            if d == delta and (stride == step or (first == last and step <= 2)):
                runs[-1] = [first, c, step, d]
                continue
        runs.append([c, c, 1, delta])
    return runs


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    age, white_space, category, ccc, lower, decomposes = read_ucd(ucd)
    check_special_casing(ucd)

    def category_in_8_0(c):
        if c in CATEGORY_IN_8_0:
            return CATEGORY_IN_8_0[c]
        return category.get(c, "Cn") if age.get(c, (99,)) <= CLASSES_VERSION else "Cn"

    flags = {}
    for c in range(0x110000):
        cat = category_in_8_0(c)
        f = 0
        if cat in ("Cc", "Cf", "Co"):
            f |= OTHER
        if c in white_space:
            f |= WHITESPACE
        if cat.startswith("P") or (c < 0x80 and chr(c) in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"):
            f |= PUNCTUATION  # Rust is_ascii_punctuation includes the ASCII symbols
        if cat == "Mn":
            f |= NONSPACING_MARK
        if c in decomposes and age[c] <= NORMALIZATION_VERSION:
            f |= DECOMPOSES
        if f:
            flags[c] = f
    combining = {c: v for c, v in ccc.items() if v and age.get(c, (99,)) <= NORMALIZATION_VERSION}
    lowercase = {c: l for c, l in lower.items() if l != c}
    for first, last, target in LOWERCASE_AFTER_15_0:
        for c in range(first, last + 1):
            if c in category:
                sys.exit(f"gen_unicode_tables: U+{c:04X} is assigned in this UCD; update LOWERCASE_AFTER_15_0")
            lowercase[c] = target + (c - first)

    out = [
        "// Generated by scripts/gen_unicode_tables.py from the Unicode 15.0 data files (Debian",
        "// unicode-data) and the exception tables in that script. Do not edit; rerun it:",
        "//   scripts/python scripts/gen_unicode_tables.py > src/model/tokenizer/unicode_tables.cpp",
        "// clang-format off",
        '#include "model/tokenizer/unicode_tables.hpp"',
        "",
        "namespace safetensors::model::detail::unicode_tables {",
        "",
        "// char_flags of every code point that has any (other 1, whitespace 2, punctuation 4,",
        "// nonspacing mark 8: as of Unicode 8.0; White_Space as of 15.0; decomposes 16: has a",
        "// canonical decomposition and was assigned by 9.0).",
    ]

    def emit(name, typ, rows, fmt):
        out.append(f"const {typ} {name}[] = {{")
        line = " "
        for r in rows:
            item = " " + fmt(r) + ","
            if len(line) + len(item) > 100:
                out.append(line)
                line = " "
            line += item
        if line.strip():
            out.append(line)
        out.append("};")
        out.append(f"const std::size_t {name}_count = sizeof({name}) / sizeof({name}[0]);")
        out.append("")

    emit("flag_ranges", "flag_range", ranges_of(flags), lambda r: f"{{0x{r[0]:X}, 0x{r[1]:X}, {r[2]}}}")
    out.append("// Canonical combining classes (nonzero) of the code points assigned by Unicode 9.0.")
    emit("combining_ranges", "flag_range", ranges_of(combining), lambda r: f"{{0x{r[0]:X}, 0x{r[1]:X}, {r[2]}}}")
    out.append("// Simple lowercase mappings (Rust char::to_lowercase, Unicode 17.0): from first to last,")
    out.append("// every stride-th code point c maps to c + delta.")
    runs = lowercase_runs(lowercase)
    expanded = {c: c + r[3] for r in runs for c in range(r[0], r[1] + 1, r[2])}
    if expanded != lowercase:
        sys.exit("gen_unicode_tables: lowercase runs do not reproduce the mapping")
    emit("lowercase_runs", "lowercase_run", runs,
                lambda r: f"{{0x{r[0]:X}, 0x{r[1]:X}, {r[2]}, {r[3]}}}")
    out.append("}  // namespace safetensors::model::detail::unicode_tables")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
