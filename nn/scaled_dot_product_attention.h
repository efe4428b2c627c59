// Scaled dot-product attention (Vaswani et al. 2017, "Attention Is All You
// Need", section 3.2.1), written out of the ops of autograd/ops.h so that a
// learner sees every step and autograd derives the backward:
//
//     Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V                    (1)
//
// with a mask added to the scores: where the mask says "hidden", the score is
// replaced by -infinity in the paper (section 3.2.3), so exp() gives that key
// no weight at all.
//
// Why divide by sqrt(d_k) (section 3.2.1, footnote 4): if the components of
// q and k are independent with mean 0 and variance 1, then q . k = sum_i q_i
// k_i has mean 0 and variance d_k. With d_k = 64 the scores are spread over
// +-8 or more; softmax of such scores is nearly one-hot, and where softmax is
// saturated its gradient y_i (delta_ij - y_j) is nearly zero, so the queries
// and keys stop learning. Dividing by sqrt(d_k) brings the variance back to 1
// whatever the head size.
//
// Masks: int64 tensors, nonzero = the query may attend to that key, 0 =
// hidden; they broadcast to the scores' shape (B, H, Tq, Tk). Two kinds:
//     padding_mask  hides the padding at the end of shorter source sentences
//                   (the same for every query);
//     causal_mask   hides the future in the decoder's self-attention: query i
//                   sees keys j <= i (section 3.2.3, "prevent leftward
//                   information flow").
// combine_masks ANDs them for a decoder over a padded batch.
//
// Where we differ from the paper: a query that may see no key at all (a
// fully masked row, e.g. a padding query under a padding mask combined with
// another mask) gets all-zero weights and a zero output, where -inf
// everywhere would give 0/0 = NaN. The .cpp says how. Dropout on the weights
// (section 5.4 applies dropout to sub-layer outputs; attention dropout on the
// weights is what the reference implementation tensor2tensor and PyTorch do)
// is off unless asked for.
//
// This is the composed reference version: several graph nodes, every
// intermediate kept for the backward, the weights there to look at. The
// models take the second overload below, which runs the fused kernel
// (attn::flash_attention, autograd/ops.h: the scores are never stored) when
// nothing needs the weights and the mask is one it can take, and this
// composed version otherwise; tests/nn compare the two.
#pragma once

#include <memory>

#include <cstdint>

#include "kernels/generator.h"
#include "tensor/tensor.h"

namespace attn::nn {

struct AttentionResult {
  Tensor output;   // (B, H, Tq, Dv): the weighted sums of the values
  Tensor weights;  // (B, H, Tq, Tk): softmax of the scaled scores, 0 where masked,
                   // before dropout (rows sum to 1 where any key is visible, else 0)
};

// q: (..., Tq, Dk), k: (..., Tk, Dk), v: (..., Tk, Dv), usually (B, H, T, D);
// the leading dims broadcast as in matmul. mask: int64, broadcastable to
// (..., Tq, Tk), nonzero = may attend; undefined = every key is visible.
// dropout: the probability of dropping a weight, applied only when training
// (generator: for reproducible dropout; nullptr = the global one).
// -> output (..., Tq, Dv), weights (..., Tq, Tk).
AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& mask = Tensor(), double dropout = 0.0,
                                             bool training = false,
                                             Generator* generator = nullptr);

// Which keys each query may see, in one of two forms.
//   dense          an int64 mask as above, broadcastable to (B, H, Tq, Tk),
//                  nonzero = may attend: any pattern, composed path only;
//   key_lengths,   the two masks translation needs, as numbers: key j of
//   causal         batch b is visible when j < key_lengths[b] (padding), and,
//                  if causal, to query i only when j <= i + (Tk - Tq): the
//                  queries are the last Tq of the Tk positions, so Tq = Tk is
//                  causal_mask(T) and a cached decoding step (Tq = 1) sees
//                  every key. The fused kernel takes this form.
// An AttentionMask made from a Tensor is dense (so a mask tensor can be
// passed wherever an AttentionMask is asked for); an empty one hides nothing.
struct AttentionMask {
  Tensor dense;         // int64, broadcastable to (B, H, Tq, Tk), or undefined
  Tensor key_lengths;   // int64 (B), each in [0, Tk], or undefined = every key is real
  bool causal = false;

  AttentionMask() = default;
  AttentionMask(const Tensor& mask) : dense(mask) {}  // NOLINT: implicit on purpose
  // key_lengths: int64 (B) -> the padding mask, causal or not, as numbers.
  static AttentionMask from_lengths(const Tensor& key_lengths, bool causal = false);
  // The causal mask alone (query i sees keys j <= i + Tk - Tq).
  static AttentionMask causal_only();

  // The same mask as a dense int64 tensor broadcastable to (B, 1, Tq, Tk),
  // on `device`; undefined when it hides nothing. For the composed path.
  Tensor to_dense(int64_t query_length, int64_t key_length, Device device) const;

 private:
  // to_dense's last answer, shared by the copies of this mask. A model builds
  // one mask per forward pass and every layer asks it for the same dense
  // form; without the cache each layer would build it again (a comparison, a
  // conversion and a where per layer, 5% of a tiny Transformer's step when
  // attention dropout sends every layer down the composed path).
  struct DenseCache {
    int64_t query_length = -1, key_length = -1;
    Device device = kCPU;
    Tensor dense;
  };
  std::shared_ptr<DenseCache> dense_cache_ = std::make_shared<DenseCache>();
};

