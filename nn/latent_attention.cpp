#include "nn/latent_attention.h"

#include <cmath>
#include <string>

#include "autograd/ops.h"
#include "nn/packed_weights.h"
#include "kernels/error.h"
#include "tensor/shape.h"

namespace attn::nn {

namespace {

const char* kName = "MultiHeadLatentAttention";

std::string shape_of(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "undefined"; }

std::shared_ptr<Linear> no_bias(int64_t in, int64_t out) {
  return std::make_shared<Linear>(LinearOptions(in, out).set_bias(false));
}

// d_h after checking the options; every error names the values involved.
int64_t checked_head_dim(const LatentAttentionOptions& o) {
  ATTN_CHECK(o.d_model > 0 && o.num_heads > 0 && o.d_model % o.num_heads == 0, kName,
             ": d_model ", o.d_model, " must be a positive multiple of num_heads ", o.num_heads);
  ATTN_CHECK(o.kv_latent > 0, kName, ": kv_latent (d_c, --mla-kv-latent) must be positive, got ",
             o.kv_latent);
  ATTN_CHECK(o.q_latent >= 0, kName, ": q_latent (d_c', --mla-q-latent) must be >= 0 (0 = no "
             "query compression), got ", o.q_latent);
  ATTN_CHECK(o.rope_dim >= 0 && o.rope_dim % 2 == 0, kName, ": rope_dim (d_R, --mla-rope-dim) "
             "must be even (RoPE turns pairs) and >= 0 (0 = d_h / 2), got ", o.rope_dim);
  ATTN_CHECK(o.rope_base > 1.0, kName, ": rope_base must be > 1 (RoFormer: 10000), got ",
             o.rope_base);
  ATTN_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, kName, ": dropout must be in [0, 1), got ",
             o.dropout);
  return o.d_model / o.num_heads;
}

}  // namespace

int64_t MultiHeadLatentAttention::default_rope_dim(int64_t head_dim) {
  const int64_t half = head_dim / 2;
  return half < 2 ? 2 : half - half % 2;
}

MultiHeadLatentAttention::MultiHeadLatentAttention(const LatentAttentionOptions& options)
    : options_(options), head_dim_(checked_head_dim(options)), rope_dim_(0) {
  rope_dim_ = options.rope_dim > 0 ? options.rope_dim : default_rope_dim(head_dim_);
  const int64_t D = options.d_model, H = options.num_heads, dc = options.kv_latent;
  const int64_t dq = options.q_latent > 0 ? options.q_latent : D;  // Dq
  kv_down = register_module("kv_down", no_bias(D, dc));
  k_up = register_module("k_up", no_bias(dc, H * head_dim_));
  v_up = register_module("v_up", no_bias(dc, H * head_dim_));
  k_rope = register_module("k_rope", no_bias(D, rope_dim_));
  if (options.q_latent > 0) q_down = register_module("q_down", no_bias(D, options.q_latent));
  q_up = register_module("q_up", no_bias(dq, H * head_dim_));
  q_rope = register_module("q_rope", no_bias(dq, H * rope_dim_));
  out_proj = register_module("out_proj", no_bias(H * head_dim_, D));
}

// --- the pieces ------------------------------------------------------------------------

Tensor MultiHeadLatentAttention::query_latent(const Tensor& query) const {
  ATTN_CHECK(query.defined() && query.dim() == 3 && query.size(2) == options_.d_model, kName,
             ": query must be (B, T, D) with D = d_model = ", options_.d_model, ", got ",
             shape_of(query));
  return q_down ? q_down->forward(query) : query;  // (B, Tq, Dq): c_Q, eq. 12
}

Tensor MultiHeadLatentAttention::rope_queries(const Tensor& c_q, int64_t position) const {
  const int64_t B = c_q.size(0), Tq = c_q.size(1), H = options_.num_heads;
  Tensor q_r = q_rope->forward(c_q).reshape({B, Tq, H, rope_dim_}).transpose(1, 2);
  return rope(q_r, position, options_.rope_base);                // (B, H, Tq, d_R), eq. 14
}

