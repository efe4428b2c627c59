// Tests for the CPU reductions (sum_reduce, max_reduce) and for softmax /
// log_softmax, forward and backward.
//
// Each kernel is checked against a naive reference in double precision, on
// small shapes (including inner > 1 layouts and column blocks that do not
// divide evenly) and on shapes large enough to take the parallel path. Also:
// a float sum must not drift over ten million terms, max_reduce must return
// the first argmax and propagate NaN, softmax must stay finite for huge
// logits and give NaN for fully masked rows, and the softmax backward is
// checked against central finite differences in double, so the reference
// itself is not taken on trust.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/kernels/kernel_test_util.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"

namespace attn_test {
namespace {

namespace kernels = attn::kernels;
using attn::Device;

// --- naive references --------------------------------------------------------

std::vector<double> ref_sum(const std::vector<double>& x, const Layout& s) {
  std::vector<double> out(static_cast<size_t>(s.outer * s.inner), 0.0);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i)
      for (int64_t k = 0; k < s.n; ++k) out[o * s.inner + i] += x[at(s, o, k, i)];
  return out;
}

// dx_j = Σ_k dy_k ∂y_k/∂x_j with the Jacobians of softmax, y_k (δ_kj − y_j),
// and of log_softmax, δ_kj − p_j, where p = softmax(x).
std::vector<double> ref_softmax_backward(const std::vector<double>& x,
                                         const std::vector<double>& dy, const Layout& s, bool log) {
  const std::vector<double> p = ref_softmax(x, s, false);
  std::vector<double> dx(x.size());
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      double dot = 0, total = 0;
      for (int64_t k = 0; k < s.n; ++k) {
        dot += dy[at(s, o, k, i)] * p[at(s, o, k, i)];
        total += dy[at(s, o, k, i)];
      }
      for (int64_t j = 0; j < s.n; ++j) {
        const int64_t e = at(s, o, j, i);
        dx[e] = log ? dy[e] - p[e] * total : p[e] * (dy[e] - dot);
      }
    }
  }
  return dx;
}

// --- sum_reduce / max_reduce ---------------------------------------------------

TYPED_TEST(CpuKernels, SumReduceMatchesReference) {
  using T = TypeParam;
  std::vector<Layout> layouts = kLayouts;
  layouts.push_back({2, 40000, 1});  // rows long enough to be summed in chunks
  layouts.push_back({3, 0, 4});      // an empty dim sums to zero
  for (const Layout& s : layouts) {
    SCOPED_TRACE(::testing::Message()
                 << "outer " << s.outer << " n " << s.n << " inner " << s.inner);
    const auto x = random_vector<T>(s.outer * s.n * s.inner, -1, 1, 1);
    std::vector<T> out(static_cast<size_t>(s.outer * s.inner), T(-7));
    kernels::sum_reduce<Device::CPU>(x.data(), s.outer, s.n, s.inner, out.data());
    EXPECT_TRUE(all_close(out, ref_sum(to_double(x), s), Tolerance<T>::value));
  }
}

TEST(CpuKernelChecks, SumReduceFloatDoesNotDrift) {
  // A float accumulator gives ~1087937 for ten million 0.1f; double gives the
  // exact sum rounded once.
  const int64_t n = 10'000'000;
  const std::vector<float> x(static_cast<size_t>(n), 0.1f);
  float out = 0;
  kernels::sum_reduce<Device::CPU>(x.data(), 1, n, 1, &out);
  const double exact = static_cast<double>(n) * static_cast<double>(0.1f);
  EXPECT_EQ(out, static_cast<float>(exact));
}

