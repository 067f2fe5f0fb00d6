#!/usr/bin/env bash
# Accuracy of the example model on IMDB test reviews, measured twice:
#   1. torch (scripts/train_example_model.py evaluate) on ids from the Hugging Face tokenizers
#      npm package (scripts/tokenize_imdb.js), from pytorch_model.bin;
#   2. `safetensors-cli classify --model <dir> --json` (our tokenizer and engine, model.safetensors),
#      texts one per line on stdin.
# Prints both accuracies, their difference and how many predictions agree; exits 1 if the
# accuracies differ by more than 0.1 point. Not part of ctest: the 25,000 reviews of the full
# test set take a few minutes; the repository's 600-review slice (the default) well under one.
# With --precision bf16|int8 the runs are our fp32 and `classify --precision MODE` (no torch):
# accuracy of both, the difference, and how many predictions agree; exits 1 past the bounds of
# docs/MODEL.md "Precision" (bf16 0.2, int8 0.5 points). `--precision all` runs fp32 once and
# compares both bf16 and int8 with it (one table, each mode's classify time).
#
# usage: scripts/eval_example_model.sh [--precision fp32|bf16|int8|all] [MODEL_DIR [REVIEWS]]
#   MODEL_DIR  default examples/distilbert-imdb
#   REVIEWS    IMDB reviews as gzip JSON lines ({"text": ..., "label": 0|1} per line), default
#              tests/data/imdb/test_slice.jsonl.gz; for the published figure, the whole test set
#              of the Large Movie Review Dataset in that format (examples/distilbert-imdb/README.md)
# env:   SAFETENSORS_CLI (default build/tools/cli/safetensors-cli), EVAL_KEEP_DIR (keep texts,
#        ids, logits and outputs there), EVAL_THREADS (default 2), EVAL_LIMIT (only the first N
#        reviews: a quick check), PYTHON (the interpreter, see scripts/python).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
precision=fp32
if [[ "${1:-}" == "--precision" ]]; then
  precision="${2:-}"
  shift 2 || true
fi
case "$precision" in
  fp32 | bf16 | int8) modes=("$precision") ;;
  all) modes=(bf16 int8) ;;
  *) echo "eval_example_model: --precision $precision: expected fp32, bf16, int8 or all" >&2; exit 2 ;;
esac
model="${1:-$root/examples/distilbert-imdb}"
cli="${SAFETENSORS_CLI:-$root/build/tools/cli/safetensors-cli}"
reviews="${2:-$root/tests/data/imdb/test_slice.jsonl.gz}"
threads="${EVAL_THREADS:-2}"
limit="${EVAL_LIMIT:-0}"
py="$root/scripts/python"

for f in "$model/config.json" "$model/pytorch_model.bin" "$model/model.safetensors" "$model/tokenizer.json" \
         "$reviews"; do
  [[ -f "$f" ]] || { echo "eval_example_model: missing $f" >&2; exit 2; }
done
[[ -x "$cli" ]] || { echo "eval_example_model: no CLI at $cli (set SAFETENSORS_CLI)" >&2; exit 2; }
bash "$root/tests/node/setup.sh"

if [[ -n "${EVAL_KEEP_DIR:-}" ]]; then
  work="$EVAL_KEEP_DIR"; mkdir -p "$work"
else
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fi

# Truncation length: what classify uses, min(tokenizer model_max_length, max_position_embeddings).
max_length="$("$py" - "$model" <<'EOF'
import json, os, sys
cfg = json.load(open(os.path.join(sys.argv[1], "config.json")))
limit = cfg["max_position_embeddings"]
tc = os.path.join(sys.argv[1], "tokenizer_config.json")
if os.path.exists(tc):
    limit = min(limit, json.load(open(tc)).get("model_max_length", limit))
print(limit)
EOF
)"

# Texts one per line (a review containing a line break would be split: replace \r and \n by
# spaces; the tokenizer treats them as whitespace either way), labels, and the reviews evaluated
# (all, or the first EVAL_LIMIT) for the torch side.
"$py" - "$reviews" "$work" "$limit" <<'EOF'
import gzip, json, os, sys
work, limit = sys.argv[2], int(sys.argv[3])
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as f, \
     gzip.open(os.path.join(work, "test.jsonl.gz"), "wt", encoding="utf-8") as subset, \
     open(os.path.join(work, "texts.txt"), "w", encoding="utf-8", newline="\n") as texts, \
     open(os.path.join(work, "labels.txt"), "w") as labels:
    for n, line in enumerate(f):
        if limit and n >= limit:
            break
        subset.write(line)
        r = json.loads(line)
        texts.write(r["text"].replace("\r", " ").replace("\n", " ") + "\n")
        labels.write(f"{r['label']}\n")
