// Tests for the row-wise CPU kernels: reductions, softmax, layer norm,
// cross-entropy and index_select / index_add.
//
// Each kernel is checked against a naive reference written here in double
// precision, on small shapes (including inner > 1 layouts and column blocks
// that do not divide evenly) and on shapes large enough to take the parallel
// path. Backward kernels are also checked against central finite differences
// in double, so the references themselves are not taken on trust. Finally,
// large runs with 1, 3 and 7 threads must agree bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu.h"

namespace cpu = attn::kernels::cpu;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// Runs body with the given number of OpenMP threads, then restores the default.
void with_threads(int threads, const std::function<void()>& body) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  body();
  omp_set_num_threads(saved);
#else
  (void)threads;
  body();
#endif
}

struct Layout {
  int64_t outer, n, inner;
};

// Small and odd shapes, inner > 1 layouts, a column block that does not divide
// 256, and shapes that take the parallel path.
const std::vector<Layout> kLayouts = {
    {1, 1, 1}, {3, 7, 1},    {2, 5, 3},     {4, 1, 6},
    {1, 9, 2}, {2, 33, 300}, {512, 512, 1}, {8, 64, 513},
};

int64_t at(const Layout& s, int64_t o, int64_t k, int64_t i) { return (o * s.n + k) * s.inner + i; }

// --- naive references --------------------------------------------------------

std::vector<double> ref_sum(const std::vector<double>& x, const Layout& s) {
  std::vector<double> out(static_cast<size_t>(s.outer * s.inner), 0.0);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i)
      for (int64_t k = 0; k < s.n; ++k) out[o * s.inner + i] += x[at(s, o, k, i)];
  return out;
}

// softmax (or log_softmax) of each row, straight from the definition.
std::vector<double> ref_softmax(const std::vector<double>& x, const Layout& s, bool log) {
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

struct LayerNormRef {
  std::vector<double> y, mean, rstd;
};

LayerNormRef ref_layer_norm(const std::vector<double>& x, const double* gamma, const double* beta,
                            int64_t rows, int64_t cols, double eps) {
  LayerNormRef r{std::vector<double>(x.size()), std::vector<double>(rows),
                 std::vector<double>(rows)};
  for (int64_t row = 0; row < rows; ++row) {
    double mu = 0;
    for (int64_t c = 0; c < cols; ++c) mu += x[row * cols + c];
    mu /= static_cast<double>(cols);
    double var = 0;
    for (int64_t c = 0; c < cols; ++c) var += (x[row * cols + c] - mu) * (x[row * cols + c] - mu);
    var /= static_cast<double>(cols);
    const double rs = 1.0 / std::sqrt(var + eps);
    r.mean[row] = mu;
    r.rstd[row] = rs;
    for (int64_t c = 0; c < cols; ++c) {
      const double xhat = (x[row * cols + c] - mu) * rs;
      r.y[row * cols + c] = xhat * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
    }
  }
  return r;
}

struct LayerNormGrads {
  std::vector<double> dx, dgamma, dbeta;
};

// dx_c = Σ_j g_j ∂x̂_j/∂x_c with ∂x̂_j/∂x_c = rstd (δ_jc − 1/N − x̂_j x̂_c / N), g = dy ⊙ γ.
LayerNormGrads ref_layer_norm_backward(const std::vector<double>& dy, const std::vector<double>& x,
                                       const double* gamma, int64_t rows, int64_t cols,
                                       double eps) {
  const LayerNormRef f = ref_layer_norm(x, nullptr, nullptr, rows, cols, eps);  // y = x̂
  LayerNormGrads grads{std::vector<double>(x.size()), std::vector<double>(cols, 0.0),
                       std::vector<double>(cols, 0.0)};
  const double N = static_cast<double>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const double* xhat = &f.y[r * cols];
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const double g = dy[r * cols + j] * (gamma ? gamma[j] : 1.0);
        sum += g * f.rstd[r] * ((j == c ? 1.0 : 0.0) - 1.0 / N - xhat[j] * xhat[c] / N);
      }
      grads.dx[r * cols + c] = sum;
      grads.dgamma[c] += dy[r * cols + c] * xhat[c];
      grads.dbeta[c] += dy[r * cols + c];
    }
  }
  return grads;
}

struct CrossEntropyRef {
  std::vector<double> loss, lse;
  int64_t count;
};

