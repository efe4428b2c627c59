// softmax and log_softmax along one dim, fused, with their backward.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/softmax.cpp and kernels/cuda/softmax.cu. The op
// is attn::softmax (autograd/ops_softmax.cpp).
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// y = softmax(x) (or log_softmax when `log`) along n; x and y (outer, n, inner),
// contiguous. Subtracts the running max first, so large logits do not overflow.
template <Device D, typename T>
void softmax_forward(const T* x, int64_t outer, int64_t n, int64_t inner, bool log, T* y);

// dx from y (the forward's output) and dy, all (outer, n, inner):
//   softmax:     dx = y * (dy - sum_k dy_k y_k)
//   log_softmax: dx = dy - exp(y) * sum_k dy_k
template <Device D, typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner, bool log,
                      T* dx);

}  // namespace attn::kernels
