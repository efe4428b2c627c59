#!/usr/bin/env bash
# Runs the GEMM thread-count tests (tests/kernels/test_gemm_threads.cpp) once
# with each OpenBLAS kernel family this CPU can run, forced through
# OPENBLAS_CORETYPE: the split of a GEMM over threads must keep the bits on
# every one of them, not only on the one OpenBLAS picks here. A kernel family
# the CPU lacks the instructions for would crash, so each is tried only where
# /proc/cpuinfo lists its instructions.
#   usage: run_with_coretypes.sh path/to/test_kernels
set -u
test_kernels=$1
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
coretypes=(Prescott)  # SSE3: every x86-64 CPU attn builds on
[[ $flags == *" avx2"* ]] && coretypes+=(Haswell Zen)
[[ $flags == *" avx512f"* ]] && coretypes+=(SkylakeX)
status=0
for coretype in "${coretypes[@]}"; do
  if OPENBLAS_CORETYPE=$coretype "$test_kernels" --gtest_filter='GemmThreads.*' --gtest_brief=1 \
      >/tmp/attn-gemm-threads-$$.log 2>&1; then
    echo "OPENBLAS_CORETYPE=$coretype: same bits on 1, 2, 3 and 7 threads"
  else
    echo "OPENBLAS_CORETYPE=$coretype: FAILED"
    cat /tmp/attn-gemm-threads-$$.log
    status=1
  fi
done
rm -f /tmp/attn-gemm-threads-$$.log
exit $status