// loss = −Σ_k q_k log p_k with q = (1 − eps) onehot(t) + eps / C.
CrossEntropyRef ref_cross_entropy(const std::vector<double>& x, const std::vector<int64_t>& target,
                                  int64_t rows, int64_t classes, int64_t ignore_index, double eps) {
  CrossEntropyRef r{std::vector<double>(rows, 0.0), std::vector<double>(rows, 0.0), 0};
  for (int64_t row = 0; row < rows; ++row) {
    if (target[row] == ignore_index) continue;
    ++r.count;
    double m = -kInf;
    for (int64_t k = 0; k < classes; ++k) m = std::max(m, x[row * classes + k]);
    double z = 0;
    for (int64_t k = 0; k < classes; ++k) z += std::exp(x[row * classes + k] - m);
    const double lse = m + std::log(z);
    double loss = 0;
    for (int64_t k = 0; k < classes; ++k) {
      const double q = (k == target[row] ? 1.0 - eps : 0.0) + eps / static_cast<double>(classes);
      if (q != 0.0) loss -= q * (x[row * classes + k] - lse);
    }
    r.loss[row] = loss;
    r.lse[row] = lse;
  }
  return r;
}

// d logits = row_grad · (p − q), zero for ignored rows.
std::vector<double> ref_cross_entropy_backward(const std::vector<double>& x,
                                               const std::vector<int64_t>& target,
                                               const std::vector<double>& row_grad, int64_t rows,
                                               int64_t classes, int64_t ignore_index, double eps) {
  std::vector<double> d(x.size(), 0.0);
  const Layout s{rows, classes, 1};
  const std::vector<double> p = ref_softmax(x, s, false);
  for (int64_t r = 0; r < rows; ++r) {
    if (target[r] == ignore_index) continue;
    for (int64_t k = 0; k < classes; ++k) {
      const double q = (k == target[r] ? 1.0 - eps : 0.0) + eps / static_cast<double>(classes);
      d[r * classes + k] = row_grad[r] * (p[r * classes + k] - q);
    }
  }
  return d;
}

// Central differences of a scalar function f at x: ∂f/∂x_j ≈ (f(x + h e_j) − f(x − h e_j)) / 2h.
std::vector<double> numeric_grad(const std::function<double(const std::vector<double>&)>& f,
                                 std::vector<double> x, double h = 1e-6) {
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

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

template <typename T>
class CpuKernels : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CpuKernels, FloatTypes);

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
    cpu::sum_reduce(x.data(), s.outer, s.n, s.inner, out.data());
    EXPECT_TRUE(all_close(out, ref_sum(to_double(x), s), Tolerance<T>::value));
  }
}

TEST(CpuKernelChecks, SumReduceFloatDoesNotDrift) {
  // A float accumulator gives ~1087937 for ten million 0.1f; double gives the
  // exact sum rounded once.
  const int64_t n = 10'000'000;
  const std::vector<float> x(static_cast<size_t>(n), 0.1f);
  float out = 0;
  cpu::sum_reduce(x.data(), 1, n, 1, &out);
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
    cpu::max_reduce(x.data(), s.outer, s.n, s.inner, out.data(), arg.data());
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
  cpu::max_reduce(x.data(), 4, 4, 1, out.data(), arg.data());
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
  cpu::max_reduce(xt.data(), 1, 4, 4, out_t.data(), arg_t.data());
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
      cpu::softmax_forward(x.data(), s.outer, s.n, s.inner, log, y.data());
      EXPECT_TRUE(all_close(y, ref_softmax(to_double(x), s, log), Tolerance<T>::value));
      if (!log) {
        // Each row is a probability distribution.
        std::vector<T> sums(static_cast<size_t>(s.outer * s.inner));
        cpu::sum_reduce(y.data(), s.outer, s.n, s.inner, sums.data());
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
      cpu::softmax_forward(x.data(), s.outer, s.n, s.inner, log, y.data());
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
  cpu::softmax_forward(x.data(), 2, 4, 1, false, y.data());
  cpu::softmax_forward(x.data(), 2, 4, 1, true, logy.data());
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
      cpu::softmax_forward(x.data(), s.outer, s.n, s.inner, log, y.data());
      cpu::softmax_backward(y.data(), dy.data(), s.outer, s.n, s.inner, log, dx.data());
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
        cpu::softmax_forward(v.data(), s.outer, s.n, s.inner, log, y.data());
        return dot(dy, y);
      };
      std::vector<double> y(x.size()), dx(x.size());
      cpu::softmax_forward(x.data(), s.outer, s.n, s.inner, log, y.data());
      cpu::softmax_backward(y.data(), dy.data(), s.outer, s.n, s.inner, log, dx.data());
      EXPECT_TRUE(all_close(dx, numeric_grad(f, x), 1e-7));
    }
  }
}

