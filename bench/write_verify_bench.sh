#!/usr/bin/env bash
# Writing commands on a 2 GiB file: `merge`, `merge --no-verify`, `split`, `reshard` and
# `convert` (safetensors -> safetensors, verification on unless said) against
# `cat FILE > COPY && sync` of the same bytes. The input (4 tensors of 2^28 random F16/BF16
# values, 2,147,484,024 bytes, written by tests/support/random_safetensors.py; VALUES=N for N
# values per tensor instead) and every output live in a temp folder deleted at the end;
# `reshard` re-cuts the `split` output. Page cache warm (the input was just written; each output
# is removed, untimed, before its command runs). RUNS rounds (default 3) in which the commands
# alternate; wall = best, CPU (user + sys, the figure a shared machine's load does not change
# much) = least, RSS = max. With DROP_CACHES=1 (root) `sync; echo 3 > /proc/sys/vm/drop_caches`
# runs before every command instead: cold input. Prints the markdown table for
# docs/PERFORMANCE.md (toolkit section).
# Usage: bench/write_verify_bench.sh [BUILD_DIR]   (needs ~7 GB free in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cli_bench_lib.sh
values=${VALUES:-268435456}
scripts/python tests/support/random_safetensors.py "$work/in.safetensors" "$values" \
  a.weight:F16 b.weight:BF16 c.weight:F16 d.weight:BF16
in=$work/in.safetensors
"$cli" split "$in" "$work/shards" --max-shard-size 512MB --quiet  # reshard's input

runs=${RUNS:-3}
labels=(cp merge merge_nv split reshard convert)
cmd_cp=(sh -c "cat '$in' > '$work/out/copy.safetensors' && sync")
cmd_merge=("$cli" merge "$in" "$work/out/one.safetensors" --quiet)
cmd_merge_nv=("$cli" merge "$in" "$work/out/one.safetensors" --quiet --no-verify)
cmd_split=("$cli" split "$in" "$work/out" --max-shard-size 512MB --quiet)
cmd_reshard=("$cli" reshard "$work/shards" "$work/out" --max-shard-size 1GB --quiet)
cmd_convert=("$cli" convert "$in" "$work/out/conv.safetensors" --quiet)
declare -A text=(
  [cp]='`cat FILE > COPY && sync`'
  [merge]='`merge FILE ONE.safetensors`'
  [merge_nv]='`merge FILE ONE.safetensors --no-verify`'
  [split]='`split FILE OUT --max-shard-size 512MB`'
  [reshard]='`reshard SHARDS OUT --max-shard-size 1GB` (4 shards in)'
  [convert]='`convert FILE OUT.safetensors`'
)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < runs; r++)); do
  for l in "${labels[@]}"; do
    rm -rf "$work/out" && mkdir "$work/out" && sync
    if [[ "${DROP_CACHES:-0}" == 1 ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
    declare -n c="cmd_$l"
    /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "${c[@]}" >/dev/null
    unset -n c
    cat "$work/time.txt" >>"$work/$l.runs"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
best() { cut -d' ' -f1 "$work/$1.runs" | sort -n | head -n 1; }
rss() { cut -d' ' -f2 "$work/$1.runs" | sort -n | tail -n 1; }
cpu() { awk '{ printf "%.2f\n", $3 + $4 }' "$work/$1.runs" | sort -n | head -n 1; }
echo "cpu: $(scripts/cpu_model); input $(stat -c %s "$in") bytes; runs $runs; cache $([[ "${DROP_CACHES:-0}" == 1 ]] && echo cold || echo warm)"
echo "load average before: $load_before, after: $load_after"
echo
echo "| command | wall s (best of $runs) | CPU s (user + sys, least) | peak RSS MiB | vs cat + sync |"
echo "|---|---:|---:|---:|---:|"
peer=$(best cp)
for l in "${labels[@]}"; do
  echo "| ${text[$l]} | $(best "$l") | $(cpu "$l") | $(mib "$(rss "$l")") | $(ratio "$(best "$l")" "$peer")x |"
done
