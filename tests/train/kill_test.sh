#!/usr/bin/env bash
# SIGKILL never costs a checkpoint, and a killed run resumed to the end is the
# uninterrupted run, bit for bit (train/checkpoint.h, "Pairing"; docs/04).
#
#   bash tests/train/kill_test.sh build/attn [SEED]
#
# A tiny training run is killed with SIGKILL (no handler, no save: the process
# just stops, in an update, a validation or half way through a save) at KILLS
# moments drawn from SEED, each a fraction of the uninterrupted run's time.
# After each kill the last checkpoint must load (`attn translate` on one line),
# and the next run of the same command must resume from it. The last run goes
# to the end; its model, training state and best model must equal the
# uninterrupted run's byte for byte (no file holds a timestamp).
#
# Each check prints "ok - ..." or "FAIL - ..."; the script exits non-zero if
# any failed.
set -u

ATTN=${1:?usage: kill_test.sh PATH/TO/attn [SEED]}
SEED=${2:-99}
KILLS=4
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_kill_test_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0

ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Saves every 5 updates, validates (and keeps a best model) every 25: about
# 40 saves, so a kill often lands in or near one.
TRAIN=(train --type bahdanau --task reverse --task-train-size 200 --dim-emb 8 --dim-rnn 8
       --dropout-rnn 0.1 --mini-batch 16 --after 200u --save-freq 5 --valid-freq 25 --valid-max-sentences 16
       --disp-freq 25 --quiet)

start=$(now_ms)
if ! "$ATTN" "${TRAIN[@]}" --model "$WORK/straight/m.safetensors" >"$WORK/straight.log" 2>&1; then
  fail "the uninterrupted run: $(tail -3 "$WORK/straight.log")"
  exit 1
fi
duration=$(($(now_ms) - start))
ok "the uninterrupted run took $duration ms"

MODEL="$WORK/killed/m.safetensors"
RANDOM=$SEED
killed=0
for round in $(seq $KILLS); do
  # 5% to 20% of the uninterrupted run's time: a killed run resumes, so each
  # round goes a little further, and four of them stay within the run.
  delay_ms=$((duration * (5 + RANDOM % 16) / 100))
  "$ATTN" "${TRAIN[@]}" --model "$MODEL" >"$WORK/round$round.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL $pid 2>/dev/null
  { wait $pid; } 2>/dev/null  # (without bash's "Killed" line)
  status=$?
  case $status in
    137) killed=$((killed + 1)) ;;
    0) ok "round $round: the run ended before the kill at $delay_ms ms" ;;
    *) fail "round $round: the run failed (exit $status) before the kill: $(tail -3 "$WORK/round$round.log")" ;;
  esac
  if [ ! -f "$MODEL" ]; then
    ok "round $round: killed at $delay_ms ms, before the first checkpoint"
    continue
  fi
  # The last checkpoint loads: its model translates.
  if printf 'a b c\n' | "$ATTN" translate --model "$MODEL" >"$WORK/out" 2>"$WORK/err" &&
     [ "$(wc -l <"$WORK/out")" -eq 1 ]; then
    ok "round $round: after the kill at $delay_ms ms (exit $status) the last checkpoint translates"
  else
    fail "round $round: after the kill at $delay_ms ms the checkpoint does not load: $(cat "$WORK/err")"
  fi
done
[ $killed -ge 1 ] && ok "$killed of $KILLS runs were killed mid-run" ||
  fail "no run was killed mid-run: nothing was tested (the runs took under $duration ms?)"

# The same command again: resumes (its training state loads) and runs to the end.
had_checkpoint=no
[ -f "$MODEL" ] && had_checkpoint=yes
if "$ATTN" "${TRAIN[@]}" --model "$MODEL" >"$WORK/last.log" 2>&1; then
  ok "the last run finished"
else
  fail "the last run: $(tail -3 "$WORK/last.log")"
fi
if [ $had_checkpoint = yes ]; then
  grep -q "Resuming" "$WORK/last.log" && ok "the last run resumed: $(grep -o 'Resuming.*' "$WORK/last.log")" ||
    fail "the last run did not resume: $(head -3 "$WORK/last.log")"
fi
for file in m.safetensors m.safetensors.state.safetensors m.best.safetensors; do
  if cmp -s "$WORK/straight/$file" "$WORK/killed/$file"; then
    ok "$file: bit-identical to the uninterrupted run's"
  else
    fail "$file differs from the uninterrupted run's ($(cmp "$WORK/straight/$file" "$WORK/killed/$file" 2>&1))"
  fi
done
[ ! -e "$MODEL.state.safetensors.new" ] && ok "no pending state left behind" ||
  fail "$MODEL.state.safetensors.new is left behind"

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
