# Sourced by bench/multi30k.sh and bench/tatoeba.sh: run `attn train` under a
# budget of CPU time that survives being stopped and resumed.
#
#   train_within_budget OUT_DIR MINUTES LABEL ATTN_ARGS...
#
# The budget is CPU time, whatever else the machine runs: `ulimit -S -t` makes
# the kernel send SIGXCPU when the training process (all its threads,
# ATTN_NUM_THREADS=$threads) has used up what is left of it; attn train then
# saves a checkpoint and exits with 152 (128 + 24); the hard limit stays off.
# OUT_DIR/cpu_seconds counts what earlier runs spent, so a stopped run resumes
# with the rest. Needs /usr/bin/time (Debian package time) and $attn, $threads.
train_within_budget() {
  local out=$1 minutes=$2 label=$3
  shift 3
  local used=0 budget=$(( minutes * 60 ))
  [ -f "$out/cpu_seconds" ] && used=$(cat "$out/cpu_seconds")
  local left=$(( budget - used ))
  if [ "$left" -le 0 ]; then
    echo "== $label: the budget of $minutes min of CPU time is spent ($used s)"
    return
  fi
  echo "== training $label: $left of $budget s of CPU time left, $threads thread(s)"
  set +e
  ( ulimit -S -t "$left"
    ATTN_NUM_THREADS=$threads /usr/bin/time -f "%U %S" -o "$out/time.txt" "$attn" train "$@" \
      --model "$out/model.safetensors" ) 2>&1 | tee -a "$out/train.log"
  local code=${PIPESTATUS[0]}
  set -e
  local spent
  # The last line of time's output (a non-zero exit adds a line before it).
  spent=$(tail -n 1 "$out/time.txt" | awk '{ printf "%d", $1 + $2 + 0.5 }')
  spent=${spent:-0}
  echo $(( used + spent )) >"$out/cpu_seconds"
  echo "== $label: this run used $spent s of CPU time, $(( used + spent )) s in all (exit $code)"
  # 0: finished by itself (epochs or early stopping); 152: the budget ran out;
  # 143: stopped by SIGTERM (rerun to resume).
  if [ "$code" != 0 ] && [ "$code" != 152 ] && [ "$code" != 143 ]; then
    echo "$0: attn train failed with exit code $code" >&2
    exit "$code"
  fi
}
