// Layer normalisation over the last dim, with its backward.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/layer_norm.cpp and kernels/cuda/layer_norm.cu.
// The op is attn::layer_norm (autograd/ops_nn.cpp).
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// Normalises each row of x (rows, cols): y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps), biased variance. gamma and beta (cols) may be
// null (no affine). Writes mean and rstd (rows) for the backward.
template <Device D, typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, int64_t rows, int64_t cols,
                        T eps, T* y, T* mean, T* rstd);

// dx (rows, cols); dgamma and dbeta (cols) are overwritten when non-null.
template <Device D, typename T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                         int64_t rows, int64_t cols, T* dx, T* dgamma, T* dbeta);

}  // namespace attn::kernels
