#include "nn/transformer_layers.h"

#include <algorithm>
#include <string>

#include "autograd/ops.h"
#include "kernels/error.h"
#include "nn/paged_kv_cache.h"
#include "tensor/shape.h"

namespace attn::nn {

namespace {

std::string shape_of(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "undefined"; }

void check_layer_options(const char* op, const TransformerLayerOptions& o) {
  ATTN_CHECK(o.d_model > 0 && o.d_ff > 0, op, ": d_model and d_ff must be positive, got d_model ",
             o.d_model, " and d_ff ", o.d_ff);
  ATTN_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, op, ": dropout must be in [0, 1), got ",
             o.dropout);
  // num_heads, num_kv_heads and attention_dropout are checked by MultiheadAttention.
}

// self_attention: whether these are the options of a self-attention, the
// only kind that gets rotary positions (cross-attention's queries and keys
// are positions of different sentences).
MultiheadAttentionOptions attention_options(const TransformerLayerOptions& o,
                                            bool self_attention) {
  return MultiheadAttentionOptions(o.d_model, o.num_heads)
      .set_num_kv_heads(o.num_kv_heads)
      .set_dropout(o.attention_dropout)
      .set_fused(o.fused_attention)
      .set_rope(o.rope && self_attention)
      .set_kv_rank(o.kv_rank);
}

// The self-attention of a layer with MLA (mla_kv_latent > 0).
LatentAttentionOptions latent_options(const TransformerLayerOptions& o) {
  return LatentAttentionOptions(o.d_model, o.num_heads, o.mla_kv_latent)
      .set_q_latent(o.mla_q_latent)
      .set_rope_dim(o.mla_rope_dim)
      .set_dropout(o.attention_dropout);
}

// x: (B, T, D) with B, T given when they are not -1; names the op and the shape.
void check_sequence(const char* op, const char* what, const Tensor& x, int64_t d_model,
                    int64_t batch = -1, int64_t length = -1) {
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == d_model &&
                 (batch < 0 || x.size(0) == batch) && (length < 0 || x.size(1) == length),
             op, ": ", what, " must be (", batch < 0 ? std::string("B") : std::to_string(batch),
             ", ", length < 0 ? std::string("T") : std::to_string(length), ", ", d_model,
             "), got ", shape_of(x));
  ATTN_CHECK(is_floating(x.dtype()), op, ": ", what, " must be floating, got ",
             dtype_name(x.dtype()), " ", shape_of(x));
}

// The two halves of a residual sub-layer (section 3.1), for either placement
// of the LayerNorm:
//   sublayer_input:  what the sub-layer reads: LayerNorm(x) for pre-LN, x for post-LN;
//   residual:        x + Dropout(y), then LayerNorm for post-LN.
// x, y: (..., D) -> (..., D)
Tensor sublayer_input(const Tensor& x, const LayerNorm& norm, bool pre_ln) {
  return pre_ln ? norm.forward(x) : x;
}

Tensor residual(const Tensor& x, const Tensor& y, const LayerNorm& norm, const Dropout& dropout,
                bool pre_ln) {
  Tensor sum = x + dropout.forward(y);  // dropout on the sub-layer's output (5.4)
  return pre_ln ? sum : norm.forward(sum);
}

