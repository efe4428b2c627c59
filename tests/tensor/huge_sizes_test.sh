#!/usr/bin/env bash
# Sizes that do not fit (issue 15), end to end: `attn train` with an
# embedding size whose tensors would overflow int64, or need terabytes,
# must end with an error that names the shape and the bytes (or, once flag
# validation refuses the value first, the flag), never SIGSEGV or a bare
# std::bad_alloc.
#
#   bash tests/tensor/huge_sizes_test.sh build/attn
#
# The nn-level twin, with exact messages, is tests/tensor/test_checked_sizes.cpp.
set -u

ATTN=${1:?usage: huge_sizes_test.sh PATH/TO/attn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attn_huge_sizes_XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0

# check NAME PATTERN -- ARGS...: `attn train ARGS` exits 1 or 2 (not a signal,
# not success) and its stderr matches the extended regex PATTERN.
check() {
  local name=$1 pattern=$2
  shift 3
  rm -f "$WORK"/model*
  timeout 120 "$ATTN" train --task reverse --model "$WORK/model.safetensors" --after 1u --quiet \
    "$@" >"$WORK/out" 2>"$WORK/err"
  local code=$?
  if [ $code -ne 1 ] && [ $code -ne 2 ]; then
    echo "FAIL - $name: exit code $code (expected 1 or 2); stderr: $(tail -c 600 "$WORK/err")"
    failures=$((failures + 1))
  elif grep -q "bad_alloc" "$WORK/err" || ! grep -qE -- "$pattern" "$WORK/err"; then
    echo "FAIL - $name: stderr does not match '$pattern': $(tail -c 600 "$WORK/err")"
    failures=$((failures + 1))
  else
    echo "ok - $name (exit $code)"
  fi
}

# 1e11 and 4e9 fit int64 but need terabytes; 2^62 and 2^63 - 1 overflow it
# once multiplied by the vocabulary size.
for type in s2s transformer; do
  check "$type --dim-emb 100000000000" "[0-9]+ bytes|dim-emb" -- --type $type --dim-emb 100000000000
  check "$type --dim-emb 4000000000" "[0-9]+ bytes|dim-emb" -- --type $type --dim-emb 4000000000
  check "$type --dim-emb 2^62" "overflows int64|dim-emb" -- --type $type --dim-emb 4611686018427387904
  check "$type --dim-emb 2^63-1" "overflows int64|dim-emb" -- \
    --type $type --dim-emb 9223372036854775807
done
# The same from a size the flags may not bound: the feed-forward width.
check "transformer --transformer-dim-ffn 4000000000" "[0-9]+ bytes|dim-ffn" -- \
  --type transformer --transformer-dim-ffn 4000000000
# A limit from the environment is obeyed, and named in the message.
# (No size flag here: the Transformer's default 2048 x 512 feed-forward weight
# alone is 4 MiB.)
ATTN_MAX_ALLOC_BYTES=1M check "ATTN_MAX_ALLOC_BYTES=1M" "set by ATTN_MAX_ALLOC_BYTES" -- \
  --type transformer
ATTN_MAX_ALLOC_BYTES=lots check "ATTN_MAX_ALLOC_BYTES=lots" "ATTN_MAX_ALLOC_BYTES: expected" -- \
  --type s2s

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
