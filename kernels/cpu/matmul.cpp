// Matrix multiplication on OpenBLAS.
//
// attn does not write its own CPU GEMM: OpenBLAS's hand-tuned kernels are the
// reference point for speed (bench/bench_kernels.cpp compares us against a
// direct cblas_sgemm call). The one exception is decoding's product with a
// weight packed once per decode (kernels/packed_linear.h), where OpenBLAS
// would re-pack the weight at every step. What lives here is the bookkeeping around it: a
// batch of matrices is a loop of GEMM calls, with stride 0 for a matrix that is
// shared by the whole batch (broadcasting a weight over a batch).
//
// Row-major throughout: C (M, N) = op(A) (M, K) @ op(B) (K, N).
#include <cblas.h>

#include <algorithm>
#include <climits>

#include "kernels/error.h"
#include "kernels/matmul.h"
#include "kernels/cpu/gemm_recorder.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// attn parallelises GEMMs itself, over rows of C or over the batch, with the
// same thread pool as every other kernel (kernels/cpu/parallel.h), and asks OpenBLAS for one thread.
// Two thread pools on two cores fight: OpenMP's threads spin while OpenBLAS's
// want the cores, and a training step of many small ops ran 10x slower
// (bench/README.md has the measurement). Called once, before the first GEMM.
void use_single_threaded_blas() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

// Below this many multiply-adds a GEMM is one BLAS call on one thread.
constexpr int64_t kParallelGemmWork = 1 << 22;
// Above it, the rows of C go to BLAS in about this many blocks, which the
// threads share. Each block re-packs B, so fewer blocks cost less: with 4,
// one thread is within the noise of a single call (bench/README.md,
// "GEMM row blocks"), and 2 to 4 cores share the work; more cores than 4 get
// no more of one GEMM (a batch of matrices still goes one per thread).
constexpr int64_t kGemmBlocks = 4;

// The rows of one block for an M-row GEMM: M / kGemmBlocks rounded up to a
// multiple of 64 (a multiple of every OpenBLAS micro-kernel's row tile, 2 to
// 32), and at least 64. A function of M alone.
int64_t gemm_block_rows(int64_t M) {
  const int64_t rows = (M + kGemmBlocks - 1) / kGemmBlocks;
  return std::max<int64_t>(64, (rows + 63) / 64 * 64);
}

// CBLAS takes sizes and leading dimensions as int: a larger one (a [1, 3e9]
// row fits in 12 GB) would be cut to its low 32 bits and BLAS would read the
// wrong memory. Refused by name instead, once per gemm and before any thread
// starts (an exception must not leave a pool thread).
void check_fits_int(int64_t value, const char* what) {
  ATTN_CHECK(value >= 0 && value <= INT_MAX, "gemm: ", what, " = ", value,
             " does not fit CBLAS's int (at most ", INT_MAX, ")");
}

// One single-threaded BLAS call per (float or double) type.
void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}
void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
               int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

}  // namespace

template <Device D, typename T>
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
          T beta, T* C, int64_t ldc, int64_t stride_c) {
  use_single_threaded_blas();
  record_gemm({trans_a, trans_b, batch > 1 && stride_b == 0, batch, M, N, K, sizeof(T) == 8});
  // One matrix shared across a batch, and A not transposed: the whole batch is
  // a single taller GEMM (B*M, K) @ (K, N), which runs much faster than B
  // small ones. This is the common case of a Linear layer on (B, T, D).
  if (batch > 1 && stride_b == 0 && !trans_a && stride_a == M * lda && stride_c == M * ldc &&
      M * batch <= INT_MAX) {
    M *= batch;
    batch = 1;
  }
  check_fits_int(M, "M");  // the rows of each BLAS call are at most M, its columns at most N
  check_fits_int(N, "N");
  check_fits_int(K, "K");
  check_fits_int(lda, "lda");
  check_fits_int(ldb, "ldb");
  check_fits_int(ldc, "ldc");
  if (batch > 1) {
    // Many matrices (attention's Q K^T per sentence): one thread per matrix.
    parallel_for(batch, M * N * K, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        blas_gemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb,
                  beta, C + b * stride_c, ldc);
      }
    });
    return;
  }
  // One matrix: split the rows of C into row blocks, one BLAS call per block.
  // The blocks depend on the shape alone, never on the number of threads:
  // OpenBLAS computes a row with another micro-kernel when it falls in a
  // partial tile at the end of a call, or when a call is small enough for its
  // small-matrix kernels, so rows handed to BLAS in calls whose size moved
  // with the thread count changed bits (3,898 of 65,536 elements of a 256^3
  // GEMM on the Haswell kernels between 1 and 2 threads). With the same calls
  // whatever the threads, every row is computed the same way on every
  // OpenBLAS kernel (tests/kernels/test_gemm_threads.cpp). Each call re-packs
  // B, so the blocks are few and large: about kGemmBlocks of them, each a
  // multiple of 64 rows.
  // Row block [r0, r1) of op(A) starts at row r0 of A, or at column r0 when A
  // is stored transposed.
  //
  // A short, wide GEMM (an RNN step: batch 64 rows, 4 x 256 gate columns) has
  // too few rows for two blocks; its columns are split instead, the same way
  // (about kGemmBlocks blocks, a multiple of 64 columns each, a function of N
  // alone), so that both cores work on it. Column block [c0, c1) is columns
  // c0.. of B (rows c0.. when B is stored transposed) and of C.
  //
  // When both could be split, the split re-packs the smaller operand: a row
  // block packs all of B (K x N) again, a column block all of A (M x K). A
  // decoding step's output layer (256 rows, an 8000-word vocabulary) in row
  // blocks packed its 8 MB of weights four times a step, 16% of the step's
  // profile; in column blocks each block packs a quarter of them and the
  // 256 KB of activations again. Which split a shape gets depends on its
  // sizes alone, so the bits still do not depend on the threads.
  const bool big = M * N * K >= kParallelGemmWork;
  const bool rows_split = gemm_block_rows(M) < M, cols_split = gemm_block_rows(N) < N;
  if (big && cols_split && (!rows_split || N > M)) {
    const int64_t cols_per_block = gemm_block_rows(N);
    const int64_t col_blocks = (N + cols_per_block - 1) / cols_per_block;
    parallel_for(col_blocks, kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t block = begin; block < end; ++block) {
        const int64_t c0 = block * cols_per_block, c1 = std::min(N, c0 + cols_per_block);
        const T* b = trans_b ? B + c0 * ldb : B + c0;
        blas_gemm(trans_a, trans_b, M, c1 - c0, K, alpha, A, lda, b, ldb, beta, C + c0, ldc);
      }
    });
    return;
  }
  const int64_t rows_per_block = big ? gemm_block_rows(M) : std::max<int64_t>(M, 1);
  const int64_t blocks = (M + rows_per_block - 1) / rows_per_block;
  parallel_for(blocks, kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const int64_t r0 = block * rows_per_block, r1 = std::min(M, r0 + rows_per_block);
      const T* a = trans_a ? A + r0 : A + r0 * lda;
      blas_gemm(trans_a, trans_b, r1 - r0, N, K, alpha, a, lda, B, ldb, beta, C + r0 * ldc, ldc);
    }
  });
}

// The CPU definitions of kernels/matmul.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(gemm, Device::CPU)

}  // namespace attn::kernels
