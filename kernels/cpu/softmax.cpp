// Softmax and log-softmax along one dim, forward and backward.
//
// The input is seen as (outer, n, inner); each "row" is the n elements
// x[o, 0..n, i], which are contiguous when inner == 1 and `inner` apart otherwise.
//
// Forward, with m = max_k x_k subtracted first so that exp never overflows
// (softmax is unchanged by a shift: e^(x-m) / Σ e^(x-m) = e^x / Σ e^x):
//   softmax:      y_j = e^(x_j - m) / Σ_k e^(x_k - m)
//   log_softmax:  y_j = (x_j - m) - log Σ_k e^(x_k - m)
// A row that is all -inf has m = -inf and x - m = NaN, so its output is NaN,
// as in PyTorch; we do not special-case it.
//
// Backward, from the forward's output y and the incoming gradient dy. The
// Jacobian of softmax is ∂y_k/∂x_j = y_k (δ_kj − y_j), so
//   softmax:      dx = y ⊙ (dy − ⟨dy, y⟩)
// and log_softmax has ∂y_k/∂x_j = δ_kj − softmax_j = δ_kj − e^(y_j), so
//   log_softmax:  dx = dy − e^y · Σ_k dy_k
// Both need one row reduction (⟨dy, y⟩ or Σ dy) and one elementwise pass.
//
// exp runs over whole rows at a time (exp_array, kernels/cpu/vec_math.h: a
// vectorised polynomial for float, std::exp for double): first y = x − m, then
// y = e^y in place. The row max and sum use eight lanes each (max_of, sum_of),
// and the sums accumulate in double so that long rows (a 50k vocabulary) do
// not lose precision in float. Each row is computed by one thread, in a fixed
// order, so results are the same whatever the number of threads. y must not
// be x.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/softmax.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Width of the block of contiguous i handled together when inner > 1 (see
// reduce.cpp): the per-column max and sums stay in L1 and the inner loops are
// unit-stride.
constexpr int64_t kColumnBlock = 256;

// Rough cost of one exp in scalar operations, for parallel_for's decision.
constexpr int64_t kExpCost = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// --- forward -----------------------------------------------------------------

// inner == 1: x and y (rows, n), each row contiguous.
template <typename T>
void forward_rows(const T* x, int64_t rows, int64_t n, bool log, T* y) {
  parallel_for(rows, n * kExpCost, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const T m = max_of(xr, n);
      for (int64_t k = 0; k < n; ++k) yr[k] = xr[k] - m;
      exp_array(yr, yr, n);  // y = e^(x - m)
      const double sum = sum_of(yr, n);
      if (log) {
        // (x - m) - log_sum rather than x - (m + log_sum): both terms of the
        // outer subtraction are small, so large logits keep their precision.
        const T log_sum = static_cast<T>(std::log(sum));
        for (int64_t k = 0; k < n; ++k) yr[k] = (xr[k] - m) - log_sum;
      } else {
        const T scale = static_cast<T>(1.0 / sum);
        for (int64_t k = 0; k < n; ++k) yr[k] *= scale;
      }
    }
  });
}

// inner > 1: one work item per (o, block of i); element k of column i is at
// base[k * inner + i].
template <typename T>
void forward_columns(const T* x, int64_t outer, int64_t n, int64_t inner, bool log, T* y) {
  const int64_t blocks = ceil_div(inner, kColumnBlock);
  parallel_for(outer * blocks, n * kColumnBlock * kExpCost, [&](int64_t begin, int64_t end) {
    T m[kColumnBlock];
    double sum[kColumnBlock];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / blocks;
      const int64_t i0 = (item % blocks) * kColumnBlock;
      const int64_t width = std::min(kColumnBlock, inner - i0);
      const T* xb = x + o * n * inner + i0;
      T* yb = y + o * n * inner + i0;

      std::copy(xb, xb + width, m);
      for (int64_t k = 1; k < n; ++k) {
        const T* xk = xb + k * inner;
        for (int64_t i = 0; i < width; ++i) m[i] = xk[i] > m[i] ? xk[i] : m[i];
      }

      // y_k = e^(x_k - m), row k of the block at a time, summed per column.
      std::fill(sum, sum + width, 0.0);
      for (int64_t k = 0; k < n; ++k) {
        const T* xk = xb + k * inner;
        T* yk = yb + k * inner;
        for (int64_t i = 0; i < width; ++i) yk[i] = xk[i] - m[i];
        exp_array(yk, yk, width);
        for (int64_t i = 0; i < width; ++i) sum[i] += static_cast<double>(yk[i]);
      }
      if (log) {
        T log_sum[kColumnBlock];
        for (int64_t i = 0; i < width; ++i) log_sum[i] = static_cast<T>(std::log(sum[i]));
        for (int64_t k = 0; k < n; ++k) {
          const T* xk = xb + k * inner;
          T* yk = yb + k * inner;
          for (int64_t i = 0; i < width; ++i) yk[i] = (xk[i] - m[i]) - log_sum[i];
        }
      } else {
        T scale[kColumnBlock];
        for (int64_t i = 0; i < width; ++i) scale[i] = static_cast<T>(1.0 / sum[i]);
        for (int64_t k = 0; k < n; ++k) {
          T* yk = yb + k * inner;
          for (int64_t i = 0; i < width; ++i) yk[i] *= scale[i];
        }
      }
    }
  });
}

