#!/usr/bin/env bash
# --tokenizer space and spm from the command line: a model trained with
# SentencePiece on a tiny parallel corpus that this script writes translates
# from its model file alone (the training files moved away first), `attn eval`
# scores its detokenized output against the raw references, and bad
# SentencePiece settings are named. In a build without SentencePiece it
# checks the space tokenizer and that --tokenizer spm says what to install.
#
#   bash tests/data/tokenizer_cli_test.sh build/attn
set -u

ATTN=${1:?usage: tokenizer_cli_test.sh PATH/TO/attn}
ATTN=$(cd "$(dirname "$ATTN")" && pwd)/$(basename "$ATTN")  # the script works in its own folder
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_tokenizer_test_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

# expect_failure NAME NEEDLE... -- COMMAND...: exit 1 and every NEEDLE on stderr.
expect_failure() {
  local name=$1; shift
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local code=$?
  [ $code -eq 1 ] || { fail "$name: exit $code, expected 1: $(head -c 400 "$WORK/err")"; return; }
  for needle in "${needles[@]}"; do
    grep -qF -- "$needle" "$WORK/err" || { fail "$name: stderr lacks '$needle': $(head -c 400 "$WORK/err")"; return; }
  done
  ok "$name"
}

# --- a tiny German -> English corpus: 6 subjects x 5 verbs, cased, with punctuation ---
cd "$WORK" || exit 1
make_split() {  # make_split NAME COUNT SEED
  awk -v n="$2" -v seed="$3" -v source="$1.de" -v target="$1.en" 'BEGIN {
    split("Die Katze|Ein Hund|Mein Freund|Der alte Mann|Eine junge Frau|Der Lehrer", de, "|")
    split("The cat|A dog|My friend|The old man|A young woman|The teacher", en, "|")
    split("schläft.|läuft schnell.|isst Brot.|lacht!|singt ein Lied.", dv, "|")
    split("sleeps.|runs fast.|eats bread.|laughs!|sings a song.", ev, "|")
    srand(seed)
    for (k = 0; k < n; ++k) {
      i = 1 + int(rand() * 6); j = 1 + int(rand() * 5)
      print de[i] " " dv[j] > source
      print en[i] " " ev[j] > target
    }
  }'
}
make_split train 300 1
make_split valid 20 2
make_split test 20 3
printf 'Der alte Mann lacht!\nEine junge Frau isst Brot.\n' >input.de

TINY=(--dim-emb 32 --dim-rnn 32 --quiet --disp-freq 0 --valid-freq 0 --learn-rate 0.01)

# --- space: I_TURN_LEFT stays one token ---
printf 'jump twice\tI_JUMP I_JUMP\nturn left\tI_TURN_LEFT\nwalk\tI_WALK\n' >space.tsv
"$ATTN" train --tokenizer space --train-tsv space.tsv --valid-tsv space.tsv \
  --model "$WORK/space/m.safetensors" --after 1u "${TINY[@]}" >"$WORK/train.log" 2>&1
grep -qF "vocabularies 9/7" "$WORK/train.log" &&
  ok "--tokenizer space keeps I_TURN_LEFT whole (target vocabulary of 4 specials + 3)" ||
  fail "--tokenizer space: $(grep -m1 vocabularies "$WORK/train.log")"

# --- without SentencePiece: the flag says so, and that is all there is to check ---
"$ATTN" train --tokenizer spm --train-sets train.de,train.en --valid-sets valid.de,valid.en \
  --model "$WORK/probe/m.safetensors" --after 1u "${TINY[@]}" >"$WORK/out" 2>"$WORK/err"
