#!/usr/bin/env bash
# safetensors-cli tokenize: inputs from arguments / stdin / --file / --json-input, table and JSON
# output, pairs, truncation flags, --normalized, and the exit codes of bad inputs.
set -euo pipefail
cli="${SAFETENSORS_CLI:?}"
# The distilbert-base-uncased tokenizer files of the example model (sources: tests/data/README.md).
vocab="${SAFETENSORS_SOURCE_DIR:?}/examples/distilbert-imdb"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_eq() { [[ "$1" == "$2" ]] || fail "$3: got [$1], want [$2]"; }
expect_rc() {
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?; set -e
  [[ $rc == "$want" ]] || fail "exit $rc (want $want) for $*: $(cat "$tmp/err")"
}

mkdir "$tmp/model"
cp "$vocab/vocab.txt" "$vocab/tokenizer_config.json" "$tmp/model/"

out="$("$cli" tokenize --model "$vocab/tokenizer.json" --json "Hello, my dog is cute")"
expect_eq "$out" '{"input_ids":[101,7592,1010,2026,3899,2003,10140,102],"tokens":["[CLS]","hello",",","my","dog","is","cute","[SEP]"],"offsets":[[0,0],[0,5],[5,6],[7,9],[10,13],[14,16],[17,21],[0,0]],"truncated":false}' "json from arguments"

ids_of() { grep -o '"input_ids":\[[0-9,]*\]'; }
out="$(printf 'Hello world\nSo have I!\n' | "$cli" tokenize --model "$tmp/model" --json | ids_of)"
expect_eq "$out" $'"input_ids":[101,7592,2088,102]\n"input_ids":[101,2061,2031,1045,999,102]' "stdin lines, vocab.txt folder"

printf '"line\\none"\n{"text": "[SEP]"}\n' > "$tmp/in.jsonl"
out="$("$cli" tokenize --model "$tmp/model" --json --json-input --file "$tmp/in.jsonl" | ids_of)"
expect_eq "$out" $'"input_ids":[101,2240,2028,102]\n"input_ids":[101,102,102]' "--json-input --file"

out="$("$cli" tokenize --model "$vocab/tokenizer.json" --json --max-length 4 --truncation-side left "Hello, my dog is cute")"
[[ "$out" == '{"input_ids":[101,2003,10140,102],'*'"truncated":true}' ]] || fail "left truncation: $out"

out="$("$cli" tokenize --model "$vocab/tokenizer.json" --json --pair "So have I!" "Hello")"
[[ "$out" == *'"type_ids":[0,0,0,1,1,1,1,1]'* ]] || fail "pair type ids: $out"

out="$("$cli" tokenize --model "$vocab/tokenizer.json" "Hello world")"
[[ "$out" == *"input 1: 4 tokens"* && "$out" == *"7592  hello  0:5"* ]] || fail "table output: $out"

expect_eq "$("$cli" tokenize --model "$vocab/tokenizer.json" --normalized 'HÉllo 漢字')" "hello  漢  字 " "--normalized"
expect_eq "$("$cli" tokenize --model "$vocab/tokenizer.json" --json --no-special-tokens Hi | ids_of)" '"input_ids":[7632]' "--no-special-tokens"
# Offsets of "é 😀 ok": bytes by default, code points (not UTF-16 units) with --offsets chars.
offsets_of() { sed -E 's/.*"offsets":(\[[^]]*(\],\[[^]]*)*\]\]).*/\1/'; }
expect_eq "$("$cli" tokenize --model "$vocab/tokenizer.json" --json --no-special-tokens 'é 😀 ok' | offsets_of)" \
  '[[0,2],[3,7],[8,10]]' "--offsets bytes (default)"
expect_eq "$("$cli" tokenize --model "$vocab/tokenizer.json" --json --no-special-tokens --offsets chars 'é 😀 ok' | offsets_of)" \
  '[[0,1],[2,3],[4,6]]' "--offsets chars"
expect_rc 2 "$cli" tokenize --model "$vocab/tokenizer.json" --offsets utf16 x

expect_rc 3 "$cli" tokenize --model "$tmp/missing" x
grep -q "missing" "$tmp/err" || fail "missing folder message: $(cat "$tmp/err")"
mkdir "$tmp/empty"
expect_rc 1 "$cli" tokenize --model "$tmp/empty" x
grep -q "neither tokenizer.json nor vocab.txt" "$tmp/err" || fail "empty folder message"
echo '{"model": {"type": "BPE", "vocab": {}}}' > "$tmp/bad.json"
expect_rc 1 "$cli" tokenize --model "$tmp/bad.json" x
grep -q "model.type" "$tmp/err" || fail "bad model type message: $(cat "$tmp/err")"
printf 'not json\n' > "$tmp/bad.jsonl"
expect_rc 2 "$cli" tokenize --model "$tmp/model" --json-input --file "$tmp/bad.jsonl"
expect_rc 2 "$cli" tokenize --model "$tmp/model" --max-length 1 x
grep -q "special tokens" "$tmp/err" || fail "max-length message: $(cat "$tmp/err")"
expect_rc 3 "$cli" tokenize --model "$tmp/model" --file "$tmp/nope.txt"
expect_rc 2 "$cli" tokenize x
echo "tokenize CLI: ok"
