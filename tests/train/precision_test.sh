#!/usr/bin/env bash
# `attn train --precision bf16` on the CPU (the reference kernels of
# kernels/cpu/gemm_bf16.cpp): a tiny Transformer on the reverse task
#   - trains: its loss at update 200 is below its loss at update 20;
#   - really runs in bfloat16: its losses differ from float32's with the same
#     seed (same data, same initialisation), but stay close to them;
#   - records the precision in the model file (train.precision);
#   - refuses a precision it does not know, naming the flag.
# The longer run (the toy Transformer on dates, bf16 against fp32) is in
# docs/13-attention-on-the-gpu.md, "bfloat16".
#
#   bash tests/train/precision_test.sh build/attn
set -u
ATTN=${1:?usage: precision_test.sh PATH/TO/attn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_precision_test_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

train() {  # PRECISION -> log in $WORK/PRECISION.log, model in $WORK/PRECISION.safetensors
  "$ATTN" train --type transformer --task reverse --task-train-size 400 --after 200u \
    --dim-emb 32 --transformer-heads 2 --transformer-dim-ffn 64 --enc-depth 1 --dec-depth 1 \
    --mini-batch 16 --learn-rate 0.005 --lr-warmup 0 --label-smoothing 0 --dropout-rnn 0 \
    --disp-freq 20 --valid-freq 0 --quiet --seed 7 \
    --precision "$1" --model "$WORK/$1.safetensors" >"$WORK/$1.log" 2>&1
}
# The Cost of log line `Up. N`.
cost() { grep -o "Up\. $2 : .*Cost [0-9.]*" "$WORK/$1.log" | grep -o 'Cost [0-9.]*' | cut -d' ' -f2; }

train bf16 || fail "bf16 training exited $?: $(tail -3 "$WORK/bf16.log")"
train fp32 || fail "fp32 training exited $?: $(tail -3 "$WORK/fp32.log")"
b10=$(cost bf16 20); b60=$(cost bf16 200); f10=$(cost fp32 20); f60=$(cost fp32 200)
echo "cost at updates 20 and 200: bf16 $b10 $b60, fp32 $f10 $f60"
if [ -z "$b10" ] || [ -z "$b60" ] || [ -z "$f10" ] || [ -z "$f60" ]; then
  fail "no Cost in the logs: $(tail -3 "$WORK/bf16.log")"
else
  awk "BEGIN { exit !($b60 < 0.9 * $b10) }" || fail "bf16 loss did not fall: $b10 -> $b60"
  [ "$b60" != "$f60" ] || fail "bf16 and fp32 gave the same loss $b60: was bf16 used at all?"
  awk "BEGIN { d = $b60 - $f60; if (d < 0) d = -d; exit !(d < 0.25 * $f60 + 0.05) }" ||
    fail "bf16 loss $b60 is far from fp32's $f60"
fi
# The safetensors header (its first 8 bytes are its length) holds the metadata.
head -c 20000 "$WORK/bf16.safetensors" | grep -aq '"train.precision":"bf16"' ||
  fail "the model file does not record train.precision bf16"

"$ATTN" train --task reverse --model "$WORK/x.safetensors" --precision fp16 >"$WORK/bad.log" 2>&1
rc=$?
{ [ $rc -ge 1 ] && [ $rc -le 2 ] && grep -q -- "--precision" "$WORK/bad.log"; } ||
  fail "--precision fp16: expected exit 1 or 2 naming --precision, got $rc: $(tail -2 "$WORK/bad.log")"

if [ $failures -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "precision_test: all checks passed"
