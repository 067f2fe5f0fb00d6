# Shared by the shell benchmarks of safetensors-cli. Source it from the repository root (after
# `cd "$(dirname "$0")/.."`) with the benchmark's arguments: sets `build` ($1, default build),
# `cli` (SAFETENSORS_CLI or the built binary; exits 2 when missing) and `work` (a temp folder
# deleted on exit), and defines median (of the numbers on stdin), ratio A B and mib KIB.
build=${1:-build}
cli=${SAFETENSORS_CLI:-$build/tools/cli/safetensors-cli}
[[ -x "$cli" ]] || { echo "build $cli first (cmake --build $build --target safetensors-cli)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