// Writes position t = cache.self_keys.size(2) (0 when undefined) of the self
// cache in place: key, value (B, Hkv, 1, Dh) -> self_keys, self_values
// (B, Hkv, t+1, Dh), views of the buffers. A missing or full buffer, or one
// that no longer matches self_keys (a caller replaced the views), is
// replaced by one of twice the capacity holding the t cached positions.
void append_in_place(TransformerDecoderLayerCache& cache, const Tensor& key, const Tensor& value) {
  const int64_t t = cache.self_keys.defined() ? cache.self_keys.size(2) : 0;
  // Keys and values may differ in width (MLA: k_R d_R, c_KV d_c).
  const int64_t B = key.size(0), Hkv = key.size(1), Dh = key.size(3), Dv = value.size(3);
  const bool fits = cache.key_buffer.defined() && cache.value_buffer.defined() &&
                    cache.key_buffer.size(0) == B && cache.key_buffer.size(2) > t &&
                    (t == 0 || (cache.self_keys.shares_storage_with(cache.key_buffer) &&
                                cache.self_values.shares_storage_with(cache.value_buffer)));
  if (!fits) {
    int64_t capacity = TransformerDecoderLayerCache::kFirstCapacity;
    if (cache.key_buffer.defined()) capacity = std::max(capacity, 2 * cache.key_buffer.size(2));
    while (capacity <= t) capacity *= 2;
    Tensor keys = Tensor::empty({B, Hkv, capacity, Dh}, key.options());     // (B, Hkv, C, Dh)
    Tensor values = Tensor::empty({B, Hkv, capacity, Dv}, value.options());
    if (t > 0) {
      keys.narrow(2, 0, t).copy_(cache.self_keys);
      values.narrow(2, 0, t).copy_(cache.self_values);
    }
    cache.key_buffer = keys;
    cache.value_buffer = values;
  }
  cache.key_buffer.narrow(2, t, 1).copy_(key);
  cache.value_buffer.narrow(2, t, 1).copy_(value);
  cache.self_keys = cache.key_buffer.narrow(2, 0, t + 1);                      // (B, Hkv, t+1, Dh)
  cache.self_values = cache.value_buffer.narrow(2, 0, t + 1);
}

}  // namespace

// --- PositionwiseFeedForward ---------------------------------------------------------

PositionwiseFeedForward::PositionwiseFeedForward(int64_t d_model, int64_t d_ff, double dropout)
    : d_model_(d_model) {
  ATTN_CHECK(d_model > 0 && d_ff > 0, "PositionwiseFeedForward: d_model and d_ff must be "
             "positive, got ", d_model, " and ", d_ff);
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, d_ff));
  linear2 = register_module("linear2", std::make_shared<Linear>(d_ff, d_model));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(dropout));
}

Tensor PositionwiseFeedForward::forward(const Tensor& x) const {
  ATTN_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == d_model_,
             "PositionwiseFeedForward: input must be (..., ", d_model_, "), got ", shape_of(x));
  Tensor hidden = linear1->forward(x);                 // (..., F): x W_1 + b_1
  // max(0, .): in place when no graph records it (inference), which saves a
  // buffer of (..., F), the largest of the layer.
  if (hidden.requires_grad()) {
    hidden = relu(hidden);
  } else {
    relu_(hidden);
  }
  return linear2->forward(dropout_->forward(hidden));  // (..., D): ... W_2 + b_2   (eq. 2)
}

// --- TransformerEncoderLayer ---------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerOptions& options)
    : options_(options) {
  check_layer_options("TransformerEncoderLayer", options);
  const int64_t D = options.d_model;
  if (options.mla_kv_latent > 0) {
    latent_self_attention = register_module(
        "self_attention", std::make_shared<MultiHeadLatentAttention>(latent_options(options)));
  } else {
    self_attention = register_module(
        "self_attention", std::make_shared<MultiheadAttention>(attention_options(options, true)));
  }
  feed_forward = register_module("feed_forward", std::make_shared<PositionwiseFeedForward>(
                                                     D, options.d_ff, options.dropout));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(
                                       LayerNormOptions(D).set_eps(options.layer_norm_eps)));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(
                                       LayerNormOptions(D).set_eps(options.layer_norm_eps)));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout));
}

Tensor TransformerEncoderLayer::forward(const Tensor& x, const AttentionMask& mask) const {
  const bool pre = options_.pre_ln;
  check_sequence("TransformerEncoderLayer", "input", x, options_.d_model);
  // Sub-layer 1: every position attends to every real position of the same
  // sentence (section 3.2.3, "encoder self-attention").
  Tensor a = sublayer_input(x, *norm1, pre);                                   // (B, S, D)
  Tensor attended = latent_self_attention
                        ? latent_self_attention->forward(a, mask).output
                        : self_attention->forward(a, a, a, mask, /*need_weights=*/false).output;
  Tensor h = residual(x, attended, *norm1, *dropout_, pre);                    // (B, S, D)
  // Sub-layer 2: the FFN, position by position (section 3.3).
  a = sublayer_input(h, *norm2, pre);
  return residual(h, feed_forward->forward(a), *norm2, *dropout_, pre);      // (B, S, D)
}

