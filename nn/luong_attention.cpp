#include "nn/luong_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops.h"
#include "nn/layers.h"

namespace attn::nn {

void check_luong_score(const std::string& score) {
  ATTN_CHECK(score == "dot" || score == "general" || score == "concat",
             "--attention-type: Luong's scores are dot, general and concat, got '", score,
             "' (mlp is Bahdanau's additive score: use --type bahdanau)");
}

void check_luong_scope(const std::string& scope) {
  ATTN_CHECK(scope == "global" || scope == "local-m" || scope == "local-p",
             "--attention-scope: expected global, local-m or local-p, got '", scope, "'");
}

LuongAttention::LuongAttention(const LuongAttentionOptions& options) : options_(options) {
  check_luong_score(options.score);
  check_luong_scope(options.scope);
  const int64_t H = options.query_size, Hk = options.key_size;
  ATTN_CHECK(H > 0 && Hk > 0, "LuongAttention: sizes must be positive, got query ", H,
             ", key ", Hk);
  ATTN_CHECK(options.score != "dot" || H == Hk, "LuongAttention: the dot score h_t^T hbar_s "
             "needs equal query and key sizes, got ", H, " and ", Hk);
  ATTN_CHECK(options.scope == "global" || options.window >= 1, "LuongAttention: --attention-window "
             "must be at least 1 for local attention, got ", options.window);
  const int64_t A = options.attention_size > 0 ? options.attention_size : H;
  options_.attention_size = A;
  // Uniform(±1/sqrt(fan_in)) as PyTorch's Linear (the paper: uniform(±0.1)).
  auto uniform = [](Shape shape, int64_t fan_in) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return rand(shape) * (2.0 * bound) - bound;
  };
  if (options.score == "general") {
    score_weight = register_parameter("score_weight", uniform({H, Hk}, Hk));
  } else if (options.score == "concat") {
    concat_query = register_parameter("concat_query", uniform({A, H}, H + Hk));
    concat_key = register_parameter("concat_key", uniform({A, Hk}, H + Hk));
    concat_v = register_parameter("concat_v", uniform({A}, A));
  }
  if (options.scope == "local-p") {
    position_weight = register_parameter("position_weight", uniform({A, H}, H));
    position_v = register_parameter("position_v", uniform({A}, A));
  }
}

Tensor LuongAttention::precompute_keys(const Tensor& keys) const {
  ATTN_CHECK(keys.dim() == 3 && keys.size(2) == options_.key_size,
             "LuongAttention::precompute_keys: keys must be (B, S, ", options_.key_size,
             "), got ", shape_str(keys.shape()));
  if (options_.score == "general") return matmul(keys, score_weight.t());  // (B, S, H) = W_a hbar_s
  if (options_.score == "concat") return matmul(keys, concat_key.t());     // (B, S, A)
  return keys;                                                             // dot: (B, S, Hk)
}

Tensor LuongAttention::scores(const Tensor& query, const Tensor& projected_keys) const {
  if (options_.score != "concat") {
    // dot and general are both a batched inner product once W_a hbar_s is
    // precomputed: (B, T, H) @ (B, H, S) -> (B, T, S).
    return matmul(query, projected_keys.transpose(1, 2));
  }
  // concat: v^T tanh(W_q h_t + W_k hbar_s), one fused call per decoder position.
  Tensor projected_query = matmul(query, concat_query.t());  // (B, T, A)
  std::vector<Tensor> rows;
  for (const Tensor& q : unbind(projected_query, 1)) {
    rows.push_back(additive_attention_scores(projected_keys, q, concat_v));  // (B, S)
  }
  return stack(rows, 1);                                                     // (B, T, S)
}

Tensor LuongAttention::predict_positions(const Tensor& query, const Tensor& lengths_float) const {
  // p_t = S * sigmoid(v_p^T tanh(W_p h_t)), eq. (9): a real number in [0, S].
  Tensor hidden = tanh(matmul(query, position_weight.t()));               // (B, T, A)
  Tensor logit = matmul(hidden, position_v.unsqueeze(1)).squeeze(-1);     // (B, T)
  return sigmoid(logit) * lengths_float.unsqueeze(1);                     // (B, T)
}

