#!/usr/bin/env bash
# Long fuzzing runs (not CI): each named target (default: every fuzz binary in BUILD/fuzz) for
# SECONDS, or until RUNS executions, under ASan+UBSan (the "fuzz" preset), seeded with its
# committed corpus; new inputs go to a scratch corpus, crashes to fuzz/findings/<target>/.
# Prints one summary line per target (executions, exec/s, coverage, findings) for
# docs/FUZZING.md. Continue a run by calling it again: libFuzzer starts from the corpus.
# Usage: fuzz/soak.sh BUILD_DIR SECONDS [TARGET...]     Env: RUNS (default 10000000), JOBS (1)
#   cmake --preset fuzz && cmake --build build-fuzz --target fuzz_all
#   fuzz/soak.sh build-fuzz 3600 request_body_fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/soak.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/soak.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
runs=${RUNS:-10000000}
targets=("$@")
if ((${#targets[@]} == 0)); then
  for bin in "$build"/fuzz/*_fuzz; do targets+=("$(basename "$bin")"); done
fi
for name in "${targets[@]}"; do
  bin=$build/fuzz/$name
  [[ -x "$bin" ]] || { echo "soak: $bin not built" >&2; exit 1; }
  corpus=fuzz/corpus/$name
  findings=fuzz/findings/$name
  mkdir -p "$findings"
  work=$(mktemp -d)
  log=$(mktemp)
  start=$(date +%s)
  rc=0
  "$bin" -max_total_time="$seconds" -runs="$runs" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$findings/" -print_final_stats=1 "$work" "$corpus" >"$log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
  found=$(find "$findings" -type f | wc -l)
  echo "soak: $name: ${execs:-?} executions in ${elapsed}s ($(( ${execs:-0} / (elapsed > 0 ? elapsed : 1) )) exec/s), $cov, exit $rc, findings $found, new corpus inputs $(ls "$work" | wc -l)"
  if ((rc != 0)); then grep -E "ERROR|runtime error|SUMMARY" "$log" | head -5; fi
  rm -rf "$work" "$log"
  [[ "$found" == 0 ]] && rmdir "$findings" 2>/dev/null || true
done
rmdir fuzz/findings 2>/dev/null || true