// --- SharedKVAttention ----------------------------------------------------------------

SharedKVAttention::SharedKVAttention(const MultiheadAttentionOptions& options)
    : options_(options),
      num_kv_heads_(options.num_kv_heads == 0 ? options.num_heads : options.num_kv_heads),
      head_dim_(0) {
  const char* op = "SharedKVAttention";
  ATTN_CHECK(options.d_model > 0 && options.num_heads > 0 &&
                 options.d_model % options.num_heads == 0,
             op, ": d_model ", options.d_model, " must be a positive multiple of num_heads ",
             options.num_heads);
  ATTN_CHECK(num_kv_heads_ > 0 && options.num_heads % num_kv_heads_ == 0, op, ": num_heads ",
             options.num_heads, " must be divisible by num_kv_heads ", options.num_kv_heads);
  head_dim_ = options.d_model / options.num_heads;
  const int64_t D = options.d_model;
  q_proj = register_module("q_proj", std::make_shared<Linear>(
                                         LinearOptions(D, D).set_bias(options.bias)));
  out_proj = register_module("out_proj", std::make_shared<Linear>(
                                             LinearOptions(D, D).set_bias(options.bias)));
}

MultiheadAttentionOutput SharedKVAttention::attend(const Tensor& query, const Tensor& keys,
                                                   const Tensor& values, const AttentionMask& mask,
                                                   bool need_weights,
                                                   int64_t query_position) const {
  const char* op = "SharedKVAttention";
  const int64_t D = options_.d_model, H = options_.num_heads, Hkv = num_kv_heads_, Dh = head_dim_;
  check_sequence(op, "query", query, D);
  const int64_t B = query.size(0), Tq = query.size(1);
  ATTN_CHECK(keys.defined() && values.defined() && keys.dim() == 4 &&
                 keys.shape() == values.shape() && keys.size(0) == B && keys.size(1) == Hkv &&
                 keys.size(3) == Dh,
             op, ": the shared keys and values must both be (", B, ", ", Hkv, ", Tk, ", Dh,
             "), got keys ", shape_of(keys), " and values ", shape_of(values));
  // As MultiheadAttention::attend: project, split into heads, turn (rope).
  Tensor q = q_proj->forward(query).reshape({B, Tq, H, Dh}).transpose(1, 2);  // (B, H, Tq, Dh)
  if (options_.rope) q = rope(q, query_position, options_.rope_base);
  const AttentionOptions how = AttentionOptions().set_dropout(options_.dropout)
                                   .set_training(is_training()).set_need_weights(need_weights)
                                   .set_fused(options_.fused);
  AttentionResult heads = scaled_dot_product_attention(q, keys, values, mask, how);  // (B, H, Tq, Dh)
  Tensor concat = heads.output.transpose(1, 2).reshape({B, Tq, H * Dh});            // (B, Tq, D)
  MultiheadAttentionOutput result;
  result.output = out_proj->forward(concat);                                        // (B, Tq, D)
  result.weights = heads.weights;                  // (B, H, Tq, Tk), or undefined if fused
  return result;
}

