#include "nn/multihead_attention.h"

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/packed_weights.h"
#include "nn/scaled_dot_product_attention.h"
#include "kernels/error.h"
#include "tensor/shape.h"

namespace attn::nn {

namespace {

const char* kName = "MultiheadAttention";

// Dh, after checking the options (the errors name both numbers involved).
int64_t checked_head_dim(const MultiheadAttentionOptions& o) {
  ATTN_CHECK(o.d_model > 0 && o.num_heads > 0, kName, ": d_model and num_heads must be positive, "
             "got d_model ", o.d_model, " and num_heads ", o.num_heads);
  ATTN_CHECK(o.d_model % o.num_heads == 0, kName, ": d_model ", o.d_model,
             " must be divisible by num_heads ", o.num_heads);
  const int64_t kv = o.num_kv_heads == 0 ? o.num_heads : o.num_kv_heads;
  ATTN_CHECK(kv > 0 && o.num_heads % kv == 0, kName, ": num_heads ", o.num_heads,
             " must be divisible by num_kv_heads ", o.num_kv_heads);
  ATTN_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, kName, ": dropout must be in [0, 1), got ",
             o.dropout);
  ATTN_CHECK(!o.rope || (o.d_model / o.num_heads) % 2 == 0, kName, ": rotary positions turn "
             "pairs of dimensions, so the head size d_model / num_heads = ", o.d_model, " / ",
             o.num_heads, " = ", o.d_model / o.num_heads, " must be even");
  ATTN_CHECK(!o.rope || o.rope_base > 1.0, kName, ": rope_base must be > 1 (RoFormer: 10000), got ",
             o.rope_base);
  const int64_t Dh = o.d_model / o.num_heads;
  ATTN_CHECK(o.kv_rank >= 0 && o.kv_rank <= Dh, kName, ": kv_rank (Low-Rank KV) must be in "
             "0..head size ", Dh, " (0 = off), got ", o.kv_rank);
  ATTN_CHECK(o.kv_rank == 0 || kv == o.num_heads, kName, ": kv_rank ", o.kv_rank, " (Low-Rank "
             "KV) shares one key/value projection itself; it needs num_kv_heads 0 or num_heads = ",
             o.num_heads, ", got ", o.num_kv_heads);
  ATTN_CHECK(o.kv_rank == 0 || !o.rope, kName, ": kv_rank ", o.kv_rank, " (Low-Rank KV) does "
             "not combine with rope: the cache keeps the shared key and latents, which cannot be "
             "turned before the heads are summed");
  return Dh;
}

}  // namespace

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options)
    : options_(options),
      num_kv_heads_(options.num_kv_heads == 0 ? options.num_heads : options.num_kv_heads),
      head_dim_(checked_head_dim(options)) {
  const int64_t D = options.d_model, r = options.kv_rank;
  // LRKV: k_proj and v_proj are the one shared projection, D -> Dh.
  const int64_t kv_size = r > 0 ? head_dim_ : num_kv_heads_ * head_dim_;
  q_proj = register_module("q_proj", std::make_shared<Linear>(
                                         LinearOptions(D, D).set_bias(options.bias)));
  k_proj = register_module("k_proj", std::make_shared<Linear>(
                                         LinearOptions(D, kv_size).set_bias(options.bias)));
  v_proj = register_module("v_proj", std::make_shared<Linear>(
                                         LinearOptions(D, kv_size).set_bias(options.bias)));
  out_proj = register_module("out_proj", std::make_shared<Linear>(
                                             LinearOptions(D, D).set_bias(options.bias)));
  if (r > 0) {
    const int64_t H = options.num_heads;
    k_down = register_module("k_down", std::make_shared<Linear>(
                                           LinearOptions(D, H * r).set_bias(options.bias)));
    v_down = register_module("v_down", std::make_shared<Linear>(
                                           LinearOptions(D, H * r).set_bias(options.bias)));
    // B_h ~ U(+-1/sqrt(r)), as a Linear r -> Dh would be: the residual
    // latent_h B_h then starts at the size of the shared part.
    const double bound = 1.0 / std::sqrt(static_cast<double>(r));
    k_up = register_parameter("k_up", init::uniform({H, r, head_dim_}, -bound, bound));
    v_up = register_parameter("v_up", init::uniform({H, r, head_dim_}, -bound, bound));
  }
}

