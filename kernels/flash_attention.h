// Fused scaled dot-product attention, softmax(q k^T * scale) v, computed the
// FlashAttention way (Dao et al. 2022): each query row meets the keys in
// blocks with an online softmax (running max and sum), so the (Tq, Tk) score
// matrix is never stored. docs/13-attention-on-the-gpu.md walks through it.
// The op is attn::flash_attention (autograd/ops_flash_attention.cpp).
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/flash_attention.cpp and kernels/cuda/flash_attention.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

//   q (B, H, Tq, D), k (B, Hkv, Tk, D), v (B, Hkv, Tk, D), out (B, H, Tq, D), all contiguous.
//   Hkv divides H: the H query heads share Hkv key/value heads, query head h
//     reading kv head h / (H / Hkv) (MHA when Hkv = H, MQA when Hkv = 1, GQA
//     between). Each kv head serves its group of H / Hkv query heads where it
//     lies; nothing is repeated to H heads first.
//   key_lengths (B) or null: key j of batch b is visible only when j < key_lengths[b]
//     (the padding mask of nn/scaled_dot_product_attention.h).
//   causal: query i sees keys j <= i + (Tk - Tq) (aligned at the end, so a
//     decoder step with a KV cache, Tq = 1, sees every cached key).
//   lse (B, H, Tq): log-sum-exp of each row's visible scores, for the backward;
//     -inf for a row that sees no key, whose output is then 0 (as the composed
//     path's fully masked rows).
template <Device Dev, typename T>
void flash_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                             const T* q, const T* k, const T* v, const int64_t* key_lengths,
                             bool causal, T scale, T* out, T* lse);

// The backward recomputes the scores block by block from q, k and lse:
//   P = exp(S - lse),  dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)),
//   dQ = dS K * scale,  dK = dS^T Q * scale.
// With grouped heads a kv head's dK and dV are the sums of these over the
// H / Hkv query heads of its group (the chain rule through a head that is
// read by several: its gradient is the sum of what each reader sends back).
// dq, dk, dv have the shapes of q, k, v and are overwritten.
template <Device Dev, typename T>
void flash_attention_backward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                              const T* q, const T* k, const T* v, const T* out, const T* dout,
                              const T* lse, const int64_t* key_lengths, bool causal, T scale,
                              T* dq, T* dk, T* dv);

// Inference only (no lse, no backward), for decoding and eval: the same
// grouped attention (Hkv dividing H, each kv head read once for its whole
// group of query heads), but
//   - strided: each operand is (B, heads, T, D) in memory with its own element
//     strides for batch, head and position (AttentionStrides) and D contiguous,
//     so a KV cache with room for more positions than it holds, the heads of
//     a projection before its transpose, or an output laid out (B, Tq, H, D)
//     for the output projection need no copy.
// key_lengths, causal and scale as above; out is overwritten.
struct AttentionStrides {
  int64_t batch, head, position;  // in elements; the last dim (D) has stride 1
};

template <Device Dev, typename T>
void grouped_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk,
                               int64_t D, const T* q, AttentionStrides q_strides, const T* k,
                               AttentionStrides k_strides, const T* v, AttentionStrides v_strides,
                               const int64_t* key_lengths, bool causal, T scale, T* out,
                               AttentionStrides out_strides);

}  // namespace attn::kernels