// --- TransformerDecoderLayer ---------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerLayerOptions& options)
    : options_(options) {
  check_layer_options("TransformerDecoderLayer", options);
  const int64_t D = options.d_model;
  if (options.share_kv) {
    // Cross-Layer Attention: queries and outputs of its own, keys and values
    // of the group's first layer; registered under the full layer's names.
    shared_self_attention = register_module(
        "self_attention", std::make_shared<SharedKVAttention>(attention_options(options, true)));
    shared_cross_attention = register_module(
        "cross_attention", std::make_shared<SharedKVAttention>(attention_options(options, false)));
  } else {
    if (options.mla_kv_latent > 0) {
      latent_self_attention = register_module(
          "self_attention", std::make_shared<MultiHeadLatentAttention>(latent_options(options)));
    } else {
      self_attention = register_module(
          "self_attention", std::make_shared<MultiheadAttention>(attention_options(options, true)));
    }
    cross_attention = register_module(
        "cross_attention", std::make_shared<MultiheadAttention>(attention_options(options, false)));
  }
  feed_forward = register_module("feed_forward", std::make_shared<PositionwiseFeedForward>(
                                                     D, options.d_ff, options.dropout));
  auto make_norm = [&](const char* name) {
    return register_module(name, std::make_shared<LayerNorm>(
                                     LayerNormOptions(D).set_eps(options.layer_norm_eps)));
  };
  norm1 = make_norm("norm1");
  norm2 = make_norm("norm2");
  norm3 = make_norm("norm3");
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout));
}

TransformerDecoderLayerOutput TransformerDecoderLayer::cross_and_feed_forward(
    const Tensor& h, const Tensor& cross_keys, const Tensor& cross_values,
    const AttentionMask& memory_mask, bool need_weights) const {
  const bool pre = options_.pre_ln;
  // Sub-layer 2: queries from the decoder, keys and values from the encoder
  // (section 3.2.3, "encoder-decoder attention"); padding is hidden.
  Tensor a = sublayer_input(h, *norm2, pre);                                   // (B, T, D)
  MultiheadAttentionOutput cross =
      options_.share_kv
          ? shared_cross_attention->attend(a, cross_keys, cross_values, memory_mask, need_weights)
          : cross_attention->attend(a, cross_keys, cross_values, memory_mask, need_weights);
  Tensor h2 = residual(h, cross.output, *norm2, *dropout_, pre);               // (B, T, D)
  // Sub-layer 3: the FFN.
  a = sublayer_input(h2, *norm3, pre);
  TransformerDecoderLayerOutput result;
  result.output = residual(h2, feed_forward->forward(a), *norm3, *dropout_, pre);  // (B, T, D)
  result.cross_weights = cross.weights;                      // (B, H, T, S), or undefined
  result.cross_keys = cross_keys;                            // (B, Hkv, S, Dh)
  result.cross_values = cross_values;
  return result;
}