// --- backward ----------------------------------------------------------------

// inner == 1: y, dy and dx (rows, n).
template <typename T>
void backward_rows(const T* y, const T* dy, int64_t rows, int64_t n, bool log, T* dx) {
  parallel_for(rows, n * (log ? kExpCost : 4), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* yr = y + r * n;
      const T* dyr = dy + r * n;
      T* dxr = dx + r * n;
      if (log) {
        // dx = dy - e^y * Σ dy
        const T total = static_cast<T>(sum_of(dyr, n));
        exp_array(yr, dxr, n);  // dx = e^y, then dx = dy - dx * total
        for (int64_t k = 0; k < n; ++k) dxr[k] = dyr[k] - dxr[k] * total;
      } else {
        // dx = y * (dy - <dy, y>)
        const T dot = static_cast<T>(dot_of(dyr, yr, n));
        for (int64_t k = 0; k < n; ++k) dxr[k] = yr[k] * (dyr[k] - dot);
      }
    }
  });
}

// inner > 1: the same two passes over a block of columns.
template <typename T>
void backward_columns(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner, bool log,
                      T* dx) {
  const int64_t blocks = ceil_div(inner, kColumnBlock);
  const int64_t cost = n * kColumnBlock * (log ? kExpCost : 4);
  parallel_for(outer * blocks, cost, [&](int64_t begin, int64_t end) {
    double acc[kColumnBlock];
    T reduced[kColumnBlock];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / blocks;
      const int64_t i0 = (item % blocks) * kColumnBlock;
      const int64_t width = std::min(kColumnBlock, inner - i0);
      const int64_t offset = o * n * inner + i0;
      const T* yb = y + offset;
      const T* dyb = dy + offset;
      T* dxb = dx + offset;

      std::fill(acc, acc + width, 0.0);
      if (log) {
        // dx = dy - e^y * Σ dy
        for (int64_t k = 0; k < n; ++k) {
          const T* dyk = dyb + k * inner;
          for (int64_t i = 0; i < width; ++i) acc[i] += static_cast<double>(dyk[i]);
        }
        for (int64_t i = 0; i < width; ++i) reduced[i] = static_cast<T>(acc[i]);
        for (int64_t k = 0; k < n; ++k) {
          const T* yk = yb + k * inner;
          const T* dyk = dyb + k * inner;
          T* dxk = dxb + k * inner;
          exp_array(yk, dxk, width);
          for (int64_t i = 0; i < width; ++i) dxk[i] = dyk[i] - dxk[i] * reduced[i];
        }
      } else {
        // dx = y * (dy - <dy, y>)
        for (int64_t k = 0; k < n; ++k) {
          const T* yk = yb + k * inner;
          const T* dyk = dyb + k * inner;
          for (int64_t i = 0; i < width; ++i) {
            acc[i] += static_cast<double>(dyk[i]) * static_cast<double>(yk[i]);
          }
        }
        for (int64_t i = 0; i < width; ++i) reduced[i] = static_cast<T>(acc[i]);
        for (int64_t k = 0; k < n; ++k) {
          const T* yk = yb + k * inner;
          const T* dyk = dyb + k * inner;
          T* dxk = dxb + k * inner;
          for (int64_t i = 0; i < width; ++i) dxk[i] = yk[i] * (dyk[i] - reduced[i]);
        }
      }
    }
  });
}

}  // namespace

template <Device D, typename T>
void softmax_forward(const T* x, int64_t outer, int64_t n, int64_t inner, bool log, T* y) {
  if (n == 0) return;
  if (inner == 1) {
    forward_rows(x, outer, n, log, y);
  } else {
    forward_columns(x, outer, n, inner, log, y);
  }
}

template <Device D, typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner, bool log,
                      T* dx) {
  if (n == 0) return;
  if (inner == 1) {
    backward_rows(y, dy, outer, n, log, dx);
  } else {
    backward_columns(y, dy, outer, n, inner, log, dx);
  }
}

// The CPU definitions of kernels/softmax.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(softmax_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(softmax_backward, Device::CPU)

}  // namespace attn::kernels
