#!/usr/bin/env bash
# The six attention variants of chapters 06 and 07 on the built-in tasks:
# Bahdanau's additive score (--type bahdanau) and Luong's dot, general and
# concat scores (global), local-m and local-p (general score), all with the
# same sizes, optimizer and number of updates. For each: exact match and BLEU
# on the task's test split (greedy decoding), training time and tokens/s.
#
#   bench/attention_variants.sh                  dates and toy-lang, every variant
#   bench/attention_variants.sh dates            one task
#   VARIANTS="dot local-p" bench/attention_variants.sh dates
#
# Models and logs go to runs/variants/TASK/VARIANT.*; the table is printed at
# the end and written to runs/variants/table.md. Training time and tokens/s
# are wall-clock, and depend on whatever else the machine is doing (run it on
# a quiet machine); the CPU time (user + system, all threads, from
# /usr/bin/time) depends on it much less. The local
# variants use the paper's window, D = 10, unless WINDOW=D is set.
set -euo pipefail
cd "$(dirname "$0")/.."
attn=${ATTN:-build/release/attn}
[ -x "$attn" ] || { echo "bench/attention_variants.sh: build attn first (cmake --preset release)" >&2; exit 1; }
tasks=${*:-dates toy-lang}
variants=${VARIANTS:-additive dot general concat local-m local-p}
out=runs/variants
mkdir -p "$out"

flags_for() {
  case "$1" in
    additive) echo "--type bahdanau" ;;
    dot|general|concat) echo "--type luong --attention-type $1" ;;
    local-m|local-p) echo "--type luong --attention-type general --attention-scope $1${WINDOW:+ --attention-window $WINDOW}" ;;
    *) echo "unknown variant $1" >&2; exit 1 ;;
  esac
}

updates_for() {
  case "$1" in
    dates) echo 900 ;;
    toy-lang) echo 600 ;;
    *) echo 1000 ;;
  esac
}

table=$out/table.md
[ -f "$table" ] || {
  echo "| task | variant | updates | exact match (greedy) | BLEU (greedy) | training time (wall) | CPU time | tokens/s (wall) |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$table"
for task in $tasks; do
  mkdir -p "$out/$task"
  for variant in $variants; do
    model=$out/$task/$variant.safetensors
    updates=$(updates_for "$task")
    # A variant trained by an earlier run of this script is kept (its .time
    # file says training finished); RETRAIN=1 trains everything again.
    if [ -n "${RETRAIN:-}" ] || [ ! -f "$model.time" ]; then
      rm -f "$model" "$model".*
      # shellcheck disable=SC2046
      /usr/bin/time -f "%U %S" -o "$model.time.tmp" "$attn" train $(flags_for "$variant") \
        --task "$task" --model "$model" --after "${updates}u" --disp-freq 100 --valid-freq 300 \
        --save-freq 0 --valid-samples 0 --quiet >"$model.log" 2>&1
      mv "$model.time.tmp" "$model.time"
    fi
    cpu=$(awk '{ printf "%.0f", $1 + $2 }' "$model.time")
    seconds=$(sed -n 's/.*Training finished at update [0-9]* after \([0-9.]*\) s.*/\1/p' "$model.log")
    # Mean of the logged tokens/s over the run's display windows.
    tokens=$(grep -o '[0-9]* tok/s' "$model.log" | awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n }')
    # The checkpoint with the best validation cross-entropy, as Marian's
    # keep-best: with a constant learning rate the last update is not
    # always the best one.
    best=${model%.safetensors}.best.safetensors
    "$attn" eval --model "$best" --task "$task" --beam-size 1 >"$model.eval" 2>&1
    exact=$(sed -n 's/.*exact-match \([0-9.]*%\).*/\1/p' "$model.eval")
    bleu=$(sed -n 's/^BLEU = \([0-9.]*\).*/\1/p' "$model.eval")
    row="| $task | $variant | $updates | $exact | $bleu | ${seconds} s | ${cpu} s | $tokens |"
    echo "$row" | tee -a "$table"
  done
done
echo
cat "$table"