TransformerDecoderLayerOutput TransformerDecoderLayer::forward(const Tensor& x,
                                                               const Tensor& memory,
                                                               const AttentionMask& self_mask,
                                                               const AttentionMask& memory_mask,
                                                               bool need_weights,
                                                               const TransformerDecoderLayerOutput* shared) const {
  const bool pre = options_.pre_ln;
  const int64_t D = options_.d_model;
  check_sequence("TransformerDecoderLayer", "input", x, D);
  check_sequence("TransformerDecoderLayer", "memory", memory, D, x.size(0));
  ATTN_CHECK(!options_.share_kv || (shared != nullptr && shared->self_keys.defined() &&
                                    shared->cross_keys.defined()),
             "TransformerDecoderLayer: a layer with share_kv (Cross-Layer Attention) needs the "
             "keys and values of its group's first layer (forward's `shared`)");
  // Sub-layer 1: masked self-attention; the causal mask keeps position i
  // from seeing i+1.. (section 3.2.3), which is what makes step() possible.
  // With share_kv the keys at positions 0..i are the group's first layer's,
  // made from its input at 0..i: the mask hides the future just the same.
  Tensor a = sublayer_input(x, *norm1, pre);                                   // (B, T, D)
  Tensor self_keys, self_values, cross_keys, cross_values;
  Tensor attended;
  if (options_.share_kv) {
    self_keys = shared->self_keys;                                             // (B, Hkv, T, Dh)
    self_values = shared->self_values;
    cross_keys = shared->cross_keys;                                           // (B, Hkv, S, Dh)
    cross_values = shared->cross_values;
    attended = shared_self_attention->attend(a, self_keys, self_values, self_mask,
                                             /*need_weights=*/false).output;
  } else if (latent_self_attention) {
    // MLA: what its cache would hold, k_R (B, 1, T, d_R) and c_KV (B, 1, T, d_c).
    self_keys = latent_self_attention->project_rope_keys(a);
    self_values = latent_self_attention->project_latent(a);
    cross_keys = cross_attention->project_keys(memory);                        // (B, Hkv, S, Dh)
    cross_values = cross_attention->project_values(memory);
    attended = latent_self_attention->attend(a, self_values, self_keys, self_mask,
                                             /*need_weights=*/false, 0).output;
  } else {
    // = self_attention->forward(a, a, a, ...), with the keys and values kept.
    self_keys = self_attention->project_keys(a);                               // (B, Hkv, T, Dh)
    self_values = self_attention->project_values(a);
    cross_keys = cross_attention->project_keys(memory);                        // (B, Hkv, S, Dh)
    cross_values = cross_attention->project_values(memory);
    attended = self_attention->attend(a, self_keys, self_values, self_mask,
                                      /*need_weights=*/false).output;
  }
  Tensor h = residual(x, attended, *norm1, *dropout_, pre);                    // (B, T, D)
  TransformerDecoderLayerOutput result =
      cross_and_feed_forward(h, cross_keys, cross_values, memory_mask, need_weights);
  result.self_keys = self_keys;
  result.self_values = self_values;
  return result;
}

TransformerDecoderLayerCache TransformerDecoderLayer::start(const Tensor& memory) const {
  check_sequence("TransformerDecoderLayer::start", "memory", memory, options_.d_model);
  TransformerDecoderLayerCache cache;
  if (options_.share_kv) return cache;  // CLA: the group's first layer caches for it
  // Contiguous, so that each head's S keys lie together for every step's reads.
  cache.cross_keys = cross_attention->project_keys(memory).contiguous();      // (B, Hkv, S, Dh)
  cache.cross_values = cross_attention->project_values(memory).contiguous();  // (B, Hkv, S, Dh)
  // The weights as they are for this decode: stacked, or (MLA) folded.
  if (latent_self_attention) {
    cache.absorbed = latent_self_attention->absorb();
  } else {
    cache.self_qkv = self_attention->stacked_qkv();
  }
  return cache;
}

