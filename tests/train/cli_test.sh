#!/usr/bin/env bash
# The command line as a user meets it: bad flags and bad files are named, and
# a tiny train -> translate -> eval round trip works.
#
#   bash tests/train/cli_test.sh build/attn
#
# Each check prints "ok - ..." or "FAIL - ..."; the script exits non-zero if
# any failed.
set -u

ATTN=${1:?usage: cli_test.sh PATH/TO/attn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_cli_test_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0

ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

# expect_failure NAME NEEDLE... -- COMMAND...: COMMAND exits non-zero and its
# stderr holds every NEEDLE.
expect_failure() {
  local name=$1; shift
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local code=$?
  if [ $code -eq 0 ]; then
    fail "$name: exit code 0, expected non-zero"
    return
  fi
  for needle in "${needles[@]}"; do
    if ! grep -qF -- "$needle" "$WORK/err"; then
      fail "$name: stderr lacks '$needle'; it was: $(cat "$WORK/err")"
      return
    fi
  done
  ok "$name (exit $code)"
}

# --- errors that name what is wrong ---------------------------------------------------
# (cxxopts quotes the name with typographic quotes and without its dashes.)
expect_failure "unknown option" "no-such-flag" -- \
  "$ATTN" train --no-such-flag 3 --model "$WORK/x.safetensors"
expect_failure "unknown command" "frobnicate" -- "$ATTN" frobnicate
expect_failure "unknown --device" "--device" "expected cpu or cuda" -- \
  "$ATTN" train --task reverse --model "$WORK/dev.safetensors" --after 1u --device tpu
# Where no GPU is usable (a CPU build, or these GPU-less machines), --device cuda
# says which; on a GPU machine this check is skipped.
if "$ATTN" train --task reverse --model "$WORK/dev.safetensors" --after 1u --device cuda --quiet \
    >"$WORK/out" 2>"$WORK/err"; then
  ok "--device cuda on a machine with a GPU (not checked here)"
else
  if grep -qE -- "--device cuda: (this attn was built without CUDA|no usable GPU)" "$WORK/err"; then
    ok "--device cuda without a GPU says why"
  else
    fail "--device cuda without a GPU: stderr was: $(cat "$WORK/err")"
  fi
fi

printf 'a b\tb a\nc d\td c\nno tab here\ne f\tf e\n' >"$WORK/bad.tsv"
expect_failure "TSV line without a tab" "$WORK/bad.tsv:3" "no tab" -- \
  "$ATTN" train --model "$WORK/tsv.safetensors" --train-tsv "$WORK/bad.tsv" --valid-tsv "$WORK/bad.tsv"

printf 'a\nb\nc\n' >"$WORK/three.src"
printf 'a\nb\n' >"$WORK/two.tgt"
expect_failure "parallel files of different lengths" "$WORK/three.src has 3 lines" "$WORK/two.tgt has 2 lines" -- \
  "$ATTN" train --model "$WORK/par.safetensors" --train-sets "$WORK/three.src,$WORK/two.tgt" \
  --valid-sets "$WORK/three.src,$WORK/two.tgt"

expect_failure "translate with a missing model" "$WORK/missing.safetensors" -- \
  "$ATTN" translate --model "$WORK/missing.safetensors" </dev/null

expect_failure "eval with a missing model" "$WORK/missing.safetensors" -- \
  "$ATTN" eval --model "$WORK/missing.safetensors" --task reverse

# --- a tiny round trip -------------------------------------------------------------
MODEL="$WORK/reverse.safetensors"
if "$ATTN" train --type bahdanau --task reverse --task-train-size 200 --model "$MODEL" \
    --dim-emb 16 --dim-rnn 16 --mini-batch 16 --after 30u --disp-freq 10 --valid-freq 30 \
    --valid-max-sentences 32 --save-freq 30 --quiet >"$WORK/train.log" 2>&1; then
  ok "train 30 updates"
else
  fail "train 30 updates: $(tail -5 "$WORK/train.log")"
fi
for file in "$MODEL" "$MODEL.state.safetensors" "$MODEL.metrics.jsonl"; do
  [ -s "$file" ] && ok "wrote $(basename "$file")" || fail "no $file after training"
done
grep -q "exact-match" "$WORK/train.log" && ok "validation line" || fail "no validation line in the log"

# Rerunning the finished command resumes and stops at once: no update is
# added, so the weights on disk stay byte for byte the same.
cp "$MODEL" "$WORK/before_rerun.safetensors"
if "$ATTN" train --type bahdanau --task reverse --task-train-size 200 --model "$MODEL" \
    --dim-emb 16 --dim-rnn 16 --mini-batch 16 --after 30u --quiet >"$WORK/resume.log" 2>&1 &&
   grep -q "Resuming" "$WORK/resume.log"; then
  ok "rerun resumes"
else
  fail "rerun did not resume: $(tail -5 "$WORK/resume.log")"
fi
cmp -s "$MODEL" "$WORK/before_rerun.safetensors" && ok "rerun of a finished run changes no weight" ||
  fail "rerun of a finished run changed the model file"

if printf 'a b c\nd e f g\n' | "$ATTN" translate --model "$MODEL" >"$WORK/translations" 2>"$WORK/err"; then
  lines=$(wc -l <"$WORK/translations")
  [ "$lines" -eq 2 ] && ok "translate: 2 lines in, 2 out" || fail "translate: $lines lines out, expected 2"
else
  fail "translate failed: $(cat "$WORK/err")"
fi

printf 'a b\n\nc\n' >"$WORK/input.txt"
if "$ATTN" translate --model "$MODEL" --input "$WORK/input.txt" --output "$WORK/output.txt" 2>"$WORK/err"; then
  lines=$(wc -l <"$WORK/output.txt")
  [ "$lines" -eq 3 ] && ok "translate --input/--output keeps the empty line" ||
    fail "translate --input/--output: $lines lines out, expected 3"
else
  fail "translate --input/--output failed: $(cat "$WORK/err")"
fi

if "$ATTN" eval --model "$MODEL" --task reverse >"$WORK/eval.out" 2>"$WORK/err"; then
  grep -q "exact-match" "$WORK/eval.out" && ok "eval prints exact-match" ||
    fail "eval output lacks exact-match: $(cat "$WORK/eval.out")"
else
  fail "eval failed: $(cat "$WORK/err")"
fi

# --- beam search ---------------------------------------------------------------------
expect_failure "translate --beam-size 0" "--beam-size" -- \
  "$ATTN" translate --model "$MODEL" --beam-size 0 </dev/null
expect_failure "translate --n-best above --beam-size" "--n-best" "beam_size (3)" -- \
  "$ATTN" translate --model "$MODEL" --beam-size 3 --n-best 4 </dev/null
expect_failure "translate --normalize -1" "--normalize" -- \
  "$ATTN" translate --model "$MODEL" --normalize -1 </dev/null
expect_failure "translate without any length limit" "--max-length-factor" "--max-length" -- \
  "$ATTN" translate --model "$MODEL" --max-length-factor 0 --max-length 0 </dev/null

# n-best: 3 lines per sentence (1 for the empty line), Marian's format, ids
# from 0, scores falling within a sentence (--normalize 0: F0 is the rank key).
if printf 'a b c\n\nd e f g\n' |
    "$ATTN" translate --model "$MODEL" --beam-size 4 --n-best 3 >"$WORK/nbest" 2>"$WORK/err"; then
  ids=$(cut -d' ' -f1 "$WORK/nbest" | tr '\n' ' ')
  [ "$ids" = "0 0 0 1 2 2 2 " ] && ok "translate --n-best 3: ids 0 0 0 1 2 2 2" ||
    fail "translate --n-best 3: ids '$ids'"
  bad=$(grep -cvE '^[0-9]+ \|\|\| .* \|\|\| F0= -?[0-9.e+-]+ \|\|\| -?[0-9.e+-]+$' "$WORK/nbest")
  [ "$bad" -eq 0 ] && ok "translate --n-best: every line is ID ||| text ||| F0= s ||| n" ||
    fail "translate --n-best: $bad malformed lines: $(cat "$WORK/nbest")"
  awk -F' \\|\\|\\| ' '{ s = substr($3, 5) + 0
         if ($1 == id && s > last + 1e-9) bad = 1
         id = $1; last = s } END { exit bad }' "$WORK/nbest" &&
    ok "translate --n-best: scores fall within each sentence" ||
    fail "translate --n-best: scores rise: $(cat "$WORK/nbest")"
  # The first of the n-best is the plain translation with the same beam.
  printf 'a b c\n\nd e f g\n' | "$ATTN" translate --model "$MODEL" --beam-size 4 >"$WORK/plain" 2>/dev/null
  awk -F' \\|\\|\\| ' 'NR == 1 || $1 != seen { print $2; seen = $1 }' "$WORK/nbest" | diff -q - "$WORK/plain" >/dev/null &&
    ok "translate: the n-best list starts with the plain translation" ||
    fail "translate: n-best firsts differ from the plain output"