// --- layer_norm --------------------------------------------------------------

struct Affine {
  bool gamma, beta;
};
const std::vector<Affine> kAffines = {{true, true}, {false, false}, {true, false}, {false, true}};

TYPED_TEST(CpuKernels, LayerNormForwardMatchesReference) {
  using T = TypeParam;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 7}, {5, 300}, {512, 512}};
  for (auto [rows, cols] : shapes) {
    for (Affine affine : kAffines) {
      SCOPED_TRACE(::testing::Message()
                   << rows << "x" << cols << " gamma " << affine.gamma << " beta " << affine.beta);
      const auto x = random_vector<T>(rows * cols, -2, 3, 9);
      const auto gamma = random_vector<T>(cols, 0.5, 1.5, 10);
      const auto beta = random_vector<T>(cols, -1, 1, 11);
      const T* g = affine.gamma ? gamma.data() : nullptr;
      const T* b = affine.beta ? beta.data() : nullptr;
      const T eps = T(1e-5);
      std::vector<T> y(x.size()), mean(rows), rstd(rows);
      cpu::layer_norm_forward(x.data(), g, b, rows, cols, eps, y.data(), mean.data(), rstd.data());
      const auto gd = to_double(gamma);
      const auto bd = to_double(beta);
      const auto ref =
          ref_layer_norm(to_double(x), affine.gamma ? gd.data() : nullptr,
                         affine.beta ? bd.data() : nullptr, rows, cols, static_cast<double>(eps));
      EXPECT_TRUE(all_close(y, ref.y, Tolerance<T>::value));
      EXPECT_TRUE(all_close(mean, ref.mean, Tolerance<T>::value));
      EXPECT_TRUE(all_close(rstd, ref.rstd, Tolerance<T>::value));
    }
  }
}

TYPED_TEST(CpuKernels, LayerNormForwardIsStableForLargeMean) {
  using T = TypeParam;
  // |mean| ≫ std: E[x²] − mean² would cancel catastrophically in float.
  const int64_t rows = 4, cols = 256;
  auto x = random_vector<T>(rows * cols, -1, 1, 12);
  for (auto& v : x) v += T(1000);
  std::vector<T> y(x.size()), mean(rows), rstd(rows);
  cpu::layer_norm_forward(x.data(), static_cast<const T*>(nullptr), static_cast<const T*>(nullptr),
                          rows, cols, T(1e-5), y.data(), mean.data(), rstd.data());
  const auto ref = ref_layer_norm(to_double(x), nullptr, nullptr, rows, cols, 1e-5);
  EXPECT_TRUE(all_close(rstd, ref.rstd, Tolerance<T>::value));
  // y inherits the rounding of the stored mean (ulp(1000) ≈ 6e-5 in float).
  EXPECT_TRUE(all_close(y, ref.y, std::is_same_v<T, float> ? 2e-4 : Tolerance<T>::value));
}

TYPED_TEST(CpuKernels, LayerNormBackwardMatchesReference) {
  using T = TypeParam;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 7}, {5, 300}, {512, 512}};
  for (auto [rows, cols] : shapes) {
    for (bool with_gamma : {true, false}) {
      SCOPED_TRACE(::testing::Message() << rows << "x" << cols << " gamma " << with_gamma);
      const auto x = random_vector<T>(rows * cols, -2, 3, 13);
      const auto dy = random_vector<T>(rows * cols, -1, 1, 14);
      const auto gamma = random_vector<T>(cols, 0.5, 1.5, 15);
      const auto beta = random_vector<T>(cols, -1, 1, 16);
      const T* g = with_gamma ? gamma.data() : nullptr;
      const T eps = T(1e-5);
      std::vector<T> y(x.size()), mean(rows), rstd(rows);
      cpu::layer_norm_forward(x.data(), g, with_gamma ? beta.data() : nullptr, rows, cols, eps,
                              y.data(), mean.data(), rstd.data());
      std::vector<T> dx(x.size()), dgamma(cols, T(-7)), dbeta(cols, T(-7));
      cpu::layer_norm_backward(dy.data(), x.data(), g, mean.data(), rstd.data(), rows, cols,
                               dx.data(), dgamma.data(), dbeta.data());
      const auto gd = to_double(gamma);
      const auto ref =
          ref_layer_norm_backward(to_double(dy), to_double(x), with_gamma ? gd.data() : nullptr,
                                  rows, cols, static_cast<double>(eps));
      EXPECT_TRUE(all_close(dx, ref.dx, 10 * Tolerance<T>::value));
      EXPECT_TRUE(all_close(dgamma, ref.dgamma, 10 * Tolerance<T>::value));
      EXPECT_TRUE(all_close(dbeta, ref.dbeta, 10 * Tolerance<T>::value));

      // Null dgamma and dbeta: only dx is written, and it is the same.
      std::vector<T> dx_only(x.size());
      cpu::layer_norm_backward(dy.data(), x.data(), g, mean.data(), rstd.data(), rows, cols,
                               dx_only.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr));
      EXPECT_TRUE(bit_equal(dx_only, dx));
    }
  }
}