LuongAttentionOutput LuongAttention::forward(const Tensor& query, const Tensor& projected_keys,
                                             const Tensor& values, const Tensor& source_lengths,
                                             int64_t first_step) const {
  ATTN_CHECK(query.dim() == 3 && query.size(2) == options_.query_size,
             "LuongAttention: query must be (B, T, ", options_.query_size, "), got ",
             shape_str(query.shape()));
  const int64_t B = query.size(0), T = query.size(1);
  ATTN_CHECK(projected_keys.dim() == 3 && projected_keys.size(0) == B,
             "LuongAttention: projected keys must be (", B, ", S, ·), got ",
             shape_str(projected_keys.shape()));
  const int64_t S = projected_keys.size(1);
  ATTN_CHECK(values.dim() == 3 && values.size(0) == B && values.size(1) == S &&
                 values.size(2) == options_.key_size,
             "LuongAttention: values must be (", B, ", ", S, ", ", options_.key_size, "), got ",
             shape_str(values.shape()));
  ATTN_CHECK(source_lengths.shape() == Shape({B}) && source_lengths.dtype() == kInt64,
             "LuongAttention: source_lengths must be int64 (", B, "), got ",
             dtype_name(source_lengths.dtype()), " ", shape_str(source_lengths.shape()));
  std::vector<int64_t> lengths = source_lengths.cpu().to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    ATTN_CHECK(lengths[b] >= 1 && lengths[b] <= S, "LuongAttention: source length ", lengths[b],
               " of sentence ", b, " is outside [1, ", S, "]");
  }

  LuongAttentionOutput out;
  // p_t for the local scopes, as plain numbers for the window (no gradient
  // through the window's edges) and, for local-p, as a tensor in the graph.
  std::vector<double> centre(static_cast<size_t>(B * T), 0.0);
  const bool local = options_.scope != "global";
  if (options_.scope == "local-m") {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) {
        centre[b * T + t] = static_cast<double>(std::min(first_step + t, lengths[b] - 1));
      }
    }
    out.positions = from_vector(centre, {B, T}).to(query.dtype()).to(query.device());
  } else if (options_.scope == "local-p") {
    Tensor lengths_float = source_lengths.to(query.dtype()).to(query.device());
    out.positions = predict_positions(query, lengths_float);               // (B, T)
    centre = out.positions.detach().cpu().to(kFloat64).to_vector<double>();
  }

  // Which positions each query row may see: real words, and within the window.
  const double D = static_cast<double>(options_.window);
  std::vector<int64_t> visible(static_cast<size_t>(B * T * S), 0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t s = 0; s < lengths[b]; ++s) {
        bool inside = !local || std::fabs(static_cast<double>(s) - centre[b * T + t]) <= D;
        visible[(b * T + t) * S + s] = inside ? 1 : 0;
      }
    }
  }
  Tensor hidden = eq(from_vector(visible, {B, T, S}).to(query.device()), 0.0);

  Tensor raw = scores(query, projected_keys);                              // (B, T, S)
  // Hidden positions get -inf: exp(-inf) = 0, no weight and no gradient. A
  // window always holds at least one real word (D >= 1, p_t in [0, S]), so no
  // row is all -inf.
  Tensor weights = softmax(masked_fill(raw, hidden, -std::numeric_limits<double>::infinity()), -1);
  if (options_.scope == "local-p") {
    // eq. (10): favour positions near p_t; sigma = D / 2.
    double sigma = D / 2.0;
    Tensor s = arange(0.0, static_cast<double>(S), 1.0, query.dtype()).to(query.device());
    Tensor distance = s.reshape({1, 1, S}) - out.positions.unsqueeze(-1);  // (B, T, S)
    weights = weights * exp(distance * distance * (-1.0 / (2.0 * sigma * sigma)));
  }
  out.weights = weights;                                                   // (B, T, S)
  out.context = matmul(weights, values);                                   // (B, T, Hk)
  return out;
}

}  // namespace attn::nn