else
  fail "translate --n-best failed: $(cat "$WORK/err")"
fi

# --beam-size 1 is greedy decoding: the same output as attn plot's (greedy),
# given greedy's length limit, 2 * 3 + 10 tokens for 3 source tokens.
beam_one=$(printf 'a b c\n' | "$ATTN" translate --model "$MODEL" --beam-size 1 \
  --max-length-factor 0 --max-length 16 2>/dev/null)
greedy=$("$ATTN" plot --model "$MODEL" --sentence "a b c" --output "$WORK/greedy.svg" 2>/dev/null)
[ -n "$greedy" ] && [ "$beam_one" = "$greedy" ] && ok "translate --beam-size 1 equals greedy decoding" ||
  fail "translate --beam-size 1 gave '$beam_one', greedy '$greedy'"

grep -q "^BLEU = .*hyp_len" "$WORK/eval.out" && grep -q "signature nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0" "$WORK/eval.out" &&
  grep -q "^chrF2 = " "$WORK/eval.out" && ok "eval prints BLEU and chrF with sacreBLEU's signatures" ||
  fail "eval output lacks BLEU or chrF: $(cat "$WORK/eval.out")"
expect_failure "eval --beam-size 0" "--beam-size" -- \
  "$ATTN" eval --model "$MODEL" --task reverse --beam-size 0