Tensor MultiheadAttention::split_heads(const Linear& proj, const Tensor& x, int64_t heads,
                                       const char* what) const {
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options_.d_model, kName, ": ", what,
             " must be (B, T, D) with D = d_model = ", options_.d_model, ", got ",
             x.defined() ? shape_str(x.shape()) : "undefined");
  const int64_t B = x.size(0), T = x.size(1);
  Tensor projected = proj.forward(x);                           // (B, T, heads*Dh)
  // The last dim holds the heads side by side: head h is columns
  // [h*Dh, (h+1)*Dh), the layout of PyTorch's in_proj_weight rows.
  return projected.reshape({B, T, heads, head_dim_}).transpose(1, 2);  // (B, heads, T, Dh)
}

Tensor MultiheadAttention::project_low_rank(const Linear& shared, const Linear& down,
                                            const Tensor& x, const char* what) const {
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options_.d_model, kName, ": ", what,
             " must be (B, T, D) with D = d_model = ", options_.d_model, ", got ",
             x.defined() ? shape_str(x.shape()) : "undefined");
  // [X W_shared | X A_0 | ... | X A_{H-1}]: what the cache keeps per position.
  return cat({shared.forward(x), down.forward(x)}, 2).unsqueeze(1);  // (B, 1, T, Dh + H r)
}

Tensor MultiheadAttention::expand_low_rank(const Tensor& compact, const Tensor& up) const {
  const int64_t H = options_.num_heads, r = options_.kv_rank, Dh = head_dim_;
  ATTN_CHECK(r > 0, kName, ": expand_low_rank needs kv_rank > 0");
  ATTN_CHECK(compact.defined() && compact.dim() == 4 && compact.size(1) == 1 &&
                 compact.size(3) == Dh + H * r,
             kName, ": Low-Rank KV keys and values must be (B, 1, T, Dh + H r) = (B, 1, T, ",
             Dh + H * r, "), got ", compact.defined() ? shape_str(compact.shape()) : "undefined");
  const int64_t B = compact.size(0), T = compact.size(2);
  Tensor shared = compact.narrow(3, 0, Dh);                              // (B, 1, T, Dh)
  Tensor latent = compact.narrow(3, Dh, H * r).reshape({B, T, H, r}).transpose(1, 2);  // (B, H, T, r)
  // K_h = X W_shared + (X A_h) B_h: one batched product over the heads,
  // (B, H, T, r) x (H, r, Dh), then the shared part added to every head.
  return matmul(latent, up) + shared;                                    // (B, H, T, Dh)
}

Tensor MultiheadAttention::project_keys(const Tensor& x, int64_t position) const {
  if (options_.kv_rank > 0) return project_low_rank(*k_proj, *k_down, x, "key");  // (B, 1, T, W)
  return rotate(split_heads(*k_proj, x, num_kv_heads_, "key"), position);  // (B, Hkv, T, Dh)
}

Tensor MultiheadAttention::rotate(const Tensor& heads, int64_t position) const {
  if (!options_.rope) return heads;
  return rope(heads, position, options_.rope_base);  // (B, heads, T, Dh), turned
}

Tensor MultiheadAttention::project_values(const Tensor& x) const {
  if (options_.kv_rank > 0) return project_low_rank(*v_proj, *v_down, x, "value");  // (B, 1, T, W)
  return split_heads(*v_proj, x, num_kv_heads_, "value");  // (B, Hkv, T, Dh)
}