Tensor MultiHeadLatentAttention::project_latent(const Tensor& x) const {
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options_.d_model, kName,
             ": input must be (B, T, D) with D = d_model = ", options_.d_model, ", got ",
             shape_of(x));
  return kv_down->forward(x).unsqueeze(1);                        // (B, 1, T, d_c), eq. 9
}

Tensor MultiHeadLatentAttention::project_rope_keys(const Tensor& x, int64_t position) const {
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options_.d_model, kName,
             ": input must be (B, T, D) with D = d_model = ", options_.d_model, ", got ",
             shape_of(x));
  // One rotary key per position, shared by all heads: d_R numbers to cache.
  return rope(k_rope->forward(x).unsqueeze(1), position, options_.rope_base);  // (B, 1, T, d_R)
}

void MultiHeadLatentAttention::check_cache(const Tensor& query, const Tensor& latent,
                                           const Tensor& rope_keys) const {
  const int64_t B = query.size(0);
  ATTN_CHECK(latent.defined() && rope_keys.defined() && latent.dim() == 4 &&
                 rope_keys.dim() == 4 && latent.size(0) == B && latent.size(1) == 1 &&
                 latent.size(3) == options_.kv_latent && rope_keys.size(0) == B &&
                 rope_keys.size(1) == 1 && rope_keys.size(2) == latent.size(2) &&
                 rope_keys.size(3) == rope_dim_,
             kName, ": the cache must be latent (", B, ", 1, Tk, ", options_.kv_latent,
             ") and rope keys (", B, ", 1, Tk, ", rope_dim_, "), got latent ", shape_of(latent),
             " and rope keys ", shape_of(rope_keys));
}

// --- explicit attention (training, and the reference) ---------------------------------

MultiheadAttentionOutput MultiHeadLatentAttention::attend(const Tensor& query,
                                                          const Tensor& latent,
                                                          const Tensor& rope_keys,
                                                          const AttentionMask& mask,
                                                          bool need_weights,
                                                          int64_t query_position) const {
  const Tensor c_q = query_latent(query);                                  // (B, Tq, Dq)
  check_cache(query, latent, rope_keys);
  const int64_t B = query.size(0), Tq = query.size(1), Tk = latent.size(2);
  const int64_t H = options_.num_heads, Dh = head_dim_;
  // Queries: [q_C ; q_R] per head (eq. 13, 14, 16).
  Tensor q_c = q_up->forward(c_q).reshape({B, Tq, H, Dh}).transpose(1, 2);  // (B, H, Tq, Dh)
  Tensor q = cat({q_c, rope_queries(c_q, query_position)}, 3);             // (B, H, Tq, Dh + d_R)
  // Keys and values of every head rebuilt from the latents (eq. 10, 11);
  // the one rotary key joins every head's key (eq. 17).
  Tensor c_kv = latent.squeeze(1);                                         // (B, Tk, d_c)
  Tensor k_c = k_up->forward(c_kv).reshape({B, Tk, H, Dh}).transpose(1, 2);  // (B, H, Tk, Dh)
  Tensor v_c = v_up->forward(c_kv).reshape({B, Tk, H, Dh}).transpose(1, 2);  // (B, H, Tk, Dh)
  Tensor k_r = rope_keys.expand({B, H, Tk, rope_dim_});                    // (B, H, Tk, d_R)
  Tensor k = cat({k_c, k_r}, 3);                                           // (B, H, Tk, Dh + d_R)
  // Scores scaled by 1/sqrt(Dh + d_R), the width of q . k (eq. 18): the
  // attention divides by sqrt of the keys' last dim. The values are Dh wide,
  // the keys Dh + d_R, which only the composed path takes.
  const AttentionOptions how = AttentionOptions().set_dropout(options_.dropout)
                                   .set_training(is_training()).set_need_weights(need_weights);
  AttentionResult heads = scaled_dot_product_attention(q, k, v_c, mask, how);  // (B, H, Tq, Dh)
  MultiheadAttentionOutput result;
  result.output = out_proj->forward(heads.output.transpose(1, 2).reshape({B, Tq, H * Dh}));  // eq. 19
  if (need_weights) result.weights = heads.weights;                        // (B, H, Tq, Tk)
  return result;
}

MultiheadAttentionOutput MultiHeadLatentAttention::forward(const Tensor& x,
                                                           const AttentionMask& mask,
                                                           bool need_weights,
                                                           int64_t position) const {
  return attend(x, project_latent(x), project_rope_keys(x, position), mask, need_weights,
                position);                                                 // (B, T, D)
}