# --- Luong attention, validation on BLEU, plots ---------------------------------------
expect_failure "luong with Bahdanau's score" "--attention-type" "mlp" -- \
  "$ATTN" train --type luong --attention-type mlp --task reverse --model "$WORK/x.safetensors"
expect_failure "bahdanau with a local scope" "--attention-scope" "--type luong" -- \
  "$ATTN" train --type bahdanau --attention-scope local-p --task reverse --model "$WORK/x.safetensors"
expect_failure "unknown validation metric" "--valid-metrics" "meteor" -- \
  "$ATTN" train --type luong --valid-metrics bleu,meteor --task reverse --model "$WORK/x.safetensors"
LUONG="$WORK/luong.safetensors"
if "$ATTN" train --type luong --attention-scope local-p --attention-window 2 --task reverse \
    --task-train-size 200 --model "$LUONG" --dim-emb 16 --dim-rnn 16 --mini-batch 16 --after 30u \
    --disp-freq 10 --valid-freq 15 --valid-max-sentences 32 --valid-metrics bleu,cross-entropy \
    --quiet >"$WORK/luong.log" 2>&1; then
  ok "train --type luong --attention-scope local-p"
else
  fail "train luong: $(tail -5 "$WORK/luong.log")"
fi
grep -q "bleu new best" "$WORK/luong.log" && ok "validation decided by BLEU (--valid-metrics bleu,...)" ||
  fail "no BLEU-decided validation line: $(grep valid "$WORK/luong.log")"
if "$ATTN" plot --model "$LUONG" --sentence "a b c d" --output "$WORK/local.svg" >/dev/null 2>"$WORK/err"; then
  grep -q "<svg" "$WORK/local.svg" && grep -qi "p_t" "$WORK/local.svg" &&
    ok "plot of local-p attention draws p_t" || fail "local-p heatmap lacks p_t: $(head -c 300 "$WORK/local.svg")"
else
  fail "plot luong failed: $(cat "$WORK/err")"
