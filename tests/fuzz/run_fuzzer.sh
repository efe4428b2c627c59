#!/usr/bin/env bash
# Runs one libFuzzer harness for a bounded time: what ctest's fuzz_NAME tests
# and scripts/fuzz call (tests/fuzz/README.md).
#
#   run_fuzzer.sh HARNESS SECONDS SEEDS WORKDIR [DICT]
#
# New inputs go to WORKDIR/corpus (never into the committed SEEDS), a finding
# to WORKDIR/artifacts/, named by libFuzzer (crash-..., leak-..., timeout-...,
# oom-...). Exits 0 when the time ran out without a finding, 1 otherwise.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 HARNESS SECONDS SEEDS WORKDIR [DICT]" >&2; exit 2; }
harness=$1 seconds=$2 seeds=$3 work=$4 dict=${5:-}
name=$(basename "$harness")
mkdir -p "$work/corpus" "$work/artifacts"
# -timeout: an input that takes 10 s is a hang; -rss_limit_mb: 2 GB is a
# leak or an allocation no reader should make for a small file.
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/")
[ -n "$dict" ] && args+=(-dict="$dict")
# ATTN_FUZZ_SEED (ctest sets 1): a fixed seed instead of a new one each run.
[ -n "${ATTN_FUZZ_SEED:-}" ] && args+=(-seed="$ATTN_FUZZ_SEED")
if "$harness" "${args[@]}" "$work/corpus" "$seeds"; then
  echo "$name: ${seconds} s without a finding"
  exit 0
fi
echo "$name: FINDING. The input libFuzzer saved:" >&2
ls -l "$work/artifacts/" >&2
echo "Replay it: $harness $work/artifacts/<file>   (tests/fuzz/README.md: what to do next)" >&2
exit 1
