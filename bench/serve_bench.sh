#!/usr/bin/env bash
# HTTP serving benchmark: `safetensors-cli serve` vs a FastAPI + uvicorn + torch server of the
# same model (bench/fastapi_server.py), driven by wrk on 127.0.0.1 with IMDB-length reviews
# (~300 tokens: up to 200 of 1,200-1,800 characters), at concurrency 1, 8 and 64; plus
# `classify` on the same texts in one process (the in-process ceiling the server is compared
# with). Models: the example model (examples/distilbert-imdb, when present) and DistilBERT-base
# shapes (random weights). Prints the CPU model first and the kernels of both servers last.
# Usage: bench/serve_bench.sh [BUILD_DIR] [SECONDS_PER_RUN]     (needs wrk: scripts/setup --bench)
# Our server and classify run in each precision of PRECISIONS (default "fp32 bf16 int8"; the
# FastAPI peer is torch fp32).
# Env: EXAMPLE_MODEL=DIR (default examples/distilbert-imdb), SKIP_BASE=1 (example model only),
#      THREADS (inference threads for both servers, default 2), REVIEWS=FILE (IMDB JSON lines,
#      gzip; default the repository's slice tests/data/imdb/test_slice.jsonl.gz, ~100 such reviews).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
seconds=${2:-10}
cli=${SAFETENSORS_CLI:-$build/tools/cli/safetensors-cli}
threads=${THREADS:-2}
read -r -a precisions <<<"${PRECISIONS:-fp32 bf16 int8}"
export OPENBLAS_CORETYPE=SkylakeX
tmp=$(mktemp -d)
server_pid=""
kernels=()
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$root/scripts/python" "$here/serve_bench_prep.py" "$tmp" 200 ${REVIEWS:+"$REVIEWS"} >&2
example=${EXAMPLE_MODEL:-$root/examples/distilbert-imdb}
models=()
if [[ -f "$example/config.json" ]]; then
  models+=("example:$(basename "$example")=$example")
else
  echo "no example model in $example: skipping its rows" >&2
fi
[[ "${SKIP_BASE:-0}" == 1 ]] || models+=("distilbert-base=$tmp/distilbert-base")

wait_health() {  # port
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_ours() {  # model dir, precision
  "$cli" serve --model "$1" --port 0 --threads "$threads" --max-batch-requests 16 --precision "$2" >"$tmp/ours.out" 2>"$tmp/ours.log" &
  server_pid=$!
  for _ in $(seq 1 100); do grep -q listening "$tmp/ours.out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/ours.out" | head -1)
}

start_fastapi() {  # model dir (torch fp32)
  port=$("$root/scripts/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$root/scripts/python" "$here/fastapi_server.py" --model "$1" --port "$port" --threads "$threads" >"$tmp/fastapi.log" 2>&1 &
  server_pid=$!
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

echo "cpu: $("$root/scripts/cpu_model")"
printf '| model | server | concurrency | req/s | p50 ms | p99 ms | errors |\n|---|---|---:|---:|---:|---:|---:|\n'
for entry in "${models[@]}"; do
  name=${entry%%=*}
  dir=${entry#*=}
  runs=()
  for p in "${precisions[@]}"; do runs+=("ours:$p"); done
  runs+=("fastapi:fp32")
  for run in "${runs[@]}"; do
    server=${run%%:*}
    precision=${run#*:}
    "start_$server" "$dir" "$precision"
    if ! wait_health "$port"; then
      echo "$server ($precision) did not start for $name" >&2
      cat "$tmp/$server".log >&2 || true
      stop_server
      continue
    fi
    curl -sf -X POST -H 'Content-Type: application/json' -d '{"text":"warm up"}' "http://127.0.0.1:$port/predict" >/dev/null
    for c in 1 8 64; do
      t=$(( c < 2 ? 1 : 2 ))
      line=$(wrk -t"$t" -c"$c" -d"${seconds}s" --timeout 60s -s "$tmp/post.lua" "http://127.0.0.1:$port/predict" | grep '^RESULT' || true)
      req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
      sec=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$line")
      p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$line")
      p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")
      err=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
      rps=$(awk -v r="${req:-0}" -v s="${sec:-1}" 'BEGIN { printf "%.1f", r / s }')
      printf '| %s | %s %s | %d | %s | %s | %s | %s |\n' "$name" "$server" "$precision" "$c" "$rps" "${p50:-?}" "${p99:-?}" "${err:-?}"
    done
    stop_server
  done
  # In-process ceiling per precision: classify the first 64 of the same reviews, batches of 16.
  head -n 64 "$tmp/texts.txt" >"$tmp/texts64.txt"
  n=$(wc -l <"$tmp/texts64.txt")
  for p in "${precisions[@]}"; do
    start=$(date +%s.%N)
    "$cli" classify --model "$dir" --threads "$threads" --batch-size 16 --precision "$p" --json <"$tmp/texts64.txt" >/dev/null
    end=$(date +%s.%N)
    awk -v n="$n" -v a="$start" -v b="$end" -v m="$name" -v p="$p" 'BEGIN { printf "| %s | classify %s (in process, batch 16) | - | %.1f texts/s | - | - | - |\n", m, p, n / (b - a) }'
    # The oneDNN implementations our engine picks for this model (one text; ONEDNN_VERBOSE exec lines).
    kernels+=("kernels (ours $p, $name): oneDNN $(head -n 1 "$tmp/texts64.txt" |
      ONEDNN_VERBOSE=1 "$cli" classify --model "$dir" --threads 1 --precision "$p" 2>/dev/null |
      awk -F, '$1 == "onednn_verbose" && $2 == "exec" { print $4 " " $5 }' | sort -u | paste -sd, -)")
  done
done
printf '%s\n' "${kernels[@]}"
echo "kernels (fastapi): $(cd "$here" && "$root/scripts/python" -c 'import model_bench; print(model_bench.torch_kernels())')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