fi
if "$ATTN" plot --metrics "$LUONG.metrics.jsonl" --output "$WORK/curve.svg" >/dev/null 2>"$WORK/err"; then
  grep -q "<polyline" "$WORK/curve.svg" && ok "plot --metrics draws the loss curve" ||
    fail "curve SVG has no polyline"
else
  fail "plot --metrics failed: $(cat "$WORK/err")"
fi

# --- a Transformer's attention, layer by layer and head by head -------------------------
# A tiny model (1 + 2 layers, 2 heads), a few updates: the pictures' structure
# is what is checked, not what the heads learned.
TRANSFORMER="$WORK/transformer.safetensors"
if "$ATTN" train --type transformer --task reverse --task-train-size 200 --model "$TRANSFORMER" \
    --dim-emb 16 --transformer-heads 2 --transformer-dim-ffn 32 --enc-depth 1 --dec-depth 2 \
    --lr-warmup 10 --mini-batch 16 --after 20u --valid-freq 0 --quiet >"$WORK/transformer.log" 2>&1; then
  ok "train --type transformer (tiny)"
else
  fail "train transformer: $(tail -5 "$WORK/transformer.log")"
fi
# Rotary positions (--positions rope): kept in the model file, so that
# translate rebuilds the same model; an unknown kind is named.
if "$ATTN" train --type transformer --positions rope --task reverse --task-train-size 200 \
    --model "$WORK/rope.safetensors" --dim-emb 16 --transformer-heads 2 --transformer-kv-heads 1 \
    --transformer-dim-ffn 32 --enc-depth 1 --dec-depth 1 --lr-warmup 10 --mini-batch 16 \
    --after 10u --valid-freq 0 --quiet >"$WORK/rope.log" 2>&1 &&
    grep -q "rotary (RoPE) positions" "$WORK/rope.log" &&
    printf 'a b c\n' | "$ATTN" translate --model "$WORK/rope.safetensors" --beam-size 2 \
      >"$WORK/rope.out" 2>"$WORK/err" && [ -s "$WORK/rope.out" ]; then
  ok "train --positions rope, then translate it"
else
  fail "train/translate --positions rope: $(tail -3 "$WORK/rope.log") $(cat "$WORK/err")"
fi
# Cross-Layer Attention (--cla-factor): kept in the model file; translate
# rebuilds the model; its cross cache is 2 groups x 8 rows x 5 x 8 x 2 x 4 bytes
# (half of the 10240 of 4 layers without CLA).
if "$ATTN" train --type transformer --cla-factor 2 --task reverse --task-train-size 200 \
    --model "$WORK/cla.safetensors" --dim-emb 16 --transformer-heads 2 --transformer-kv-heads 1 \
    --transformer-dim-ffn 32 --enc-depth 1 --dec-depth 4 --lr-warmup 10 --mini-batch 16 \
    --after 10u --valid-freq 0 --quiet >"$WORK/cla.log" 2>&1 &&
    grep -q "CLA factor 2" "$WORK/cla.log" &&
    printf 'a b c d e\nf g h\n' | "$ATTN" translate --model "$WORK/cla.safetensors" --beam-size 4 \
      --report-cache >"$WORK/cla.out" 2>"$WORK/err" &&
    grep -q "cross-attention 5120)" "$WORK/err"; then
  ok "train --cla-factor 2, then translate it with half the cache"
else
  fail "train/translate --cla-factor 2: $(tail -3 "$WORK/cla.log") $(cat "$WORK/err")"
fi
expect_failure "train --positions relative" "--positions" "'relative'" -- \
  "$ATTN" train --type transformer --positions relative --task reverse --model "$WORK/x.safetensors" --after 1u
# Cells carry a tooltip (<title>) each: one panel of T x S of them per picture.
if "$ATTN" plot --model "$TRANSFORMER" --sentence "a b c d" --layer 2 --head 1 \
    --output "$WORK/head.svg" >/dev/null 2>"$WORK/err"; then
  grep -q "<svg" "$WORK/head.svg" && grep -q "layer 2, head 1" "$WORK/head.svg" &&
    ok "plot --layer 2 --head 1 names the layer and head" ||
    fail "plot --layer 2 --head 1: no 'layer 2, head 1' in $(head -c 300 "$WORK/head.svg")"
