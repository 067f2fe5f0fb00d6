#!/usr/bin/env bash
# Runs every fuzz target for a few seconds, seeded with (and regression-checked on) its corpus.
# Usage: fuzz/run_all.sh BUILD_DIR SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}; seconds=${2:-20}
shopt -s nullglob
for bin in "$build"/fuzz/*_fuzz; do
  name=$(basename "$bin")
  corpus=fuzz/corpus/$name
  mkdir -p "$corpus"
  work=$(mktemp -d)
  echo "fuzz: $name for ${seconds}s (corpus $(ls "$corpus" | wc -l) files)"
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
    "$work" "$corpus" 2>"$work.log" || { tail -40 "$work.log"; echo "fuzz: $name FAILED"; exit 1; }
  rm -rf "$work" "$work.log"
done
echo "fuzz: all targets passed"
