// The packed linear kernel (kernels/packed_linear.h) against a plain loop in
// double, and its promises: a row's result does not depend on the other rows
// of the batch, on where the row sits, or on the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/packed_linear.h"
#include "tests/kernels/kernel_test_util.h"

namespace attn_test {
namespace {

using attn::Device;
using attn::kernels::packed_linear;
using attn::kernels::packed_linear_size;
using attn::kernels::pack_linear_weight;

template <typename T>
std::vector<T> pack(const std::vector<T>& w, int64_t N, int64_t K) {
  std::vector<T> packed(static_cast<size_t>(packed_linear_size(N, K)), T(-7));  // poison
  pack_linear_weight<Device::CPU, T>(w.data(), N, K, packed.data());
  return packed;
}

template <typename T>
std::vector<T> run(const std::vector<T>& x, int64_t M, int64_t K, const std::vector<T>& packed,
                   int64_t N, const T* bias, int threads) {
  std::vector<T> y(static_cast<size_t>(M * N), T(-9));  // poison: every element must be written
  with_threads(threads, [&] {
    packed_linear<Device::CPU, T>(x.data(), M, K, packed.data(), N, bias, y.data());
  });
  return y;
}

// Shapes around the 6-row blocks and 16-output panels, and the decoder's.
struct Shape3 {
  int64_t M, K, N;
};
const std::vector<Shape3> kShapes = {
    {1, 1, 1},   {5, 3, 7},     {6, 16, 16},  {7, 17, 33},  {13, 31, 15},
    {12, 8, 48}, {61, 129, 97}, {256, 64, 300}, {3, 1025, 40},
};

template <typename T>
void expect_matches_plain_loop() {
  for (const auto& s : kShapes) {
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "M " << s.M << " K " << s.K << " N " << s.N
                                        << (with_bias ? " with bias" : " without bias"));
      const auto x = random_vector<T>(s.M * s.K, -1, 1, 21);
      const auto w = random_vector<T>(s.N * s.K, -1, 1, 22);
      const auto b = random_vector<T>(s.N, -1, 1, 23);
      const auto y = run(x, s.M, s.K, pack(w, s.N, s.K), s.N, with_bias ? b.data() : nullptr, 2);
      double worst = 0;
      for (int64_t m = 0; m < s.M; ++m) {
        for (int64_t n = 0; n < s.N; ++n) {
          double dot = with_bias ? double(b[n]) : 0.0;
          for (int64_t k = 0; k < s.K; ++k) dot += double(x[m * s.K + k]) * double(w[n * s.K + k]);
          // Each of the K terms rounds once: the error grows with K.
          const double err = std::fabs(double(y[m * s.N + n]) - dot) / (1 + std::fabs(dot));
          worst = std::max(worst, err);
        }
      }
      EXPECT_LE(worst, Tolerance<T>::value * std::sqrt(double(s.K) + 1)) << "worst " << worst;
    }
  }
}

TEST(PackedLinear, FloatMatchesAPlainLoopInDouble) { expect_matches_plain_loop<float>(); }
TEST(PackedLinear, DoubleMatchesAPlainLoopInDouble) { expect_matches_plain_loop<double>(); }

// The packed layout itself: panel p, row k, lane j holds W[16 p + j][k], and
// zeros past the last output.
TEST(PackedLinear, PackLayoutIsPanelsOfSixteenZeroPadded) {
  const int64_t N = 19, K = 3;
  std::vector<float> w(N * K);
  for (int64_t i = 0; i < N * K; ++i) w[i] = float(i + 1);
  const auto packed = pack(w, N, K);
  ASSERT_EQ(packed.size(), size_t(2 * K * 16));
  for (int64_t p = 0; p < 2; ++p) {
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t n = 16 * p + j;
        EXPECT_EQ(packed[(p * K + k) * 16 + j], n < N ? w[n * K + k] : 0.0f)
            << "panel " << p << " k " << k << " lane " << j;
      }
    }
  }
}

// Row r of a batch gives the same bits alone, at another place in a batch of
// another size, and at 1, 2, 3 or 7 threads: what the decoder needs to be
// batch-invariant (a sentence translates the same in any batch).
template <typename T>
void expect_rows_independent_of_batch_and_threads() {
  const int64_t K = 77, N = 45, M = 31;
  const auto x = random_vector<T>(M * K, -1, 1, 31);
  const auto w = random_vector<T>(N * K, -1, 1, 32);
  const auto b = random_vector<T>(N, -1, 1, 33);
  const auto packed = pack(w, N, K);
  const auto all = run(x, M, K, packed, N, b.data(), 1);
  for (int threads : {2, 3, 7}) {
    const auto again = run(x, M, K, packed, N, b.data(), threads);
    EXPECT_EQ(std::memcmp(all.data(), again.data(), sizeof(T) * all.size()), 0)
        << threads << " threads";
  }
  for (int64_t r : {int64_t(0), int64_t(5), int64_t(6), int64_t(30)}) {
    std::vector<T> row(x.begin() + r * K, x.begin() + (r + 1) * K);
    const auto alone = run(row, 1, K, packed, N, b.data(), 2);
    EXPECT_EQ(std::memcmp(alone.data(), all.data() + r * N, sizeof(T) * N), 0) << "row " << r;
  }
}

TEST(PackedLinear, FloatRowsDoNotDependOnTheBatchOrThreads) {
  expect_rows_independent_of_batch_and_threads<float>();
}
TEST(PackedLinear, DoubleRowsDoNotDependOnTheBatchOrThreads) {
  expect_rows_independent_of_batch_and_threads<double>();
}

}  // namespace
}  // namespace attn_test
