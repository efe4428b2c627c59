// Layer normalisation over the last dim, forward and backward
// (Ba, Kiros and Hinton, "Layer Normalization", 2016, sec. 3; eps inside the
// square root as in PyTorch).
//
// Each row x (cols) is normalised with its own statistics:
//   μ = (1/N) Σ_c x_c,   σ² = (1/N) Σ_c (x_c − μ)²   (biased, as in the paper and PyTorch)
//   rstd = 1 / sqrt(σ² + eps),   x̂ = (x − μ) · rstd,   y = x̂ ⊙ γ + β
// with N = cols. γ and β are optional (no affine when null).
//
// Backward. With g = dy ⊙ γ (the gradient reaching x̂), and because μ and rstd
// both depend on every x_c of the row,
//   dx = rstd · (g − mean_c(g) − x̂ ⊙ mean_c(g ⊙ x̂))
//   dγ = Σ_rows dy ⊙ x̂,   dβ = Σ_rows dy
// The first follows from ∂x̂_j/∂x_c = rstd (δ_jc − 1/N − x̂_j x̂_c / N).
//
// Row statistics accumulate in double, and the variance is a second pass over
// (x − μ)² rather than E[x²] − μ², which cancels badly when |μ| ≫ σ.
//
// Threads: the forward and dx split the rows; dγ and dβ sum over rows, so they
// split the columns instead and each thread walks every row for its own block
// of columns. Every output element has one owner and a fixed order of terms,
// so results do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/layer_norm.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Width of the block of columns one thread owns in the dγ/dβ sums. Small, so
// that a d_model of 512 still gives 8 work items to share between threads;
// wide enough (256 bytes of each float row) that reads stay efficient.
constexpr int64_t kColumnBlock = 64;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Σ_{c < n} term(c) in double. Four independent partial sums let four adds be
// in flight at once instead of each waiting for the last (a single running sum
// is bound by add latency); the order is fixed, so the result is too.
template <typename Term>
double sum_terms(int64_t n, const Term& term) {
  double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
  int64_t c = 0;
  for (; c + 4 <= n; c += 4) {
    acc0 += term(c);
    acc1 += term(c + 1);
    acc2 += term(c + 2);
    acc3 += term(c + 3);
  }
  double total = (acc0 + acc1) + (acc2 + acc3);
  for (; c < n; ++c) total += term(c);
  return total;
}

// dx (rows, cols), one row per work item.
template <typename T>
void input_grad(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd, int64_t rows,
                int64_t cols, T* dx) {
  parallel_for(rows, cols * 10, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * cols;
      const T* dyr = dy + r * cols;
      T* dxr = dx + r * cols;
      const T m = mean[r];
      const T s = rstd[r];

      // Σ g and Σ g ⊙ x̂, with g = dy ⊙ γ.
      double sum_g = 0;
      double sum_g_xhat = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const T g = gamma != nullptr ? dyr[c] * gamma[c] : dyr[c];
        const T xhat = (xr[c] - m) * s;
        sum_g += static_cast<double>(g);
        sum_g_xhat += static_cast<double>(g) * static_cast<double>(xhat);
      }
      const T mean_g = static_cast<T>(sum_g / static_cast<double>(cols));
      const T mean_g_xhat = static_cast<T>(sum_g_xhat / static_cast<double>(cols));

      // dx = rstd · (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)); g is rebuilt rather than
      // stored, which costs one multiply and saves a row-sized buffer.
      if (gamma != nullptr) {
        for (int64_t c = 0; c < cols; ++c) {
          const T xhat = (xr[c] - m) * s;
          dxr[c] = s * (dyr[c] * gamma[c] - mean_g - xhat * mean_g_xhat);
        }
      } else {
        for (int64_t c = 0; c < cols; ++c) {
          const T xhat = (xr[c] - m) * s;
          dxr[c] = s * (dyr[c] - mean_g - xhat * mean_g_xhat);
        }
      }
    }
  });
}

// dgamma = Σ_rows dy ⊙ x̂ and dbeta = Σ_rows dy (cols each); either may be null.
// One work item per block of columns, walking the rows in order.
template <typename T>
void affine_grads(const T* dy, const T* x, const T* mean, const T* rstd, int64_t rows, int64_t cols,
                  T* dgamma, T* dbeta) {
  const int64_t blocks = ceil_div(cols, kColumnBlock);
  parallel_for(blocks, rows * kColumnBlock * 4, [&](int64_t begin, int64_t end) {
    double acc_gamma[kColumnBlock];
    double acc_beta[kColumnBlock];
    for (int64_t block = begin; block < end; ++block) {
      const int64_t c0 = block * kColumnBlock;
      const int64_t width = std::min(kColumnBlock, cols - c0);
      std::fill(acc_gamma, acc_gamma + width, 0.0);
      std::fill(acc_beta, acc_beta + width, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * cols + c0;
        const T* dyr = dy + r * cols + c0;
        const T m = mean[r];
        const T s = rstd[r];
        for (int64_t i = 0; i < width; ++i) {
          const T xhat = (xr[i] - m) * s;
          acc_gamma[i] += static_cast<double>(dyr[i]) * static_cast<double>(xhat);
          acc_beta[i] += static_cast<double>(dyr[i]);
        }
      }
      if (dgamma != nullptr) {
        for (int64_t i = 0; i < width; ++i) dgamma[c0 + i] = static_cast<T>(acc_gamma[i]);
      }
      if (dbeta != nullptr) {
        for (int64_t i = 0; i < width; ++i) dbeta[c0 + i] = static_cast<T>(acc_beta[i]);
      }
    }
  });
}

}  // namespace

template <Device D, typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, int64_t rows, int64_t cols,
                        T eps, T* y, T* mean, T* rstd) {
  parallel_for(rows, cols * 6, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;

      const double n = static_cast<double>(cols);
      auto value = [&](int64_t c) { return static_cast<double>(xr[c]); };
      const double mu = sum_terms(cols, value) / n;
      auto square_deviation = [&](int64_t c) { return (value(c) - mu) * (value(c) - mu); };
      const double var = sum_terms(cols, square_deviation) / n;
      const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));

      // The backward reads the stored (rounded) values, so use those here too.
      mean[r] = static_cast<T>(mu);
      rstd[r] = static_cast<T>(inv);
      const T m = mean[r];
      const T s = rstd[r];
      // Separate passes for γ and β keep each loop branch-free; the row is in L1.
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * s;
      if (gamma != nullptr) {
        for (int64_t c = 0; c < cols; ++c) yr[c] *= gamma[c];
      }
      if (beta != nullptr) {
        for (int64_t c = 0; c < cols; ++c) yr[c] += beta[c];
      }
    }
  });
}

template <Device D, typename T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                         int64_t rows, int64_t cols, T* dx, T* dgamma, T* dbeta) {
  input_grad(dy, x, gamma, mean, rstd, rows, cols, dx);
  if (dgamma != nullptr || dbeta != nullptr) {
    affine_grads(dy, x, mean, rstd, rows, cols, dgamma, dbeta);
  }
}

// The CPU definitions of kernels/layer_norm.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(layer_norm_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(layer_norm_backward, Device::CPU)

}  // namespace attn::kernels
