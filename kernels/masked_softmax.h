// Attention's weights in one pass: scale the scores, hide the keys a query
// must not see, softmax over the rest, and put exact zeros where keys are hidden.
//
// The composed path of scaled_dot_product_attention spends four passes over
// the (B, H, Tq, Tk) scores on this, each with a tensor of its own: a multiply
// by 1/sqrt(d_k), a masked_fill of the hidden scores, the softmax, and a
// masked_fill of the hidden weights (nn/scaled_dot_product_attention.cpp says
// why both fills). With the mask given as numbers (each sentence's key length
// and whether attention is causal, nn::AttentionMask) one kernel does all four
// and keeps one tensor, the weights, for the backward.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/masked_softmax.cpp and kernels/cuda/masked_softmax.cu.
// The op is attn::masked_softmax (autograd/ops_softmax.cpp).
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// scores and weights: (batch, groups, tq, tk), contiguous; key_lengths: (batch)
// on the same device, each in [0, tk], or nullptr when every key is real.
// Query i of sentence b sees key j when
//   j < key_lengths[b]   and, when causal,   j <= i + (tk - tq)
// (the query is position i + tk - tq of the keys: during cached decoding the
// tq new queries are the last of tk positions). Over the visible keys
//   weights_j = e^(scale * s_j - m) / Σ_visible e^(scale * s_k - m),  m = max_visible scale * s_k
// and weights_j = 0 at hidden keys; a row with no visible key is all zeros.
template <Device D, typename T>
void masked_softmax_forward(const T* scores, int64_t batch, int64_t groups, int64_t tq, int64_t tk,
                            const int64_t* key_lengths, bool causal, T scale, T* weights);

// d scores = scale * y ⊙ (dy − ⟨dy, y⟩) row by row, from the forward's output
// y (rows, tk) and dy (rows, tk). Hidden keys have y = 0 and so get 0: the
// backward needs no mask.
template <Device D, typename T>
void masked_softmax_backward(const T* y, const T* dy, int64_t rows, int64_t tk, T scale, T* dscores);

}  // namespace attn::kernels
