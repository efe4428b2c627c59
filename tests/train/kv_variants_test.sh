#!/usr/bin/env bash
# Every key/value-cache variant from the command line (issue 17): each one
# trains with `attn train`, and its model file alone is enough for
# `attn translate` (greedy and beam 4), `attn eval` and `attn plot`; the
# cache it reports per decoded token is its formula's, exactly.
#
#   bash tests/train/kv_variants_test.sh build/attn
#
# The model: d_model 16, 2 heads of Dh = 8, 1 + 2 layers, float32 (4 bytes), so
# the self-attention cache per decoded token of one sentence is
#   MHA      2 K/V * L 2 * H 2 * Dh 8 * 4            = 256
#   GQA/MQA  2 * 2 * Hkv 1 * 8 * 4                    = 128 (H = 2: Hkv 1 is MQA)
#   RoPE     as MHA (the cache holds turned keys)      = 256
#   CLA 2    2 * ceil(2 / 2) groups * 2 * 8 * 4       = 128
#   LRKV r 2 2 * 2 * (Dh 8 + H 2 * r 2) * 4           = 192
#   MLA      2 layers * (d_c 16 + d_R 4) * 4          = 160 (latent + RoPE key, no factor 2)
# Each check prints "ok - ..." or "FAIL - ..."; the script exits non-zero if
# any failed.
set -u

ATTN=${1:?usage: kv_variants_test.sh PATH/TO/attn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_kv_variants_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

# variant NAME BYTES_PER_TOKEN FLAGS...
variant() {
  local name=$1 per_token=$2; shift 2
  local model=$WORK/$name.safetensors
  if ! "$ATTN" train --type transformer --task reverse --task-train-size 200 --model "$model" \
      --dim-emb 16 --transformer-heads 2 --transformer-dim-ffn 32 --enc-depth 1 --dec-depth 2 \
      --lr-warmup 10 --mini-batch 16 --after 10u --valid-freq 0 --quiet "$@" \
      >"$WORK/$name.log" 2>&1; then
    fail "$name: attn train $*: $(tail -3 "$WORK/$name.log")"
    return
  fi
  # Only the model file from here on.
  rm -f "$model".state.safetensors "$model".metrics.jsonl
  if ! printf 'a b c d e\nf g h\n' | "$ATTN" translate --model "$model" --beam-size 1 \
      --report-cache >"$WORK/$name.greedy" 2>"$WORK/$name.err"; then
    fail "$name: translate (greedy): $(cat "$WORK/$name.err")"
    return
  fi
  local got
  got=$(grep -o '[0-9]* self-attention bytes per token' "$WORK/$name.err" | head -1 | cut -d' ' -f1)
  if [ "$got" = "$per_token" ]; then
    ok "$name: trains, translates greedily, $got cache bytes per token (the formula's)"
  else
    fail "$name: cache bytes per token: got '${got}', formula $per_token ($(cat "$WORK/$name.err"))"
  fi
  if printf 'a b c d e\nf g h\n' | "$ATTN" translate --model "$model" --beam-size 4 \
      >"$WORK/$name.beam" 2>"$WORK/$name.err" && [ "$(wc -l <"$WORK/$name.beam")" = 2 ]; then
    ok "$name: beam search of width 4"
  else
    fail "$name: translate --beam-size 4: $(cat "$WORK/$name.err")"
  fi
  if "$ATTN" eval --model "$model" --task reverse --beam-size 2 >"$WORK/$name.eval" 2>"$WORK/$name.err" &&
      grep -q "exact-match" "$WORK/$name.eval"; then
    ok "$name: eval"
  else
    fail "$name: eval: $(cat "$WORK/$name.err")"
  fi
  if "$ATTN" plot --model "$model" --sentence "a b c d" --output "$WORK/$name.svg" \
      >/dev/null 2>"$WORK/$name.err" && grep -q "<svg" "$WORK/$name.svg"; then
    ok "$name: plot"
  else
    fail "$name: plot: $(cat "$WORK/$name.err")"
  fi
}

variant mha 256
variant mqa 128 --transformer-kv-heads 1
variant rope 256 --positions rope
variant cla2 128 --cla-factor 2
variant lrkv 192 --kv-rank 2

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
