#!/usr/bin/env bash
# convert benchmark: a 268 MB DistilBERT-base-shaped pytorch_model.bin written by torch, converted
# by `safetensors-cli convert` vs the Python pipeline (torch.load(weights_only=True) + a plain
# Python writer, bench/convert_bench_python.py) vs `cp` + `sync`. Wall time and peak RSS from
# /usr/bin/time -v; one warm-up run of each, then RUNS (default 5) rounds in which the commands
# alternate, each after a `sync`; wall = median, RSS = max over the runs; ratios from the same run.
# Prints the markdown rows for docs/PERFORMANCE.md ("## Convert").
# Usage: bench/convert_bench.sh [BUILD_DIR]    (needs ~1 GB free in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cli_bench_lib.sh
scripts/python bench/convert_bench_make.py "$work" >/dev/null
in=$work/pytorch_model.bin
size=$(stat -c %s "$in")

runs=${RUNS:-5}
# One run of a command: prints "seconds rss_kib" (wall from /usr/bin/time -v).
timed() {
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
  echo "$wall $rss"
}

labels=(ours ours_nv python cp)
cmd_ours=("$cli" convert "$in" "$work/ours.safetensors" --force --quiet)
cmd_ours_nv=("$cli" convert "$in" "$work/ours_nv.safetensors" --force --quiet --no-verify)
cmd_python=(scripts/python bench/convert_bench_python.py "$in" "$work/py.safetensors")
cmd_cp=(sh -c "cp '$in' '$work/copy.bin' && sync")
for l in "${labels[@]}"; do  # warm-up: page cache, Python imports, existing outputs
  declare -n c="cmd_$l"; "${c[@]}" >/dev/null 2>&1; unset -n c
done
# The commands alternate, `sync` before each so that no dirty pages of earlier runs are pending.
for ((r = 0; r < runs; r++)); do
  for l in "${labels[@]}"; do
    declare -n c="cmd_$l"; sync; timed "${c[@]}" >>"$work/$l.runs"; unset -n c
  done
done
read ours ours_rss < <(echo "$(cut -d' ' -f1 "$work/ours.runs" | median) $(cut -d' ' -f2 "$work/ours.runs" | sort -n | tail -1)")
read ours_nv ours_nv_rss < <(echo "$(cut -d' ' -f1 "$work/ours_nv.runs" | median) $(cut -d' ' -f2 "$work/ours_nv.runs" | sort -n | tail -1)")
read py py_rss < <(echo "$(cut -d' ' -f1 "$work/python.runs" | median) $(cut -d' ' -f2 "$work/python.runs" | sort -n | tail -1)")
read cps cp_rss < <(echo "$(cut -d' ' -f1 "$work/cp.runs" | median) $(cut -d' ' -f2 "$work/cp.runs" | sort -n | tail -1)")
same=$(cmp -s "$work/ours.safetensors" "$work/py.safetensors" && echo yes || echo no)

echo "command: RUNS=$runs bench/convert_bench.sh $build  ($(date -u '+%Y-%m-%d %H:%M'), $(nproc) cores, load $(cut -d" " -f1 /proc/loadavg), input $size bytes)"
echo "cpu: $(scripts/cpu_model)"
echo "| run | wall s | peak RSS MiB | vs ours |"
echo "|---|---|---|---|"
echo "| safetensors-cli convert (verify on, fsync) | $ours | $(mib "$ours_rss") | 1.00 |"
echo "| safetensors-cli convert --no-verify (fsync) | $ours_nv | $(mib "$ours_nv_rss") | $(ratio "$ours_nv" "$ours") |"
echo "| Python: torch.load(weights_only=True) + Python writer | $py | $(mib "$py_rss") | $(ratio "$py" "$ours") x slower |"
echo "| cp + sync | $cps | $(mib "$cp_rss") | ours = $(ratio "$ours" "$cps") x cp (--no-verify: $(ratio "$ours_nv" "$cps") x) |"
echo "output byte-identical to the Python writer's: $same"
echo "RSS: ours / checkpoint size = $(awk -v r="$ours_rss" -v s="$size" 'BEGIN { printf "%.3f", r * 1024 / s }')"
