#!/usr/bin/env bash
# Config files and Marian's habits, end to end (issue 16): --config and
# --dump-config, MODEL.yml beside each saved model, --log and --valid-log,
# --cpu-threads, space-separated lists, cut outputs reported by validation and
# by attn translate line by line, and help texts that say each model type's
# defaults. Tiny models, a few seconds in all.
#
#   bash tests/train/config_test.sh build/attn
#
# Each check prints "ok - ..." or "FAIL - ..."; the script exits non-zero if any failed.
set -u

ATTN=${1:?usage: config_test.sh PATH/TO/attn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_config_test_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }
# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}

# A tiny transformer and its data: two line-aligned files.
printf 'a b c\nd e f\nb a\nc c d\n' >"$WORK/train.src"
printf 'c b a\nf e d\na b\nd c c\n' >"$WORK/train.tgt"
TINY=(--type transformer --dim-emb 16 --transformer-heads 2 --transformer-dim-ffn 16 --enc-depth 1
      --dec-depth 1 --mini-batch 4 --quiet)

# --- --dump-config, read back by --config ---------------------------------------------
"$ATTN" train "${TINY[@]}" --train-sets "$WORK/train.src" "$WORK/train.tgt" --valid-metrics bleu cross-entropy \
  --dump-config >"$WORK/dumped.yml" 2>"$WORK/err"
check "--dump-config exits 0 without --model" [ $? -eq 0 ]
check "--dump-config writes the transformer's defaults as values" \
  grep -qx "lr-warmup: 4000" "$WORK/dumped.yml"
check "--dump-config writes space-separated lists as YAML lists" \
  grep -qx "train-sets: \[$WORK/train.src, $WORK/train.tgt\]" "$WORK/dumped.yml"
"$ATTN" train --config "$WORK/dumped.yml" --dump-config >"$WORK/again.yml" 2>"$WORK/err"
check "--config of a dumped file dumps the same settings" cmp -s "$WORK/dumped.yml" "$WORK/again.yml"
"$ATTN" train -c "$WORK/dumped.yml" --dim-emb 32 --dump-config >"$WORK/win.yml" 2>"$WORK/err"
check "a flag on the command line wins over the file" grep -qx "dim-emb: 32" "$WORK/win.yml"
printf 'dim-emb: 64\n' >"$WORK/later.yml"
"$ATTN" train -c "$WORK/dumped.yml" "$WORK/later.yml" --dump-config >"$WORK/merged.yml" 2>"$WORK/err"
check "a later file wins over an earlier one" grep -qx "dim-emb: 64" "$WORK/merged.yml"

# Errors name the file, the line and the key, and exit 1 (an attn::Error).
printf 'dim-emb: 16\n# the next line is misspelt\ndim-embb: 3\n' >"$WORK/unknown.yml"
"$ATTN" train -c "$WORK/unknown.yml" --dump-config >/dev/null 2>"$WORK/err"
code=$?
check "an unknown key: exit 1, file:line and key named" \
  bash -c "[ $code -eq 1 ] && grep -qF \"$WORK/unknown.yml:3: unknown key 'dim-embb'\" \"$WORK/err\""
printf 'type: s2s\nlearn-rate: fast\n' >"$WORK/type.yml"
"$ATTN" train -c "$WORK/type.yml" --dump-config >/dev/null 2>"$WORK/err"
code=$?
check "a wrong type: exit 1, file:line and key named" \
  bash -c "[ $code -eq 1 ] && grep -qF \"$WORK/type.yml:2: key 'learn-rate'\" \"$WORK/err\""

# --- a run from the file: MODEL.yml, metadata, logs, threads ---------------------------
MODEL="$WORK/model.safetensors"
RUN=(-c "$WORK/dumped.yml" --valid-sets "$WORK/train.src,$WORK/train.tgt" --after 4u --disp-freq 2
     --valid-freq 2 --save-freq 0 --model "$MODEL" --log "$WORK/train.log" --valid-log "$WORK/valid.log")
"$ATTN" train "${RUN[@]}" --dump-config >"$WORK/expected.yml" 2>"$WORK/err"
if ATTN_NUM_THREADS=2 "$ATTN" train "${RUN[@]}" --cpu-threads 1 >"$WORK/out" 2>"$WORK/err"; then
  ok "train from a config file"
else
  fail "train from a config file: $(tail -3 "$WORK/err")"