if grep -qF "built without SentencePiece" "$WORK/err"; then
  grep -qF -- "--tokenizer spm" "$WORK/err" && grep -qF "libsentencepiece-dev" "$WORK/err" ||
    { echo "FAIL - the message without SentencePiece: $(cat "$WORK/err")"; exit 1; }
  ok "built without SentencePiece: --tokenizer spm says what to install"
  [ $failures -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
  echo "all tokenizer command-line checks of a build without SentencePiece passed"
  exit 0
fi

# --- spm (unigram): train, move the data away, translate and eval from the model file alone ---
if "$ATTN" train --tokenizer spm --spm-vocab-size 60 --train-sets train.de,train.en \
     --valid-sets valid.de,valid.en --model "$WORK/uni/m.safetensors" --after 120u "${TINY[@]}" \
     >"$WORK/train.log" 2>&1; then
  ok "train --tokenizer spm (unigram, 60 pieces)"
else
  fail "train --tokenizer spm: $(tail -5 "$WORK/train.log")"
fi
grep -qF "SentencePiece: learned a unigram model of 60 pieces from 600 sentences" "$WORK/train.log" &&
  ok "the log says what SentencePiece learned" || fail "no SentencePiece line in: $(head -5 "$WORK/train.log")"
mkdir moved && mv train.* valid.* moved/
if printf 'Der alte Mann lacht!\nEine junge Frau isst Brot.\n' |
     "$ATTN" translate --model "$WORK/uni/m.safetensors" >"$WORK/translations" 2>"$WORK/err"; then
  # Detokenized: no "▁" left, words separated by spaces, the marks glued on.
  if [ "$(wc -l <"$WORK/translations")" -eq 2 ] && ! grep -q "▁" "$WORK/translations" &&
     [ "$(head -1 "$WORK/translations")" = "The old man laughs!" ]; then
    ok "translate from the model file alone: $(tr '\n' '|' <"$WORK/translations")"
  else
    fail "translate printed: $(cat "$WORK/translations")"
  fi
else
  fail "translate: $(cat "$WORK/err")"
fi
if "$ATTN" eval --model "$WORK/uni/m.safetensors" --test-sets test.de,test.en --output "$WORK/hyp" \
     >"$WORK/eval" 2>"$WORK/err"; then
  # The references are the raw English lines; with the pieces undone, the
  # hypotheses match them, and BLEU says so (joined pieces would score near 0).
  bleu=$(sed -n 's/^BLEU = \([0-9.]*\).*/\1/p' "$WORK/eval")
  if ! grep -q "▁" "$WORK/hyp" && [ -n "$bleu" ] && awk -v b="$bleu" 'BEGIN { exit !(b >= 90) }'; then
    ok "eval scores detokenized text: BLEU $bleu"
  else
    fail "eval: BLEU '$bleu'; $(head -3 "$WORK/eval"); hypotheses: $(head -3 "$WORK/hyp")"
  fi
else
  fail "eval: $(cat "$WORK/err")"
fi
mv moved/* . && rmdir moved

# --- spm (bpe), and --spm-model with the model that the first run stored ---
if "$ATTN" train --tokenizer spm --spm-type bpe --spm-vocab-size 50 --train-sets train.de,train.en \
     --valid-sets valid.de,valid.en --model "$WORK/bpe/m.safetensors" --after 5u "${TINY[@]}" \
     >"$WORK/train.log" 2>&1 &&
   grep -qF "learned a bpe model of 50 pieces" "$WORK/train.log" &&
   "$ATTN" translate --model "$WORK/bpe/m.safetensors" <input.de >/dev/null 2>"$WORK/err"; then
  ok "train --spm-type bpe, then translate"
else
  fail "bpe: $(tail -3 "$WORK/train.log") $(cat "$WORK/err")"
fi
# The model file's metadata holds the SentencePiece model as base64 under
# "data.spm_model"; written back to a file, it is what --spm-model takes.
header_length=$(od -An -t u8 -N 8 "$WORK/uni/m.safetensors" | tr -d ' ')
head -c $((8 + header_length)) "$WORK/uni/m.safetensors" | tail -c "$header_length" |
  grep -o '"data.spm_model":"[^"]*"' | cut -d'"' -f4 | base64 -d >"$WORK/joint.model" 2>/dev/null
if [ -s "$WORK/joint.model" ] &&
   "$ATTN" train --tokenizer spm --spm-model "$WORK/joint.model" --train-sets train.de,train.en \
     --valid-sets valid.de,valid.en --model "$WORK/given/m.safetensors" --after 2u "${TINY[@]}" \
     >"$WORK/train.log" 2>&1 &&
   ! grep -qF "SentencePiece: learned" "$WORK/train.log"; then
  ok "--spm-model FILE (the model from the first run's metadata)"
else
  fail "--spm-model: $(tail -3 "$WORK/train.log")"
fi

# --- resuming keeps the stored model; another --spm-vocab-size is named ---
if "$ATTN" train --tokenizer spm --spm-vocab-size 60 --train-sets train.de,train.en \
     --valid-sets valid.de,valid.en --model "$WORK/uni/m.safetensors" --after 125u "${TINY[@]}" \
     >"$WORK/train.log" 2>&1 && ! grep -qF "SentencePiece: learned" "$WORK/train.log"; then
  ok "resume with --tokenizer spm uses the model stored in the checkpoint"
else
  fail "resume: $(tail -3 "$WORK/train.log")"
fi
expect_failure "resume with another --spm-vocab-size" "--spm-vocab-size 60" "--spm-vocab-size 55" -- \
  "$ATTN" train --tokenizer spm --spm-vocab-size 55 --train-sets train.de,train.en \
  --valid-sets valid.de,valid.en --model "$WORK/uni/m.safetensors" --after 130u "${TINY[@]}"

# --- errors that name the flag and the value ---
expect_failure "a vocabulary too large for the data" "--spm-vocab-size 5000" "Please set it to a value <=" -- \
  "$ATTN" train --tokenizer spm --spm-vocab-size 5000 --train-sets train.de,train.en \
  --valid-sets valid.de,valid.en --model "$WORK/e1/m.safetensors" --after 1u "${TINY[@]}"
printf 'this is not a SentencePiece model\n' >bad.model
expect_failure "a file that is not a model" "--spm-model" "bad.model" "not a SentencePiece model" -- \
  "$ATTN" train --tokenizer spm --spm-model bad.model --train-sets train.de,train.en \
  --valid-sets valid.de,valid.en --model "$WORK/e2/m.safetensors" --after 1u "${TINY[@]}"
expect_failure "--spm-model without --tokenizer spm" "--spm-model" "only with --tokenizer spm" -- \
  "$ATTN" train --spm-model bad.model --train-sets train.de,train.en \
  --valid-sets valid.de,valid.en --model "$WORK/e3/m.safetensors" --after 1u "${TINY[@]}"
expect_failure "--spm-model with --spm-vocab-size" "--spm-vocab-size 100" "brings its own" -- \
  "$ATTN" train --tokenizer spm --spm-model bad.model --spm-vocab-size 100 \
  --train-sets train.de,train.en --model "$WORK/e4/m.safetensors" --after 1u "${TINY[@]}"
expect_failure "--spm-type nonsense" "--spm-type" "'wordpiece'" -- \
  "$ATTN" train --tokenizer spm --spm-type wordpiece --train-sets train.de,train.en \
  --model "$WORK/e5/m.safetensors" --after 1u "${TINY[@]}"

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all tokenizer command-line checks passed"
