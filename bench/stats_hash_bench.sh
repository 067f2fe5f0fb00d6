#!/usr/bin/env bash
# stats and hash benchmark: a ~2 GB F16 and a ~2 GB BF16 .safetensors file (one tensor of 2^30
# standard-normal values each, the same in both, written by tests/support/random_safetensors.py
# into a temp folder and deleted at the end; VALUES=N for N values instead), page cache warm;
# `safetensors-cli stats` against `cat FILE > /dev/null` and `safetensors-cli hash` against
# `sha256sum`, alternating in the same run. RUNS rounds (default 5) after a warm-up; wall =
# median, CPU = median of user + sys (from /usr/bin/time: the machine may be shared, so CPU time
# is the load-independent figure), peak RSS = max.
# Prints the markdown table for docs/PERFORMANCE.md ("## Values: stats and hash").
# Usage: bench/stats_hash_bench.sh [BUILD_DIR]   (needs ~4.3 GB free in $TMPDIR and as much RAM
# for the page cache)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cli_bench_lib.sh
values=${VALUES:-1073741824}
for dt in F16 BF16; do
  scripts/python tests/support/random_safetensors.py "$work/$dt.safetensors" "$values" "weight:$dt"
done

runs=${RUNS:-5}
# One run: appends "wall cpu rss_kib" to $work/$label.runs.
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@" >/dev/null
  awk '{ printf "%s %.3f %s\n", $1, $2 + $3, $4 }' "$work/time.txt" >>"$work/$label.runs"
}
col() { cut -d' ' -f"$2" "$work/$1.runs"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for dt in F16 BF16; do
  f=$work/$dt.safetensors
  cmd_cat=(sh -c "cat '$f' > /dev/null")
  cmd_stats=("$cli" stats "$f" --json --quiet)
  cmd_sha=(sha256sum "$f")
  cmd_hash=("$cli" hash "$f" --quiet)
  for l in cat stats sha hash; do  # warm-up: page cache
    declare -n c="cmd_$l"; "${c[@]}" >/dev/null; unset -n c
  done
  for ((r = 0; r < runs; r++)); do
    for l in cat stats sha hash; do
      declare -n c="cmd_$l"; timed "$dt.$l" "${c[@]}"; unset -n c
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

size=$(stat -c %s "$work/F16.safetensors")
gbs() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.2f", s / t / 1e9 }'; }
echo "command: RUNS=$runs bench/stats_hash_bench.sh $build  ($(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, file $size bytes each)"
echo "cpu: $(scripts/cpu_model)"
echo "load average (1, 5, 15 min): $load_before before, $load_after after"
echo
echo "| file | command | wall s | GB/s | CPU s (user+sys) | GB per CPU s | peak RSS MiB | vs peer (wall) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for dt in F16 BF16; do
  for l in cat stats sha hash; do
    wall=$(col "$dt.$l" 1 | median)
    cpu=$(col "$dt.$l" 2 | median)
    rss=$(col "$dt.$l" 3 | sort -n | tail -1)
    case $l in
      cat) name='`cat FILE > /dev/null`'; peer=$wall; vs="1.00x cat" ;;
      stats) name='`safetensors-cli stats FILE --json`'; vs="$(ratio "$wall" "$peer")x cat" ;;
      sha) name='`sha256sum FILE`'; peer=$wall; vs="1.00x sha256sum" ;;
      hash) name='`safetensors-cli hash FILE`'; vs="$(ratio "$wall" "$peer")x sha256sum" ;;
    esac
    echo "| $dt | $name | $wall | $(gbs "$wall") | $cpu | $(gbs "$cpu") | $(mib "$rss") | $vs |"
  done
done
