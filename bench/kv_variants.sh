#!/usr/bin/env bash
# Every key/value-cache variant of chapters 11-20 side by side (docs/12's
# table): the same Transformer changed in one setting at a time, each trained
# for the same budget of CPU time on `toy-lang` and on Multi30k de-en, then
#   - the cache per decoded token (attn translate --report-cache: the
#     self-attention bytes of the longest batch over its positions and rows),
#   - quality: toy-lang exact match and BLEU on its test split (beam 4, length
#     penalty 0.6), Multi30k BLEU on test_2016_flickr of the model the budget
#     left (beam 4, length penalty 0.6),
#   - the CPU seconds each training used (the budget, plus the last update).
# Decoding speed is not measured here: bench/decode.cpp times greedy decoding
# of batch 256 x 64 tokens for each variant on random weights (the speed of a
# step does not depend on what the weights learned); run that on a quiet
# machine (docs/12 gives the command).
#
#   bench/kv_variants.sh toy-lang              every variant on toy-lang
#   bench/kv_variants.sh multi30k              ... on Multi30k (../shared/data)
#   VARIANTS="mha mqa" bench/kv_variants.sh toy-lang
#   bench/kv_variants.sh multi30k-eval         score the Multi30k models again
#   bench/kv_variants.sh table                 the table of what has been run
#
# The budget is CPU time, whatever else the machine runs (as bench/multi30k.sh:
# `ulimit -S -t`, then attn train saves and stops): TOY_SECONDS (default 60)
# for toy-lang, M30K_MINUTES (default 8) for Multi30k, one thread each
# (ATTN_THREADS). Finished runs are kept; RETRAIN=1 trains again.
set -euo pipefail
cd "$(dirname "$0")/.."
attn=${ATTN:-build/release/attn}
[ -x "$attn" ] || { echo "bench/kv_variants.sh: build attn first (cmake --preset release)" >&2; exit 1; }
what=${1:?usage: bench/kv_variants.sh toy-lang|multi30k|table}
variants=${VARIANTS:-mha gqa mqa rope cla2 lrkv mla}
threads=${ATTN_THREADS:-1}
out=runs/kv-variants
mkdir -p "$out"
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=Haswell  # as bench/multi30k.sh says why
fi

# The one setting each variant changes. toy-lang's model has 4 heads of 16
# (d_model 64), Multi30k's 8 heads of 16 (d_model 128, bench/multi30k.sh's
# transformer-small).
flags_for() {  # variant heads head_dim
  local h=$2 dh=$3
  case "$1" in
    mha)  echo "" ;;
    gqa)  echo "--transformer-kv-heads $(( h / 2 ))" ;;
    mqa)  echo "--transformer-kv-heads 1" ;;
    rope) echo "--positions rope" ;;
    cla2) echo "--cla-factor 2" ;;
    lrkv) echo "--kv-rank $(( dh / 4 ))" ;;
    mla)  echo "--mla-kv-latent $(( 2 * dh )) --mla-rope-dim $(( dh / 2 ))" ;;
    *) echo "bench/kv_variants.sh: unknown variant '$1'" >&2; exit 1 ;;
  esac
}

toy() {
  local v=$1 dir=$out/toy-lang
  mkdir -p "$dir"
  local model=$dir/$v.safetensors
  if [ ! -f "$dir/$v.cpu_seconds" ] || [ "${RETRAIN:-0}" = 1 ]; then
    rm -f "$model" "$model".* "$dir/$v".*
    set +e
    ( ulimit -S -t "${TOY_SECONDS:-60}"
      ATTN_NUM_THREADS=$threads /usr/bin/time -f "%U %S" -o "$dir/$v.time" "$attn" train \
        --type transformer --task toy-lang --model "$model" --dim-emb 64 \
        --transformer-heads 4 --transformer-dim-ffn 256 --enc-depth 2 --dec-depth 2 \
        --lr-warmup 200 --after 100000u --disp-freq 500 --valid-freq 500 --save-freq 500 \
        --quiet $(flags_for "$v" 4 16) ) >"$dir/$v.train.log" 2>&1
    local code=$?
    set -e
    [ "$code" = 0 ] || [ "$code" = 152 ] || { echo "$v: attn train exit $code" >&2; tail "$dir/$v.train.log" >&2; return 1; }
    tail -n 1 "$dir/$v.time" | awk '{ printf "%d\n", $1 + $2 + 0.5 }' >"$dir/$v.cpu_seconds"
  fi
  local best=$model
  [ -f "$dir/$v.best.safetensors" ] && best=$dir/$v.best.safetensors
  ATTN_NUM_THREADS=$threads "$attn" eval --model "$best" --task toy-lang --beam-size 4 --normalize 0.6 \
    >"$dir/$v.eval.txt" 2>&1
  "$attn" eval --model "$best" --task toy-lang --beam-size 1 --output "$dir/$v.greedy.hyp" >/dev/null 2>&1 || true
  # The same 64 English sentences for every variant, decoded greedily in
  # one batch, for the cache report.
  ATTN_NUM_THREADS=$threads "$attn" translate --model "$best" --beam-size 1 --mini-batch 64 \
    --input bench/data/toy_lang_64.en --output /dev/null --report-cache >/dev/null 2>"$dir/$v.cache.txt"
}