TransformerDecoderLayerOutput TransformerDecoderLayer::step(const Tensor& x,
                                                            TransformerDecoderLayerCache& cache,
                                                            const AttentionMask& memory_mask,
                                                            bool need_weights,
                                                            const TransformerDecoderLayerCache* shared) const {
  const bool pre = options_.pre_ln;
  const char* op = "TransformerDecoderLayer::step";
  if (options_.share_kv) return step_shared(x, shared, memory_mask, need_weights);
  if (latent_self_attention) return step_latent(x, cache, memory_mask, need_weights);
  ATTN_CHECK(cache.cross_keys.defined() && cache.cross_values.defined(), op,
             ": the cache has no cross-attention keys; make it with start(memory)");
  const int64_t B = cache.cross_keys.size(0);
  check_sequence(op, "input", x, options_.d_model, B, 1);
  ATTN_CHECK(cache.self_keys.defined() == cache.self_values.defined(), op,
             ": cached self keys ", shape_of(cache.self_keys), " and values ",
             shape_of(cache.self_values), " must both be set or both be empty");
  Tensor a = sublayer_input(x, *norm1, pre);                                   // (B, 1, D)
  // The new position's key and value join the cache; those of earlier
  // positions are unchanged, because the causal mask kept them from seeing
  // this one. The query may see every cached position, so no mask is needed,
  // and no weights: this attention runs fused.
  // q, k and v of the new position from one product (start() stacked the
  // three weights): one GEMM instead of three, and views instead of copies.
  if (!cache.self_qkv.weight.defined()) cache.self_qkv = self_attention->stacked_qkv();
  const MultiheadAttention::ProjectedQKV qkv = self_attention->project_qkv(a, cache.self_qkv);
  if (cache.self_keys.defined()) {
    const int64_t Hkv = qkv.k.size(1), Dh = qkv.k.size(3);
    ATTN_CHECK(cache.self_keys.dim() == 4 && cache.self_keys.size(0) == B &&
                   cache.self_keys.size(1) == Hkv && cache.self_keys.size(3) == Dh,
               op, ": cached self keys must be (", B, ", ", Hkv, ", t, ", Dh, "), got ",
               shape_of(cache.self_keys));
  }
  // With rotary positions, the new query and key are turned at this step's
  // position t (the cache's length), the key before it joins the cache, as
  // forward() turns position t of a whole target; without, rotate() is the
  // identity.
  const int64_t t = cache.paged ? cache.paged->length() - 1
                  : cache.self_keys.defined() ? cache.self_keys.size(2) : 0;
  const Tensor query = self_attention->rotate(qkv.q, t);                       // (B, H, 1, Dh)
  const Tensor key = self_attention->rotate(qkv.k, t);                         // (B, Hkv, 1, Dh)
  const Tensor& value = qkv.v;                                                 // (B, Hkv, 1, Dh)
  if (cache.paged) {
    // The paged cache (nn/paged_kv_cache.h): position t into the row's block,
    // then one query per row and head over its blocks, heads laid out
    // (B, H, Dh) = (B, 1, H * Dh) for the output projection.
    ATTN_CHECK(!key.requires_grad() && !value.requires_grad(), op,
               ": the paged cache is for decoding without gradients (NoGradGuard)");
    cache.paged->write(cache.paged_set, key, value);
    const Tensor heads = cache.paged->attend(cache.paged_set, query);          // (B, H, Dh)
    Tensor attended = self_attention->out_proj->forward(
        heads.reshape({B, 1, heads.size(1) * heads.size(2)}));                 // (B, 1, D)
    Tensor h = residual(x, attended, *norm1, *dropout_, pre);                  // (B, 1, D)
    return cross_and_feed_forward(h, cache.cross_keys, cache.cross_values, memory_mask,
                                  need_weights);
  }
  if (key.requires_grad() || value.requires_grad()) {
    // A graph is being built through the step: cat, which autograd differentiates.
    cache.key_buffer = cache.value_buffer = Tensor();
    cache.self_keys = cache.self_keys.defined() ? cat({cache.self_keys, key}, 2) : key;
    cache.self_values = cache.self_values.defined() ? cat({cache.self_values, value}, 2) : value;
  } else {
    append_in_place(cache, key, value);                                        // (B, Hkv, t+1, Dh)
  }
  MultiheadAttentionOutput self = self_attention->attend_heads(
      query, cache.self_keys, cache.self_values, AttentionMask(), /*need_weights=*/false);
  Tensor h = residual(x, self.output, *norm1, *dropout_, pre);                 // (B, 1, D)
  return cross_and_feed_forward(h, cache.cross_keys, cache.cross_values, memory_mask,
                                need_weights);
}