EOF

classify_json() {  # classify_json OUT [--precision MODE]: our predictions, one JSON line each
  local out="$1" start end
  shift
  start=$(date +%s.%N)
  "$cli" classify --model "$model" --json --threads "$threads" "$@" < "$work/texts.txt" > "$out"
  end=$(date +%s.%N)
  echo "classify${*:+ $*}: $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s for $(wc -l < "$work/texts.txt") reviews"
}

if [[ "$precision" != fp32 ]]; then
  echo "== safetensors-cli classify --json: fp32 against --precision ${modes[*]}"
  classify_json "$work/classify_fp32.jsonl"
  for mode in "${modes[@]}"; do
    classify_json "$work/classify_$mode.jsonl" --precision "$mode"
  done
  "$py" - "$work" "${modes[@]}" <<'EOF'
import json, os, sys
import numpy as np
work, modes = sys.argv[1], sys.argv[2:]
labels = np.loadtxt(os.path.join(work, "labels.txt"), dtype=np.int64, ndmin=1)
names = {"NEGATIVE": 0, "POSITIVE": 1}
pred = {}
for m in ["fp32"] + modes:
    with open(os.path.join(work, f"classify_{m}.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if len(rows) != len(labels):
        sys.exit(f"classify --precision {m} printed {len(rows)} results for {len(labels)} reviews")
    pred[m] = np.array([names[r[0]["label"]] for r in rows])
acc = {m: (p == labels).mean() * 100 for m, p in pred.items()}
bounds = {"bf16": 0.2, "int8": 0.5}
print(f"reviews:                   {len(labels)}")
print(f"accuracy fp32:             {acc['fp32']:.2f}%")
failed = []
for mode in modes:
    diff = acc[mode] - acc["fp32"]
    print(f"accuracy {mode}:             {acc[mode]:.2f}%")
    print(f"  difference:              {diff:+.2f} points (bound {bounds[mode]})")
    print(f"  same prediction as fp32: {(pred['fp32'] == pred[mode]).sum()} of {len(labels)}")
    if abs(diff) > bounds[mode]:
        failed.append(mode)
if failed:
    sys.exit(f"FAIL: {', '.join(failed)} accuracy differs from fp32 by more than its bound")
EOF
  exit 0
fi

echo "== torch (pytorch_model.bin, ids from Hugging Face tokenizers, max_length $max_length)"
node "$root/scripts/tokenize_imdb.js" "$model/tokenizer.json" "$max_length" \
     "$work/test.jsonl.gz" "$work/test_ids.jsonl"
OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}" "$py" "$root/scripts/train_example_model.py" evaluate \
  --model "$model" --test "$work/test_ids.jsonl" --logits "$work/torch_logits.npy" --threads "$threads"

echo "== safetensors-cli classify --json (model.safetensors, our tokenizer)"
classify_json "$work/classify.jsonl"

"$py" - "$work" <<'EOF'
import json, os, sys
import numpy as np
work = sys.argv[1]
labels = np.loadtxt(os.path.join(work, "labels.txt"), dtype=np.int64, ndmin=1)
torch_pred = np.load(os.path.join(work, "torch_logits.npy")).argmax(axis=1)
with open(os.path.join(work, "classify.jsonl"), encoding="utf-8") as f:
    rows = [json.loads(line) for line in f]
if len(rows) != len(labels):
    sys.exit(f"classify printed {len(rows)} results for {len(labels)} reviews")
names = {"NEGATIVE": 0, "POSITIVE": 1}
cli_pred = np.array([names[r[0]["label"]] for r in rows])
acc_torch = (torch_pred == labels).mean() * 100
acc_cli = (cli_pred == labels).mean() * 100
diff = acc_cli - acc_torch
print(f"reviews:                   {len(labels)}")
print(f"accuracy torch:            {acc_torch:.2f}%")
print(f"accuracy safetensors-cli:  {acc_cli:.2f}%")
print(f"difference:                {diff:+.2f} points")
print(f"same prediction:           {(torch_pred == cli_pred).sum()} of {len(labels)}")
if abs(diff) > 0.1:
    sys.exit("FAIL: the accuracies differ by more than 0.1 point")
EOF
