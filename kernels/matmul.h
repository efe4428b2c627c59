// Matrix multiplication: C = alpha * op(A) @ op(B) + beta * C for a batch of
// matrices, on OpenBLAS (kernels/cpu/matmul.cpp) or cuBLAS
// (kernels/cuda/matmul.cu). Element types: float and double.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// Row-major throughout. op(A) is (M, K): A is stored (M, K) with row stride
// lda, or (K, M) when trans_a. op(B) is (K, N) likewise; C is (M, N) with row
// stride ldc. Matrix b of a batch starts at A + b * stride_a (stride 0 reuses
// one matrix for the whole batch), and likewise for B and C.
// On the CPU the result does not depend on the number of threads, bit for bit
// (tests/kernels/test_gemm_threads.cpp).
template <Device D, typename T>
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
          T beta, T* C, int64_t ldc, int64_t stride_c);

}  // namespace attn::kernels