TYPED_TEST(CpuKernels, MaxReduceMatchesReferenceWithFirstArgmax) {
  using T = TypeParam;
  for (const Layout& s : kLayouts) {
    SCOPED_TRACE(::testing::Message()
                 << "outer " << s.outer << " n " << s.n << " inner " << s.inner);
    // Few distinct values, so ties are common and the first-argmax rule shows.
    std::mt19937 gen(2);
    std::uniform_int_distribution<int> dist(-3, 3);
    std::vector<T> x(static_cast<size_t>(s.outer * s.n * s.inner));
    for (auto& v : x) v = static_cast<T>(dist(gen));
    std::vector<T> out(static_cast<size_t>(s.outer * s.inner));
    std::vector<int64_t> arg(out.size(), -1);
    kernels::max_reduce<Device::CPU>(x.data(), s.outer, s.n, s.inner, out.data(), arg.data());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < s.n; ++k)
          if (x[at(s, o, k, i)] > x[at(s, o, best, i)]) best = k;
        ASSERT_EQ(out[o * s.inner + i], x[at(s, o, best, i)]) << "o " << o << " i " << i;
        ASSERT_EQ(arg[o * s.inner + i], best) << "o " << o << " i " << i;
      }
    }
  }
}

TYPED_TEST(CpuKernels, MaxReducePropagatesNaNAndHandlesInfinity) {
  using T = TypeParam;
  const T nan = static_cast<T>(kNaN);
  const T inf = static_cast<T>(kInf);
  // Four rows of 4: a NaN after the max, a NaN first, all -inf, +inf tied twice.
  const std::vector<T> x = {1, nan, 5, nan, nan, 3, 9, 1, -inf, -inf, -inf, -inf, 0, inf, 2, inf};
  std::vector<T> out(4);
  std::vector<int64_t> arg(4);
  kernels::max_reduce<Device::CPU>(x.data(), 4, 4, 1, out.data(), arg.data());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(arg[0], 1);
  EXPECT_TRUE(std::isnan(out[1]));
  EXPECT_EQ(arg[1], 0);
  EXPECT_EQ(out[2], -inf);
  EXPECT_EQ(arg[2], 0);
  EXPECT_EQ(out[3], inf);
  EXPECT_EQ(arg[3], 1);

  // The same rows read as columns: (outer 1, n 4, inner 4) of the transpose.
  std::vector<T> xt(16);
  for (int r = 0; r < 4; ++r)
    for (int k = 0; k < 4; ++k) xt[k * 4 + r] = x[r * 4 + k];
  std::vector<T> out_t(4);
  std::vector<int64_t> arg_t(4);
  kernels::max_reduce<Device::CPU>(xt.data(), 1, 4, 4, out_t.data(), arg_t.data());
  EXPECT_EQ(arg_t, arg);
  EXPECT_TRUE(std::isnan(out_t[0]) && std::isnan(out_t[1]));
  EXPECT_EQ(out_t[2], -inf);
  EXPECT_EQ(out_t[3], inf);
}

// --- softmax -----------------------------------------------------------------

TYPED_TEST(CpuKernels, SoftmaxForwardMatchesReference) {
  using T = TypeParam;
  for (const Layout& s : kLayouts) {
    for (bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "outer " << s.outer << " n " << s.n << " inner "
                                        << s.inner << " log " << log);
      const auto x = random_vector<T>(s.outer * s.n * s.inner, -6, 6, 3);
      std::vector<T> y(x.size());
      kernels::softmax_forward<Device::CPU>(x.data(), s.outer, s.n, s.inner, log, y.data());
      EXPECT_TRUE(all_close(y, ref_softmax(to_double(x), s, log), Tolerance<T>::value));
      if (!log) {
        // Each row is a probability distribution.
        std::vector<T> sums(static_cast<size_t>(s.outer * s.inner));
        kernels::sum_reduce<Device::CPU>(y.data(), s.outer, s.n, s.inner, sums.data());
        EXPECT_TRUE(all_close(sums, std::vector<double>(sums.size(), 1.0), Tolerance<T>::value));
      }
    }
  }
}

