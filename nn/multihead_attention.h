// Multi-head attention (Vaswani et al. 2017, "Attention Is All You Need",
// section 3.2.2), with multi-query (Shazeer 2019, "Fast Transformer Decoding:
// One Write-Head is All You Need") and grouped-query attention (Ainslie et
// al. 2023, "GQA") as one option, num_kv_heads:
//
//     MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O
//     head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)                 (section 3.2.2)
//
// with Attention the scaled dot-product attention of
// nn/scaled_dot_product_attention.h. The H per-head matrices W_i^Q (D, Dh)
// are stored side by side as one Linear D -> H*Dh = D, so all heads are
// projected by one matrix product, then the last dim is split into (H, Dh).
//
// num_kv_heads (Hkv) sets how many key/value heads there are:
//     Hkv = H       multi-head attention, the paper's;
//     Hkv = 1       multi-query attention: every query head shares one K, V;
//     1 < Hkv < H   grouped-query attention: the H / Hkv query heads of group
//                   g share key/value head g.
// What it saves: k_proj and v_proj are Hkv/H the size of the paper's, and so
// is what a decoder has to keep for every past position (the KV cache) and
// read back at every step, which is what bounds decoding speed. Attention
// itself reads the Hkv heads where they are, each serving its group of H/Hkv
// query heads (grouped_scores of nn/scaled_dot_product_attention.h on the
// composed path, the fused kernels of kernels/flash_attention.h otherwise):
// no copy of the keys and values is ever made H heads wide. expand_kv_heads
// below makes that copy, as the teaching reference the tests compare against.
//
// Rotary positions (rope = true; Su et al. 2021, RoFormer): queries and keys
// are turned by their positions (attn::rope, kernels/rope.h) after the
// projections and before the scores, so that a score depends on the distance
// between query and key. Keys are turned once, when projected (project_keys,
// at the position of their first step), and a KV cache keeps them turned;
// queries are turned in attend(), at query_position. Values are never turned.
// Only self-attention uses it: a decoder's queries and an encoder's keys have
// positions in different sentences, and the Transformer leaves cross-attention
// without it (docs/15-rotary-positions.md).
//
// Low-Rank KV (kv_rank = r > 0; O'Neill, Clancy, Matskevichus and Reid 2026,
// "Low-Rank Key Value Attention", arXiv:2601.11471): every head's key (and,
// the same way, value) projection is one shared full-rank projection plus a
// low-rank residual of its own,
//     W_h^K = W^K_shared + A_h^K B_h^K,   A_h^K (D, r), B_h^K (r, Dh)
//     K_h   = X W^K_shared + (X A_h^K) B_h^K
// so r sets a continuous knob between MQA (r = 0: one shared K) and separate
// heads. We could not read the paper's equations here, only its abstract and
// the authors' summary; this is the formulation they describe (shared base +
// head-specific low-rank residual), with our letters. What a cache keeps per
// position is the shared K (Dh numbers) and every head's latent X A_h (r
// each), not the H reconstructed keys:
//     cache per position, per K or V:  Dh + H r   (MHA: H Dh)
// The compact form travels as one tensor (B, 1, T, Dh + H r), [shared |
// latent_0 | ... | latent_{H-1}] on the last dim, through project_keys,
// project_values, project_qkv and a Transformer's KV cache exactly where
// MHA's (B, Hkv, T, Dh) goes; attend_heads rebuilds the H keys and values
// from it (expand_low_rank) before attending. Parameters: k_proj and v_proj
// become the shared D -> Dh, k_down / v_down the A_h side by side
// (D -> H r), k_up / v_up the B_h as one (H, r, Dh) tensor. With r = Dh,
// W_shared = 0 and B_h = I, A_h = W_h^K is MHA's projection exactly
// (tests/nn/test_lrkv.cpp). Not with rope (the cache would need its keys
// turned after the sum) and not with GQA (num_kv_heads must be 0 or H).
//
// Parameters are four Linear submodules with PyTorch's bias and init:
// q_proj (D -> D), k_proj (D -> Hkv*Dh), v_proj (D -> Hkv*Dh), out_proj
// (D -> D), Dh = D / H. torch.nn.MultiheadAttention keeps q, k, v in one
// in_proj_weight (3D, D); its three row blocks are our q_proj, k_proj, v_proj.
//
// Where we differ from the paper: dropout on the attention weights (as
// tensor2tensor and PyTorch; the paper drops sub-layer outputs, section 5.4)
// is an option, off by default.
//
// The weights are handed back unless the caller says need_weights = false
// (PyTorch's argument of the same name); then, with a mask given as key
// lengths and/or causal (AttentionMask of nn/scaled_dot_product_attention.h)
// and no attention dropout in training, the heads run through the fused
// kernel, which never forms them. fused = false forces the composed path.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/layers.h"
#include "nn/module.h"
#include "nn/scaled_dot_product_attention.h"