else
  fail "plot --layer 2 --head 1 failed: $(cat "$WORK/err")"
fi
if "$ATTN" plot --model "$TRANSFORMER" --sentence "a b c d" --layer 2 --grid \
    --output "$WORK/grid.svg" >/dev/null 2>"$WORK/err"; then
  panels=$(grep -c 'class="panel-title"' "$WORK/grid.svg")
  cells=$(grep -o "<title>" "$WORK/grid.svg" | wc -l)
  single=$(grep -o "<title>" "$WORK/head.svg" | wc -l)
  [ "$panels" -eq 2 ] && grep -q ">layer 2, head 1<" "$WORK/grid.svg" && grep -q ">layer 2, head 2<" "$WORK/grid.svg" &&
    ok "plot --grid: one titled panel per head (2)" || fail "plot --grid: $panels panel titles, expected 2"
  [ "$single" -gt 0 ] && [ "$cells" -eq $((2 * single)) ] &&
    ok "plot --grid: 2 x $single cells, as many per panel as one head's heatmap" ||
    fail "plot --grid: $cells cells, one head's heatmap has $single"
  legends=$(grep -c '>1</text>' "$WORK/grid.svg")
  [ "$legends" -eq 1 ] && ok "plot --grid: one shared colour legend" ||
    fail "plot --grid: the legend's '1' appears $legends times"
else
  fail "plot --grid failed: $(cat "$WORK/err")"
fi
# No flags: the last layer's average over heads, the picture --layer 2 draws.
"$ATTN" plot --model "$TRANSFORMER" --sentence "a b c d" --output "$WORK/default.svg" >/dev/null 2>&1
"$ATTN" plot --model "$TRANSFORMER" --sentence "a b c d" --layer 2 --output "$WORK/layer2.svg" >/dev/null 2>&1
cmp -s "$WORK/default.svg" "$WORK/layer2.svg" && grep -q "layer 2, average of 2 heads" "$WORK/default.svg" &&
  ok "plot of a transformer without --layer/--head: the last layer's average over heads" ||
  fail "plot without --layer differs from --layer 2 (or lacks 'layer 2, average of 2 heads')"
# PNG from the same drawing, where attn has librsvg; otherwise it says so.
if "$ATTN" plot --model "$TRANSFORMER" --sentence "a b c d" --grid --output "$WORK/grid.png" \
    >/dev/null 2>"$WORK/err"; then
  [ "$(head -c 4 "$WORK/grid.png" | tail -c 3)" = "PNG" ] && ok "plot --grid writes PNG" ||
    fail "plot --grid: $WORK/grid.png is not a PNG"
else
  grep -q "without librsvg" "$WORK/err" && ok "plot --grid .png without librsvg says so" ||
    fail "plot --grid .png failed: $(cat "$WORK/err")"
fi
expect_failure "plot --layer 3 of a 2-layer decoder" "--layer 3" "2 layers" -- \
  "$ATTN" plot --model "$TRANSFORMER" --sentence "a b" --layer 3 --output "$WORK/x.svg"
expect_failure "plot --head 0" "--head 0" "numbered 1 to 2" -- \
  "$ATTN" plot --model "$TRANSFORMER" --sentence "a b" --head 0 --output "$WORK/x.svg"
expect_failure "plot --grid with --head" "--grid" "--head" -- \
  "$ATTN" plot --model "$TRANSFORMER" --sentence "a b" --grid --head 1 --output "$WORK/x.svg"
expect_failure "plot --layer of a bahdanau model" "--layer needs a transformer model; this model has one attention" -- \
  "$ATTN" plot --model "$MODEL" --sentence "a b" --layer 1 --output "$WORK/x.svg"
expect_failure "plot --grid of a bahdanau model" "--grid needs a transformer model" -- \
  "$ATTN" plot --model "$MODEL" --sentence "a b" --grid --output "$WORK/x.svg"

# A truncated model file is refused by name.
head -c 200 "$MODEL" >"$WORK/cut.safetensors"
expect_failure "translate with a truncated model" "$WORK/cut.safetensors" -- \
  "$ATTN" translate --model "$WORK/cut.safetensors" </dev/null

