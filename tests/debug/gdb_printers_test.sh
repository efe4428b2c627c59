#!/usr/bin/env bash
# The gdb pretty-printers of scripts/gdb/attn_printers.py, loaded the way a
# learner loads them (the build tree as an auto-load safe path, the one line
# of docs/debugging.md), checked against the program's own debug_string():
#
#   1. Break inside nn::scaled_dot_product_attention in example_09_transformer
#      and print its argument q: shape, dtype and values, and the Shape printer.
#   2. Break in gdb_target's inspect() after a backward pass: a tensor with a
#      gradient, the autograd node that made the loss, a strided view.
#
# Usage: gdb_printers_test.sh GDB EXAMPLE_09 GDB_TARGET BUILD_DIR HAS_DEBUG_INFO
# Exits 77 (ctest: skipped) with the reason where it cannot run: no gdb, a
# build without -g (Release), or a sandbox that forbids ptrace. Where gdb can
# run the program but not call a function inside it (gdb 13.1 on some newer
# CPUs and kernels answers "Couldn't write extended state status: Bad
# address"), the three checks that need such a call (debug_string() and
# attn-values) say so and are not counted; the printers, which only read
# memory, are checked as everywhere.
set -uo pipefail
gdb=$1 example=$2 target=$3 build=$4 debug_info=$5

if [ -z "$gdb" ] || [[ "$gdb" == *NOTFOUND ]] || ! command -v "$gdb" >/dev/null; then
  echo "SKIP: gdb is not installed (apt-get install gdb; scripts/install-deps tries to)"; exit 77
fi
if [ "$debug_info" != 1 ]; then
  echo "SKIP: this build has no debug information; the debug and asan presets run this test"; exit 77
fi
if ! "$gdb" -batch -nx -ex run --args /bin/true 2>&1 | grep -q "exited normally"; then
  echo "SKIP: gdb cannot run a program here (is ptrace forbidden in this container?)"; exit 77
fi
export ASAN_OPTIONS=detect_leaks=0  # LeakSanitizer does not work under ptrace
export ATTN_NUM_THREADS=1

failures=0
# Can gdb call a function in the program here? The printers never do; only
# the comparisons with the program's own debug_string() and attn-values need it.
call_probe=$("$gdb" -batch -nx -ex "break inspect" -ex run -ex "p view.numel()" --args "$target" 2>&1)
if grep -q '^\$1 = 2$' <<<"$call_probe"; then
  can_call=1
else
  can_call=0
  why_no_call=$(grep -m1 -iE "couldn't|cannot|error|bad address" <<<"$call_probe" | cut -c1-120)
fi
needs_call() {  # needs_call NAME: true when gdb can call into the program, else says why not
  if [ "$can_call" = 1 ]; then return 0; fi
  echo "not checked (gdb cannot call functions in the program here: ${why_no_call:-no reason given}): $1"
  return 1
}
expect() {  # expect NAME REGEX TEXT
  if grep -Eq -- "$2" <<<"$3"; then echo "ok: $1"; else echo "FAIL: $1: no line matches /$2/"; failures=$((failures + 1)); fi
}
same() {  # same NAME A B
  if [ -n "$2" ] && [ "$2" == "$3" ]; then echo "ok: $1"; else
    echo "FAIL: $1 differ:"; echo "  printer: $2"; echo "  program: $3"; failures=$((failures + 1)); fi
}
run_gdb() {  # run_gdb PROGRAM COMMANDS...
  local program=$1; shift
  local args=(-batch -nx -iex "add-auto-load-safe-path $build" -ex "set breakpoint pending on"
              -ex "set print pretty off")
  for c in "$@"; do args+=(-ex "$c"); done
  "$gdb" "${args[@]}" --args "$program" 2>&1
}

# 1. Inside scaled_dot_product_attention, section 2 of the example: q is
#    x = randn({2, 1, 5, 4}), the mask an int64 (2, 1, 5, 5).
# FILE:FUNCTION, because the bare name also matches the example's PLT stub,
# where the arguments are not yet in scope.
out=$(run_gdb "$example" "break scaled_dot_product_attention.cpp:attn::nn::scaled_dot_product_attention" run \
      "p q" "p *q.impl_" "p q.impl_->shape" "p mask" \
      'printf "program: %s\n", q.debug_string(8).c_str()' "attn-values q 3")
