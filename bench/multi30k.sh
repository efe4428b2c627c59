#!/usr/bin/env bash
# Multi30k German -> English (../shared/data/multi30k, the lowercased, tokenized
# tok/ files): train a translator for a fixed budget of CPU time, then score
# test_2016_flickr with beam search, BLEU as sacreBLEU computes it.
#
#   bench/multi30k.sh train bahdanau 45    train RNNsearch for at most 45 min
#   bench/multi30k.sh eval bahdanau        BLEU of the best checkpoint on the test set
#   bench/multi30k.sh all luong 45         both
#   SPM=8000 bench/multi30k.sh all transformer 60
#                                          the raw, cased raw/ files with a joint
#                                          SentencePiece model of 8000 pieces
#                                          (--tokenizer spm), scored on the
#                                          detokenized, cased output
#
# The budget is CPU time (bench/cpu_budget.sh), whatever else the machine
# runs, of ATTN_THREADS threads (default 1); a stopped run resumes where it
# left off with the rest of it (runs/multi30k/MODEL/cpu_seconds). The best model by
# validation cross-entropy is runs/multi30k/MODEL/model.best.safetensors.
#
# For comparison, the pytorch-seq2seq tutorials report test BLEU 28.3 for
# Bahdanau attention ("3 - Neural Machine Translation by Jointly Learning to
# Align and Translate") and 36.5 for the Transformer, on the same data with
# spaCy tokenization, after 10 epochs on a GPU with hidden size 512.
# The data is for non-commercial research and teaching: it is read in place and
# never copied into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

step=${1:?usage: bench/multi30k.sh train|eval|all bahdanau|luong|transformer|transformer-small [MINUTES]}
model=${2:?usage: bench/multi30k.sh train|eval|all bahdanau|luong|transformer|transformer-small [MINUTES]}
minutes=${3:-45}
threads=${ATTN_THREADS:-1}
# OpenBLAS 0.3.21 does not recognise this machine's CPU and falls back to its
# generic PRESCOTT (SSE3) kernels; where the CPU has AVX2, name its kernels
# (Haswell) instead, unless the caller chose. The arithmetic is the same GEMM;
# the Transformer's step is mostly GEMM, and it runs about 1.5 times faster.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=Haswell
fi
attn=${ATTN:-build/release/attn}
# Two forms of the data. The default: the dataset's own lowercased,
# Moses-tokenized tok/ files with a word vocabulary. SPM=N: the raw, cased
# text with N SentencePiece pieces learned by attn train itself, so the
# translations come out as ordinary cased text and sacreBLEU's default
# tokenization of them is comparable with published scores.
spm=${SPM:-}
if [ -n "$spm" ]; then
  data=${MULTI30K:-../shared/data/multi30k/raw}
  suffix=""
  text_flags=(--tokenizer spm --spm-vocab-size "$spm" --max-length 64)
  run_default=$model-spm$spm
else
  data=${MULTI30K:-../shared/data/multi30k/tok}
  suffix=".lc.norm.tok"
  text_flags=(--vocab-min-freq 2 --max-length 50)
  run_default=$model
fi
# RUN_NAME and EXTRA_FLAGS let one model type run as several variants
# (bench/kv_variants.sh: RUN_NAME=mqa EXTRA_FLAGS="--transformer-kv-heads 1").
out=runs/multi30k/${RUN_NAME:-$run_default}
mkdir -p "$out"

[ -f "$data/train$suffix.de" ] || { echo "bench/multi30k.sh: no Multi30k in $data" >&2; exit 1; }
[ -x "$attn" ] || { echo "bench/multi30k.sh: build attn first (cmake --preset release)" >&2; exit 1; }

# Each model's flags, and its evaluation beam: beam 5 with --normalize 1 for
# the RNNs (bench/README.md), the paper's beam 4 with length penalty 0.6 for the
# Transformer. The Transformer is the pytorch-seq2seq tutorial's size (d_model
# 256, 3 + 3 layers, 8 heads, d_ff 512) with the paper's recipe (Adam 0.9/0.98,
# label smoothing 0.1, inverse-square-root schedule) except: a shorter warm-up
# (1000 updates: the budget allows about ten thousand) and a peak rate of 7e-4
# rather than the formula's 2e-3 for that warm-up (batches of 64 sentences are
# about 1/25 of the paper's), and the output layer tied to the target embeddings.
case "$model" in
  bahdanau) model_flags=(--type bahdanau --dim-emb 256 --dim-rnn 256 --dim-att 256 --dropout-rnn 0.3
                         --learn-rate 0.001)
            beam_flags=(--beam-size 5 --normalize 1) ;;
  luong)    model_flags=(--type luong --attention-type general --dim-emb 256 --dim-rnn 256 --dropout-rnn 0.3
                         --learn-rate 0.001)
            beam_flags=(--beam-size 5 --normalize 1) ;;
  transformer) model_flags=(--type transformer --dim-emb 256 --enc-depth 3 --dec-depth 3
                            --transformer-heads 8 --transformer-dim-ffn 512 --transformer-dropout 0.1
                            --tied-embeddings --lr-warmup 1000 --learn-rate 0.0007)
            beam_flags=(--beam-size 4 --normalize 0.6) ;;
  # Half the tutorial's width and two layers each side (8 heads of 16): the
  # model bench/kv_variants.sh compares every KV-cache variant on, under a
  # budget of minutes; warm-up 400 and a peak rate of 1e-3 to match.
  transformer-small)
            model_flags=(--type transformer --dim-emb 128 --enc-depth 2 --dec-depth 2
                         --transformer-heads 8 --transformer-dim-ffn 512 --transformer-dropout 0.1
                         --tied-embeddings --lr-warmup 400 --learn-rate 0.001)
            beam_flags=(--beam-size 4 --normalize 0.6) ;;
  *) echo "bench/multi30k.sh: model must be bahdanau, luong, transformer or transformer-small, got '$model'" >&2; exit 1 ;;
esac
read -r -a extra_flags <<<"${EXTRA_FLAGS:-}"
model_flags+=("${extra_flags[@]}")

# shellcheck source=bench/cpu_budget.sh
. bench/cpu_budget.sh
train() {
  train_within_budget "$out" "$minutes" "$model" "${model_flags[@]}" \
    --train-sets "$data/train$suffix.de,$data/train$suffix.en" \
    --valid-sets "$data/val$suffix.de,$data/val$suffix.en" \
    "${text_flags[@]}" --mini-batch 64 --after 30e \
    --clip-norm 1 --early-stopping 5 \
    --disp-freq 200 --valid-freq 900 --save-freq 900 --valid-samples 2 --quiet
}

evaluate() {
  local best=$out/model.best.safetensors
  [ -f "$best" ] || best=$out/model.safetensors
  echo "== $model: $best on test_2016_flickr, ${beam_flags[*]}"
  ATTN_NUM_THREADS=$threads "$attn" eval --model "$best" \
    --test-sets "$data/test_2016_flickr$suffix.de,$data/test_2016_flickr$suffix.en" \
    "${beam_flags[@]}" --output "$out/test_2016_flickr.hyp" | tee "$out/eval.txt"
}

case "$step" in
  train) train ;;
  eval) evaluate ;;
  all) train; evaluate ;;
  *) echo "bench/multi30k.sh: step must be train, eval or all, got '$step'" >&2; exit 1 ;;
esac
