// Reductions: sum and max over one dim (with max's backward), and the sum of
// squares behind the global gradient norm.
//
// Each kernel is declared once, for every device D and element type T (float,
// double); the definitions are kernels/cpu/reduce.cpp and kernels/cuda/reduce.cu.
//
// A reduction sees its input as (outer, n, inner): `n` is the size of the
// reduced dim, `outer` the product of the sizes before it, `inner` the
// product of the sizes after it. A reduction over the last dim has inner = 1.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// out[o, i] = sum_k x[o, k, i]; x contiguous (outer, n, inner), out (outer, inner).
// Accumulates in double so that float sums do not drift with n.
template <Device D, typename T>
void sum_reduce(const T* x, int64_t outer, int64_t n, int64_t inner, T* out);

// out[o, i] = max_k x[o, k, i] and argmax[o, i] = the first k that attains it.
template <Device D, typename T>
void max_reduce(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, int64_t* argmax);

// The backward of max_reduce: dx (outer, n, inner) is zero except
// dx[o, argmax[o, i], i] = grad[o, i]. dx is overwritten.
template <Device D, typename T>
void max_reduce_backward(const T* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, T* dx);

// *out = sum_i x[i]^2 over n elements, accumulated in double (the global
// gradient norm squared: train/optim/clip.cpp writes one sum per parameter into one
// buffer, on the gradients' device, and reads them back together).
template <Device D, typename T>
void sum_of_squares(int64_t n, const T* x, double* out);

}  // namespace attn::kernels