TEST(CpuKernelChecks, LayerNormBackwardMatchesFiniteDifferences) {
  const int64_t rows = 3, cols = 6;
  const double eps = 1e-5;
  auto x = random_vector<double>(rows * cols, -2, 2, 17);
  auto gamma = random_vector<double>(cols, 0.5, 1.5, 18);
  auto beta = random_vector<double>(cols, -1, 1, 19);
  const auto dy = random_vector<double>(rows * cols, -1, 1, 20);
  // f = ⟨dy, layer_norm(x; γ, β)⟩, seen as a function of each input in turn.
  auto f = [&](const std::vector<double>& xv, const std::vector<double>& gv,
               const std::vector<double>& bv) {
    std::vector<double> y(xv.size()), mean(rows), rstd(rows);
    cpu::layer_norm_forward(xv.data(), gv.data(), bv.data(), rows, cols, eps, y.data(), mean.data(),
                            rstd.data());
    return dot(dy, y);
  };
  std::vector<double> y(x.size()), mean(rows), rstd(rows);
  cpu::layer_norm_forward(x.data(), gamma.data(), beta.data(), rows, cols, eps, y.data(),
                          mean.data(), rstd.data());
  std::vector<double> dx(x.size()), dgamma(cols), dbeta(cols);
  cpu::layer_norm_backward(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), rows, cols,
                           dx.data(), dgamma.data(), dbeta.data());
  EXPECT_TRUE(
      all_close(dx, numeric_grad([&](const auto& v) { return f(v, gamma, beta); }, x), 1e-7));
  EXPECT_TRUE(
      all_close(dgamma, numeric_grad([&](const auto& v) { return f(x, v, beta); }, gamma), 1e-7));
  EXPECT_TRUE(
      all_close(dbeta, numeric_grad([&](const auto& v) { return f(x, gamma, v); }, beta), 1e-7));
}

// --- cross_entropy -----------------------------------------------------------

struct CrossEntropyCase {
  int64_t rows, classes, ignore_index;
  double smoothing;
};

const std::vector<CrossEntropyCase> kCrossEntropyCases = {
    {4, 1, -100, 0.0},    {6, 10, -100, 0.0},    {6, 10, -100, 0.1}, {7, 5, 0, 0.2},
    {3, 1000, -100, 0.1}, {512, 512, -100, 0.0}, {512, 512, 3, 0.1},
};

// Targets in [0, classes), with every third row set to ignore_index.
std::vector<int64_t> make_targets(const CrossEntropyCase& c, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, c.classes - 1);
  std::vector<int64_t> t(static_cast<size_t>(c.rows));
  for (int64_t r = 0; r < c.rows; ++r) t[r] = r % 3 == 1 ? c.ignore_index : dist(gen);
  return t;
}

TYPED_TEST(CpuKernels, CrossEntropyForwardMatchesReference) {
  using T = TypeParam;
  for (const auto& c : kCrossEntropyCases) {
    SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.classes << " ignore " << c.ignore_index
                                      << " eps " << c.smoothing);
    const auto x = random_vector<T>(c.rows * c.classes, -5, 5, 21);
    const auto target = make_targets(c, 22);
    std::vector<T> loss(c.rows, T(-7)), lse(c.rows);
    const int64_t count =
        cpu::cross_entropy_forward(x.data(), target.data(), c.rows, c.classes, c.ignore_index,
                                   static_cast<T>(c.smoothing), loss.data(), lse.data());
    const auto ref = ref_cross_entropy(to_double(x), target, c.rows, c.classes, c.ignore_index,
                                       static_cast<double>(static_cast<T>(c.smoothing)));
    EXPECT_EQ(count, ref.count);
    EXPECT_TRUE(all_close(loss, ref.loss, Tolerance<T>::value));
    for (int64_t r = 0; r < c.rows; ++r) {
      if (target[r] == c.ignore_index) {
        EXPECT_EQ(loss[r], T(0)) << "ignored row " << r;
      } else {
        EXPECT_NEAR(static_cast<double>(lse[r]), ref.lse[r],
                    Tolerance<T>::value * (1 + std::fabs(ref.lse[r])))
            << "row " << r;
      }
    }
  }
}

