// Tests for the CPU layer_norm and cross_entropy kernels, forward and backward.
//
// Each kernel is checked against a naive reference in double precision, on
// small shapes and on shapes large enough to take the parallel path: layer
// norm with and without gamma / beta, and with a large mean (which would
// cancel catastrophically in a one-pass variance); cross-entropy with label
// smoothing, an ignore_index and masked (-inf) or huge logits. The backward
// kernels are also checked against central finite differences in double, so
// the references themselves are not taken on trust.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "tests/kernels/kernel_test_util.h"
#include "kernels/cross_entropy.h"
#include "kernels/layer_norm.h"

namespace attn_test {
namespace {

namespace kernels = attn::kernels;
using attn::Device;

// --- naive references --------------------------------------------------------

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
};

// loss = −Σ_k q_k log p_k with q = (1 − eps) onehot(t) + eps / C.
CrossEntropyRef ref_cross_entropy(const std::vector<double>& x, const std::vector<int64_t>& target,
                                  int64_t rows, int64_t classes, int64_t ignore_index, double eps) {
  CrossEntropyRef r{std::vector<double>(rows, 0.0), std::vector<double>(rows, 0.0)};
  for (int64_t row = 0; row < rows; ++row) {
    if (target[row] == ignore_index) continue;
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
      kernels::layer_norm_forward<Device::CPU>(x.data(), g, b, rows, cols, eps, y.data(),
                                               mean.data(), rstd.data());
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
  kernels::layer_norm_forward<Device::CPU>(x.data(), static_cast<const T*>(nullptr),
                                           static_cast<const T*>(nullptr), rows, cols, T(1e-5),
                                           y.data(), mean.data(), rstd.data());
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
      kernels::layer_norm_forward<Device::CPU>(x.data(), g, with_gamma ? beta.data() : nullptr,
                                               rows, cols, eps, y.data(), mean.data(), rstd.data());
      std::vector<T> dx(x.size()), dgamma(cols, T(-7)), dbeta(cols, T(-7));
      kernels::layer_norm_backward<Device::CPU>(dy.data(), x.data(), g, mean.data(), rstd.data(),
                                                rows, cols, dx.data(), dgamma.data(), dbeta.data());
      const auto gd = to_double(gamma);
      const auto ref =
          ref_layer_norm_backward(to_double(dy), to_double(x), with_gamma ? gd.data() : nullptr,
                                  rows, cols, static_cast<double>(eps));
      EXPECT_TRUE(all_close(dx, ref.dx, 10 * Tolerance<T>::value));
      EXPECT_TRUE(all_close(dgamma, ref.dgamma, 10 * Tolerance<T>::value));
      EXPECT_TRUE(all_close(dbeta, ref.dbeta, 10 * Tolerance<T>::value));

      // Null dgamma and dbeta: only dx is written, and it is the same.
      std::vector<T> dx_only(x.size());
      kernels::layer_norm_backward<Device::CPU>(dy.data(), x.data(), g, mean.data(), rstd.data(),
                                                rows, cols, dx_only.data(),
                                                static_cast<T*>(nullptr), static_cast<T*>(nullptr));
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
    kernels::layer_norm_forward<Device::CPU>(xv.data(), gv.data(), bv.data(), rows, cols, eps,
                                             y.data(), mean.data(), rstd.data());
    return dot(dy, y);
  };
  std::vector<double> y(x.size()), mean(rows), rstd(rows);
  kernels::layer_norm_forward<Device::CPU>(x.data(), gamma.data(), beta.data(), rows, cols, eps,
                                           y.data(), mean.data(), rstd.data());
  std::vector<double> dx(x.size()), dgamma(cols), dbeta(cols);
  kernels::layer_norm_backward<Device::CPU>(dy.data(), x.data(), gamma.data(), mean.data(),
                                            rstd.data(), rows, cols, dx.data(), dgamma.data(),
                                            dbeta.data());
  EXPECT_TRUE(
      all_close(dx, numeric_grad([&](const auto& v) { return f(v, gamma, beta); }, x), 1e-7));
  EXPECT_TRUE(
      all_close(dgamma, numeric_grad([&](const auto& v) { return f(x, v, beta); }, gamma), 1e-7));
  EXPECT_TRUE(
      all_close(dbeta, numeric_grad([&](const auto& v) { return f(x, gamma, v); }, beta), 1e-7));
}

// --- cross_entropy -----------------------------------------------------------

const std::vector<CrossEntropyCase> kCrossEntropyCases = {
    {4, 1, -100, 0.0},    {6, 10, -100, 0.0},    {6, 10, -100, 0.1}, {7, 5, 0, 0.2},
    {3, 1000, -100, 0.1}, {512, 512, -100, 0.0}, {512, 512, 3, 0.1},
};

TYPED_TEST(CpuKernels, CrossEntropyForwardMatchesReference) {
  using T = TypeParam;
  for (const auto& c : kCrossEntropyCases) {
    SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.classes << " ignore " << c.ignore_index
                                      << " eps " << c.smoothing);
    const auto x = random_vector<T>(c.rows * c.classes, -5, 5, 21);
    const auto target = make_targets(c, 22);
    std::vector<T> loss(c.rows, T(-7)), lse(c.rows);
    kernels::cross_entropy_forward<Device::CPU>(x.data(), target.data(), c.rows, c.classes,
                                                c.ignore_index, static_cast<T>(c.smoothing),
                                                loss.data(), lse.data());
    const auto ref = ref_cross_entropy(to_double(x), target, c.rows, c.classes, c.ignore_index,
                                       static_cast<double>(static_cast<T>(c.smoothing)));
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
  kernels::cross_entropy_forward<Device::CPU>(x.data(), target.data(), 2, 3, -100, T(0),
                                              loss.data(), lse.data());
  EXPECT_NEAR(static_cast<double>(loss[0]), std::log(1 + std::exp(-1.0)), Tolerance<T>::value);
  // Large logits: lse is shifted by the max, so nothing overflows.
  const double expected1 = std::log(1 + std::exp(1.0) + std::exp(-1.0));
  EXPECT_NEAR(static_cast<double>(loss[1]), expected1, 1e-3);

  const std::vector<T> row_grad = {1, 1};
  std::vector<T> d(6);
  kernels::cross_entropy_backward<Device::CPU>(x.data(), target.data(), lse.data(), row_grad.data(),
                                               2, 3, -100, T(0), d.data());
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
    kernels::cross_entropy_forward<Device::CPU>(x.data(), target.data(), c.rows, c.classes,
                                                c.ignore_index, eps, loss.data(), lse.data());
    kernels::cross_entropy_backward<Device::CPU>(x.data(), target.data(), lse.data(),
                                                 row_grad.data(), c.rows, c.classes, c.ignore_index,
                                                 eps, d.data());
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
      kernels::cross_entropy_forward<Device::CPU>(v.data(), target.data(), rows, classes, ignore,
                                                  eps, loss.data(), lse.data());
      return dot(row_grad, loss);
    };
    std::vector<double> loss(rows), lse(rows), d(x.size());
    kernels::cross_entropy_forward<Device::CPU>(x.data(), target.data(), rows, classes, ignore, eps,
                                                loss.data(), lse.data());
    kernels::cross_entropy_backward<Device::CPU>(
        x.data(), target.data(), lse.data(), row_grad.data(), rows, classes, ignore, eps, d.data());
    EXPECT_TRUE(all_close(d, numeric_grad(f, x), 1e-7));
  }
}

}  // namespace
}  // namespace attn_test
