#!/usr/bin/env bash
# A failing rank ends the whole data-parallel job within seconds, with its
# message, never a hang (docs/16, section 7). Each case would otherwise hang:
# the healthy rank waits in a collective for a rank that will never come.
#
#   1. rank 1 throws at the start (a training file only it is given is
#      missing, via mpirun's "-np 1 A : -np 1 B" form) while rank 0 waits;
#   2. rank 0 throws mid-training (its checkpoint folder is replaced by a
#      file, so the next save fails) while rank 1 waits in an all-reduce;
#   3. rank 1 is killed with SIGKILL mid-training: no message, no handler;
#      mpirun notices and ends rank 0.
#
#   bash tests/train/mpi_failure_test.sh build/attn mpirun --allow-run-as-root --oversubscribe
#
# Each check prints "ok - ..." or "FAIL - ..."; exits non-zero if any failed.
set -u

ATTN=${1:?usage: mpi_failure_test.sh PATH/TO/attn MPIRUN [MPIRUN FLAGS...]}
shift
MPIRUN=("$@")
[ ${#MPIRUN[@]} -gt 0 ] || { echo "FAIL - no mpirun given"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_mpi_failure_XXXXXX")
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# A job still running when the script ends (a failed check) must not outlive it.
job=""
trap '[ -n "$job" ] && kill -KILL $job 2>/dev/null; rm -rf "$WORK"' EXIT

# A job that never ends by itself: the failure must end it.
TRAIN=(train --type bahdanau --task reverse --task-train-size 200 --dim-emb 8 --dim-rnn 8
       --mini-batch 16 --after 1000000u --valid-freq 0 --disp-freq 1000 --quiet)
LIMIT_S=20  # "within seconds", with room for a loaded 2-core machine

# wait_for_job NAME START_MS: waits for $job to end, at most LIMIT_S seconds
# after START_MS; sets $code (124 when it had to be killed) and $took_ms.
wait_for_job() {
  local name=$1 start=$2
  while kill -0 $job 2>/dev/null && [ $(($(now_ms) - start)) -lt $((LIMIT_S * 1000)) ]; do
    sleep 0.1
  done
  if kill -0 $job 2>/dev/null; then
    kill -KILL $job 2>/dev/null
    wait $job 2>/dev/null
    code=124
  else
    wait $job
    code=$?
  fi
  took_ms=$(($(now_ms) - start))
  job=""
}

# wait_until NAME TEST...: polls TEST for up to LIMIT_S seconds; false when it never held.
wait_until() {
  local start
  start=$(now_ms)
  until "$@"; do
    [ $(($(now_ms) - start)) -lt $((LIMIT_S * 1000)) ] || return 1
    kill -0 $job 2>/dev/null || return 1
    sleep 0.1
  done
}

# --- 1. rank 1 throws at the start ---------------------------------------------------
start=$(now_ms)
"${MPIRUN[@]}" -np 1 "$ATTN" "${TRAIN[@]}" --model "$WORK/one/m.safetensors" : \
  -np 1 "$ATTN" "${TRAIN[@]}" --model "$WORK/one/m.safetensors" --task "" \
  --train-tsv "$WORK/missing.tsv" --valid-tsv "$WORK/missing.tsv" >"$WORK/one.log" 2>&1 &
job=$!
wait_for_job "throw at start" "$start"
if [ $code -eq 124 ]; then
  fail "rank 1 throws at the start: the job still ran after $LIMIT_S s (a hang)"
elif [ $code -eq 0 ]; then
  fail "rank 1 throws at the start: the job exited 0"
elif grep -q "rank 1 of 2: .*missing.tsv" "$WORK/one.log"; then
  ok "rank 1 throws at the start: the job ended in $took_ms ms, exit $code: $(grep -o 'rank 1 of 2: .*missing.tsv' "$WORK/one.log" | head -1)"
else
  fail "rank 1 throws at the start: exit $code, but no 'rank 1 of 2: ... missing.tsv': $(head -20 "$WORK/one.log")"
fi

# --- 2. rank 0 throws mid-training --------------------------------------------------
"${MPIRUN[@]}" -np 2 "$ATTN" "${TRAIN[@]}" --save-freq 10 --model "$WORK/two/m.safetensors" \
  >"$WORK/two.log" 2>&1 &
job=$!
if wait_until test -e "$WORK/two/m.safetensors"; then
  start=$(now_ms)
  mv "$WORK/two" "$WORK/two.moved" && touch "$WORK/two"  # a file where the folder was: the next save fails
  wait_for_job "throw mid-training" "$start"
  if [ $code -eq 124 ]; then
    fail "rank 0 throws mid-training: the job still ran after $LIMIT_S s (a hang)"
  elif [ $code -eq 0 ]; then
    fail "rank 0 throws mid-training: the job exited 0"
  elif grep -q "rank 0 of 2: " "$WORK/two.log"; then
    ok "rank 0 throws mid-training: the job ended in $took_ms ms, exit $code: $(grep -o 'rank 0 of 2: .*' "$WORK/two.log" | head -1 | cut -c1-160)"
  else
    fail "rank 0 throws mid-training: exit $code, but no 'rank 0 of 2:': $(head -20 "$WORK/two.log")"
  fi
else
  fail "rank 0 throws mid-training: the first checkpoint never appeared: $(head -20 "$WORK/two.log")"
fi
[ -n "$job" ] && kill -KILL $job 2>/dev/null

# --- 3. rank 1 is killed ----------------------------------------------------------
# rank_pid RANK: the pid of the job's process whose environment says it is RANK.
rank_pid() {
  local pid
  for pid in $(pgrep -P $job); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}
"${MPIRUN[@]}" -np 2 "$ATTN" "${TRAIN[@]}" --save-freq 10 --model "$WORK/three/m.safetensors" \
  >"$WORK/three.log" 2>&1 &
job=$!
if wait_until test -e "$WORK/three/m.safetensors" && victim=$(rank_pid 1); then
  start=$(now_ms)
  kill -KILL "$victim"
  wait_for_job "SIGKILL" "$start"
  if [ $code -eq 124 ]; then
    fail "rank 1 killed: the job still ran after $LIMIT_S s (a hang)"
  elif [ $code -eq 0 ]; then
    fail "rank 1 killed: the job exited 0"
  else
    ok "rank 1 killed (SIGKILL): the job ended in $took_ms ms, exit $code: $(grep -m1 -o 'exited on signal.*' "$WORK/three.log")"
  fi
else
  fail "rank 1 killed: the run never started training, or its rank 1 was not found: $(head -20 "$WORK/three.log")"
fi

[ $failures -eq 0 ] && echo "all passed" || echo "$failures failed"
exit $((failures > 0))
