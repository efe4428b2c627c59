#!/usr/bin/env bash
# Tatoeba French -> English (../shared/data/tatoeba-fra-eng/fra.txt from
# manythings.org/anki, CC BY 2.0: "English<TAB>French" lines) with
# SentencePiece subwords learned by attn train, under a budget of CPU time,
# then BLEU and chrF of the detokenized, cased output on a held-out test set.
#
#   bench/tatoeba.sh split                 runs/tatoeba/{train,valid,test}.tsv
#   bench/tatoeba.sh train 15              train for at most 15 min of CPU time
#   bench/tatoeba.sh eval                  score the best checkpoint on test.tsv
#   bench/tatoeba.sh all 15                all three
#
# The split is made here, not shipped: the lines are shuffled with awk's
# generator seeded with 1 (mawk on Debian 12), then the first 1000 pairs are
# the test set, the next 1000 the validation set, the rest (165,130) training.
# The model is bench/multi30k.sh's transformer-small (d_model 128, 2 + 2
# layers, 8 heads, d_ff 512, tied output) with 8000 joint pieces.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:?usage: bench/tatoeba.sh split|train|eval|all [MINUTES]}
minutes=${2:-15}
threads=${ATTN_THREADS:-1}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=Haswell  # see bench/multi30k.sh
fi
corpus=${TATOEBA:-../shared/data/tatoeba-fra-eng/fra.txt}
attn=${ATTN:-build/release/attn}
out=runs/tatoeba
mkdir -p "$out"

split() {
  [ -f "$corpus" ] || { echo "bench/tatoeba.sh: no $corpus (download fra-eng.zip from manythings.org/anki)" >&2; exit 1; }
  # French first: attn's TSV is source<TAB>target. Older files have a third
  # column (the attribution); only the first two are kept.
  awk -F'\t' 'BEGIN { srand(1) } NF >= 2 { printf "%.9f\t%s\t%s\n", rand(), $2, $1 }' "$corpus" |
    sort -k1,1 -s | cut -f2- >"$out/all.tsv"
  head -n 1000 "$out/all.tsv" >"$out/test.tsv"
  sed -n '1001,2000p' "$out/all.tsv" >"$out/valid.tsv"
  tail -n +2001 "$out/all.tsv" >"$out/train.tsv"
  rm "$out/all.tsv"
  wc -l "$out"/{train,valid,test}.tsv
}

# shellcheck source=bench/cpu_budget.sh
. bench/cpu_budget.sh
train() {
  [ -f "$out/train.tsv" ] || split
  train_within_budget "$out" "$minutes" "Tatoeba fr-en" \
    --type transformer --dim-emb 128 --enc-depth 2 --dec-depth 2 \
    --transformer-heads 8 --transformer-dim-ffn 512 --transformer-dropout 0.1 \
    --tied-embeddings --lr-warmup 400 --learn-rate 0.001 \
    --tokenizer spm --spm-vocab-size 8000 --max-length 64 \
    --train-tsv "$out/train.tsv" --valid-tsv "$out/valid.tsv" \
    --mini-batch 64 --after 30e --clip-norm 1 --early-stopping 5 \
    --disp-freq 500 --valid-freq 2000 --save-freq 2000 --valid-samples 2 --quiet
}

evaluate() {
  local best=$out/model.best.safetensors
  [ -f "$best" ] || best=$out/model.safetensors
  echo "== $best on test.tsv, beam 4, length penalty 0.6"
  ATTN_NUM_THREADS=$threads "$attn" eval --model "$best" --test-tsv "$out/test.tsv" \
    --beam-size 4 --normalize 0.6 --output "$out/test.hyp" | tee "$out/eval.txt"
}

case "$step" in
  split) split ;;
  train) train ;;
  eval) evaluate ;;
  all) train; evaluate ;;
  *) echo "bench/tatoeba.sh: step must be split, train, eval or all, got '$step'" >&2; exit 1 ;;
esac