// --- absorbed attention (decoding, section 2.1.3) ---------------------------------------

MultiHeadLatentAttention::Absorbed MultiHeadLatentAttention::absorb() const {
  const int64_t H = options_.num_heads, Dh = head_dim_, dc = options_.kv_latent;
  const int64_t D = options_.d_model, dq = q_up->options().in_features;
  // Linear keeps W as (out, in): W^UK is (H Dh, d_c), head h its rows h Dh..
  Tensor w_uk = k_up->weight.reshape({H, Dh, dc});                  // (H, Dh, d_c)
  Tensor w_uq = q_up->weight.reshape({H, Dh, dq});                  // (H, Dh, Dq)
  Tensor w_uv = v_up->weight.reshape({H, Dh, dc});                  // (H, Dh, d_c)
  Absorbed absorbed;
  // Head h: W^UK_h^T W^UQ_h, (d_c, Dh)(Dh, Dq) = (d_c, Dq); rows stacked by head.
  absorbed.query = matmul(w_uk.transpose(1, 2), w_uq).reshape({H * dc, dq});  // (H d_c, Dq)
  // W^O is (D, H Dh), head h its columns h Dh..: (D, H, Dh) -> (H, D, Dh).
  Tensor w_o = out_proj->weight.reshape({D, H, Dh}).transpose(0, 1);          // (H, D, Dh)
  // Head h: W^O_h W^UV_h, (D, Dh)(Dh, d_c) = (D, d_c); columns side by side.
  absorbed.output = matmul(w_o, w_uv).transpose(0, 1).reshape({D, H * dc});   // (D, H d_c)
  return absorbed;
}

Tensor MultiHeadLatentAttention::attend_absorbed(const Tensor& query, const Tensor& latent,
                                                 const Tensor& rope_keys, const Absorbed& absorbed,
                                                 int64_t query_position,
                                                 const AttentionMask& mask) const {
  const Tensor c_q = query_latent(query);                                  // (B, Tq, Dq)
  check_cache(query, latent, rope_keys);
  const int64_t B = query.size(0), Tq = query.size(1);
  const int64_t H = options_.num_heads, dc = options_.kv_latent, D = options_.d_model;
  ATTN_CHECK(absorbed.query.defined() && absorbed.output.defined() &&
                 absorbed.query.shape() == Shape({H * dc, c_q.size(2)}) &&
                 absorbed.output.shape() == Shape({D, H * dc}),
             kName, ": attend_absorbed needs the matrices of absorb(), query (", H * dc, ", ",
             c_q.size(2), ") and output (", D, ", ", H * dc, "), got ",
             shape_of(absorbed.query), " and ", shape_of(absorbed.output));
  ATTN_CHECK(!mask.dense.defined(), kName, ": attend_absorbed takes a mask as key lengths "
             "and/or causal, not a dense tensor ", shape_of(mask.dense));
  // Each head's query moved into latent space: W^UK_h^T q_C,h (d_c numbers).
  Tensor q_lat = linear_in_scope(c_q, absorbed.query)
                     .reshape({B, Tq, H, dc})
                     .transpose(1, 2);  // (B, H, Tq, d_c)
  Tensor q_r = rope_queries(c_q, query_position);                          // (B, H, Tq, d_R)
  // Scores straight against the cache: latent part + rotary part. The one
  // latent and rotary key per position serve every head by broadcasting.
  Tensor scores = matmul(q_lat, latent.transpose(2, 3)) +
                  matmul(q_r, rope_keys.transpose(2, 3));                  // (B, H, Tq, Tk)
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_ + rope_dim_));
  Tensor weights = masked_softmax(scores, mask.key_lengths, mask.causal, scale);  // (B, H, Tq, Tk)
  // The weighted sum of latents per head; W^UV and W^O act after it, folded.
  Tensor mixed = matmul(weights, latent);                                  // (B, H, Tq, d_c)
  return linear_in_scope(mixed.transpose(1, 2).reshape({B, Tq, H * dc}),
                         absorbed.output);  // (B, Tq, D)
}

}  // namespace attn::nn