fi
# The --cpu-threads run has cpu-threads: 1; the expectation was dumped without
# it. MODEL.yml leaves out the paths of the run's own files (--model, --log, --valid-log).
sed -e 's/^cpu-threads: 0$/cpu-threads: 1/' -e '/^model: /d' -e '/^log: /d' -e '/^valid-log: /d' \
  "$WORK/expected.yml" >"$WORK/expected_threads.yml"
check "MODEL.yml holds the settings --dump-config prints, less the run's own paths" \
  cmp -s "$WORK/expected_threads.yml" "$MODEL.yml"
check "MODEL.yml names no path of the run's own files" bash -c "! grep -q 'model.safetensors\|train.log' \"$MODEL.yml\""
check "the best model has its .yml too" cmp -s "$MODEL.yml" "$WORK/model.best.safetensors.yml"
check "no temporary .yml is left" bash -c "! ls \"$WORK\"/*.tmp >/dev/null 2>&1"
check "the settings are in the model's metadata (train.config)" \
  bash -c "head -c 200000 \"$MODEL\" | grep -aq '\"train.config\"'"
"$ATTN" train -c "$MODEL.yml" --dump-config >"$WORK/from_model.yml" 2>"$WORK/err"
check "MODEL.yml reads back to the same settings" cmp -s "$MODEL.yml" "$WORK/from_model.yml"
# A rerun of the finished command trains no more and rewrites nothing.
cp "$MODEL.yml" "$WORK/before_rerun.yml"
"$ATTN" train "${RUN[@]}" --disp-freq 1 >"$WORK/out" 2>"$WORK/err"
check "a rerun of a finished run leaves MODEL.yml as the run that trained wrote it" \
  cmp -s "$MODEL.yml" "$WORK/before_rerun.yml"
check "--cpu-threads wins over ATTN_NUM_THREADS" grep -q "; 1 CPU thread$" "$WORK/train.log"
check "--log holds the log lines" \
  bash -c "grep -q 'Training on 4 sentence pairs' \"$WORK/train.log\" && grep -q 'Training finished' \"$WORK/train.log\""
check "--valid-log holds the two validations and nothing else" \
  bash -c "[ \$(grep -c '\[valid\] Ep\.' \"$WORK/valid.log\") -eq 2 ] && ! grep -qv '\[valid\]' \"$WORK/valid.log\""
SETS=(--train-sets "$WORK/train.src,$WORK/train.tgt" --valid-sets "$WORK/train.src,$WORK/train.tgt")
ATTN_NUM_THREADS=3 "$ATTN" train "${TINY[@]}" "${SETS[@]}" --after 1u --valid-freq 0 --model "$WORK/threads.safetensors" >"$WORK/threads.log" 2>&1
check "without --cpu-threads, ATTN_NUM_THREADS holds" grep -q "; 3 CPU threads$" "$WORK/threads.log"

# --- space- and comma-separated lists train alike ---------------------------------------
for form in spaces commas; do
  if [ $form = spaces ]; then sets=(--train-sets "$WORK/train.src" "$WORK/train.tgt"); params=(0.9 0.98 1e-9)
  else sets=(--train-sets "$WORK/train.src,$WORK/train.tgt"); params=(0.9,0.98,1e-9); fi
  "$ATTN" train "${TINY[@]}" "${sets[@]}" --valid-sets "$WORK/train.src" "$WORK/train.tgt" --optimizer-params "${params[@]}" --after 4u --disp-freq 1 \
    --valid-freq 0 --model "$WORK/$form.safetensors" 2>&1 | grep -o "Cost [0-9.]*" >"$WORK/$form.costs"
done
check "space- and comma-separated lists give the same training" \
  bash -c "[ -s \"$WORK/spaces.costs\" ] && cmp -s \"$WORK/spaces.costs\" \"$WORK/commas.costs\""

# --- cut outputs: validation counts them, translate names each line --------------------
"$ATTN" train "${TINY[@]}" --train-sets "$WORK/train.src" "$WORK/train.tgt" --valid-sets "$WORK/train.src" \
  "$WORK/train.tgt" --after 2u --valid-freq 2 --valid-max-length-factor 0 --valid-max-length 1 \
  --model "$WORK/cut.safetensors" >"$WORK/cut.log" 2>&1
