// Matrix multiplication of bfloat16 matrices with float32 accumulation: the
// GEMM of mixed-precision training (autograd/autocast.h), on the CPU as a
// reference (kernels/cpu/gemm_bf16.cpp) and on cuBLAS's tensor cores
// (kernels/cuda/gemm_bf16.cu, cublasGemmEx with CUDA_R_16BF inputs and
// CUBLAS_COMPUTE_32F).
//
//   C = alpha * op(A) @ op(B) + beta * C,  A and B bfloat16,
//   every product and sum in float32, C float32 or bfloat16 (rounded once).
//
// The product of two bfloat16 values (8 significant bits each) has at most 16
// significant bits, so it is exact in float32 (24 bits); what a bfloat16 GEMM
// loses is the rounding of the inputs to bfloat16, not the accumulation.
// That is why GPUs accumulate in float32 and why mixed precision can train as
// well as float32.
#pragma once

#include <cstdint>

#include "kernels/bfloat16.h"
#include "kernels/dispatch.h"

namespace attn::kernels {

// Layout as kernels/matmul.h's gemm: row-major; op(A) is (M, K), stored (M, K)
// with row stride lda, or (K, M) when trans_a; op(B) is (K, N) likewise; C is
// (M, N) with row stride ldc; matrix b of the batch starts at A + b * stride_a
// (stride 0 shares one matrix), likewise B and C. Out is float or BFloat16.
template <Device D, typename Out>
void gemm_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
               float alpha, const BFloat16* A, int64_t lda, int64_t stride_a, const BFloat16* B,
               int64_t ldb, int64_t stride_b, float beta, Out* C, int64_t ldc, int64_t stride_c);

// How many elements from its first one a batch of stored matrices spans:
// `rows` x `cols` stored with row stride ld (trans swaps them), `batch` of
// them `stride` apart. The cast of a strided operand to bfloat16 converts
// this many elements, so that the GEMM reads it with the same lda and stride.
inline int64_t gemm_operand_span(bool trans, int64_t batch, int64_t rows, int64_t cols,
                                 int64_t ld, int64_t stride) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  const int64_t stored_rows = trans ? cols : rows, stored_cols = trans ? rows : cols;
  return (batch - 1) * stride + (stored_rows - 1) * ld + stored_cols;
}

}  // namespace attn::kernels