namespace attn::nn {

struct MultiheadAttentionOptions {
  int64_t d_model;            // D: the size of each query, key and value vector
  int64_t num_heads = 8;      // H: the paper's h = 8; must divide D
  int64_t num_kv_heads = 0;   // Hkv: key/value heads; 0 = num_heads (MHA), 1 = MQA;
                              // must divide num_heads
  double dropout = 0.0;       // on the attention weights, in training only
  bool bias = true;           // biases in the four projections (as PyTorch)
  bool fused = true;          // the fused kernel where it applies; false = always composed
  bool rope = false;          // rotary positions on queries and keys (RoFormer); off = the paper's
  double rope_base = 10000.0; // theta_i = rope_base^(-2i/Dh) (RoFormer: 10000); needs even Dh
  int64_t kv_rank = 0;        // r: Low-Rank KV, 1..Dh; 0 = off (the paper's projections)

  MultiheadAttentionOptions(int64_t d, int64_t heads) : d_model(d), num_heads(heads) {}
  MultiheadAttentionOptions& set_num_heads(int64_t h) { num_heads = h; return *this; }
  MultiheadAttentionOptions& set_num_kv_heads(int64_t h) { num_kv_heads = h; return *this; }
  MultiheadAttentionOptions& set_dropout(double p) { dropout = p; return *this; }
  MultiheadAttentionOptions& set_bias(bool on) { bias = on; return *this; }
  MultiheadAttentionOptions& set_fused(bool on) { fused = on; return *this; }
  MultiheadAttentionOptions& set_rope(bool on) { rope = on; return *this; }
  MultiheadAttentionOptions& set_rope_base(double b) { rope_base = b; return *this; }
  MultiheadAttentionOptions& set_kv_rank(int64_t r) { kv_rank = r; return *this; }
};

struct MultiheadAttentionOutput {
  Tensor output;   // (B, Tq, D): after out_proj
  Tensor weights;  // (B, H, Tq, Tk): every head's weights, before dropout;
                   // undefined when need_weights was false and the fused kernel ran
};

class MultiheadAttention : public Module {
 public:
  // Throws unless D % H == 0 and H % Hkv == 0, naming both numbers.
  explicit MultiheadAttention(const MultiheadAttentionOptions& options);

  // query: (B, Tq, D); key, value: (B, Tk, D). Self-attention passes one
  // tensor three times; cross-attention passes the encoder's output as key
  // and value. mask: an int64 tensor broadcastable to (B, H, Tq, Tk),
  // nonzero = may attend (padding_mask, causal_mask, combine_masks), or key
  // lengths and causal as numbers (AttentionMask::from_lengths, causal_only);
  // empty = all visible. need_weights: false lets the fused kernel run.
  // With rope, query i and key j are at positions i and j (self-attention).
  // -> output (B, Tq, D), weights (B, H, Tq, Tk). = attend(query,
  // project_keys(key), project_values(value), mask, need_weights).
  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const AttentionMask& mask = AttentionMask(),
                                   bool need_weights = true) const;

  // The pieces a KV cache needs: keys and values projected once and kept.
  // x: (B, T, D) -> (B, Hkv, T, Dh); with kv_rank r > 0 the compact
  // (B, 1, T, Dh + H r) instead (kv_heads() x kv_width()). With rope, key t is turned at position
  // `position` + t (values never are), so the cache holds turned keys.
  Tensor project_keys(const Tensor& x, int64_t position = 0) const;
  Tensor project_values(const Tensor& x) const;

  // query: (B, Tq, D) unprojected; keys, values: (B, Hkv, Tk, Dh) from
  // project_keys / project_values (LRKV: (B, 1, Tk, Dh + H r)); mask and need_weights as in forward.
  // With rope, query i is turned at position query_position + i.
  // -> output (B, Tq, D), weights (B, H, Tq, Tk).
  MultiheadAttentionOutput attend(const Tensor& query, const Tensor& keys, const Tensor& values,
                                  const AttentionMask& mask = AttentionMask(),
                                  bool need_weights = true, int64_t query_position = 0) const;