check "validation counts the outputs cut at --valid-max-length" \
  grep -qE "\[valid\] [0-9]+ of 4 outputs stopped at the length limit .*--valid-max-length" "$WORK/cut.log"
# Greedy decoding with --max-length 1: an output is one token (cut) or empty (</s>).
printf 'a\n\nb c\nd\n' | "$ATTN" translate --model "$MODEL" --max-length 2 --max-length-factor 0 \
  --max-length-offset 0 --beam-size 1 >"$WORK/out" 2>"$WORK/err"
expected=$(awk 'NF > 0 { printf "stdin:%d\n", NR }' "$WORK/out")
warned=$(grep -o "warning: stdin:[0-9]*: the translation stopped at the length limit" "$WORK/err" |
  sed 's/warning: \(stdin:[0-9]*\):.*/\1/')
check "translate warns on stderr for each cut line, by its line number" \
  bash -c "[ -n \"$expected\" ] && [ \"$expected\" = \"$warned\" ]"

# --- help texts that tell each model type's defaults -------------------------------------
"$ATTN" --help >"$WORK/help" 2>&1
check "attn --help lists transformer" grep -q "bahdanau|luong|s2s|transformer" "$WORK/help"
for sub in translate eval; do
  # The help text on one line: cxxopts wraps descriptions.
  "$ATTN" $sub --help 2>&1 | tr -s ' \n' '  ' >"$WORK/help"
  check "$sub --help gives the transformer's beam 4 and length penalty 0.6, not one default" \
    bash -c "grep -q 'Default: 5; a transformer model: 4' \"$WORK/help\" &&
             grep -q 'Default: 0; a transformer model: 0.6' \"$WORK/help\" && ! grep -q '(default: 5)' \"$WORK/help\""
done
"$ATTN" train --help >"$WORK/help" 2>&1
check "train --help names --config and --dump-config" \
  bash -c "grep -q -- '-c, --config' \"$WORK/help\" && grep -q -- '--dump-config' \"$WORK/help\""

# --- config files for translate and eval -------------------------------------------------
printf 'a b\nc d\n' >"$WORK/src.txt"
"$ATTN" translate --model "$MODEL" --beam-size 2 --max-length-offset 7 --dump-config >"$WORK/translate.yml"
check "translate --dump-config prints the settings in effect" \
  bash -c "grep -qx 'beam-size: 2' \"$WORK/translate.yml\" && grep -qx 'max-length-offset: 7' \"$WORK/translate.yml\""
"$ATTN" translate --model "$MODEL" --beam-size 2 --max-length-offset 7 <"$WORK/src.txt" >"$WORK/by_flags" 2>/dev/null
"$ATTN" translate -c "$WORK/translate.yml" <"$WORK/src.txt" >"$WORK/by_file" 2>/dev/null
check "translate --config of its dump translates as the flags did" \
  bash -c "[ \$(wc -l <\"$WORK/by_flags\") -eq 2 ] && cmp -s \"$WORK/by_flags\" \"$WORK/by_file\""
printf 'beam-size: 3\n' >"$WORK/beam3.yml"
"$ATTN" translate -c "$WORK/beam3.yml" --model "$MODEL" --beam-size 1 --dump-config >"$WORK/wins.yml"
check "a translate flag wins over its config file" grep -qx 'beam-size: 1' "$WORK/wins.yml"
printf 'beam-sise: 3\n' >"$WORK/typo.yml"
"$ATTN" eval -c "$WORK/typo.yml" --model "$MODEL" --test-tsv "$WORK/none.tsv" >/dev/null 2>"$WORK/err"
check "eval names an unknown key with its file and line" grep -q "typo.yml:1: unknown key 'beam-sise'" "$WORK/err"
printf 'mini-batch: many\n' >"$WORK/type.yml"
"$ATTN" eval -c "$WORK/type.yml" --model "$MODEL" --test-tsv "$WORK/none.tsv" >/dev/null 2>"$WORK/err"
check "eval names a value of the wrong type with its file, line and key" \
  grep -q "type.yml:1: key 'mini-batch': cannot read 'many'" "$WORK/err"
for sub in translate eval; do
  "$ATTN" $sub --help >"$WORK/help" 2>&1
  check "$sub --help names --config and --dump-config" \
    bash -c "grep -q -- '-c, --config' \"$WORK/help\" && grep -q -- '--dump-config' \"$WORK/help\""
done

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all config checks passed"
