#!/usr/bin/env bash
# File I/O benchmark: open + read every byte of a 268 MB file (mmap, pread) vs cat and
# torch.load, and write vs cp. Prints the markdown table for docs/PERFORMANCE.md ("## File I/O").
# Usage: bench/run_io_bench.sh [BUILD_DIR] [-- io_bench options: --dir DIR --reps N --no-torch]
# Needs ~1.1 GB free in $TMPDIR (or --dir); the page cache is warm (every row has a warm-up run).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
[[ "${1:-}" == "--" ]] && shift
if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target io_bench >/dev/null
echo "command: bench/run_io_bench.sh $build $*  ($(date -u +%Y-%m-%d), $(nproc) cores)"
"$build/bench/io_bench" "$@"