MultiheadAttention::StackedQKV MultiheadAttention::stacked_qkv() const {
  StackedQKV stacked;
  if (options_.kv_rank > 0) {  // LRKV: k and v come out compact, [shared | latents]
    stacked.weight = cat({q_proj->weight, k_proj->weight, k_down->weight, v_proj->weight,
                          v_down->weight}, 0);                        // (D + 2 (Dh + H r), D)
    if (options_.bias) {
      stacked.bias = cat({q_proj->bias, k_proj->bias, k_down->bias, v_proj->bias, v_down->bias}, 0);
    }
    return stacked;
  }
  stacked.weight = cat({q_proj->weight, k_proj->weight, v_proj->weight}, 0);  // (D + 2 Hkv Dh, D)
  if (options_.bias) stacked.bias = cat({q_proj->bias, k_proj->bias, v_proj->bias}, 0);
  return stacked;
}

MultiheadAttention::ProjectedQKV MultiheadAttention::project_qkv(const Tensor& x,
                                                                 const StackedQKV& stacked) const {
  const int64_t H = options_.num_heads, Hkv = num_kv_heads_, Dh = head_dim_;
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options_.d_model, kName,
             ": input must be (B, T, D) with D = d_model = ", options_.d_model, ", got ",
             x.defined() ? shape_str(x.shape()) : "undefined");
  const int64_t kv_rows = kv_heads() * kv_width();  // Hkv Dh; LRKV: Dh + H r
  ATTN_CHECK(stacked.weight.defined() && stacked.weight.shape() == Shape({H * Dh + 2 * kv_rows,
                                                                          options_.d_model}),
             kName, ": project_qkv needs the weight of stacked_qkv()");
  const int64_t B = x.size(0), T = x.size(1);
  if (options_.kv_rank > 0) {
    // LRKV: the q heads as below; k and v stay compact, (B, 1, T, Dh + H r).
    Tensor all = linear_in_scope(x, stacked.weight, stacked.bias);  // (B, T, D + 2 W)
    ProjectedQKV out;
    out.q = all.narrow(2, 0, H * Dh).reshape({B, T, H, Dh}).transpose(1, 2);  // (B, H, T, Dh)
    out.k = all.narrow(2, H * Dh, kv_rows).unsqueeze(1);         // (B, 1, T, W)
    out.v = all.narrow(2, H * Dh + kv_rows, kv_rows).unsqueeze(1);
    return out;
  }
  // Every head of q, k and v is Dh columns wide, so the product's last dim
  // splits into H + 2 Hkv heads without a copy; each part is a view.
  Tensor heads = linear_in_scope(x, stacked.weight, stacked.bias)
                     .reshape({B, T, H + 2 * Hkv, Dh});           // (B, T, H + 2 Hkv, Dh)
  ProjectedQKV out;
  out.q = heads.narrow(2, 0, H).transpose(1, 2);                  // (B, H, T, Dh)
  out.k = heads.narrow(2, H, Hkv).transpose(1, 2);                // (B, Hkv, T, Dh)
  out.v = heads.narrow(2, H + Hkv, Hkv).transpose(1, 2);          // (B, Hkv, T, Dh)
  return out;
}

MultiheadAttentionOutput MultiheadAttention::attend(const Tensor& query, const Tensor& keys,
                                                    const Tensor& values,
                                                    const AttentionMask& mask, bool need_weights,
                                                    int64_t query_position) const {
  Tensor q = split_heads(*q_proj, query, options_.num_heads, "query");  // (B, H, Tq, Dh)
  return attend_heads(rotate(q, query_position), keys, values, mask, need_weights);
}