TYPED_TEST(CpuKernels, SoftmaxForwardIsStableForLargeLogits) {
  using T = TypeParam;
  // e^10000 overflows both float and double; the max shift keeps it finite.
  for (const Layout& s : {Layout{4, 6, 1}, Layout{2, 6, 3}}) {
    auto x = random_vector<T>(s.outer * s.n * s.inner, -3, 3, 4);
    for (auto& v : x) v += T(10000);
    for (bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "inner " << s.inner << " log " << log);
      std::vector<T> y(x.size());
      kernels::softmax_forward<Device::CPU>(x.data(), s.outer, s.n, s.inner, log, y.data());
      for (T v : y) ASSERT_TRUE(std::isfinite(v));
      // Full tolerance even at |x| = 10000: log_softmax must form (x − m) − log Σ,
      // not x − (m + log Σ), whose sum would round to ulp(10000) ≈ 1e-3 in float.
      EXPECT_TRUE(all_close(y, ref_softmax(to_double(x), s, log), Tolerance<T>::value));
    }
  }
}

TYPED_TEST(CpuKernels, SoftmaxMaskedAndFullyMaskedRows) {
  using T = TypeParam;
  const T inf = static_cast<T>(kInf);
  // Row 0 masks two of four entries; row 1 masks all (PyTorch gives NaN).
  const std::vector<T> x = {1, -inf, 2, -inf, -inf, -inf, -inf, -inf};
  std::vector<T> y(8), logy(8);
  kernels::softmax_forward<Device::CPU>(x.data(), 2, 4, 1, false, y.data());
  kernels::softmax_forward<Device::CPU>(x.data(), 2, 4, 1, true, logy.data());
  EXPECT_EQ(y[1], T(0));
  EXPECT_EQ(y[3], T(0));
  EXPECT_NEAR(static_cast<double>(y[0]), 1.0 / (1.0 + std::exp(1.0)), Tolerance<T>::value);
  EXPECT_NEAR(static_cast<double>(y[2]), 1.0 / (1.0 + std::exp(-1.0)), Tolerance<T>::value);
  EXPECT_EQ(logy[1], -inf);
  EXPECT_EQ(logy[3], -inf);
  for (int k = 4; k < 8; ++k) {
    EXPECT_TRUE(std::isnan(y[k])) << k;
    EXPECT_TRUE(std::isnan(logy[k])) << k;
  }
}

TYPED_TEST(CpuKernels, SoftmaxBackwardMatchesReference) {
  using T = TypeParam;
  for (const Layout& s : kLayouts) {
    for (bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "outer " << s.outer << " n " << s.n << " inner "
                                        << s.inner << " log " << log);
      const auto x = random_vector<T>(s.outer * s.n * s.inner, -4, 4, 5);
      const auto dy = random_vector<T>(x.size(), -1, 1, 6);
      std::vector<T> y(x.size()), dx(x.size());
      kernels::softmax_forward<Device::CPU>(x.data(), s.outer, s.n, s.inner, log, y.data());
      kernels::softmax_backward<Device::CPU>(y.data(), dy.data(), s.outer, s.n, s.inner, log,
                                             dx.data());
      const auto expected = ref_softmax_backward(to_double(x), to_double(dy), s, log);
      EXPECT_TRUE(all_close(dx, expected, 4 * Tolerance<T>::value));
    }
  }
}

TEST(CpuKernelChecks, SoftmaxBackwardMatchesFiniteDifferences) {
  for (const Layout& s : {Layout{3, 7, 1}, Layout{2, 5, 3}}) {
    for (bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "inner " << s.inner << " log " << log);
      const auto x = random_vector<double>(s.outer * s.n * s.inner, -3, 3, 7);
      const auto dy = random_vector<double>(x.size(), -1, 1, 8);
      // f(x) = ⟨dy, softmax(x)⟩, whose gradient is the backward of dy.
      auto f = [&](const std::vector<double>& v) {
        std::vector<double> y(v.size());
        kernels::softmax_forward<Device::CPU>(v.data(), s.outer, s.n, s.inner, log, y.data());
        return dot(dy, y);
      };
      std::vector<double> y(x.size()), dx(x.size());
      kernels::softmax_forward<Device::CPU>(x.data(), s.outer, s.n, s.inner, log, y.data());
      kernels::softmax_backward<Device::CPU>(y.data(), dy.data(), s.outer, s.n, s.inner, log,
                                             dx.data());
      EXPECT_TRUE(all_close(dx, numeric_grad(f, x), 1e-7));
    }
  }
}

}  // namespace
}  // namespace attn_test