echo "$out" | grep -E '(Breakpoint|^\$|^program:|^Tensor)' | cut -c1-220
# "Breakpoint 1.1," when the name has several overloads (gdb numbers each location).
expect "stopped in scaled_dot_product_attention" "Breakpoint 1(\\.[0-9]+)?, attn::nn::scaled_dot_product_attention \\(q=Tensor shape=\\[2, 1, 5, 4\\]" "$out"
expect "q: shape, dtype and values" \
  '^\$1 = Tensor shape=\[2, 1, 5, 4\] strides=\[20, 20, 4, 1\] offset=0 dtype=float32 device=cpu requires_grad=false grad=none grad_fn=none values=\[-?[0-9.e-]+, -?[0-9.e-]+, ' "$out"
expect "the Shape printer" '^\$3 = \[2, 1, 5, 4\]$' "$out"
expect "the mask: int64 values" '^\$4 = Tensor shape=\[2, 1, 5, 5\] .*dtype=int64 .*values=\[1, 0, 0, 0, 0, 1, 1, 0, \.\.\.\]' "$out"
printer=$(sed -n 's/^\$1 = //p' <<<"$out")
needs_call "q as the printer and as Tensor::debug_string() see it" &&
  same "q as the printer and as Tensor::debug_string() see it" "$printer" "$(sed -n 's/^program: //p' <<<"$out")"
same "TensorImpl printer" "$printer" "$(sed -n 's/^\$2 = //p' <<<"$out")"
needs_call "attn-values copies 3 values" &&
  expect "attn-values copies 3 values" '^Tensor shape=\[2, 1, 5, 4\] .* values=\[[^,]+, [^,]+, [^,]+, \.\.\.\]$' "$out"

# 2. After backward: the loss's node and the leaf's gradient.
out=$(run_gdb "$target" "break inspect" run "p loss" "p *loss.impl_->grad_fn" "p w" \
      "p *w.impl_->grad" "p view" 'printf "program: %s\n", view.debug_string(8).c_str()' \
      "p loss.impl_->grad_fn->next_edges_[0]" \
      "set var view.impl_->storage._M_ptr->device_ = attn::Device::CUDA" "p view" \
      "set var view.impl_->storage._M_ptr->device_ = attn::Device::CPU")
echo "$out" | grep -E '(Breakpoint|^\$|^program:)' | cut -c1-220
expect "the loss: a scalar made by SumBackward" '^\$1 = Tensor shape=\[\] strides=\[\] offset=0 dtype=float32 device=cpu requires_grad=true grad=none grad_fn=SumBackward values=\[' "$out"
expect "the Node printer, with the recorded gradient norm" '^\$2 = Node SumBackward -> \[\] float32 cpu, inputs \[MulBackward\], \|grad\| 1, released \(backward has run\)$' "$out"
expect "a leaf with its gradient" '^\$3 = Tensor shape=\[3, 2\] strides=\[2, 1\] offset=0 dtype=float32 device=cpu requires_grad=true grad=\[3, 2\] grad_fn=none values=\[1, 0, -1, 2, 0.5, 1\]$' "$out"
expect "the gradient dL/dW = 2 x^T y" '^\$4 = Tensor shape=\[3, 2\] .* values=\[17, 142, 22, 188, 27, 234\]$' "$out"
expect "a strided view read in logical order" '^\$5 = Tensor shape=\[2\] strides=\[3\] offset=2 .* values=\[3, 6\]$' "$out"
needs_call "the view as the printer and as Tensor::debug_string() see it" &&
  same "the view as the printer and as Tensor::debug_string() see it" \
    "$(sed -n 's/^\$5 = //p' <<<"$out")" "$(sed -n 's/^program: //p' <<<"$out")"
expect "the Edge printer" '^\$6 = Edge -> MulBackward$' "$out"
# A CUDA tensor's values are in GPU memory: the printer says so instead of
# reading them (the storage's device tag is flipped by hand; no GPU needed).
expect "a CUDA tensor points to attn-values" '^\$7 = Tensor shape=\[2\] .* device=cuda .* values=<on the GPU: attn-values EXPR copies them>$' "$out"

if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed; the whole gdb output:"; echo "$out"; exit 1; fi
echo "all gdb printer checks passed"