  // RoPE on projected heads: heads (B, heads, T, Dh), step t at position
  // `position` + t -> (B, heads, T, Dh) turned (attn::rope with rope_base);
  // `heads` itself when rope is off. For callers that project q and k
  // themselves (project_qkv while decoding).
  Tensor rotate(const Tensor& heads, int64_t position) const;

  // Self-attention while decoding: q, k and v of x from ONE matrix product,
  // with the three projections stacked. stacked_qkv() gives the weight
  // (D + 2 Hkv Dh, D), rows q_proj | k_proj | v_proj, and the bias (undefined
  // without biases; LRKV: rows q_proj | k_proj | k_down | v_proj | v_down,
  // D + 2 (Dh + H r), and k, v come out compact, (B, 1, T, Dh + H r)); take it once per decode, as the weights may change
  // between decodes. x: (B, T, D) -> q (B, H, T, Dh), k and v (B, Hkv, T, Dh),
  // views of the one product.
  struct StackedQKV {
    Tensor weight, bias;
  };
  struct ProjectedQKV {
    Tensor q, k, v;
  };
  StackedQKV stacked_qkv() const;
  ProjectedQKV project_qkv(const Tensor& x, const StackedQKV& stacked) const;

  // attend() after the query projection: q (B, H, Tq, Dh), e.g. split off a
  // projection of q, k and v done as one matrix product while decoding;
  // q and keys are taken as they are (with rope, already turned: rotate()).
  MultiheadAttentionOutput attend_heads(const Tensor& q, const Tensor& keys, const Tensor& values,
                                        const AttentionMask& mask = AttentionMask(),
                                        bool need_weights = true) const;

  const MultiheadAttentionOptions& options() const { return options_; }
  int64_t head_dim() const { return head_dim_; }          // Dh = D / H
  int64_t num_kv_heads() const { return num_kv_heads_; }  // Hkv, with 0 resolved to H
  // What project_keys / project_values hand back per position: kv_heads()
  // heads of kv_width() numbers each. (Hkv, Dh); LRKV: (1, Dh + H r).
  int64_t kv_heads() const { return options_.kv_rank > 0 ? 1 : num_kv_heads_; }
  int64_t kv_width() const {
    return options_.kv_rank > 0 ? head_dim_ + options_.num_heads * options_.kv_rank : head_dim_;
  }

  // LRKV: compact (B, 1, T, Dh + H r) and up = k_up or v_up (H, r, Dh) ->
  // the H heads (B, H, T, Dh), head h = shared + latent_h B_h.
  Tensor expand_low_rank(const Tensor& compact, const Tensor& up) const;

  std::shared_ptr<Linear> q_proj;    // D -> H*Dh = D: the W_i^Q side by side
  std::shared_ptr<Linear> k_proj;    // D -> Hkv*Dh
  std::shared_ptr<Linear> v_proj;    // D -> Hkv*Dh
  std::shared_ptr<Linear> out_proj;  // H*Dh = D -> D: W^O
  // LRKV only (kv_rank r > 0; null / undefined otherwise). k_proj and v_proj
  // are then the shared D -> Dh.
  std::shared_ptr<Linear> k_down;    // D -> H*r: the A_h^K side by side
  std::shared_ptr<Linear> v_down;    // D -> H*r: the A_h^V
  Tensor k_up;                       // (H, r, Dh): the B_h^K
  Tensor v_up;                       // (H, r, Dh): the B_h^V

 private:
  // x: (B, T, D) through `proj` (D -> heads*Dh) -> (B, heads, T, Dh)
  Tensor split_heads(const Linear& proj, const Tensor& x, int64_t heads, const char* what) const;
  // LRKV: x (B, T, D) -> compact (B, 1, T, Dh + H r) = [shared(x) | down(x)]
  Tensor project_low_rank(const Linear& shared, const Linear& down, const Tensor& x,
                          const char* what) const;

  MultiheadAttentionOptions options_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
};

// The teaching reference of grouped attention: kv (B, Hkv, T, Dh) ->
// (B, num_heads, T, Dh), each kv head repeated num_heads / Hkv times along
// the head dim, [k0, k0, k1, k1, ...], so that query head h meets kv head
// h / (num_heads / Hkv) as plain multi-head attention would. expand makes the
// repeat a stride-0 view and reshape copies it once; expand's backward sums
// each group's gradients back into its kv head. MultiheadAttention no longer
// does this (each kv head serves its group where it lies); tests/nn and
// docs/12-mqa-and-gqa.md compare against it. Throws unless Hkv divides num_heads.
Tensor expand_kv_heads(const Tensor& kv, int64_t num_heads);

}  // namespace attn::nn
