// Luong attention (Luong, Pham & Manning 2015, "Effective Approaches to
// Attention-based Neural Machine Translation"): one module, three scores and
// three scopes, so a learner can switch one choice at a time and compare.
//
// The query is the decoder's *current* top state h_t (Bahdanau's is the
// previous one, s_{i-1}); the keys and values are the encoder's top states
// hbar_s. The paper (section 3.1) gives three scores:
//     dot      score(h_t, hbar_s) = h_t^T hbar_s
//     general  score(h_t, hbar_s) = h_t^T W_a hbar_s
//     concat   score(h_t, hbar_s) = v_a^T tanh(W_a [h_t ; hbar_s])
// (concat is Bahdanau's additive score with the query moved to h_t; W_a
// splits into a query half and a key half, so it runs on the same fused
// kernel as nn/additive_attention.h.) Then, over the positions in scope,
//     a_t(s) = softmax_s(score(h_t, hbar_s))                              (7)
//     c_t    = sum_s a_t(s) hbar_s
//
// Scope (section 3.2):
//     global   every real source position;
//     local-m  the window [p_t - D, p_t + D] with p_t = t ("monotonic");
//     local-p  p_t = S * sigmoid(v_p^T tanh(W_p h_t))                      (9)
//              and the weights multiplied by a Gaussian around p_t:
//              a_t(s) = softmax(score) * exp(-(s - p_t)^2 / (2 sigma^2)),  (10)
//              sigma = D / 2. The Gaussian is what lets p_t learn: the
//              window's edges are a step function with no gradient, but
//              exp(-(s - p_t)^2 / 2sigma^2) is smooth in p_t, so dL/dp_t
//              flows back into v_p and W_p.
// Positions count from 0 and S is the sentence's real length. Windows are
// clipped at the sentence's edges and never reach padding. Where we differ
// from the paper: local-m clamps p_t = t to the last word (t >= S would give
// an empty window after the sentence's end: the paper never says what to do).
#pragma once

#include <cstdint>
#include <string>

#include "nn/module.h"

namespace attn::nn {

struct LuongAttentionOptions {
  int64_t query_size;             // H: the decoder's top state h_t
  int64_t key_size;               // Hk: the encoder's top states hbar_s (= H for dot)
  std::string score = "general";  // dot | general | concat (section 3.1)
  std::string scope = "global";   // global | local-m | local-p (section 3.2)
  int64_t window = 10;            // D, the window's half-width (paper: 10); local only
  int64_t attention_size = 0;     // concat's tanh layer and local-p's W_p; 0 means H

  LuongAttentionOptions(int64_t query, int64_t key) : query_size(query), key_size(key) {}
  LuongAttentionOptions& set_score(const std::string& s) { score = s; return *this; }
  LuongAttentionOptions& set_scope(const std::string& s) { scope = s; return *this; }
  LuongAttentionOptions& set_window(int64_t d) { window = d; return *this; }
};

struct LuongAttentionOutput {
  Tensor context;    // (B, T, Hk): c_t
  Tensor weights;    // (B, T, S): a_t(s), 0 outside the scope and on padding
  Tensor positions;  // (B, T) float: the window centre p_t; undefined for global
};

class LuongAttention : public Module {
 public:
  explicit LuongAttention(const LuongAttentionOptions& options);

  // keys: (B, S, Hk) -> what the score compares each query with, computed
  // once per sentence: dot: the keys themselves (B, S, Hk); general: W_a hbar_s
  // (B, S, H); concat: the key half of W_a [.;.] applied to hbar_s (B, S, A).
  Tensor precompute_keys(const Tensor& keys) const;

  // query: (B, T, H), T decoder positions at once (T = 1 when decoding step
  // by step); projected_keys: (B, S, ·) from precompute_keys; values: (B, S, Hk);
  // source_lengths: (B) int64, the real length of each sentence; first_step:
  // the decoder position of query row 0 (local-m's p_t = first_step + row).
  LuongAttentionOutput forward(const Tensor& query, const Tensor& projected_keys,
                               const Tensor& values, const Tensor& source_lengths,
                               int64_t first_step = 0) const;

  const LuongAttentionOptions& options() const { return options_; }

  Tensor score_weight;      // general: W_a (H, Hk)
  Tensor concat_query;      // concat: W_a's query half (A, H)
  Tensor concat_key;        // concat: W_a's key half (A, Hk)
  Tensor concat_v;          // concat: v_a (A)
  Tensor position_weight;   // local-p: W_p (A, H)
  Tensor position_v;        // local-p: v_p (A)

 private:
  // (B, T, H) x projected keys -> raw scores (B, T, S)
  Tensor scores(const Tensor& query, const Tensor& projected_keys) const;
  // query (B, T, H), lengths -> p_t (B, T); see the header comment.
  Tensor predict_positions(const Tensor& query, const Tensor& lengths_float) const;

  LuongAttentionOptions options_;
};

// The names attn accepts for --attention-type and --attention-scope, and a
// check that throws attn::Error listing them.
void check_luong_score(const std::string& score);
void check_luong_scope(const std::string& scope);

}  // namespace attn::nn
