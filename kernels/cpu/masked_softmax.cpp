// The CPU definitions of kernels/masked_softmax.h: attention's weights from
// its scores in one pass per row (the header has the formulas).
//
// A row is one query: (b, g, i) of the (batch, groups, tq, tk) scores. Its
// visible keys are a prefix 0 .. limit-1 of the row (a key length and a causal
// bound both cut the row at one place), so the kernel is a softmax over the
// first `limit` elements and zeros after them: no mask is read at all.
//
// As in kernels/cpu/softmax.cpp the exponentials go through exp_array and the
// max, sum and dot through the eight-lane helpers (kernels/cpu/vec_math.h),
// the sum is kept in double, and each row is done by one thread in a fixed
// order, so the bits do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/masked_softmax.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Rough cost of one exp in scalar operations, for parallel_for's decision.
constexpr int64_t kExpCost = 16;

// How many keys, from the left, query i of sentence b sees.
int64_t visible_keys(const int64_t* key_lengths, int64_t b, bool causal, int64_t i, int64_t tq,
                     int64_t tk) {
  int64_t limit = key_lengths != nullptr ? key_lengths[b] : tk;
  if (causal) limit = std::min(limit, i + (tk - tq) + 1);
  return std::max<int64_t>(0, std::min(limit, tk));
}

}  // namespace

template <Device D, typename T>
void masked_softmax_forward(const T* scores, int64_t batch, int64_t groups, int64_t tq, int64_t tk,
                            const int64_t* key_lengths, bool causal, T scale, T* weights) {
  const int64_t rows = batch * groups * tq;
  parallel_for(rows, tk * kExpCost, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / (groups * tq), i = r % tq;
      const int64_t n = visible_keys(key_lengths, b, causal, i, tq, tk);
      const T* s = scores + r * tk;
      T* y = weights + r * tk;
      if (n > 0) {
        for (int64_t j = 0; j < n; ++j) y[j] = scale * s[j];
        const T m = max_of(y, n);
        for (int64_t j = 0; j < n; ++j) y[j] -= m;
        exp_array(y, y, n);  // y = e^(scale * s - m)
        const T inverse = static_cast<T>(1.0 / sum_of(y, n));
        for (int64_t j = 0; j < n; ++j) y[j] *= inverse;
      }
      for (int64_t j = n; j < tk; ++j) y[j] = T(0);
    }
  });
}

template <Device D, typename T>
void masked_softmax_backward(const T* y, const T* dy, int64_t rows, int64_t tk, T scale, T* dscores) {
  parallel_for(rows, tk * 4, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* yr = y + r * tk;
      const T* gr = dy + r * tk;
      T* dr = dscores + r * tk;
      const T d = static_cast<T>(dot_of(gr, yr, tk));
      for (int64_t j = 0; j < tk; ++j) dr[j] = scale * yr[j] * (gr[j] - d);
    }
  });
}

ATTN_INSTANTIATE_FLOATING(masked_softmax_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(masked_softmax_backward, Device::CPU)

}  // namespace attn::kernels
