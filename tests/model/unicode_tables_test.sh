#!/usr/bin/env bash
# src/model/tokenizer/unicode_tables.cpp is what scripts/gen_unicode_tables.py makes of the
# Unicode data files of Debian's unicode-data (installed by scripts/setup): the committed tables
# and their generator cannot drift apart.
set -euo pipefail
src="${SAFETENSORS_SOURCE_DIR:?}"
[[ -f /usr/share/unicode/DerivedAge.txt ]] || { echo "FAIL: unicode-data is not installed (scripts/setup)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash "$src/scripts/python" "$src/scripts/gen_unicode_tables.py" > "$tmp/unicode_tables.cpp"
if ! diff -u "$src/src/model/tokenizer/unicode_tables.cpp" "$tmp/unicode_tables.cpp" > "$tmp/diff"; then
  head -40 "$tmp/diff"
  echo "FAIL: src/model/tokenizer/unicode_tables.cpp differs from the generator's output: regenerate it"
  exit 1
fi
echo "unicode tables: up to date"