m30k() {
  local v=$1
  RUN_NAME=kv-$v EXTRA_FLAGS="$(flags_for "$v" 8 16)" ATTN_THREADS=$threads \
    bench/multi30k.sh train transformer-small "${M30K_MINUTES:-8}"
  m30k_eval "$v"
}

# The model as the budget left it (not the best of the validations, which
# happen every 900 updates: a budget ends between them), beam 4, length
# penalty 0.6, on test_2016_flickr; and its cache on the first 64 test
# sentences, greedy.
m30k_eval() {
  local v=$1 dir=runs/multi30k/kv-$1 data=${MULTI30K:-../shared/data/multi30k/tok}
  local test=$data/test_2016_flickr.lc.norm.tok
  ATTN_NUM_THREADS=$threads "$attn" eval --model "$dir/model.safetensors" \
    --test-sets "$test.de" "$test.en" --beam-size 4 --normalize 0.6 \
    --output "$dir/final.hyp" >"$dir/eval_final.txt"
  head -n 64 "$test.de" >"$dir/test64.de"
  ATTN_NUM_THREADS=$threads "$attn" translate --model "$dir/model.safetensors" --beam-size 1 \
    --mini-batch 64 --input "$dir/test64.de" --output /dev/null --report-cache 2>"$dir/cache.txt" >/dev/null
}

case "$what" in
  toy-lang) for v in $variants; do toy "$v"; done ;;
  multi30k) for v in $variants; do m30k "$v"; done ;;
  multi30k-eval) for v in $variants; do m30k_eval "$v"; done ;;
  table) ;;
  *) echo "bench/kv_variants.sh: expected toy-lang, multi30k, multi30k-eval or table, got '$what'" >&2; exit 1 ;;
esac

# The table of whatever has been run.
{
  echo "| variant | flags (toy-lang model) | cache bytes per token, toy-lang model | toy-lang CPU s | toy-lang exact / BLEU | cache bytes per token, Multi30k model | Multi30k CPU s | Multi30k BLEU |"
  echo "|---|---|---|---|---|---|---|---|"
  for v in $variants; do
    t=$out/toy-lang
    tc=$(cat "$t/$v.cpu_seconds" 2>/dev/null || echo -)
    tp=$(grep -o '[0-9]* self-attention bytes per token' "$t/$v.cache.txt" 2>/dev/null | head -1 | cut -d' ' -f1 || true)
    te=$(grep -o 'exact-match [0-9.]*%' "$t/$v.eval.txt" 2>/dev/null | head -1 | cut -d' ' -f2 || true)
    tb=$(grep -o 'BLEU = [0-9.]*' "$t/$v.eval.txt" 2>/dev/null | head -1 | cut -d' ' -f3 || true)
    m=runs/multi30k/kv-$v
    mc=$(cat "$m/cpu_seconds" 2>/dev/null || echo -)
    mb=$(grep -o 'BLEU = [0-9.]*' "$m/eval_final.txt" 2>/dev/null | head -1 | cut -d' ' -f3 || true)
    mp=$(grep -o '[0-9]* self-attention bytes per token' "$m/cache.txt" 2>/dev/null | head -1 | cut -d' ' -f1 || true)
    printf '| %s | `%s` | %s | %s | %s / %s | %s | %s | %s |\n' "$v" "$(flags_for "$v" 4 16)" "${tp:--}" "$tc" \
      "${te:--}" "${tb:--}" "${mp:--}" "$mc" "${mb:--}"
  done
} | tee "$out/table.md"
