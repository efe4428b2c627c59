// Shared helpers for the CPU kernel tests (test_reduce_softmax.cpp,
// test_norm_loss.cpp, test_index_determinism.cpp), which together form the
// test_kernels program.
//
// The kernels are checked against naive references written in double
// precision. This header holds what more than one of those files needs: the
// per-type tolerances, random inputs, comparisons (mixed-tolerance and
// bit-exact), a way to run code with a given OpenMP thread count, the
// (outer, n, inner) layouts, the CpuKernels typed suite (one suite, so test
// names do not depend on which file a test is in), the softmax reference,
// central finite differences, and the cross-entropy cases and targets.
// References used by only one file live in that file.
//
// Everything here is a template, inline or constexpr, so several test files
// can include it without ODR clashes or unused-function warnings.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace attn_test {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Mixed tolerance: |actual − expected| <= tol · (1 + |expected|).
template <typename T>
struct Tolerance;
template <>
struct Tolerance<float> {
  static constexpr double value = 2e-5;
};
template <>
struct Tolerance<double> {
  static constexpr double value = 1e-11;
};

template <typename T>
std::vector<T> random_vector(int64_t n, double lo, double hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> out(static_cast<size_t>(n));
  for (auto& v : out) v = static_cast<T>(dist(gen));
  return out;
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

template <typename T>
::testing::AssertionResult all_close(const std::vector<T>& actual,
                                     const std::vector<double>& expected, double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected size " << expected.size();
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]);
    const double e = expected[i];
    if (std::isnan(a) && std::isnan(e)) continue;
    if (a == e) continue;  // covers matching infinities
    if (!(std::fabs(a - e) <= tol * (1.0 + std::fabs(e)))) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << a << ", expected " << e << " (tol " << tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

template <typename T>
bool bit_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Runs body with the given number of pool threads, then restores the previous count.
inline void with_threads(int threads, const std::function<void()>& body) {
  const int saved = attn::kernels::cpu::num_threads();
  attn::kernels::cpu::set_num_threads(threads);
  body();
  attn::kernels::cpu::set_num_threads(saved);
}

struct Layout {
  int64_t outer, n, inner;
};

// Small and odd shapes, inner > 1 layouts, a column block that does not divide
// 256, and shapes that take the parallel path.
inline const std::vector<Layout> kLayouts = {
    {1, 1, 1}, {3, 7, 1},    {2, 5, 3},     {4, 1, 6},
    {1, 9, 2}, {2, 33, 300}, {512, 512, 1}, {8, 64, 513},
};

inline int64_t at(const Layout& s, int64_t o, int64_t k, int64_t i) {
  return (o * s.n + k) * s.inner + i;
}

// The kernel tests that run once per float type: one suite across the files.
template <typename T>
class CpuKernels : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CpuKernels, FloatTypes);

// --- naive references used by more than one file -----------------------------

// softmax (or log_softmax) of each row, straight from the definition.
inline std::vector<double> ref_softmax(const std::vector<double>& x, const Layout& s, bool log) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      double m = -kInf;
      for (int64_t k = 0; k < s.n; ++k) m = std::max(m, x[at(s, o, k, i)]);
      double z = 0;
      for (int64_t k = 0; k < s.n; ++k) z += std::exp(x[at(s, o, k, i)] - m);
      for (int64_t k = 0; k < s.n; ++k) {
        const double v = x[at(s, o, k, i)] - m;
        y[at(s, o, k, i)] = log ? v - std::log(z) : std::exp(v) / z;
      }
    }
  }
  return y;
}

// Central differences of a scalar function f at x: ∂f/∂x_j ≈ (f(x + h e_j) − f(x − h e_j)) / 2h.
inline std::vector<double> numeric_grad(
    const std::function<double(const std::vector<double>&)>& f, std::vector<double> x,
    double h = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    const double saved = x[j];
    x[j] = saved + h;
    const double up = f(x);
    x[j] = saved - h;
    const double down = f(x);
    x[j] = saved;
    g[j] = (up - down) / (2 * h);
  }
  return g;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// --- cross-entropy cases (the loss tests and the determinism tests) -----------

struct CrossEntropyCase {
  int64_t rows, classes, ignore_index;
  double smoothing;
};

// Targets in [0, classes), with every third row set to ignore_index.
inline std::vector<int64_t> make_targets(const CrossEntropyCase& c, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, c.classes - 1);
  std::vector<int64_t> t(static_cast<size_t>(c.rows));
  for (int64_t r = 0; r < c.rows; ++r) t[r] = r % 3 == 1 ? c.ignore_index : dist(gen);
  return t;
}

}  // namespace attn_test