TYPED_TEST(CpuKernels, CrossEntropyHandlesMaskedLogits) {
  using T = TypeParam;
  const T inf = static_cast<T>(kInf);
  // A -inf logit (a class masked out) must not poison an unsmoothed loss.
  const std::vector<T> x = {0, -inf, 1, T(1e4), T(1e4 + 1), T(1e4 - 1)};
  const std::vector<int64_t> target = {2, 0};
  std::vector<T> loss(2), lse(2);
  EXPECT_EQ(cpu::cross_entropy_forward(x.data(), target.data(), 2, 3, -100, T(0), loss.data(),
                                       lse.data()),
            2);
  EXPECT_NEAR(static_cast<double>(loss[0]), std::log(1 + std::exp(-1.0)), Tolerance<T>::value);
  // Large logits: lse is shifted by the max, so nothing overflows.
  const double expected1 = std::log(1 + std::exp(1.0) + std::exp(-1.0));
  EXPECT_NEAR(static_cast<double>(loss[1]), expected1, 1e-3);

  const std::vector<T> row_grad = {1, 1};
  std::vector<T> d(6);
  cpu::cross_entropy_backward(x.data(), target.data(), lse.data(), row_grad.data(), 2, 3, -100,
                              T(0), d.data());
  EXPECT_EQ(d[1], T(0));
  for (T v : d) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(static_cast<double>(d[0] + d[1] + d[2]), 0.0, 1e-5);  // p − onehot sums to 0
}

TYPED_TEST(CpuKernels, CrossEntropyBackwardMatchesReference) {
  using T = TypeParam;
  for (const auto& c : kCrossEntropyCases) {
    SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.classes << " ignore " << c.ignore_index
                                      << " eps " << c.smoothing);
    const auto x = random_vector<T>(c.rows * c.classes, -5, 5, 23);
    const auto target = make_targets(c, 24);
    const auto row_grad = random_vector<T>(c.rows, 0.1, 2, 25);
    const T eps = static_cast<T>(c.smoothing);
    std::vector<T> loss(c.rows), lse(c.rows), d(x.size(), T(-7));
    cpu::cross_entropy_forward(x.data(), target.data(), c.rows, c.classes, c.ignore_index, eps,
                               loss.data(), lse.data());
    cpu::cross_entropy_backward(x.data(), target.data(), lse.data(), row_grad.data(), c.rows,
                                c.classes, c.ignore_index, eps, d.data());
    const auto expected =
        ref_cross_entropy_backward(to_double(x), target, to_double(row_grad), c.rows, c.classes,
                                   c.ignore_index, static_cast<double>(eps));
    EXPECT_TRUE(all_close(d, expected, 4 * Tolerance<T>::value));
  }
}

TEST(CpuKernelChecks, CrossEntropyBackwardMatchesFiniteDifferences) {
  for (double eps : {0.0, 0.15}) {
    SCOPED_TRACE(::testing::Message() << "eps " << eps);
    const int64_t rows = 5, classes = 4, ignore = -1;
    const CrossEntropyCase c{rows, classes, ignore, eps};
    const auto x = random_vector<double>(rows * classes, -3, 3, 26);
    const auto target = make_targets(c, 27);
    const auto row_grad = random_vector<double>(rows, 0.1, 2, 28);
    // f(x) = Σ_r row_grad[r] · loss[r](x)
    auto f = [&](const std::vector<double>& v) {
      std::vector<double> loss(rows), lse(rows);
      cpu::cross_entropy_forward(v.data(), target.data(), rows, classes, ignore, eps, loss.data(),
                                 lse.data());
      return dot(row_grad, loss);
    };
    std::vector<double> loss(rows), lse(rows), d(x.size());
    cpu::cross_entropy_forward(x.data(), target.data(), rows, classes, ignore, eps, loss.data(),
                               lse.data());
    cpu::cross_entropy_backward(x.data(), target.data(), lse.data(), row_grad.data(), rows, classes,
                                ignore, eps, d.data());
    EXPECT_TRUE(all_close(d, numeric_grad(f, x), 1e-7));
  }
}

