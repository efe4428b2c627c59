#!/usr/bin/env bash
# Every flag of every subcommand, walked with values that cannot be right:
# each run either succeeds (the value is legal, like a 0 that means "off") or
# exits with a code from 1 to 125 and a message on stderr that names the flag.
# Never a crash (128 + signal), a hang, or a silent success on nonsense.
#
#   bash tests/train/flags_test.sh build/attn
#
# The flags come from the parser itself (`attn SUB --help`), so a new flag
# without a row in the table below fails this test until it is given one.
#
# Values tried, by kind of flag (each written --flag=VALUE, so that a negative
# number is not read as another option):
#   numbers:  0, -1, huge (99999999999 for integers, 1e300 for reals),
#             past int64 (integers), and 'abc'
#   strings:  '' (empty) and 'nonsense-value'
#   paths:    '', a file that does not exist, and a directory
#   switches: --flag alone, and --flag=maybe
# A row of the table gives each flag its kind and the outcome of each value:
# "ok" (exit 0) or "err" (exit 1..125, stderr names --flag).
set -u

ATTN=${1:?usage: flags_test.sh PATH/TO/attn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_flags_test_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
cases=0
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

# --- two tiny models (1 update) and a tiny test set, for translate, eval and plot ---
RNN="$WORK/rnn.safetensors"
TF="$WORK/tf.safetensors"
"$ATTN" train --task reverse --task-train-size 8 --after 1u --dim-emb 8 --dim-rnn 8 --quiet \
  --valid-freq 0 --model "$RNN" >"$WORK/log" 2>&1 || { echo "FAIL - training the RNN: $(tail -3 "$WORK/log")"; exit 1; }
"$ATTN" train --type transformer --task reverse --task-train-size 8 --after 1u --dim-emb 8 \
  --transformer-heads 2 --transformer-dim-ffn 8 --enc-depth 1 --dec-depth 2 --quiet --valid-freq 0 \
  --model "$TF" >"$WORK/log" 2>&1 || { echo "FAIL - training the transformer: $(tail -3 "$WORK/log")"; exit 1; }
printf 'a b c\tc b a\nd e\te d\n' >"$WORK/test.tsv"
printf 'a b c\nd e\n' >"$WORK/test.src"
printf 'c b a\ne d\n' >"$WORK/test.tgt"
printf 'a b c\n' >"$WORK/input.txt"
mkdir "$WORK/folder"

# --- the table: SUBCOMMAND:FLAG -> "KIND zero neg huge nan" (numbers) or "KIND empty nonsense"
# (strings), "path empty missing dir" (paths), "switch" (switches). -------------------------------
declare -A TABLE=(
  # attn train: config files (a missing file and a folder are named; --dump-config prints and exits 0)
  [train:config]="path err err err"
  [train:dump-config]="switch"
  # attn train: the model
  [train:type]="string err err"
  [train:model]="path err ok err"          # a new file is what --model names
  [train:dim-emb]="int err err err err"
  [train:dim-rnn]="int err err err err"
  [train:dim-att]="int ok err err err"      # 0 = --dim-rnn
  [train:enc-depth]="int err err err err"
  [train:dec-depth]="int err err err err"
  [train:dropout-rnn]="real ok err err err"
  [train:output-layer]="string err err"
  [train:attention-type]="string ok err"    # empty = the model's own
  [train:attention-scope]="string err err"
  [train:attention-window]="int ok err err err"
  [train:input-feed]="switch"
  # the Transformer (tried on a tiny transformer)
  [train:transformer-heads]="int err err err err"
  [train:transformer-kv-heads]="int ok err err err"  # 0 = as many as the heads
  [train:transformer-dim-ffn]="int err err err err"
  [train:transformer-dropout]="real ok err err err"
  [train:transformer-dropout-attention]="real ok err err err"
  [train:pre-ln]="switch"
  [train:tied-embeddings]="switch"
  [train:positions]="string err err"
  [train:cla-factor]="int err err err err"   # 1..--dec-depth (1 here)
  [train:kv-rank]="int ok err err err"  # 0 = off (Low-Rank KV)
  [train:mla-kv-latent]="int ok err err err"  # 0 = off (Multi-Head Latent Attention)
  [train:mla-q-latent]="int ok err err err"   # 0 = queries not compressed
  [train:mla-rope-dim]="int ok err err err"   # 0 = head size / 2
  # data
  [train:task]="string err err"             # empty: no training data, which names --task
  [train:task-train-size]="int ok err err err"
  [train:task-max-length]="int ok err err err"
  [train:train-tsv]="path ok err err"       # empty = not given (--task reverse is)
  [train:train-sets]="path ok err err"
  [train:valid-tsv]="path ok err err"
  [train:valid-sets]="path ok err err"
  [train:tokenizer]="string err err"
  [train:spm-type]="string err err"
  [train:spm-vocab-size]="int err err err err"  # 8 and up; other values only with --tokenizer spm
  [train:spm-model]="path ok err err"       # empty = learn one; given: only with --tokenizer spm
  [train:lowercase]="switch"
  [train:vocab-min-freq]="int err err err err"
  [train:vocab-max-size]="int ok err err err"  # 0 = no cap
  [train:max-length]="int ok err err err"      # 0 = keep every pair
  [train:mini-batch]="int err err err err"
  [train:mini-batch-words]="int ok err err err"
  # training
  [train:after]="string err err"
  [train:optimizer]="string err err"
  [train:learn-rate]="real err err err err"
  [train:momentum]="real ok err err err"
  [train:weight-decay]="real ok err err err"
  [train:clip-norm]="real ok err err err"      # 0 = off
  [train:label-smoothing]="real ok err err err"
  [train:lr-schedule]="string err err"
  [train:lr-warmup]="int ok err err err"
  [train:lr-decay-freq]="int ok err err err"   # nonzero needs --lr-schedule halving
  [train:optimizer-params]="real err err err err"  # three numbers, not one
  [train:seed]="uint ok err ok err"
  [train:device]="string err err"
  [train:cpu-threads]="int ok err err err"     # 0 = ATTN_NUM_THREADS or every core
  [train:precision]="string err err"
  # validation and logging: a frequency of 0 is "never"
  [train:disp-freq]="int ok err err err"
  [train:valid-freq]="int ok err err err"
  [train:save-freq]="int ok err err err"
  [train:early-stopping]="int ok err err err"
  [train:valid-metrics]="string err err"
  [train:valid-samples]="int ok err err err"
  [train:valid-max-sentences]="int ok err err err"
  [train:valid-max-length-factor]="real ok err err err"  # 0: --valid-max-length alone
  [train:valid-max-length-offset]="int ok err err err"
  [train:valid-max-length]="int ok err err err"          # 0 = no cap of its own
  [train:log]="path ok err err"             # empty = none
  [train:valid-log]="path ok err err"
  [train:quiet]="switch"
  [train:dump-graph]="path ok err err"      # empty = none; missing = a folder that does not exist

  # attn translate (the tiny RNN, one line on stdin)
  [translate:config]="path err err err"
  [translate:dump-config]="switch"
  [translate:model]="path err err err"
  [translate:input]="path ok err err"       # empty = stdin
  [translate:output]="path ok err err"      # empty = stdout
  [translate:mini-batch]="int err err err err"
  [translate:beam-size]="int err err err err"
  [translate:normalize]="real ok err err err"
  [translate:max-length-factor]="real ok err err err"  # 0: --max-length alone bounds the output
  [translate:max-length-offset]="int ok err err err"
  [translate:max-length]="int ok err err err"          # 0 = no cap of its own
  [translate:max-length-crop]="switch"
  [translate:n-best]="int ok err err err"
  [translate:device]="string err err"
  [translate:cpu-threads]="int ok err err err"
  [translate:report-cache]="switch"
  [translate:kv-cache]="string err err"
  [translate:kv-block-size]="int err err err err"

  # attn eval (the tiny RNN, a two-line test file)
  [eval:config]="path err err err"
  [eval:dump-config]="switch"
  [eval:model]="path err err err"
  [eval:task]="string ok err"               # empty = not given (--test-tsv is)
  [eval:test-tsv]="path err err err"        # empty: no test data, which names --test-tsv
  [eval:test-sets]="path err err err"
  [eval:mini-batch]="int err err err err"
  [eval:beam-size]="int err err err err"
  [eval:normalize]="real ok err err err"
  [eval:max-length-factor]="real ok err err err"
  [eval:max-length-offset]="int ok err err err"
  [eval:max-length]="int ok err err err"
  [eval:max-length-crop]="switch"
  [eval:output]="path ok err err"
  [eval:device]="string err err"
  [eval:cpu-threads]="int ok err err err"
  [eval:kv-cache]="string err err"
  [eval:kv-block-size]="int err err err err"

  # attn plot (the tiny transformer: 2 decoder layers, 2 heads)
  [plot:model]="path err err err"
  [plot:sentence]="string err ok"           # unknown words are <unk>, which is legal
  [plot:metrics]="path ok err err"          # empty = not given (a heatmap)
  [plot:output]="path err err err"
  [plot:title]="string ok ok"
  [plot:layer]="int err err err err"
  [plot:head]="int err err err err"
  [plot:grid]="switch"

  # attn gradcheck (one op, so that legal values finish at once)
  [gradcheck:op]="string err err"
  [gradcheck:list]="switch"
  [gradcheck:eps]="real err err err err"
  [gradcheck:rtol]="real err err err err"
  [gradcheck:seed]="uint ok err ok err"
)

# The command a value of FLAG is tried in: tiny settings, minus FLAG itself
# (and minus what would clash with it), each run with a model path of its own.
run_number=0
base() {
  local sub=$1 flag=$2
  run_number=$((run_number + 1))
  local -a args=()
  case $sub in
    train)
      local new="$WORK/m$run_number.safetensors"
      if [[ $flag == transformer-* || $flag == pre-ln || $flag == tied-embeddings || $flag == positions || $flag == cla-factor || $flag == kv-rank || $flag == mla-* ]]; then
        args=(--type transformer --dim-emb 8 --transformer-heads 2 --transformer-dim-ffn 8
              --enc-depth 1 --dec-depth 1)
      else
        args=(--dim-emb 8 --dim-rnn 8)
      fi
      args+=(--task reverse --task-train-size 8 --after 1u --mini-batch 8 --quiet --valid-freq 0
             --model "$new")
      ;;
    translate) args=(--model "$RNN" --max-length 32) ;;
    eval) args=(--model "$RNN" --test-tsv "$WORK/test.tsv" --max-length 32) ;;
    plot) args=(--model "$TF" --sentence "a b c" --output "$WORK/p$run_number.svg") ;;
    gradcheck) args=(--op matmul) ;;
  esac
  # Leave out FLAG (and --test-tsv when --test-sets is tried: one test set at a time).
  local -a kept=()
  local i=0
  while [ $i -lt ${#args[@]} ]; do
    local name=${args[$i]#--}
    if [[ ${args[$i]} == --* && ( $name == "$flag" || ( $flag == test-sets && $name == test-tsv ) ) ]]; then
      if [ $((i + 1)) -lt ${#args[@]} ] && [[ ${args[$((i + 1))]} != --* ]]; then i=$((i + 2)); else i=$((i + 1)); fi
      continue
    fi
    kept+=("${args[$i]}")
    i=$((i + 1))
  done
  BASE=("${kept[@]}")
}

# try SUB FLAG LABEL EXPECT ARG...: runs `attn SUB BASE... ARG...` and checks the outcome.
try() {
  local sub=$1 flag=$2 label=$3 expect=$4
  shift 4
  base "$sub" "$flag"
  cases=$((cases + 1))
  local code
  if [ "$sub" = translate ]; then
    timeout 20 "$ATTN" "$sub" "${BASE[@]}" "$@" <"$WORK/input.txt" >"$WORK/out" 2>"$WORK/err"
  else
    timeout 20 "$ATTN" "$sub" "${BASE[@]}" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
  fi
  code=$?
  local what="attn $sub --$flag ($label: $*)"
  if [ "$expect" = ok ]; then
    [ $code -eq 0 ] || fail "$what: expected success, exit $code: $(head -c 400 "$WORK/err")"
  elif [ $code -eq 0 ]; then
    fail "$what: expected an error, exit 0"
  elif [ $code -gt 125 ]; then
    fail "$what: exit $code (a crash, a signal or a timeout): $(head -c 400 "$WORK/err")"
  elif ! grep -qF -- "--$flag" "$WORK/err"; then
    fail "$what: exit $code, but stderr does not name --$flag: $(head -c 400 "$WORK/err")"
  fi
}

for sub in train translate eval plot gradcheck; do
  # Every option --help lists, and whether it takes a value ("arg").
  "$ATTN" $sub --help >"$WORK/help" 2>&1 || fail "attn $sub --help"
  # An option line is "  -x, --name" or "      --name" (a description's wrapped lines are
  # indented further), then "arg" if it takes a value.
  mapfile -t listed < <(awk '/^  (-[a-zA-Z], |    )--[a-z0-9]/ {
      for (i = 1; i <= NF; ++i) if ($i ~ /^--/) { print substr($i, 3) ($(i + 1) == "arg" ? " arg" : ""); break }
    }' "$WORK/help")
  [ ${#listed[@]} -gt 3 ] || fail "attn $sub --help lists ${#listed[@]} options"
  declare -A seen=()
  for entry in "${listed[@]}"; do
    flag=${entry% arg}
    [ "$flag" = help ] && continue
    seen[$flag]=1
    row=${TABLE[$sub:$flag]:-}
    if [ -z "$row" ]; then
      fail "attn $sub --$flag has no row in the table of tests/train/flags_test.sh: add one"
      continue
    fi
    read -r kind a b c d <<<"$row"
    if [ "$kind" = switch ]; then
      [ "$entry" = "$flag" ] || fail "attn $sub --$flag takes a value, but its row says switch"
      try $sub $flag alone ok "--$flag"
      try $sub $flag maybe err "--$flag=maybe"
      continue
    fi
    [ "$entry" != "$flag" ] || fail "attn $sub --$flag is a switch, but its row says $kind"
    case $kind in
      int | uint | real)
        huge=99999999999
        [ "$kind" = real ] && huge=1e300
        try $sub $flag zero "$a" "--$flag=0"
        try $sub $flag negative "$b" "--$flag=-1"
        try $sub $flag huge "$c" "--$flag=$huge"
        [ "$kind" = real ] || try $sub $flag past-int64 err "--$flag=99999999999999999999"
        try $sub $flag non-numeric "$d" "--$flag=abc"
        ;;
      string)
        try $sub $flag empty "$a" "--$flag="
        try $sub $flag nonsense "$b" "--$flag=nonsense-value"
        ;;
      path)
        missing="$WORK/no-such-folder-$cases/no-such-file"  # one per case: train --model makes its folder
        # A pair of files for the *-sets flags, as SRC,TGT.
        [[ $flag == *-sets ]] && missing="$missing,$missing"
        folder="$WORK/folder"
        [[ $flag == *-sets ]] && folder="$WORK/folder,$WORK/folder"
        try $sub $flag empty "$a" "--$flag="
        try $sub $flag missing "$b" "--$flag=$missing"
        try $sub $flag directory "$c" "--$flag=$folder"
        ;;
      *) fail "row $sub:$flag: unknown kind '$kind'" ;;
    esac
  done
  # A row for a flag the parser no longer has is stale.
  for key in "${!TABLE[@]}"; do
    [[ $key == "$sub:"* ]] || continue
    [ -n "${seen[${key#"$sub:"}]:-}" ] || fail "the table has a row for attn $sub --${key#"$sub:"}, which --help does not list"
  done
  unset seen
done

# A few relations between flags, each named.
check_relation() {
  local label=$1 needle=$2
  shift 2
  cases=$((cases + 1))
  "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
  local code=$?
  if [ $code -ge 1 ] && [ $code -le 125 ] && grep -qF -- "$needle" "$WORK/err"; then :; else
    fail "$label: exit $code, stderr: $(head -c 400 "$WORK/err")"
  fi
}
TINY=(--task reverse --task-train-size 8 --after 1u --quiet --valid-freq 0)
check_relation "d_model not divisible by the heads" "--transformer-heads" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r1.safetensors" --type transformer --dim-emb 10 --transformer-heads 4
check_relation "kv heads not dividing the heads" "--transformer-kv-heads" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r2.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 4 --transformer-kv-heads 3
check_relation "kv heads above the heads" "--transformer-kv-heads" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r3.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --transformer-kv-heads 4
check_relation "a CLA factor above the decoder layers" "--cla-factor" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/rcla.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --transformer-dim-ffn 8 --enc-depth 1 --dec-depth 2 --cla-factor 3
check_relation "a low-rank KV rank above the head size" "--kv-rank" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r7.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --kv-rank 5
check_relation "low-rank KV with GQA" "--kv-rank" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r8.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --transformer-kv-heads 1 --kv-rank 2
check_relation "low-rank KV with CLA" "--cla-factor" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r10.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --dec-depth 2 --cla-factor 2 --kv-rank 2
check_relation "low-rank KV with rope" "--kv-rank" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r9.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --positions rope --kv-rank 2
check_relation "latent attention with low-rank KV" "--kv-rank" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/m1.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --mla-kv-latent 4 --kv-rank 2
check_relation "latent attention with GQA" "--transformer-kv-heads" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/m2.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --transformer-kv-heads 1 --mla-kv-latent 4
check_relation "latent attention with CLA" "--cla-factor" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/m3.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --dec-depth 2 --cla-factor 2 --mla-kv-latent 4
check_relation "a query latent without latent attention" "--mla-kv-latent" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/m4.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --mla-q-latent 4
check_relation "an odd rotary size for latent attention" "--mla-rope-dim" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/m5.safetensors" --type transformer --dim-emb 8 \
  --transformer-heads 2 --mla-kv-latent 4 --mla-rope-dim 3
check_relation "latent attention in an RNN" "--mla-kv-latent" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/m6.safetensors" --mla-kv-latent 4
# A latent-attention model trains, keeps its sizes in the file, translates,
# evaluates and plots.
cases=$((cases + 1))
if "$ATTN" train "${TINY[@]}" --model "$WORK/mla.safetensors" --type transformer --dim-emb 8 \
     --transformer-heads 2 --transformer-dim-ffn 8 --enc-depth 1 --dec-depth 1 \
     --positions rope --mla-kv-latent 4 --mla-q-latent 6 </dev/null >"$WORK/out" 2>"$WORK/err" &&
   "$ATTN" translate --model "$WORK/mla.safetensors" --max-length 8 --report-cache \
     <"$WORK/input.txt" >"$WORK/out" 2>"$WORK/err" &&
   grep -qF "self-attention" "$WORK/err" &&
   "$ATTN" eval --model "$WORK/mla.safetensors" --test-tsv "$WORK/test.tsv" --max-length 8 \
     </dev/null >"$WORK/out" 2>"$WORK/err" &&
   "$ATTN" plot --model "$WORK/mla.safetensors" --sentence "a b c" --output "$WORK/mla.svg" \
     </dev/null >"$WORK/out" 2>"$WORK/err"; then :; else
  fail "train + translate + eval + plot with --mla-kv-latent 4: $(head -c 400 "$WORK/err")"
fi
# A low-rank KV model trains, keeps its rank in the file, and translates.
cases=$((cases + 1))
if "$ATTN" train "${TINY[@]}" --model "$WORK/lrkv.safetensors" --type transformer --dim-emb 8 \
     --transformer-heads 2 --transformer-dim-ffn 8 --enc-depth 1 --dec-depth 1 --kv-rank 2 \
     </dev/null >"$WORK/out" 2>"$WORK/err" &&
   "$ATTN" translate --model "$WORK/lrkv.safetensors" --max-length 8 --report-cache \
     <"$WORK/input.txt" >"$WORK/out" 2>"$WORK/err"; then :; else
  fail "train + translate with --kv-rank 2: $(head -c 400 "$WORK/err")"
fi
# The paged KV cache (nn/paged_kv_cache.h): a transformer's; not with Low-Rank KV.
check_relation "--kv-cache paged on an RNN model" "--kv-cache paged" \
  "$ATTN" translate --model "$RNN" --kv-cache paged --input "$WORK/input.txt"
check_relation "--kv-cache paged with --kv-rank" "--kv-rank" \
  "$ATTN" translate --model "$WORK/lrkv.safetensors" --kv-cache paged --input "$WORK/input.txt"
check_relation "eval --kv-cache paged with --kv-rank" "--kv-rank" \
  "$ATTN" eval --model "$WORK/lrkv.safetensors" --kv-cache paged --test-tsv "$WORK/test.tsv"
check_relation "--kv-cache paged with --mla-kv-latent" "--mla-kv-latent" \
  "$ATTN" translate --model "$WORK/mla.safetensors" --kv-cache paged --input "$WORK/input.txt"
# The same translations with either cache; --report-cache gives the block figures.
cases=$((cases + 1))
if "$ATTN" translate --model "$TF" --beam-size 4 <"$WORK/test.src" >"$WORK/contiguous.out" 2>"$WORK/err" &&
   "$ATTN" translate --model "$TF" --beam-size 4 --kv-cache paged --kv-block-size 2 --report-cache \
     --n-best 4 <"$WORK/test.src" >"$WORK/paged.nbest" 2>"$WORK/err" &&
   "$ATTN" translate --model "$TF" --beam-size 4 --n-best 4 <"$WORK/test.src" >"$WORK/contiguous.nbest" 2>/dev/null &&
   cmp -s "$WORK/paged.nbest" "$WORK/contiguous.nbest" &&
   grep -q "^\[cache\] paged: peak [0-9]* blocks of 2 positions x [0-9]* bytes = [0-9]* bytes; unshared (4 copies for beam 4) [0-9]* blocks" "$WORK/err" &&
   "$ATTN" eval --model "$TF" --kv-cache paged --test-tsv "$WORK/test.tsv" >"$WORK/out" 2>"$WORK/err"; then :; else
  fail "translate/eval --kv-cache paged: $(head -c 600 "$WORK/err")"
fi
check_relation "halving that never halves" "--lr-decay-freq" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r4.safetensors" --lr-schedule halving
check_relation "a transformer's --max-length past its positional table" "--max-length" \
  "$ATTN" train "${TINY[@]}" --model "$WORK/r5.safetensors" --type transformer --max-length 600
check_relation "--after 0u" "--after" "$ATTN" train --task reverse --model "$WORK/r6.safetensors" --after 0u
# Messages that name the flags that would help.
check_relation "a TSV run without validation data" "--valid-tsv" \
  "$ATTN" train --train-tsv "$WORK/test.tsv" --model "$WORK/r7.safetensors" --after 1u
check_relation "every training pair longer than --max-length" "--max-length" \
  "$ATTN" train --train-tsv "$WORK/test.tsv" --valid-tsv "$WORK/test.tsv" --max-length 1 \
  --model "$WORK/r8.safetensors" --after 1u

# --- bounded decoding from the command line: a 5000-token line ---------------------------------
# Refused at once naming its line and length; with --max-length-crop, cut to the
# cap (said on stderr) and decoded to at most the cap, the capped output counted.
awk 'BEGIN { printf "a b\n"; for (i = 0; i < 5000; ++i) printf "a "; printf "\n" }' >"$WORK/long.txt"
for model in "$RNN" "$TF"; do
  name=$(basename "$model" .safetensors)
  cases=$((cases + 1))
  start=$(date +%s%N)
  timeout 20 "$ATTN" translate --model "$model" --input "$WORK/long.txt" >"$WORK/out" 2>"$WORK/err"
  code=$?
  if [ $code -ge 1 ] && [ $code -le 125 ] && grep -qF "$WORK/long.txt:2: the sentence has 5000 tokens" "$WORK/err" &&
     grep -qF -- "--max-length-crop" "$WORK/err"; then :; else
    fail "translate a 5000-token line ($name): exit $code, stderr: $(head -c 400 "$WORK/err")"
  fi
  cases=$((cases + 1))
  timeout 20 "$ATTN" translate --model "$model" --input "$WORK/long.txt" --max-length-crop --beam-size 2 \
    >"$WORK/out" 2>"$WORK/err"
  code=$?
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ $code -eq 0 ] && [ "$(wc -l <"$WORK/out")" -eq 2 ] && [ "$(awk 'NR == 2 { print NF }' "$WORK/out")" -le 512 ] &&
     grep -qF "$WORK/long.txt:2: 5000 tokens, cut to the first 512 (--max-length-crop)" "$WORK/err"; then :; else
    fail "translate --max-length-crop ($name): exit $code, stderr: $(head -c 400 "$WORK/err")"
  fi
  echo "# $name: a 5000-token line refused and then cut and translated in ${elapsed} ms"
done
# Outputs that stop at the cap are counted on stderr. With --max-length 1 and
# greedy decoding each output is one step: empty when that step chose </s>,
# one token (cut at the cap) otherwise; the count must match.
for model in "$RNN" "$TF"; do
  cases=$((cases + 1))
  printf 'a\nb\nc\nd\n' | "$ATTN" translate --model "$model" --max-length 1 --beam-size 1 >"$WORK/out" 2>"$WORK/err"
  cut=$(grep -c . "$WORK/out")
  if [ "$cut" -eq 0 ]; then
    grep -q "stopped at the length limit" "$WORK/err" && fail "translate --max-length 1: no output was cut, stderr: $(cat "$WORK/err")"
  else
    grep -qF "attn translate: $cut of 4 translations stopped at the length limit without </s>" "$WORK/err" ||
      fail "translate --max-length 1: $cut outputs cut, stderr: $(cat "$WORK/err")"
  fi
done
# Eval refuses a long test source naming the file and line.
cases=$((cases + 1))
awk 'BEGIN { printf "a b\tb a\n"; for (i = 0; i < 600; ++i) printf "a "; printf "\ta\n" }' >"$WORK/long.tsv"
timeout 20 "$ATTN" eval --model "$TF" --test-tsv "$WORK/long.tsv" --max-length 0 >"$WORK/out" 2>"$WORK/err"
code=$?
if [ $code -ge 1 ] && [ $code -le 125 ] && grep -qF "$WORK/long.tsv:2: the sentence has 600 tokens, more than this transformer's positional table" "$WORK/err"; then :; else
  fail "eval of a 600-token source on a transformer: exit $code, stderr: $(head -c 400 "$WORK/err")"
fi

echo "$cases cases"
if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