// How to run attention, beyond q, k, v and the mask.
struct AttentionOptions {
  double dropout = 0.0;            // on the weights, in training only
  bool training = false;
  Generator* generator = nullptr;  // for reproducible dropout; nullptr = the global one
  bool need_weights = true;        // false: the caller only wants the output
  bool fused = true;               // false: always the composed reference

  AttentionOptions& set_dropout(double p) { dropout = p; return *this; }
  AttentionOptions& set_training(bool on) { training = on; return *this; }
  AttentionOptions& set_generator(Generator* g) { generator = g; return *this; }
  AttentionOptions& set_need_weights(bool on) { need_weights = on; return *this; }
  AttentionOptions& set_fused(bool on) { fused = on; return *this; }
};

// Whether the overload below runs the fused kernel for these inputs: when
//   options.fused, and !options.need_weights (the kernel never forms them),
//   and the mask is not dense (key lengths and/or causal, or nothing),
//   and no dropout runs (dropout == 0 or not training: the kernel has no
//       dropout, and dropping weights needs the weights),
//   and q, k, v are (B, H, Tq, D), (B, Hkv, Tk, D), (B, Hkv, Tk, D): one
//       batch, Hkv dividing H (MHA, GQA, MQA: query head h reads kv head
//       h / (H / Hkv), nothing repeated) and Dv = Dk, on a floating dtype.
bool fused_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionMask& mask, const AttentionOptions& options);

// Whether the overload below runs attn::grouped_attention, the fused kernel
// for inference: fused_attention_applies's conditions, and no graph is being
// built (grad mode off, or nothing requires grad).
bool inference_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const AttentionMask& mask, const AttentionOptions& options);

// The entry the models use: attn::grouped_attention when
// inference_attention_applies, attn::flash_attention when
// fused_attention_applies, else composed: for 4-d heads (B, H, Tq, D) with
// kv heads (B, Hkv, Tk, D), Hkv dividing H, through grouped_scores and
// grouped_weighted_sum below (masked_softmax for a mask given as numbers,
// the reference's fills for a dense one); any other shapes through the
// reference version above with mask.to_dense(). -> output (..., Tq, Dv)
// and, from the composed path only, weights (..., Tq, Tk); undefined
// weights from the fused path.
AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const AttentionMask& mask,
                                             const AttentionOptions& options);

// --- grouped heads (MQA, GQA) without repeating the kv heads -----------------------
//
// Query head h = g * G + r (G = H / Hkv) belongs to kv head g, so the G query
// heads of a group are neighbours: q (B, H, Tq, Dk) is q (B, Hkv, G, Tq, Dk),
// and stacking each group's heads along the rows makes it (B, Hkv, G*Tq, Dk).
// Then one batched GEMM per (b, g) against kv head g serves the whole group:
//
//     q      (B, Hkv, G*Tq, Dk)      the G heads of group g, one under the other
//     k^T    (B, Hkv, Dk,   Tk)      kv head g, read once
//     scores (B, Hkv, G*Tq, Tk)  ==  (B, H, Tq, Tk)   (the same memory)
//
// and back: weights (B, H, Tq, Tk) as (B, Hkv, G*Tq, Tk) times v (B, Hkv,
// Tk, Dv) gives (B, Hkv, G*Tq, Dv) == (B, H, Tq, Dv). The scores and weights
// are every head's, as MHA's; only k and v stay Hkv heads wide. Autograd
// gives each kv head the sum of its group's gradients (the GEMM's backward
// sums over the G*Tq rows). The teaching reference repeats each kv head G
// times first (expand_kv_heads of nn/multihead_attention.h) and is what
// tests/nn compares these against. With G = 1 both are a plain matmul.

// q: (B, H, Tq, Dk), k: (B, Hkv, Tk, Dk), Hkv dividing H -> (B, H, Tq, Tk) = q k^T, unscaled.
Tensor grouped_scores(const Tensor& q, const Tensor& k);
// weights: (B, H, Tq, Tk), v: (B, Hkv, Tk, Dv), Hkv dividing H -> (B, H, Tq, Dv).
Tensor grouped_weighted_sum(const Tensor& weights, const Tensor& v);

// lengths: int64 (B), each in [0, key_length] -> int64 (B, 1, 1, Tk) with
// Tk = key_length: 1 where key j < lengths[b] is a real word, 0 on padding.
// The two 1s broadcast over the heads and the queries.
Tensor padding_mask(const Tensor& lengths, int64_t key_length);

// length: T >= 0 -> int64 (1, 1, T, T), lower-triangular: [i][j] = 1 iff j <= i.
Tensor causal_mask(int64_t length);

// a, b: int64 masks that broadcast -> int64 of the broadcast shape, 1 where
// both are nonzero (a logical AND), e.g. padding (B,1,1,T) and causal
// (1,1,T,T) -> (B,1,T,T).
Tensor combine_masks(const Tensor& a, const Tensor& b);

}  // namespace attn::nn