TransformerDecoderLayerOutput TransformerDecoderLayer::step_latent(
    const Tensor& x, TransformerDecoderLayerCache& cache, const AttentionMask& memory_mask,
    bool need_weights) const {
  const char* op = "TransformerDecoderLayer::step";
  ATTN_CHECK(cache.cross_keys.defined() && cache.cross_values.defined(), op,
             ": the cache has no cross-attention keys; make it with start(memory)");
  const int64_t B = cache.cross_keys.size(0);
  check_sequence(op, "input", x, options_.d_model, B, 1);
  ATTN_CHECK(cache.self_keys.defined() == cache.self_values.defined(), op,
             ": cached rope keys ", shape_of(cache.self_keys), " and latents ",
             shape_of(cache.self_values), " must both be set or both be empty");
  const MultiHeadLatentAttention& mla = *latent_self_attention;
  const int64_t t = cache.self_keys.defined() ? cache.self_keys.size(2) : 0;
  Tensor a = sublayer_input(x, *norm1, options_.pre_ln);                       // (B, 1, D)
  // Position t's latent and rotary key join the cache: d_c + d_R numbers,
  // all that MLA keeps of a position (attend_absorbed checks the shapes).
  const Tensor key = mla.project_rope_keys(a, t);                              // (B, 1, 1, d_R)
  const Tensor latent = mla.project_latent(a);                                 // (B, 1, 1, d_c)
  if (key.requires_grad() || latent.requires_grad()) {
    cache.key_buffer = cache.value_buffer = Tensor();
    cache.self_keys = cache.self_keys.defined() ? cat({cache.self_keys, key}, 2) : key;
    cache.self_values = cache.self_values.defined() ? cat({cache.self_values, latent}, 2) : latent;
  } else {
    append_in_place(cache, key, latent);                       // (B, 1, t+1, d_R), (B, 1, t+1, d_c)
  }
  if (!cache.absorbed.query.defined()) cache.absorbed = mla.absorb();
  // The query sees every cached position: no mask. W^UK and W^UV are folded
  // into the query and output projections (section 2.1.3).
  Tensor attended = mla.attend_absorbed(a, cache.self_values, cache.self_keys, cache.absorbed,
                                        t);                                    // (B, 1, D)
  Tensor h = residual(x, attended, *norm1, *dropout_, options_.pre_ln);        // (B, 1, D)
  return cross_and_feed_forward(h, cache.cross_keys, cache.cross_values, memory_mask,
                                need_weights);
}

TransformerDecoderLayerOutput TransformerDecoderLayer::step_shared(
    const Tensor& x, const TransformerDecoderLayerCache* shared, const AttentionMask& memory_mask,
    bool need_weights) const {
  const char* op = "TransformerDecoderLayer::step";
  ATTN_CHECK(shared != nullptr && (shared->paged || (shared->self_keys.defined() &&
                                                     shared->self_values.defined())) &&
                 shared->cross_keys.defined() && shared->cross_values.defined(),
             op, ": a layer with share_kv (Cross-Layer Attention) reads the cache of its group's "
             "first layer, stepped to this position first; got ",
             shared == nullptr ? std::string("none") : "self keys " + shape_of(shared->self_keys));
  const int64_t B = shared->cross_keys.size(0);
  check_sequence(op, "input", x, options_.d_model, B, 1);
  // The first layer of the group has appended position t already: its cache
  // holds t+1 positions, and this layer's query is position t.
  const int64_t t = shared->paged ? shared->paged->length() - 1 : shared->self_keys.size(2) - 1;
  Tensor a = sublayer_input(x, *norm1, options_.pre_ln);                       // (B, 1, D)
  Tensor attended;
  if (shared->paged) {
    // Paged: this layer's own query, turned at t as attend() turns it, over
    // the group's layer-set; the output projection as in attend().
    const MultiheadAttentionOptions& o = shared_self_attention->options();
    const int64_t H = o.num_heads, Dh = o.d_model / H;
    Tensor q = shared_self_attention->q_proj->forward(a).reshape({B, 1, H, Dh}).transpose(1, 2);
    if (o.rope) q = rope(q, t, o.rope_base);                                   // (B, H, 1, Dh)
    const Tensor heads = shared->paged->attend(shared->paged_set, q);          // (B, H, Dh)
    attended = shared_self_attention->out_proj->forward(heads.reshape({B, 1, H * Dh}));
  } else {
    attended = shared_self_attention->attend(a, shared->self_keys, shared->self_values,
                                             AttentionMask(), /*need_weights=*/false, t).output;
  }
  Tensor h = residual(x, attended, *norm1, *dropout_, options_.pre_ln);        // (B, 1, D)
  return cross_and_feed_forward(h, shared->cross_keys, shared->cross_values, memory_mask,
                                need_weights);
}

}  // namespace attn::nn
