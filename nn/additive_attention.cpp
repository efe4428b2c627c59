#include "nn/additive_attention.h"

#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "nn/layers.h"

namespace attn::nn {

AdditiveAttention::AdditiveAttention(const AdditiveAttentionOptions& options) : options_(options) {
  ATTN_CHECK(options.query_size > 0 && options.key_size > 0 && options.attention_size > 0,
             "AdditiveAttention: sizes must be positive, got query ", options.query_size,
             ", key ", options.key_size, ", attention ", options.attention_size);
  // Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's Linear. (The paper
  // draws W_a and U_a from N(0, 0.001^2) and v_a = 0; with Adam and no
  // pre-training the larger uniform start trains faster on the toy tasks.)
  auto uniform = [](Shape shape, int64_t fan_in) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return rand(shape) * (2.0 * bound) - bound;
  };
  int64_t A = options.attention_size;
  query_weight = register_parameter("query_weight", uniform({A, options.query_size}, options.query_size));
  key_weight = register_parameter("key_weight", uniform({A, options.key_size}, options.key_size));
  key_bias = register_parameter("key_bias", uniform({A}, options.key_size));
  score_weight = register_parameter("score_weight", uniform({A}, A));
}

Tensor AdditiveAttention::precompute_keys(const Tensor& keys) const {
  ATTN_CHECK(keys.dim() == 3 && keys.size(2) == options_.key_size,
             "AdditiveAttention::precompute_keys: keys must be (B, S, ", options_.key_size,
             "), got ", shape_str(keys.shape()));
  // (B, S, Hk) @ (Hk, A) + (A) -> (B, S, A)
  return linear(keys, key_weight, key_bias);
}

AttentionOutput AdditiveAttention::forward(const Tensor& query, const Tensor& projected_keys,
                                           const Tensor& values, const Tensor& source_mask) const {
  int64_t B = query.size(0);
  ATTN_CHECK(query.dim() == 2 && query.size(1) == options_.query_size,
             "AdditiveAttention: query must be (B, ", options_.query_size, "), got ",
             shape_str(query.shape()));
  ATTN_CHECK(projected_keys.dim() == 3 && projected_keys.size(0) == B &&
                 projected_keys.size(2) == options_.attention_size,
             "AdditiveAttention: projected keys must be (", B, ", S, ", options_.attention_size,
             "), got ", shape_str(projected_keys.shape()));
  int64_t S = projected_keys.size(1);
  ATTN_CHECK(values.dim() == 3 && values.size(0) == B && values.size(1) == S,
             "AdditiveAttention: values must be (", B, ", ", S, ", Hk), got ",
             shape_str(values.shape()));
  ATTN_CHECK(source_mask.shape() == Shape({B, S}), "AdditiveAttention: source_mask must be (",
             B, ", ", S, "), got ", shape_str(source_mask.shape()));

  Tensor projected_query = matmul(query, query_weight.t());                // (B, A)
  // v^T tanh(U h + W s) in one fused op (autograd/ops_attention.cpp); the
  // same as tanh(projected_keys + projected_query.unsqueeze(1)) @ v.
  Tensor scores = additive_attention_scores(projected_keys, projected_query, score_weight);  // (B, S)
  // Padding gets -inf: exp(-inf) = 0, so it takes no weight and no gradient.
  Tensor masked = masked_fill(scores, eq(source_mask, 0.0),
                              -std::numeric_limits<double>::infinity());
  Tensor weights = softmax(masked, -1);                                    // (B, S)
  Tensor context = matmul(weights.unsqueeze(1), values).squeeze(1);        // (B, Hk)
  return {context, weights};
}

}  // namespace attn::nn