MultiheadAttentionOutput MultiheadAttention::attend_heads(const Tensor& q,
                                                          const Tensor& compact_keys,
                                                          const Tensor& compact_values,
                                                          const AttentionMask& mask,
                                                          bool need_weights) const {
  // LRKV: the H keys and values are rebuilt from the compact cache here, at
  // every call: the cache stays small, and attention proper is MHA's.
  const bool low_rank = options_.kv_rank > 0;
  const Tensor keys = low_rank ? expand_low_rank(compact_keys, k_up) : compact_keys;
  const Tensor values = low_rank ? expand_low_rank(compact_values, v_up) : compact_values;
  const int64_t H = options_.num_heads, Hkv = num_kv_heads_, Dh = head_dim_;
  ATTN_CHECK(keys.defined() && values.defined() && keys.dim() == 4 &&
                 keys.shape() == values.shape() && keys.size(1) == Hkv && keys.size(3) == Dh,
             kName, ": projected keys and values must both be (B, Hkv, Tk, Dh) = (B, ", Hkv,
             ", Tk, ", Dh, "), got keys ", keys.defined() ? shape_str(keys.shape()) : "undefined",
             " and values ", values.defined() ? shape_str(values.shape()) : "undefined");
  ATTN_CHECK(q.defined() && q.dim() == 4 && q.size(1) == H && q.size(3) == Dh, kName,
             ": projected queries must be (B, H, Tq, Dh) = (B, ", H, ", Tq, ", Dh, "), got ",
             q.defined() ? shape_str(q.shape()) : "undefined");
  const int64_t B = q.size(0), Tq = q.size(2);
  ATTN_CHECK(keys.size(0) == B, kName, ": queries ", shape_str(q.shape()), " and keys ",
             shape_str(keys.shape()), " have different batch sizes");

  const AttentionOptions how = AttentionOptions().set_dropout(options_.dropout)
                                   .set_training(is_training()).set_need_weights(need_weights)
                                   .set_fused(options_.fused);
  // GQA/MQA: query head h uses key/value head h / (H / Hkv). Every path
  // below reads the Hkv heads as they are, each once for its group of
  // H / Hkv query heads (nn/scaled_dot_product_attention.h, "grouped
  // heads"): the fused kernels when nothing needs the weights and the mask
  // allows (inference_attention_applies and fused_attention_applies say
  // exactly when), else the composed path's grouped GEMMs.
  AttentionResult heads =
      scaled_dot_product_attention(q, keys, values, mask, how);  // (B, H, Tq, Dh)
  // Concat(head_1, ..., head_H): (B, H, Tq, Dh) -> (B, Tq, H*Dh), then W^O.
  // (The inference kernel writes its heads (B, Tq, H, Dh) already: no copy.)
  Tensor concat = heads.output.transpose(1, 2).reshape({B, Tq, H * Dh});  // (B, Tq, D)
  MultiheadAttentionOutput result;
  result.output = out_proj->forward(concat);                    // (B, Tq, D)
  result.weights = heads.weights;                   // (B, H, Tq, Tk), or undefined if fused
  return result;
}

MultiheadAttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                     const Tensor& value,
                                                     const AttentionMask& mask,
                                                     bool need_weights) const {
  ATTN_CHECK(key.defined() && value.defined() && key.dim() == 3 && value.dim() == 3 &&
                 key.size(1) == value.size(1),
             kName, ": key and value must be (B, Tk, D) with the same Tk, got key ",
             key.defined() ? shape_str(key.shape()) : "undefined", " and value ",
             value.defined() ? shape_str(value.shape()) : "undefined");
  return attend(query, project_keys(key), project_values(value), mask, need_weights);
}

Tensor expand_kv_heads(const Tensor& kv, int64_t num_heads) {
  ATTN_CHECK(kv.defined() && kv.dim() == 4 && kv.size(1) > 0 && num_heads > 0 &&
                 num_heads % kv.size(1) == 0,
             "expand_kv_heads: kv must be (B, Hkv, T, Dh) with Hkv dividing num_heads = ",
             num_heads, ", got ", kv.defined() ? shape_str(kv.shape()) : "undefined");
  const int64_t B = kv.size(0), Hkv = kv.size(1), T = kv.size(2), Dh = kv.size(3);
  const int64_t group = num_heads / Hkv;
  return expand(kv.reshape({B, Hkv, 1, T, Dh}), {B, Hkv, group, T, Dh})  // a stride-0 view
      .reshape({B, num_heads, T, Dh});                                  // (B, H, T, Dh), a copy
}

}  // namespace attn::nn
