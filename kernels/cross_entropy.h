// Cross-entropy of logits against target ids: log-softmax and negative
// log-likelihood fused, with label smoothing and an ignored id.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/cross_entropy.cpp and kernels/cuda/cross_entropy.cu.
// The op is attn::cross_entropy (autograd/ops_nn.cpp).
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// Per-row loss of logits (rows, classes) against target ids (rows), with
// label smoothing eps:
//   loss = (1 - eps) * (lse - x[target]) + eps * (lse - mean_k x[k])
// Rows whose target equals ignore_index get loss 0 (the caller counts the
// others, on the tensor's device, for the mean: autograd/ops_nn.cpp).
// Writes loss (rows) and lse (rows, the log-sum-exp, kept for the backward).
template <Device D, typename T>
void cross_entropy_forward(const T* logits, const int64_t* target, int64_t rows, int64_t classes,
                           int64_t ignore_index, T label_smoothing, T* loss, T* lse);

// d logits = row_grad[r] * (softmax(x) - (1 - eps) * onehot(target) - eps / classes),
// zero for ignored rows. row_grad (rows) holds dL/dloss[r] (for a mean: g / count).
template <Device D, typename T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* lse,
                            const T* row_grad, int64_t rows, int64_t classes, int64_t ignore_index,
                            T label_smoothing, T* dlogits);

}  // namespace attn::kernels
