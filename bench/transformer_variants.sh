#!/usr/bin/env bash
# Multi-head, grouped-query and multi-query attention side by side (docs/12):
# the toy Transformer of docs/09 trained on `dates` three times, changing only
# --transformer-kv-heads (4 = MHA, 2 = GQA, 1 = MQA, with 4 query heads), then
#   - exact match on the test split (beam 4, length penalty 0.6),
#   - the key/value cache's peak bytes when translating 1000 sentences in
#     batches of 64 (attn translate --report-cache),
#   - the wall time of that translation.
# Writes runs/transformer-variants/table.md. Finished trainings are kept (rerun
# with RETRAIN=1 to train again).
set -euo pipefail
cd "$(dirname "$0")/.."
attn=${ATTN:-build/release/attn}
out=runs/transformer-variants
mkdir -p "$out"
# 1000 date sentences in the task's styles (the four of scripts/run, repeated).
for i in $(seq 250); do
  printf '%s\n' "march 3rd, 1999" "the 21st of july 2024" "Tuesday, February 4, 2003" "12/10/1981"
done >"$out/sentences.txt"

{
  echo "| attention | kv heads | parameters | exact match (test, beam 4) | training (wall) | peak KV cache, batch of 64 x beam 4 | translating 1000 sentences (wall) |"
  echo "|---|---|---|---|---|---|---|"
} >"$out/table.md"
for kv in 4 2 1; do
  name=$([ $kv = 4 ] && echo MHA || ([ $kv = 1 ] && echo MQA || echo GQA))
  model=$out/$name.safetensors
  if [ ! -f "$model" ] || [ "${RETRAIN:-0}" = 1 ]; then
    rm -f "$model" "$model".* "$out/$name".*
    start=$(date +%s.%N)
    "$attn" train --type transformer --task dates --model "$model" --dim-emb 64 \
      --transformer-heads 4 --transformer-kv-heads $kv --transformer-dim-ffn 256 \
      --enc-depth 2 --dec-depth 2 --lr-warmup 200 --after 1500u --disp-freq 500 \
      --valid-freq 1500 --save-freq 1500 --quiet >"$out/$name.train.log" 2>&1
    echo "$(date +%s.%N) - $start" | bc >"$out/$name.train_seconds"
  fi
  params=$(grep -o '[0-9]* parameters' "$out/$name.train.log" | head -1)
  "$attn" eval --model "$model" --task dates >"$out/$name.eval.txt"
  exact=$(grep -o 'exact-match [0-9.]*%' "$out/$name.eval.txt" | head -1 | cut -d' ' -f2)
  start=$(date +%s.%N)
  "$attn" translate --model "$model" --input "$out/sentences.txt" --output "$out/$name.hyp" \
    --report-cache 2>"$out/$name.cache.txt"
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  peak=$(awk '{ for (i = 1; i <= NF; ++i) if ($i == "peak") print $(i + 1) }' "$out/$name.cache.txt" | sort -n | tail -1)
  printf '| %s | %s | %s | %s | %.0f s | %s bytes | %.1f s |\n' "$name" "$kv" "${params% parameters}" \
    "$exact" "$(cat "$out/$name.train_seconds")" "$peak" "$seconds" >>"$out/table.md"
done
cat "$out/table.md"
