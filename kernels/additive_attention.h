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
// dquery is overwritten; dkeys and dv are overwritten, or added to when
// `accumulate` (a decoder's steps all attend over the same keys and share v:
// their gradients meet in one buffer, with no (B, S, A) temporary per step).
// Any output may be null when not needed.
template <Device D, typename T>
void additive_attention_scores_backward(const T* dscores, const T* hidden, const T* v, int64_t B,
                                        int64_t S, int64_t A, T* dkeys, T* dquery, T* dv,
                                        bool accumulate);

// The rest of an attention step once the scores are known, for any score
// (Bahdanau's additive one, Luong's dot and general); the fused RNN decoders
// (autograd/ops_rnn_decoders.cpp) call it once per target position:
//   weights[b, s] = softmax over s < lengths[b] of scores[b, s], 0 for s >= lengths[b]
//   context[b, :] = sum_s weights[b, s] values[b, s, :]
// scores, weights: (B, S); values: (B, S, Hk); context: (B, Hk); all contiguous.
// lengths: int64 (B) on the device, 1 <= lengths[b] <= S (a row of length 0
// gets weights and context 0).
template <Device D, typename T>
void attention_softmax_context_forward(int64_t B, int64_t S, int64_t Hk, const T* scores,
                                       const int64_t* lengths, const T* values, T* weights,
                                       T* context);

// From dcontext (B, Hk): dscores (B, S), overwritten:
//   g[b, s] = values[b, s, :] . dcontext[b, :]        (dL/dweights)
//   dscores[b, s] = weights[b, s] (g[b, s] - sum_s' weights[b, s'] g[b, s'])   (softmax')
// Positions outside the length have weight 0 and so get dscores 0. The
// gradient of values, sum over steps of weights^T dcontext, is the caller's:
// one batched product for all steps at once.
template <Device D, typename T>
void attention_softmax_context_backward(int64_t B, int64_t S, int64_t Hk, const T* weights,
                                        const T* values, const T* dcontext, T* dscores);

}  // namespace attn::kernels