// --- index_select / index_add ------------------------------------------------

template <typename T>
class IndexKernels : public ::testing::Test {};
using IndexTypes = ::testing::Types<float, double, int64_t>;
TYPED_TEST_SUITE(IndexKernels, IndexTypes);

struct IndexCase {
  int64_t outer, src_n, inner, index_n;
};
const std::vector<IndexCase> kIndexCases = {
    {1, 5, 3, 4},     {3, 6, 4, 8},        {2, 7, 1, 5}, {1, 1, 1, 3},
    {2, 4, 2, 0},     {1, 1000, 512, 512},  // an embedding lookup big enough to go parallel
    {64, 50, 8, 100},
};

std::vector<int64_t> make_index(int64_t index_n, int64_t src_n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, src_n - 1);
  std::vector<int64_t> index(static_cast<size_t>(index_n));
  for (auto& v : index) v = dist(gen);  // repeats are likely: src rows picked twice
  return index;
}

TYPED_TEST(IndexKernels, IndexSelectMatchesReference) {
  using T = TypeParam;
  for (const auto& c : kIndexCases) {
    SCOPED_TRACE(::testing::Message() << "outer " << c.outer << " src_n " << c.src_n << " inner "
                                      << c.inner << " index_n " << c.index_n);
    std::vector<T> src(static_cast<size_t>(c.outer * c.src_n * c.inner));
    for (size_t e = 0; e < src.size(); ++e) src[e] = static_cast<T>(e * 7 % 1001);
    const auto index = make_index(c.index_n, c.src_n, 29);
    std::vector<T> out(static_cast<size_t>(c.outer * c.index_n * c.inner), T(-1));
    cpu::index_select(src.data(), c.outer, c.src_n, c.inner, index.data(), c.index_n, out.data());
    for (int64_t o = 0; o < c.outer; ++o)
      for (int64_t j = 0; j < c.index_n; ++j)
        for (int64_t i = 0; i < c.inner; ++i)
          ASSERT_EQ(out[(o * c.index_n + j) * c.inner + i],
                    src[(o * c.src_n + index[j]) * c.inner + i])
              << "o " << o << " j " << j << " i " << i;
  }
}

TYPED_TEST(CpuKernels, IndexAddMatchesReference) {
  using T = TypeParam;
  std::vector<IndexCase> cases = kIndexCases;
  cases.push_back({1, 1000, 64, 4096});  // many repeats per dst row, parallel
  for (const auto& c : cases) {
    for (int64_t skip : {int64_t(-1), int64_t(2)}) {
      SCOPED_TRACE(::testing::Message() << "outer " << c.outer << " dst_n " << c.src_n << " inner "
                                        << c.inner << " index_n " << c.index_n << " skip " << skip);
      const auto grad = random_vector<T>(c.outer * c.index_n * c.inner, -1, 1, 30);
      auto index = make_index(c.index_n, c.src_n, 31);
      if (c.index_n > 1) index[1] = 2 < c.src_n ? 2 : 0;  // make sure skip matters
      // dst is not cleared: start from nonzero values.
      const auto initial = random_vector<T>(c.outer * c.src_n * c.inner, -1, 1, 32);
      std::vector<T> dst = initial;
      cpu::index_add(grad.data(), c.outer, c.index_n, c.inner, index.data(), skip, c.src_n,
                     dst.data());

      // Serial loop in T, adds in order of j: must match bit for bit.
      std::vector<T> serial = initial;
      std::vector<double> expected = to_double(initial);
      for (int64_t o = 0; o < c.outer; ++o)
        for (int64_t j = 0; j < c.index_n; ++j) {
          if (index[j] == skip) continue;
          for (int64_t i = 0; i < c.inner; ++i) {
            const int64_t to = (o * c.src_n + index[j]) * c.inner + i;
            const int64_t from = (o * c.index_n + j) * c.inner + i;
            serial[to] += grad[from];
            expected[to] += static_cast<double>(grad[from]);
          }
        }
      EXPECT_TRUE(bit_equal(dst, serial));
      EXPECT_TRUE(all_close(dst, expected, 10 * Tolerance<T>::value));
      if (skip == 2 && c.src_n > 2) {
        // The skipped dst row is untouched.
        for (int64_t o = 0; o < c.outer; ++o)
          for (int64_t i = 0; i < c.inner; ++i) {
            const int64_t e = (o * c.src_n + 2) * c.inner + i;
            ASSERT_EQ(dst[e], initial[e]);
          }
      }
    }
  }
}

