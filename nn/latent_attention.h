// Multi-Head Latent Attention (MLA; DeepSeek-AI 2024, "DeepSeek-V2: A Strong,
// Economical, and Efficient Mixture-of-Experts Language Model",
// arXiv:2405.04434, section 2.1). docs/19-latent-attention.md teaches it.
//
// MHA caches H keys and H values of Dh numbers per position; MLA caches one
// latent vector c_KV of d_c numbers and one rotary key k_R of d_R numbers,
// from which every head's key and value can be rebuilt. With h_t the input
// at position t (B, T, D), n_h = H heads of d_h = Dh = D / H:
//
//   c_KV   = W^DKV h_t                        (d_c)            eq. 9   cached
//   k_C    = W^UK c_KV                        (H d_h)          eq. 10
//   v_C    = W^UV c_KV                        (H d_h)          eq. 11
//   c_Q    = W^DQ h_t                         (d_c')           eq. 12
//   q_C    = W^UQ c_Q                         (H d_h)          eq. 13
//   q_R    = RoPE(W^QR c_Q)                   (H d_R)          eq. 14
//   k_R    = RoPE(W^KR h_t)                   (d_R), ONE for all heads,  eq. 15   cached
//   q_h    = [q_C,h ; q_R,h],  k_h = [k_C,h ; k_R]             eq. 16, 17
//   o_h    = sum_j softmax_j(q_h . k_j,h / sqrt(d_h + d_R)) v_C,j,h   eq. 18
//   u_t    = W^O [o_1 ; ... ; o_H]                             eq. 19
//
// Why a decoupled key: RoPE turns a key by its position, and a turned k_C
// could no longer be rebuilt from c_KV by one fixed matrix, so W^UK could not
// be absorbed (below). MLA leaves k_C unturned and adds a small separate
// key k_R that carries the position, shared by the heads (as in MQA) so
// that it costs d_R numbers per position, not H d_R.
//
// Absorbed decoding (section 2.1.3): the score of head h is
//     q_C,h . (W^UK_h c_KV) = (W^UK_h^T q_C,h) . c_KV
// so W^UK_h^T folds into the query's own projection, and the head's output
//     W^O_h W^UV_h (sum_j w_j c_KV,j)
// lets W^UV_h fold into W^O. Attention then runs over the cached latents
// themselves, and no key or value of any head is ever rebuilt while
// decoding. absorb() forms the two folded matrices once per decode;
// attend_absorbed() uses them; attend() is the explicit form that training
// uses; tests/nn/test_mla.cpp checks that the two agree.
//
// With q_latent = 0 the queries are not compressed: c_Q is h_t itself
// (q_up is then the W^Q of MHA, q_rope a D -> H d_R projection). The paper
// compresses queries to save activation memory in training; the cache does
// not depend on it.
//
// Where we differ from the paper: no RMSNorm after the two compressions
// (DeepSeek-V2's released model has one; the paper's equations do not);
// no biases anywhere, as the equations. The Transformer uses MLA in the
// self-attentions only (nn/transformer.h says why).
//
// Shapes: B batch, T (Tq, Tk) lengths, D = d_model, H heads, Dh = D / H,
// d_c = kv_latent, d_c' = q_latent (Dq = d_c', or D without compression),
// d_R = rope_dim.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/layers.h"
#include "nn/module.h"
#include "nn/multihead_attention.h"
#include "nn/scaled_dot_product_attention.h"

namespace attn::nn {

struct LatentAttentionOptions {
  int64_t d_model;            // D
  int64_t num_heads;          // H; must divide D
  int64_t kv_latent;          // d_c: the cached latent (paper: 4 d_h = 512)
  int64_t q_latent = 0;       // d_c': the query latent; 0 = no compression (paper: 1536)
  int64_t rope_dim = 0;       // d_R: the decoupled rotary key and query per head, even;
                              // 0 = the paper's d_h / 2 (default_rope_dim)
  double rope_base = 10000.0; // theta_i = rope_base^(-2i/d_R)
  double dropout = 0.0;       // on the attention weights, in training

  LatentAttentionOptions(int64_t d, int64_t heads, int64_t kv)
      : d_model(d), num_heads(heads), kv_latent(kv) {}
  LatentAttentionOptions& set_q_latent(int64_t n) { q_latent = n; return *this; }
  LatentAttentionOptions& set_rope_dim(int64_t n) { rope_dim = n; return *this; }
  LatentAttentionOptions& set_rope_base(double b) { rope_base = b; return *this; }
  LatentAttentionOptions& set_dropout(double p) { dropout = p; return *this; }
};

class MultiHeadLatentAttention : public Module {
 public:
  explicit MultiHeadLatentAttention(const LatentAttentionOptions& options);

