// Bahdanau's alignment scores, fused: the op attn::additive_attention_scores
// (autograd/ops_attention.cpp, nn/additive_attention.h).
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/additive_attention.cpp and
// kernels/cuda/additive_attention.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

//   hidden[b, s, :] = tanh(keys[b, s, :] + query[b, :])      (B, S, A), kept for the backward
//   scores[b, s]    = sum_a v[a] * hidden[b, s, a]             (B, S)
// keys: (B, S, A) = U_a h + b_a, precomputed once per sentence; query: (B, A) = W_a s; v: (A).
template <Device D, typename T>
void additive_attention_scores_forward(const T* keys, const T* query, const T* v, int64_t B,
                                       int64_t S, int64_t A, T* hidden, T* scores);

// From dscores (B, S): dkeys (B, S, A) = dscores * v * (1 - hidden^2);
// dquery (B, A) = sum over s of dkeys; dv (A) = sum over b, s of dscores * hidden.
// Each output is overwritten; any may be null when not needed.
template <Device D, typename T>
void additive_attention_scores_backward(const T* dscores, const T* hidden, const T* v, int64_t B,
                                        int64_t S, int64_t A, T* dkeys, T* dquery, T* dv);

}  // namespace attn::kernels
