#!/usr/bin/env bash
# Greedy decoding with the KV cache for every cache variant (docs/12's table):
# bench_decode (bench/decode.cpp) on random weights, batch 256 x 64 output
# tokens from 64 source tokens, one variant after another in one run so that
# they share the machine's state. Prints one row per variant: cached tok/s
# (wall clock, median of REPS runs) and tokens per CPU-second (all threads;
# it moves much less than the wall clock on a loaded machine). Cached equals
# recomputed is the tests' business (tests/train, tests/nn), not this one's.
#
#   bench/kv_decode.sh                       tiny configuration, 1 thread
#   CONFIG=small THREADS=2 bench/kv_decode.sh
#   VARIANTS="mha mqa" bench/kv_decode.sh
#
# Run it on a quiet machine: it measures wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_DECODE:-build/release/bench/bench_decode}
[ -x "$bench" ] || { echo "bench/kv_decode.sh: build bench_decode first (cmake --preset release)" >&2; exit 1; }
config=${CONFIG:-tiny}
threads=${THREADS:-1}
variants=${VARIANTS:-mha gqa mqa rope cla2 lrkv mla paged}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=Haswell  # bench/multi30k.sh says why
fi
# tiny: 4 heads of 32 (d_model 128), 2 + 2 layers; small: 8 heads of 32, 3 + 3.
heads=$([ "$config" = small ] && echo 8 || echo 4)
dh=32
flags_for() {
  case "$1" in
    mha)   echo "" ;;
    gqa)   echo "--kv-heads $(( heads / 2 ))" ;;
    mqa)   echo "--kv-heads 1" ;;
    rope)  echo "--positions rope" ;;
    cla2)  echo "--cla-factor 2" ;;
    lrkv)  echo "--kv-rank $(( dh / 4 ))" ;;
    mla)   echo "--mla-kv-latent $(( 2 * dh )) --mla-rope-dim $(( dh / 2 ))" ;;
    paged) echo "--kv-cache paged" ;;
    *) echo "bench/kv_decode.sh: unknown variant '$1'" >&2; exit 1 ;;
  esac
}
echo "| variant ($config, $threads thread(s)) | flags | cached tok/s (wall) | cached tok per CPU-second |"
echo "|---|---|---|---|"
for v in $variants; do
  # shellcheck disable=SC2046
  text=$(ATTN_NUM_THREADS=$threads "$bench" --config "$config" --reps "${REPS:-3}" --cached-only \
    $(flags_for "$v") 2>&1) || { echo "| $v | \`$(flags_for "$v")\` | failed: $(echo "$text" | tail -1) | |"; continue; }
  # "... total T ms  S ms/step(batch)  N tok/s  (CPU C ms per run)"
  toks=$(echo "$text" | grep -o '[0-9]* tok/s' | awk '{ print $1 }')
  cpu=$(echo "$text" | grep -o 'CPU [0-9.]* ms per run' | awk '{ print $2 }')
  per_cpu=$(awk -v c="$cpu" -v n="$(( 256 * 64 ))" 'BEGIN { if (c > 0) printf "%.0f", n / (c / 1000) }')
  echo "| $v | \`$(flags_for "$v")\` | $toks | $per_cpu |"
done
