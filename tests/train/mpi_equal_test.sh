#!/usr/bin/env bash
# Data parallelism is one process's training, split (docs/16, section 6):
#
#   1. 2 ranks (mpirun -np 2, over loopback) training on every global batch of
#      --mini-batch 16 end 100 updates with the parameters of 1 process
#      training on the same batches, to float tolerance (RNNsearch, Adam);
#   2. the same with batches by tokens (--mini-batch-words): a global batch is
#      what one process packs, split by sentences (a Transformer, SGD);
#   3. with --mini-batch 1, rank 0's share is always empty and rank 1 computes
#      exactly what one process computes: the result is bit-identical, which
#      shows that the loss's scaling is the one process's to the last bit;
#   4. with dropout, a 2-rank run stopped at update 20 and resumed to 40 ends
#      bit-identical to an uninterrupted 2-rank run (each rank's dropout
#      stream is a function of seed, rank and update);
#   5. resuming that run with one process is refused, naming mpirun -np 2.
#
#   bash tests/train/mpi_equal_test.sh build/attn build/tests/compare_models \
#        mpirun --allow-run-as-root --oversubscribe
#
# Run with one thread per rank (ATTN_NUM_THREADS=1) and, in a container,
# OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none, as
# tests/CMakeLists.txt sets them. Each check prints "ok - ..." or "FAIL - ...".
set -u

ATTN=${1:?usage: mpi_equal_test.sh PATH/TO/attn PATH/TO/compare_models MPIRUN [MPIRUN FLAGS...]}
COMPARE=${2:?usage: mpi_equal_test.sh PATH/TO/attn PATH/TO/compare_models MPIRUN [FLAGS...]}
shift 2
MPIRUN=("$@")
[ ${#MPIRUN[@]} -gt 0 ] || { echo "FAIL - no mpirun given"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_mpi_equal_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

COMMON=(train --task reverse --task-train-size 400 --valid-freq 0 --disp-freq 50 --quiet)
RNN=("${COMMON[@]}" --type bahdanau --dim-emb 8 --dim-rnn 16 --learn-rate 0.003)
# A Transformer of 7038 parameters, constant rate, no dropout.
TINY=("${COMMON[@]}" --type transformer --dim-emb 16 --transformer-heads 2 --transformer-dim-ffn 32
      --enc-depth 1 --dec-depth 1 --transformer-dropout 0 --lr-warmup 0 --lr-schedule constant)
# Float sums in another order differ in the last bits (1e-7 after one
# update); 100 updates carry that along to about 1e-6 here, far below what
# one different batch does to these parameters (about 1e-2). Not the
# Transformer with Adam: the gradient of a key projection's bias is zero in
# exact arithmetic (softmax ignores a constant added to every score), so in
# floats it is rounding noise, which Adam divides by its own size into steps
# of the full learning rate (docs/16, section 6).
TOLERANCE=1e-5

# same_as_one_process NAME UPDATES TOLERANCE FLAGS...: 1 process and 2 ranks on the same flags.
same_as_one_process() {
  local name=$1 updates=$2 tolerance=$3; shift 3
  if ! "$ATTN" "$@" --after "${updates}u" --model "$WORK/$name-1/m.safetensors" \
      >"$WORK/$name-1.log" 2>&1; then
    fail "$name: one process failed: $(tail -3 "$WORK/$name-1.log")"
    return
  fi
  if ! "${MPIRUN[@]}" -np 2 "$ATTN" "$@" --after "${updates}u" \
      --model "$WORK/$name-2/m.safetensors" >"$WORK/$name-2.log" 2>&1; then
    fail "$name: mpirun -np 2 failed: $(tail -5 "$WORK/$name-2.log")"
    return
  fi
  if ! grep -q "Data parallel: 2 ranks over MPI" "$WORK/$name-2.log"; then
    fail "$name: the 2-rank run did not say it was data parallel: $(head -5 "$WORK/$name-2.log")"
    return
  fi
  local verdict
  if verdict=$("$COMPARE" "$WORK/$name-1/m.safetensors" "$WORK/$name-2/m.safetensors" $tolerance); then
    ok "$name: 2 ranks = 1 process after $updates updates: $verdict"
  else
    fail "$name: 2 ranks differ from 1 process after $updates updates: $verdict"
  fi
  # The logged training loss of the last window is the global batch's on both
  # (printed to 4 decimals: equal to within one unit of the last).
  local one two
  one=$(grep -o "Cost [0-9.]*" "$WORK/$name-1.log" | tail -1 | cut -d' ' -f2)
  two=$(grep -o "Cost [0-9.]*" "$WORK/$name-2.log" | tail -1 | cut -d' ' -f2)
  if [ -n "$one" ] && [ -n "$two" ] && awk -v a="$one" -v b="$two" 'BEGIN { d = a - b; exit !(d <= 1e-4 && d >= -1e-4) }'; then
    ok "$name: the same logged loss (Cost $one and $two)"
  else
    fail "$name: logged loss '$one' (1 process) vs '$two' (2 ranks)"
  fi
}

same_as_one_process sentences 100 $TOLERANCE "${RNN[@]}" --mini-batch 16
same_as_one_process words 100 $TOLERANCE "${TINY[@]}" --optimizer sgd --learn-rate 0.1 \
  --mini-batch-words 120
same_as_one_process empty-share 40 0 "${TINY[@]}" --learn-rate 0.003 --mini-batch 1 --disp-freq 40

# --- exact resume with the same N, and a different N refused -------------------
DROPOUT=(--learn-rate 0.003 --transformer-dropout 0.1 --mini-batch 16 --save-freq 10)
straight="$WORK/straight/m.safetensors" resumed="$WORK/resumed/m.safetensors"
if "${MPIRUN[@]}" -np 2 "$ATTN" "${TINY[@]}" "${DROPOUT[@]}" --after 40u --model "$straight" \
      >"$WORK/straight.log" 2>&1 &&
   "${MPIRUN[@]}" -np 2 "$ATTN" "${TINY[@]}" "${DROPOUT[@]}" --after 20u --model "$resumed" \
      >"$WORK/first-half.log" 2>&1 &&
   "${MPIRUN[@]}" -np 2 "$ATTN" "${TINY[@]}" "${DROPOUT[@]}" --after 40u --model "$resumed" \
      >"$WORK/second-half.log" 2>&1; then
  if ! grep -q "Resuming" "$WORK/second-half.log"; then
    fail "resume with 2 ranks: the second run did not resume: $(head -3 "$WORK/second-half.log")"
  elif cmp -s "$straight" "$resumed" && cmp -s "$straight.state.safetensors" "$resumed.state.safetensors"; then
    ok "resume with 2 ranks and dropout: 20 + 20 updates = 40 updates, bit for bit (model and state)"
  else
    fail "resume with 2 ranks: $("$COMPARE" "$straight" "$resumed" 0)"
  fi
else
  fail "the 2-rank runs with dropout failed: $(tail -n 5 "$WORK"/*half.log "$WORK/straight.log")"
fi

"$ATTN" "${TINY[@]}" "${DROPOUT[@]}" --after 60u --model "$resumed" >"$WORK/one.log" 2>&1
code=$?
if [ $code -eq 1 ] && grep -q "saved with mpirun -np 2, but this run has one process" "$WORK/one.log"; then
  ok "resuming a 2-rank run with one process is refused: $(grep -o 'resume: .*one process' "$WORK/one.log")"
else
  fail "resuming a 2-rank run with one process: exit $code, $(tail -3 "$WORK/one.log")"
fi

[ $failures -eq 0 ] && echo "all passed" || echo "$failures failed"
exit $((failures > 0))