  // The paper's d_R = d_h / 2 (DeepSeek-V2: 64 for d_h = 128), rounded down
  // to an even number, at least 2 (RoPE turns pairs).
  static int64_t default_rope_dim(int64_t head_dim);

  // Self-attention, explicit: x (B, T, D), mask as MultiheadAttention's
  // (causal_only() in a decoder, from_lengths in an encoder); position: of x's
  // first step, for the rotary parts. -> output (B, T, D), weights (B, H, T, T)
  // (undefined unless need_weights).
  MultiheadAttentionOutput forward(const Tensor& x, const AttentionMask& mask = AttentionMask(),
                                   bool need_weights = false, int64_t position = 0) const;

  // What a KV cache keeps, per position. x: (B, T, D) ->
  //   latent c_KV (B, 1, T, d_c)                                     eq. 9
  //   rope key k_R (B, 1, T, d_R), step t turned at position + t     eq. 15
  // (the 1 stands where MHA has its kv heads: one set for all heads).
  Tensor project_latent(const Tensor& x) const;
  Tensor project_rope_keys(const Tensor& x, int64_t position = 0) const;

  // Explicit attention over cached positions: every head's k_C and v_C are
  // rebuilt from the latents (eq. 10, 11) and attended as MHA.
  // query: (B, Tq, D) unprojected, step i turned at query_position + i;
  // latent (B, 1, Tk, d_c), rope_keys (B, 1, Tk, d_R); mask as forward.
  // -> output (B, Tq, D), weights (B, H, Tq, Tk) if need_weights.
  MultiheadAttentionOutput attend(const Tensor& query, const Tensor& latent,
                                  const Tensor& rope_keys, const AttentionMask& mask,
                                  bool need_weights, int64_t query_position) const;

  // The two folded matrices of section 2.1.3, for the weights as they are now:
  //   query  (H d_c, Dq):  head h's rows are W^UK_h^T W^UQ_h   (d_c, Dq)
  //   output (D, H d_c):   head h's columns are W^O_h W^UV_h   (D, d_c)
  struct Absorbed {
    Tensor query;
    Tensor output;
  };
  Absorbed absorb() const;

  // Absorbed attention over the cached latents: the same output as attend()
  // without rebuilding any key or value. query (B, Tq, D); latent, rope_keys
  // as attend(); absorbed from absorb(); mask: key lengths and/or causal (as
  // numbers) or nothing, not a dense tensor. -> output (B, Tq, D)
  Tensor attend_absorbed(const Tensor& query, const Tensor& latent, const Tensor& rope_keys,
                         const Absorbed& absorbed, int64_t query_position,
                         const AttentionMask& mask = AttentionMask()) const;

  const LatentAttentionOptions& options() const { return options_; }
  int64_t head_dim() const { return head_dim_; }  // d_h = D / H
  int64_t rope_dim() const { return rope_dim_; }  // d_R, with 0 resolved
  // The numbers cached per position and layer: d_c + d_R (MHA: 2 H d_h).
  int64_t cache_width() const { return options_.kv_latent + rope_dim_; }

  // Parameters, named after the paper's matrices; none has a bias.
  std::shared_ptr<Linear> kv_down;   // D -> d_c:        W^DKV
  std::shared_ptr<Linear> k_up;      // d_c -> H d_h:    W^UK
  std::shared_ptr<Linear> v_up;      // d_c -> H d_h:    W^UV
  std::shared_ptr<Linear> k_rope;    // D -> d_R:        W^KR
  std::shared_ptr<Linear> q_down;    // D -> d_c':       W^DQ (null when q_latent = 0)
  std::shared_ptr<Linear> q_up;      // Dq -> H d_h:     W^UQ (W^Q when q_latent = 0)
  std::shared_ptr<Linear> q_rope;    // Dq -> H d_R:     W^QR
  std::shared_ptr<Linear> out_proj;  // H d_h = D -> D:  W^O

 private:
  // query (B, Tq, D) -> c_Q (B, Tq, Dq): q_down's output, or query itself.
  Tensor query_latent(const Tensor& query) const;
  // c_Q (B, Tq, Dq) -> q_R (B, H, Tq, d_R), step i turned at position + i.
  Tensor rope_queries(const Tensor& c_q, int64_t position) const;
  // Checks latent (B, 1, Tk, d_c) and rope_keys (B, 1, Tk, d_R) against query (B, Tq, D).
  void check_cache(const Tensor& query, const Tensor& latent, const Tensor& rope_keys) const;

  LatentAttentionOptions options_;
  int64_t head_dim_;
  int64_t rope_dim_;
};

}  // namespace attn::nn