// --- determinism -------------------------------------------------------------

// Every kernel at a parallel size, run with 1, 3 and 7 threads: the bytes must
// be identical (each output has one owner and a fixed order of terms).
// Needs this file compiled with OpenMP (to call omp_set_num_threads); the
// next test checks the same promise without it.
TEST(CpuKernelChecks, ResultsDoNotDependOnThreadCount) {
#ifndef _OPENMP
  GTEST_SKIP() << "test compiled without OpenMP: cannot set the thread count";
#endif
  const int64_t rows = 512, cols = 512;
  const auto x = random_vector<float>(rows * cols, -4, 4, 40);
  const auto dy = random_vector<float>(rows * cols, -1, 1, 41);
  const auto gamma = random_vector<float>(cols, 0.5, 1.5, 42);
  const auto beta = random_vector<float>(cols, -1, 1, 43);
  const auto big = random_vector<float>(3 * 70000, -1, 1, 44);
  const CrossEntropyCase ce{rows, cols, -100, 0.1};
  const auto target = make_targets(ce, 45);
  const auto row_grad = random_vector<float>(rows, 0.1, 1, 46);
  const auto index = make_index(4096, 1000, 47);
  const auto grad = random_vector<float>(4096 * 64, -1, 1, 48);

  auto run_all = [&]() {
    std::vector<std::vector<float>> outs;
    std::vector<int64_t> argmax(cols);
    outs.emplace_back(rows);
    cpu::sum_reduce(x.data(), rows, cols, 1, outs.back().data());
    outs.emplace_back(cols);
    cpu::sum_reduce(x.data(), 1, rows, cols, outs.back().data());
    outs.emplace_back(3);
    cpu::sum_reduce(big.data(), 3, 70000, 1, outs.back().data());
    outs.emplace_back(cols);
    cpu::max_reduce(x.data(), 1, rows, cols, outs.back().data(), argmax.data());
    outs.emplace_back(std::vector<float>(argmax.begin(), argmax.end()));
    for (bool log : {false, true}) {
      std::vector<float> y(x.size()), dx(x.size()), y2(x.size());
      cpu::softmax_forward(x.data(), rows, cols, 1, log, y.data());
      cpu::softmax_backward(y.data(), dy.data(), rows, cols, 1, log, dx.data());
      cpu::softmax_forward(x.data(), 4, rows / 4, cols, log, y2.data());
      outs.push_back(y);
      outs.push_back(dx);
      outs.push_back(y2);
    }
    std::vector<float> y(x.size()), mean(rows), rstd(rows), dx(x.size()), dg(cols), db(cols);
    cpu::layer_norm_forward(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, y.data(),
                            mean.data(), rstd.data());
    cpu::layer_norm_backward(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), rows,
                             cols, dx.data(), dg.data(), db.data());
    outs.insert(outs.end(), {y, mean, rstd, dx, dg, db});
    std::vector<float> loss(rows), lse(rows), dlogits(x.size());
    cpu::cross_entropy_forward(x.data(), target.data(), rows, cols, -100, 0.1f, loss.data(),
                               lse.data());
    cpu::cross_entropy_backward(x.data(), target.data(), lse.data(), row_grad.data(), rows, cols,
                                -100, 0.1f, dlogits.data());
    outs.insert(outs.end(), {loss, lse, dlogits});
    std::vector<float> table(1000 * 64, 0.5f);
    cpu::index_add(grad.data(), 1, 4096, 64, index.data(), 7, 1000, table.data());
    outs.push_back(table);
    return outs;
  };

  std::vector<std::vector<float>> one, three, seven;
  with_threads(1, [&] { one = run_all(); });
  with_threads(3, [&] { three = run_all(); });
  with_threads(7, [&] { seven = run_all(); });
  ASSERT_EQ(one.size(), three.size());
  ASSERT_EQ(one.size(), seven.size());
  for (size_t k = 0; k < one.size(); ++k) {
    EXPECT_TRUE(bit_equal(one[k], three[k])) << "output " << k << ", 3 threads";
    EXPECT_TRUE(bit_equal(one[k], seven[k])) << "output " << k << ", 7 threads";
  }
}

