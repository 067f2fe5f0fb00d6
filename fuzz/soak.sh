#!/usr/bin/env bash
# Long fuzzing runs (not CI): each named target (default: every fuzz binary in BUILD/fuzz) for
# SECONDS under ASan+UBSan (the "fuzz" preset), seeded with its committed corpus
# fuzz/corpus/<target>/ and its scratch corpus fuzz/soak-corpus/<target>/ (git-ignored), where
# new inputs go: a second call continues from what the first found. Crashes go to
# fuzz/findings/<target>/ (git-ignored). Each run appends one line to fuzz/soak-corpus/<target>.log
# (date, commit, seconds, executions, exec/s, cov, findings) and prints it with the target's
# executions over all logged runs, for docs/FUZZING.md.
# One soak at a time per target: a run holds the lock fuzz/soak-corpus/<target>.lock (flock) while
# it fuzzes and counts, so a second soak.sh on the same target (another shell, or the target named
# twice) says so and waits for the first to finish, then runs its own SECONDS: the counts of new
# inputs and findings and the GOAL check stay exact, and every run logs its line. Runs on
# different targets go on side by side.
# Usage: fuzz/soak.sh BUILD_DIR SECONDS [TARGET...]
# Env: GOAL (10000000): a run stops when the target's logged executions reach GOAL (no cap once
#        they have); RUNS: this run's cap instead.
#      JOBS (1): targets fuzzed at once (one process each; the machine's cores, not more).
#      TIMEOUT (10): seconds of WALL time one input may take before libFuzzer calls it a hang;
#        raise it when the soak shares the machine (under nice, a starved process times out on
#        inputs that take milliseconds).
#   cmake --preset fuzz && cmake --build build-fuzz --target fuzz_all
#   fuzz/soak.sh build-fuzz 3600 request_body_fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: fuzz/soak.sh BUILD_DIR SECONDS [TARGET...]"
build=${1:?$usage}
seconds=${2:?$usage}
shift 2
goal=${GOAL:-10000000}
jobs=${JOBS:-1}
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
targets=("$@")
if ((${#targets[@]} == 0)); then
  for bin in "$build"/fuzz/*_fuzz; do targets+=("$(basename "$bin")"); done
fi
for name in "${targets[@]}"; do
  [[ -x "$build/fuzz/$name" ]] || { echo "soak: $build/fuzz/$name not built" >&2; exit 1; }
done

# The sum of executions= over a target's log.
logged_executions() {
  [[ -f "$1" ]] || { echo 0; return; }
  awk '{ for (i = 1; i <= NF; ++i) if ($i ~ /^executions=/) { sub(/^executions=/, "", $i); s += $i } }
       END { printf "%d\n", s }' "$1"
}

soak_one() {
  local name=$1
  local bin=$build/fuzz/$name corpus=fuzz/corpus/$name work=fuzz/soak-corpus/$name
  local findings=fuzz/findings/$name history=fuzz/soak-corpus/$name.log
  mkdir -p "$work"
  local lock
  exec {lock}>"$work.lock"
  if ! flock -n "$lock"; then
    echo "soak: $name: another soak.sh is fuzzing it; waiting for it to finish ($work.lock)" >&2
    flock "$lock"
  fi
  mkdir -p "$findings"  # (removed at the end of a run that found nothing)
  local before_found before_inputs done_execs runs out start rc=0
  before_found=$(find "$findings" -type f | wc -l)
  before_inputs=$(find "$work" -type f | wc -l)
  done_execs=$(logged_executions "$history")
  runs=${RUNS:-$(( goal > done_execs ? goal - done_execs : -1 ))}
  out=$(mktemp)
  start=$(date +%s)
  "$bin" -max_total_time="$seconds" -runs="$runs" -rss_limit_mb=2048 -timeout="${TIMEOUT:-10}" \
    -artifact_prefix="$findings/" -print_final_stats=1 "$work" "$corpus" >"$out" 2>&1 || rc=$?
  local elapsed execs cov found inputs line
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
  execs=${execs:-0}
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -n 1 | grep -o '[0-9]*' || true)
  found=$(( $(find "$findings" -type f | wc -l) - before_found ))
  inputs=$(( $(find "$work" -type f | wc -l) - before_inputs ))
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$commit seconds=$elapsed executions=$execs"
  line+=" exec/s=$(( execs / (elapsed > 0 ? elapsed : 1) )) cov=${cov:-?} findings=$found"
  echo "$line" >>"$history"
  echo "soak: $name: $line exit=$rc new-inputs=$inputs;" \
    "logged executions $(logged_executions "$history") over $(wc -l <"$history") runs"
  if ((rc != 0)); then grep -E "ERROR|runtime error|SUMMARY" "$out" | head -5 || true; fi
  rm -f "$out"
  rmdir "$findings" 2>/dev/null || true  # only when empty
  exec {lock}>&-
}

running=0
for name in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  soak_one "$name" &
  running=$((running + 1))
done
wait
