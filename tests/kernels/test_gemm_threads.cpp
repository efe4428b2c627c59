// The CPU GEMM gives the same bits whatever the number of threads.
//
// kernels/cpu/matmul.cpp splits a large GEMM's rows of C into about 4
// blocks whose size depends on M alone, one single-threaded OpenBLAS call per
// block. OpenBLAS computes a row in an edge tile with another micro-kernel
// than a row in a full tile, and small calls with small-matrix kernels, so
// calls whose size moved with the thread count changed bits on some CPUs (the
// Haswell and Zen kernels: 3,898 of 65,536 elements of a 256^3 GEMM). These tests run shapes that are multiples of no tile size, every
// transpose, batched and broadcast GEMMs, shares small enough for OpenBLAS's
// small-matrix kernels, with 1, 2, 3 and 7 threads, and compare bytes.
//
// Which OpenBLAS kernel runs depends on the CPU, and OPENBLAS_CORETYPE can
// force another: ctest runs this program once as it is and, where the CPU
// has AVX2 or AVX-512, again with those kernels forced
// (tests/kernels/run_with_coretypes.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/matmul.h"
#include "tests/kernels/kernel_test_util.h"

namespace attn_test {
namespace {

using attn::Device;

struct GemmCase {
  bool trans_a, trans_b;
  int64_t batch, M, N, K;
  bool shared_b;  // stride_b = 0: one B for the whole batch (a Linear layer)
};

// Work above the parallel threshold (2^22 multiply-adds), M not a multiple of
// 2, 4, 8, 16 or 64, N and K odd.
const std::vector<GemmCase> kCases = {
    {false, false, 1, 257, 129, 131, false},  {false, true, 1, 1000, 67, 97, false},
    {true, false, 1, 1283, 61, 83, false},    {true, true, 1, 257, 255, 129, false},
    {false, false, 1, 256, 256, 256, false},  // the square case of example 03
    {false, false, 5, 257, 33, 65, true},     // batch folded into one taller GEMM
    {false, true, 7, 97, 45, 63, false},      // one matrix per thread
    {false, false, 1, 3, 5, 7, false},        // below the threshold: one call
    // Just above the threshold, where a thread's share is small enough for
    // OpenBLAS's small-matrix kernels (M * N * K around 10^6 and below): a
    // share taking another code path than the whole would change bits.
    {false, false, 1, 200, 100, 100, false},  {true, true, 1, 130, 99, 333, false},
    {false, true, 1, 2000, 17, 129, false},   {true, false, 1, 77, 300, 200, false},
    {false, false, 3, 129, 64, 64, true},
    // Short and wide (an RNN step): too few rows for two row blocks, so the
    // columns are split (kernels/cpu/matmul.cpp).
    {false, false, 1, 64, 1024, 256, false},  {false, true, 1, 64, 1027, 129, false},
    {true, false, 1, 60, 700, 131, false},    {true, true, 1, 33, 999, 200, false},
    // Both splittable and wider than tall (a decoder's output layer): the
    // columns are split, so that the larger B is packed once in all.
    {false, true, 1, 257, 2001, 65, false},   {true, false, 1, 300, 1500, 33, false},
};

template <typename T>
std::vector<T> run_gemm(const GemmCase& c, int threads) {
  const int64_t a_rows = c.trans_a ? c.K : c.M, a_cols = c.trans_a ? c.M : c.K;
  const int64_t b_rows = c.trans_b ? c.N : c.K, b_cols = c.trans_b ? c.K : c.N;
  const int64_t b_batch = c.shared_b ? 1 : c.batch;
  const auto A = random_vector<T>(c.batch * a_rows * a_cols, -1, 1, 11);
  const auto B = random_vector<T>(b_batch * b_rows * b_cols, -1, 1, 12);
  std::vector<T> C = random_vector<T>(c.batch * c.M * c.N, -1, 1, 13);  // beta = 0.5 reads it
  with_threads(threads, [&] {
    attn::kernels::gemm<Device::CPU, T>(c.trans_a, c.trans_b, c.batch, c.M, c.N, c.K, T(1.25),
                                        A.data(), a_cols, a_rows * a_cols, B.data(), b_cols,
                                        c.shared_b ? 0 : b_rows * b_cols, T(0.5), C.data(), c.N,
                                        c.M * c.N);
  });
  return C;
}

template <typename T>
void expect_same_bits_on_any_thread_count() {
  for (const auto& c : kCases) {
    SCOPED_TRACE(::testing::Message() << "trans_a " << c.trans_a << " trans_b " << c.trans_b
                                      << " batch " << c.batch << " M " << c.M << " N " << c.N
                                      << " K " << c.K << " shared_b " << c.shared_b);
    const auto one = run_gemm<T>(c, 1);
    for (int threads : {2, 3, 7}) {
      const auto many = run_gemm<T>(c, threads);
      ASSERT_EQ(one.size(), many.size());
      int64_t differ = 0;
      for (size_t i = 0; i < one.size(); ++i) {
        differ += std::memcmp(&one[i], &many[i], sizeof(T)) != 0;
      }
      EXPECT_EQ(differ, 0) << differ << " of " << one.size() << " elements differ between 1 and "
                           << threads << " threads";
    }
  }
}

// The split GEMMs compute the right thing: every case against a plain triple
// loop in double (alpha 1.25, beta 0.5, as run_gemm calls it).
TEST(GemmThreads, EveryCaseMatchesAPlainLoop) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(::testing::Message() << "trans_a " << c.trans_a << " trans_b " << c.trans_b
                                      << " batch " << c.batch << " M " << c.M << " N " << c.N
                                      << " K " << c.K);
    const int64_t a_rows = c.trans_a ? c.K : c.M, a_cols = c.trans_a ? c.M : c.K;
    const int64_t b_rows = c.trans_b ? c.N : c.K, b_cols = c.trans_b ? c.K : c.N;
    const auto A = random_vector<double>(c.batch * a_rows * a_cols, -1, 1, 11);
    const auto B = random_vector<double>((c.shared_b ? 1 : c.batch) * b_rows * b_cols, -1, 1, 12);
    const auto C0 = random_vector<double>(c.batch * c.M * c.N, -1, 1, 13);
    const auto C = run_gemm<double>(c, 2);
    double worst = 0;
    for (int64_t b = 0; b < c.batch; ++b) {
      const double* a = A.data() + b * a_rows * a_cols;
      const double* bm = B.data() + (c.shared_b ? 0 : b * b_rows * b_cols);
      for (int64_t i = 0; i < c.M; ++i) {
        for (int64_t j = 0; j < c.N; ++j) {
          double dot = 0;
          for (int64_t k = 0; k < c.K; ++k) {
            dot += (c.trans_a ? a[k * a_cols + i] : a[i * a_cols + k]) *
                   (c.trans_b ? bm[j * b_cols + k] : bm[k * b_cols + j]);
          }
          const size_t at = static_cast<size_t>((b * c.M + i) * c.N + j);
          worst = std::max(worst, std::fabs(C[at] - (1.25 * dot + 0.5 * C0[at])));
        }
      }
    }
    EXPECT_LT(worst, 1e-10);
  }
}

TEST(GemmThreads, Float32SameBitsOn1To7Threads) { expect_same_bits_on_any_thread_count<float>(); }
TEST(GemmThreads, Float64SameBitsOn1To7Threads) { expect_same_bits_on_any_thread_count<double>(); }

}  // namespace
}  // namespace attn_test
