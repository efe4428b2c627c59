// Cross-entropy of logits against target ids: log-softmax and negative
// log-likelihood fused in one pass, with label smoothing and an ignored id.
//
// For one row of logits x (C classes) and target t, log p_k = x_k − lse with
// lse = log Σ_k e^(x_k) = m + log Σ_k e^(x_k − m), m = max_k x_k (the shift
// keeps exp from overflowing). Label smoothing with eps trains against the
// mixture q = (1 − eps) · onehot(t) + eps / C (Szegedy et al., "Rethinking the
// Inception Architecture", 2016, sec. 7), so
//   loss = −Σ_k q_k log p_k = (1 − eps) · (lse − x_t) + eps · (lse − mean_k x_k)
// Its gradient is ∂loss/∂x_k = p_k − q_k, scaled by the upstream row_grad:
//   dx = row_grad · (softmax(x) − (1 − eps) · onehot(t) − eps / C)
//
// Fusing matters: a separate log_softmax would write a (rows, C) buffer only
// to read one element of each row back. Here the forward keeps one number per
// row, lse, and the backward recomputes softmax(x) = e^(x − lse) from it.
//
// Rows whose target is ignore_index (padding) get loss 0 and gradient 0; the
// caller counts the other rows (on the tensor's device, so a GPU step need not
// wait for a number) and divides by that count for a mean. Each row is
// computed by one thread, so results do not depend on the number of threads.
//
// exp runs over arrays (exp_array, kernels/cpu/vec_math.h: a vectorised
// polynomial for float, std::exp for double). The forward has no output row
// to hold e^(x − m), so it exponentiates the row in chunks of kChunk in a
// buffer on the stack; the backward exponentiates into dlogits in place.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cross_entropy.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Rough cost of one exp in scalar operations, for parallel_for's decision.
constexpr int64_t kExpCost = 8;

// Elements per chunk of the forward's e^(x − m): 1 KiB of floats, in L1.
constexpr int64_t kChunk = 256;

// Σ_k e^(x_k − m) of x (n), in double, one chunk at a time.
template <typename T>
double sum_exp(const T* x, int64_t n, T m) {
  T buf[kChunk];
  double sum = 0;
  for (int64_t k0 = 0; k0 < n; k0 += kChunk) {
    const int64_t width = std::min(kChunk, n - k0);
    for (int64_t i = 0; i < width; ++i) buf[i] = x[k0 + i] - m;
    exp_array(buf, buf, width);
    sum += sum_of(buf, width);
  }
  return sum;
}

}  // namespace

template <Device D, typename T>
void cross_entropy_forward(const T* logits, const int64_t* target, int64_t rows, int64_t classes,
                           int64_t ignore_index, T label_smoothing, T* loss, T* lse) {
  const double eps = static_cast<double>(label_smoothing);
  parallel_for(rows, classes * kExpCost, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t t = target[r];
      if (t == ignore_index) {
        loss[r] = 0;
        lse[r] = 0;  // never read by the backward; written so it is not garbage
        continue;
      }
      const T* xr = logits + r * classes;
      const T m = max_of(xr, classes);
      const double row_lse = static_cast<double>(m) + std::log(sum_exp(xr, classes, m));

      double row_loss = (1.0 - eps) * (row_lse - static_cast<double>(xr[t]));
      // Only when smoothing: with eps = 0 the mean term must vanish even when a
      // logit is -inf (a masked class), where 0 · (lse − mean) would be NaN.
      if (eps != 0.0) {
        const double sum_x = sum_of(xr, classes);
        row_loss += eps * (row_lse - sum_x / static_cast<double>(classes));
      }
      loss[r] = static_cast<T>(row_loss);
      lse[r] = static_cast<T>(row_lse);
    }
  });
}

template <Device D, typename T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* lse, const T* row_grad,
                            int64_t rows, int64_t classes, int64_t ignore_index, T label_smoothing,
                            T* dlogits) {
  const T eps = label_smoothing;
  const T smooth = eps / static_cast<T>(classes);  // the eps / C every class receives
  parallel_for(rows, classes * kExpCost, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      T* dr = dlogits + r * classes;
      const int64_t t = target[r];
      if (t == ignore_index) {
        std::fill(dr, dr + classes, T(0));
        continue;
      }
      const T* xr = logits + r * classes;
      const T g = row_grad[r];
      const T l = lse[r];
      // softmax(x)_k = e^(x_k − lse): the forward's lse saves a max and a sum.
      for (int64_t k = 0; k < classes; ++k) dr[k] = xr[k] - l;
      exp_array(dr, dr, classes);
      for (int64_t k = 0; k < classes; ++k) dr[k] = g * (dr[k] - smooth);
      dr[t] -= g * (T(1) - eps);
    }
  });
}

// The CPU definitions of kernels/cross_entropy.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(cross_entropy_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(cross_entropy_backward, Device::CPU)

}  // namespace attn::kernels
