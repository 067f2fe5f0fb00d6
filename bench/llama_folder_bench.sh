#!/usr/bin/env bash
# LLM-scale folder benchmark: a Llama-2-7B-shaped sharded PyTorch folder (32 layers, dim 4096,
# FFN 11008, vocab 32000, F16: 13.5 GB as SHARDS (default 2, as Hugging Face ships it) torch.save
# shards + pytorch_model.bin.index.json, written by tests/support/torch_folder.py) in a temp dir,
# deleted at the end. Measures inspect, scan, validate, validate --check-values (on the PyTorch
# folder and on its safetensors conversion), convert (verify on and off) against `cat` of the
# same files and `cp -r` + `sync`, and the checkpoint toolkit on the conversion: merge, split
# (5 GB), reshard (2 GB) against `cp` + `sync`, diff against itself and stats against `cat`,
# hash against `sha256sum`, remote inspect of the index from a loopback Range server
# (bench/range_file_server.py; requests per shard counted); wall time and peak RSS
# (/usr/bin/time -v) of each. "warm": the files were just read by `cat`
# (the page cache holds them); "cold": after `echo 3 > /proc/sys/vm/drop_caches` (root only;
# skipped otherwise). Each writing command (convert, merge, split, reshard) runs right after its
# own peer (`cp`/`cat` of the same input bytes to a copy, then `sync`) from the same page-cache
# state: cold for both as root, else both right after `cat` of the input; PAIR_RUNS rounds
# (default 2) of peer then command, best wall time of each. Prints the markdown table for
# docs/PERFORMANCE.md.
# Usage: bench/llama_folder_bench.sh [BUILD_DIR]    (needs ~60 GB free in $TMPDIR; ~25 min)
# LAYERS=2 gives a 1.3 GB folder for a quick look.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cli_bench_lib.sh
in=$work/llama
scripts/python tests/support/torch_folder.py "$in" --layers "${LAYERS:-32}" --shards "${SHARDS:-2}" >/dev/null
st=$work/llama-st
bytes=$(cat "$in"/*.bin | wc -c)
load_before=$(cut -d" " -f1 /proc/loadavg)

# One run: prints "seconds rss_kib" (wall clock and peak RSS from /usr/bin/time -v).
timed() {
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null || { cat "$work/time.txt" >&2; exit 1; }
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
  echo "$wall $rss"
}
warm() { cat "$@" >/dev/null; }
can_drop=no
[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] && can_drop=yes
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
gbs() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }
rows=()
row() {  # label, "seconds rss", reference label, reference seconds
  local s r; read -r s r <<<"$2"
  rows+=("| $1 | $s | $(gbs "$s") | $(mib "$r") | $(ratio "$s" "$4") x $3 |")
}

# ---- warm cache: the PyTorch folder --------------------------------------------------------
warm "$in"/*; cat_in=$(timed sh -c "cat '$in'/*.bin >/dev/null"); cat_s=${cat_in% *}
rows+=("| cat (PyTorch shards), warm | $cat_s | $(gbs "$cat_s") | $(mib "${cat_in#* }") | 1.00 x cat |")
row "inspect FOLDER" "$(timed "$cli" inspect "$in")" cat "$cat_s"
row "scan FOLDER" "$(timed "$cli" scan "$in")" cat "$cat_s"
row "validate FOLDER" "$(timed "$cli" validate "$in")" cat "$cat_s"
warm "$in"/*.bin
row "validate --check-values FOLDER, warm" "$(timed "$cli" validate --check-values "$in")" cat "$cat_s"

# ---- writing commands, each against its own peer from the same cache state ------------------
# state INPUTS...: cold (caches dropped) as root, else INPUTS just read.
state() { if [[ $can_drop == yes ]]; then cold; else warm "$@"; fi; }
state_text() { [[ $can_drop == yes ]] && echo "cold" || echo "warm"; }
# pair LABEL PEER_TEXT PEER_SHELL OUTPUT INPUTS -- COMMAND...: PAIR_RUNS rounds of the peer (its
# copy in $work/copy, removed after) and the command (OUTPUT removed before each run, kept after
# the last), each from `state INPUTS`; a row with the best of each.
pair() {
  local label=$1 peer_text=$2 peer_sh=$3 out=$4; shift 4
  local inputs=()
  while [[ $1 != -- ]]; do inputs+=("$1"); shift; done
  shift
  local best_p= best_c= p c
  for ((k = 0; k < ${PAIR_RUNS:-2}; k++)); do
    rm -rf "$work/copy" "$out"; sync; state "${inputs[@]}"
    p=$(timed sh -c "$peer_sh"); rm -rf "$work/copy"; sync
    state "${inputs[@]}"; c=$(timed "$@")
    if [[ -z $best_p ]] || awk -v a="${p% *}" -v b="${best_p% *}" 'BEGIN { exit !(a < b) }'; then best_p=$p; fi
    if [[ -z $best_c ]] || awk -v a="${c% *}" -v b="${best_c% *}" 'BEGIN { exit !(a < b) }'; then best_c=$c; fi
  done
  local ps=${best_p% *} cs=${best_c% *}
  rows+=("| $label, $(state_text) | $cs | $(gbs "$cs") | $(mib "${best_c#* }") | $(ratio "$cs" "$ps") x $peer_text ($ps s, $(mib "${best_p#* }") MiB) |")
}
pair "convert FOLDER OUT --no-verify (fsync)" "cp -r FOLDER COPY && sync" "cp -r '$in' '$work/copy' && sync" \
  "$work/nv" "$in"/*.bin -- "$cli" convert "$in" "$work/nv" --quiet --no-verify
rm -rf "$work/nv"
pair "convert FOLDER OUT (verify, fsync)" "cp -r FOLDER COPY && sync" "cp -r '$in' '$work/copy' && sync" \
  "$st" "$in"/*.bin -- "$cli" convert "$in" "$st" --quiet

# ---- warm cache: the converted safetensors folder ------------------------------------------
warm "$st"/*.safetensors; cat_st=$(timed sh -c "cat '$st'/*.safetensors >/dev/null"); cat_st_s=${cat_st% *}
rows+=("| cat (safetensors shards), warm | $cat_st_s | $(gbs "$cat_st_s") | $(mib "${cat_st#* }") | 1.00 x cat |")
row "validate --check-values SAFETENSORS, warm" "$(timed "$cli" validate --check-values "$st")" cat "$cat_st_s"

# ---- the checkpoint toolkit on the conversion ---------------------------------------------------
# Peer of every command that writes the converted shards' bytes again: cat of its inputs + sync.
cat_to_copy() { local q= f; for f; do q+="'$f' "; done; echo "cat $q> '$work/copy' && sync"; }
pair "merge SAFETENSORS ONE.safetensors" "cat SHARDS > COPY && sync" "$(cat_to_copy "$st"/*.safetensors)" \
  "$work/one.safetensors" "$st"/*.safetensors -- "$cli" merge "$st" "$work/one.safetensors" --quiet
pair "split ONE OUT --max-shard-size 5GB" "cat ONE > COPY && sync" "$(cat_to_copy "$work/one.safetensors")" \
  "$work/split" "$work/one.safetensors" -- "$cli" split "$work/one.safetensors" "$work/split" --max-shard-size 5GB --quiet
rm -rf "$work/split" "$work/one.safetensors"
pair "reshard SAFETENSORS OUT --max-shard-size 2GB" "cat SHARDS > COPY && sync" "$(cat_to_copy "$st"/*.safetensors)" \
  "$work/reshard" "$st"/*.safetensors -- "$cli" reshard "$st" "$work/reshard" --max-shard-size 2GB --quiet
rm -rf "$work/reshard"; warm "$st"/*.safetensors
row "diff SAFETENSORS SAFETENSORS, warm" "$(timed "$cli" diff "$st" "$st")" cat "$cat_st_s"
row "stats SAFETENSORS, warm" "$(timed "$cli" stats "$st" --json)" cat "$cat_st_s"
sha=$(timed sh -c "sha256sum '$st'/*.safetensors >/dev/null"); sha_s=${sha% *}
rows+=("| sha256sum SHARDS (one after the other) | $sha_s | $(gbs "$sha_s") | $(mib "${sha#* }") | 1.00 x sha256sum |")
shap=$(timed sh -c "ls '$st'/*.safetensors | xargs -P $(nproc) -n 1 sha256sum >/dev/null"); shap_s=${shap% *}
rows+=("| sha256sum SHARDS (xargs -P $(nproc)) | $shap_s | $(gbs "$shap_s") | $(mib "${shap#* }") | 1.00 x parallel sha256sum |")
row "hash SAFETENSORS (shards in parallel)" "$(timed "$cli" hash "$st")" "parallel sha256sum" "$shap_s"
# remote inspect of the converted index from a loopback server with Range support
coproc srv { exec scripts/python bench/range_file_server.py "$st"; }
read -r port <&"${srv[0]}"
index_url="http://127.0.0.1:$port/$(cd "$st" && ls *.index.json | head -1)"
remote_best=
for _ in 1 2 3 4 5; do
  r=$(timed "$cli" inspect "$index_url"); s=${r% *}
  if [[ -z $remote_best ]] || awk -v a="$s" -v b="${remote_best% *}" 'BEGIN { exit !(a < b) }'; then remote_best=$r; fi
done
requests=$(scripts/python -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())" "http://127.0.0.1:$port/__requests")
kill "$srv_PID"; wait "$srv_PID" 2>/dev/null || true
shard_count=$(ls "$st"/*.safetensors | wc -l)
rows+=("| inspect URL-of-index (loopback, best of 5) | ${remote_best% *} | - | $(mib "${remote_best#* }") | requests in 5 runs: $requests ($shard_count shards) |")

# ---- cold cache ------------------------------------------------------------------------------
if [[ $can_drop == yes ]]; then
  cold; cold_cat=$(timed sh -c "cat '$in'/*.bin >/dev/null"); cold_cat_s=${cold_cat% *}
  rows+=("| cat (PyTorch shards), cold | $cold_cat_s | $(gbs "$cold_cat_s") | $(mib "${cold_cat#* }") | 1.00 x cold cat |")
  cold; row "validate --check-values FOLDER, cold" "$(timed "$cli" validate --check-values "$in")" "cold cat" "$cold_cat_s"
  cold; row "validate --check-values SAFETENSORS, cold" "$(timed "$cli" validate --check-values "$st")" "cold cat" "$cold_cat_s"
fi

echo "command: bench/llama_folder_bench.sh $build  ($(date -u '+%Y-%m-%d %H:%M'), $(nproc) cores, load $load_before before / $(cut -d" " -f1 /proc/loadavg) after, $bytes bytes of tensor shards)"
echo "cpu: $(scripts/cpu_model)"
echo "| command | wall s | GB/s of the folder | peak RSS MiB | vs peer |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