# SIGINT saves a checkpoint, then exits with 128 + 2; rerunning resumes from it.
SIG_MODEL="$WORK/sig.safetensors"
"$ATTN" train --type bahdanau --task reverse --task-train-size 200 --model "$SIG_MODEL" \
  --dim-emb 8 --dim-rnn 8 --mini-batch 16 --after 100000u --valid-freq 0 --save-freq 0 \
  --disp-freq 1000 --quiet >"$WORK/sig.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  sleep 0.1
  grep -q "Training on" "$WORK/sig.log" && break
done
sleep 0.5
kill -INT $pid
wait $pid
status=$?
if [ $status -eq 130 ] && [ -f "$SIG_MODEL" ] && grep -q "Interrupted by signal 2" "$WORK/sig.log"; then
  ok "SIGINT saves a checkpoint and exits 130"
else
  fail "SIGINT: exit $status, log: $(tail -3 "$WORK/sig.log")"
fi
if "$ATTN" train --type bahdanau --task reverse --task-train-size 200 --model "$SIG_MODEL" \
    --dim-emb 8 --dim-rnn 8 --mini-batch 16 --after 1u --valid-freq 0 --quiet >"$WORK/sig2.log" 2>&1 &&
   grep -q "Resuming" "$WORK/sig2.log"; then
  ok "the interrupted run resumes"
else
  fail "resume after SIGINT: $(tail -3 "$WORK/sig2.log")"
fi

# A CPU-time budget (ulimit -S -t, SIGXCPU) stops the run the same way: saved, exit 128 + 24.
XCPU_MODEL="$WORK/xcpu.safetensors"
( ulimit -S -t 1
  exec "$ATTN" train --type bahdanau --task reverse --task-train-size 200 --model "$XCPU_MODEL" \
    --dim-emb 8 --dim-rnn 8 --mini-batch 16 --after 100000u --valid-freq 0 --save-freq 0 \
    --disp-freq 1000 --quiet ) >"$WORK/xcpu.log" 2>&1
status=$?
if [ $status -eq 152 ] && [ -f "$XCPU_MODEL.state.safetensors" ] && grep -q "Interrupted by signal 24" "$WORK/xcpu.log"; then
  ok "SIGXCPU (a CPU-time budget) saves a checkpoint and exits 152"
else
  fail "SIGXCPU: exit $status, log: $(tail -3 "$WORK/xcpu.log")"
fi

# --dump-graph: the first update's graph as DOT, with op names, shapes, named
# parameters and gradient norms; an unwritable path is named.
"$ATTN" train --type bahdanau --task reverse --task-max-length 3 --task-train-size 200 \
  --mini-batch 1 --dim-emb 4 --dim-rnn 4 --model "$WORK/graph.safetensors" --after 1u \
  --dump-graph "$WORK/step.dot" --quiet >"$WORK/graph.log" 2>&1
if grep -q '^digraph autograd {' "$WORK/step.dot" 2>/dev/null &&
   grep -q 'label="CrossEntropyBackward\\n\[\] float32\\n|grad| 1"' "$WORK/step.dot" &&
   grep -q 'BahdanauDecoderBackward' "$WORK/step.dot" &&
   grep -q 'label="attention.score_weight\\n\[4\] float32\\n|grad| ' "$WORK/step.dot" &&
   grep -q "\[graph\] update 1's autograd graph written to $WORK/step.dot" "$WORK/graph.log"; then
  ok "train --dump-graph writes the first update's graph with names, shapes and norms"
else
  fail "train --dump-graph: $(tail -3 "$WORK/graph.log"); $(head -5 "$WORK/step.dot" 2>&1)"
fi
expect_failure "train --dump-graph to an unwritable path" "$WORK/no-such-dir/step.dot" -- \
  "$ATTN" train --type bahdanau --task reverse --task-max-length 3 --task-train-size 200 \
  --mini-batch 1 --dim-emb 4 --dim-rnn 4 --model "$WORK/graph2.safetensors" --after 1u \
  --dump-graph "$WORK/no-such-dir/step.dot" --quiet

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
