// Matrix multiplication on OpenBLAS.
//
// attn does not write its own CPU GEMM: OpenBLAS's hand-tuned kernels are the
// reference point for speed (bench/bench_kernels.cpp compares us against a
// direct cblas_sgemm call). What lives here is the bookkeeping around it: a
// batch of matrices is a loop of GEMM calls, with stride 0 for a matrix that is
// shared by the whole batch (broadcasting a weight over a batch).
//
// Row-major throughout: C (M, N) = op(A) (M, K) @ op(B) (K, N).
#include <cblas.h>

#include "kernels/cpu.h"

namespace attn::kernels::cpu {

void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c) {
  // One matrix shared across a batch, and A not transposed: the whole batch is
  // a single taller GEMM (B*M, K) @ (K, N), which OpenBLAS runs much faster
  // than B small ones. This is the common case of a Linear layer on (B, T, D).
  if (batch > 1 && stride_b == 0 && !trans_a && stride_a == M * lda && stride_c == M * ldc) {
    M *= batch;
    batch = 1;
  }
  for (int64_t b = 0; b < batch; ++b) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                static_cast<int>(K), alpha, A + b * stride_a, static_cast<int>(lda),
                B + b * stride_b, static_cast<int>(ldb), beta, C + b * stride_c,
                static_cast<int>(ldc));
  }
}

void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
          double alpha, const double* A, int64_t lda, int64_t stride_a, const double* B,
          int64_t ldb, int64_t stride_b, double beta, double* C, int64_t ldc, int64_t stride_c) {
  if (batch > 1 && stride_b == 0 && !trans_a && stride_a == M * lda && stride_c == M * ldc) {
    M *= batch;
    batch = 1;
  }
  for (int64_t b = 0; b < batch; ++b) {
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                static_cast<int>(K), alpha, A + b * stride_a, static_cast<int>(lda),
                B + b * stride_b, static_cast<int>(ldb), beta, C + b * stride_c,
                static_cast<int>(ldc));
  }
}

}  // namespace attn::kernels::cpu
