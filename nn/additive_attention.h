// Additive attention (Bahdanau, Cho & Bengio 2014, section 3.1 and appendix A.1.2).
//
// For a decoder state s (the query) and the encoder's annotations h_1..h_S
// (the keys, which are also the values):
//     e_j     = v_a^T tanh(W_a s + U_a h_j)          the alignment score
//     alpha_j = exp(e_j) / sum_k exp(e_k)            over real (non-pad) positions
//     c       = sum_j alpha_j h_j                    the context vector
// U_a h_j does not depend on the decoder step, so it is computed once per
// sentence (precompute_keys) and reused at every output position; only
// W_a s changes from step to step. That is what makes additive attention
// affordable: the per-step cost is one (B, Hq) x (Hq, A) product plus the tanh.
#pragma once

#include <cstdint>

#include "nn/module.h"

namespace attn::nn {

struct AdditiveAttentionOptions {
  int64_t query_size;          // Hq: the decoder state size
  int64_t key_size;            // Hk: the annotation size (2 x encoder size when bidirectional)
  int64_t attention_size;      // A: the hidden size of the alignment MLP
  AdditiveAttentionOptions(int64_t query, int64_t key, int64_t attention)
      : query_size(query), key_size(key), attention_size(attention) {}
};

struct AttentionOutput {
  Tensor context;  // (B, Hk)
  Tensor weights;  // (B, S), each row sums to 1 over the real positions, 0 on padding
};

class AdditiveAttention : public Module {
 public:
  explicit AdditiveAttention(const AdditiveAttentionOptions& options);

  // keys: (B, S, Hk) -> U_a h + b: (B, S, A). Call once per batch of sentences.
  Tensor precompute_keys(const Tensor& keys) const;

  // query: (B, Hq), projected_keys: (B, S, A) from precompute_keys, values: (B, S, Hk),
  // source_mask: (B, S) int64, 1 = real token, 0 = padding (never attended).
  AttentionOutput forward(const Tensor& query, const Tensor& projected_keys,
                          const Tensor& values, const Tensor& source_mask) const;

  const AdditiveAttentionOptions& options() const { return options_; }

  Tensor query_weight;  // W_a: (A, Hq)
  Tensor key_weight;    // U_a: (A, Hk)
  Tensor key_bias;      // b_a: (A)
  Tensor score_weight;  // v_a: (A)

 private:
  AdditiveAttentionOptions options_;
};

}  // namespace attn::nn