// A batch of rows (split between threads) must give the same bytes as one
// call per row (each too small to be split): how rows are grouped into work
// items must not change any row's result. Unlike the test above, this needs
// no OpenMP API, so it runs in every build.
TEST(CpuKernelChecks, BatchEqualsRowByRow) {
  const int64_t rows = 512, cols = 512;
  const auto x = random_vector<float>(rows * cols, -4, 4, 50);
  const auto dy = random_vector<float>(rows * cols, -1, 1, 51);
  const auto gamma = random_vector<float>(cols, 0.5, 1.5, 52);
  const auto beta = random_vector<float>(cols, -1, 1, 53);
  const CrossEntropyCase ce{rows, cols, -100, 0.1};
  const auto target = make_targets(ce, 54);
  const auto row_grad = random_vector<float>(rows, 0.1, 1, 55);
  const auto index = make_index(rows, 1000, 56);
  const auto table = random_vector<float>(1000 * cols, -1, 1, 57);

  // Runs kernel(first_row, row_count, ...) once on all rows, then row by row.
  auto check = [&](const char* name, size_t row_width,
                   const std::function<void(int64_t, int64_t, std::vector<float>&)>& kernel) {
    std::vector<float> batch(rows * row_width), single(rows * row_width);
    kernel(0, rows, batch);
    for (int64_t r = 0; r < rows; ++r) kernel(r, 1, single);
    EXPECT_TRUE(bit_equal(batch, single)) << name;
  };
  const int64_t n = cols;
  check("sum_reduce", 1, [&](int64_t r, int64_t count, std::vector<float>& out) {
    cpu::sum_reduce(x.data() + r * n, count, n, 1, out.data() + r);
  });
  check("max_reduce", 2, [&](int64_t r, int64_t count, std::vector<float>& out) {
    std::vector<int64_t> arg(count);
    cpu::max_reduce(x.data() + r * n, count, n, 1, out.data() + r, arg.data());
    for (int64_t k = 0; k < count; ++k) out[rows + r + k] = static_cast<float>(arg[k]);
  });
  for (bool log : {false, true}) {
    check(log ? "log_softmax" : "softmax", n,
          [&](int64_t r, int64_t count, std::vector<float>& out) {
            cpu::softmax_forward(x.data() + r * n, count, n, 1, log, out.data() + r * n);
          });
    check(log ? "log_softmax backward" : "softmax backward", n,
          [&](int64_t r, int64_t count, std::vector<float>& out) {
            // x stands in for y: the kernel does not care where y came from.
            cpu::softmax_backward(x.data() + r * n, dy.data() + r * n, count, n, 1, log,
                                  out.data() + r * n);
          });
  }
  check("layer_norm", n + 2, [&](int64_t r, int64_t count, std::vector<float>& out) {
    float* mean = out.data() + rows * n + r;
    float* rstd = out.data() + rows * (n + 1) + r;
    cpu::layer_norm_forward(x.data() + r * n, gamma.data(), beta.data(), count, n, 1e-5f,
                            out.data() + r * n, mean, rstd);
  });
  std::vector<float> mean(rows), rstd(rows), y(rows * n);
  cpu::layer_norm_forward(x.data(), gamma.data(), beta.data(), rows, n, 1e-5f, y.data(),
                          mean.data(), rstd.data());
  check("layer_norm backward dx", n, [&](int64_t r, int64_t count, std::vector<float>& out) {
    cpu::layer_norm_backward(dy.data() + r * n, x.data() + r * n, gamma.data(), mean.data() + r,
                             rstd.data() + r, count, n, out.data() + r * n,
                             static_cast<float*>(nullptr), static_cast<float*>(nullptr));
  });
  std::vector<float> loss(rows), lse(rows);
  cpu::cross_entropy_forward(x.data(), target.data(), rows, n, -100, 0.1f, loss.data(), lse.data());
  check("cross_entropy", 2, [&](int64_t r, int64_t count, std::vector<float>& out) {
    cpu::cross_entropy_forward(x.data() + r * n, target.data() + r, count, n, -100, 0.1f,
                               out.data() + r, out.data() + rows + r);
  });
  check("cross_entropy backward", n, [&](int64_t r, int64_t count, std::vector<float>& out) {
    cpu::cross_entropy_backward(x.data() + r * n, target.data() + r, lse.data() + r,
                                row_grad.data() + r, count, n, -100, 0.1f, out.data() + r * n);
  });
  check("index_select", n, [&](int64_t r, int64_t count, std::vector<float>& out) {
    cpu::index_select(table.data(), 1, 1000, n, index.data() + r, count, out.data() + r * n);
  });
}

}  // namespace
