#!/usr/bin/env bash
# convert benchmark: a 268 MB DistilBERT-base-shaped pytorch_model.bin written by torch, converted
# by `safetensors-cli convert` vs the Python pipeline (torch.load(weights_only=True) + a plain
# Python writer, bench/convert_bench_python.py) vs `cp` + `sync`. Wall time and peak RSS from
# /usr/bin/time -v; one warm-up run of each, then `sync`, then one measured run; ratios from the same run.
# Prints the markdown rows for docs/PERFORMANCE.md ("## Convert").
# Usage: bench/convert_bench.sh [BUILD_DIR]    (needs ~1 GB free in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cli=${SAFETENSORS_CLI:-$build/tools/cli/safetensors-cli}
[[ -x "$cli" ]] || { echo "build $cli first (cmake --build $build --target safetensors-cli)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 bench/convert_bench_make.py "$work" >/dev/null
in=$work/pytorch_model.bin
size=$(stat -c %s "$in")

measure() {  # label, command...: prints "seconds rss_kib"
  local label=$1; shift
  "$@" >/dev/null 2>&1  # warm-up (page cache, Python imports)
  sync                  # start each measured run with no dirty pages of earlier runs pending
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
  echo "$wall $rss"
}

read ours ours_rss < <(measure ours "$cli" convert "$in" "$work/ours.safetensors" --force --quiet)
read ours_nv ours_nv_rss < <(measure ours_nv "$cli" convert "$in" "$work/ours_nv.safetensors" --force --quiet --no-verify)
read py py_rss < <(measure python /usr/bin/python3 bench/convert_bench_python.py "$in" "$work/py.safetensors")
read cps cp_rss < <(measure cp sh -c "cp '$in' '$work/copy.bin' && sync")
same=$(cmp -s "$work/ours.safetensors" "$work/py.safetensors" && echo yes || echo no)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
echo "command: bench/convert_bench.sh $build  ($(date -u +%Y-%m-%d), $(nproc) cores, input $size bytes)"
echo "| run | wall s | peak RSS MiB | vs ours |"
echo "|---|---|---|---|"
echo "| safetensors-cli convert (verify on, fsync) | $ours | $(mib "$ours_rss") | 1.00 |"
echo "| safetensors-cli convert --no-verify (fsync) | $ours_nv | $(mib "$ours_nv_rss") | $(ratio "$ours_nv" "$ours") |"
echo "| Python: torch.load(weights_only=True) + Python writer | $py | $(mib "$py_rss") | $(ratio "$py" "$ours") x slower |"
echo "| cp + sync | $cps | $(mib "$cp_rss") | ours = $(ratio "$ours" "$cps") x cp (--no-verify: $(ratio "$ours_nv" "$cps") x) |"
echo "output byte-identical to the Python writer's: $same"
echo "RSS: ours / checkpoint size = $(awk -v r="$ours_rss" -v s="$size" 'BEGIN { printf "%.3f", r * 1024 / s }')"
