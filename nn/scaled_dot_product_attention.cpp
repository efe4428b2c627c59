#include "nn/scaled_dot_product_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops.h"
#include "tensor/grad_mode.h"
#include "kernels/error.h"
#include "tensor/shape.h"

namespace attn::nn {

namespace {

// The shape a and b broadcast to (numpy rules); `ok` is false when they do
// not, so that the caller's error can name its op and every shape involved.
Shape broadcast_or_fail(const Shape& a, const Shape& b, bool& ok) {
  ok = true;
  const size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) ok = false;
    out[i] = x == 1 ? y : x;
  }
  return out;
}

// The leading (batch) dims of a tensor of at least 2 dims.
Shape batch_dims(const Tensor& t) {
  Shape s = t.shape();
  return Shape(s.begin(), s.end() - 2);
}

// The most negative finite number of the scores' dtype (see below).
double lowest_finite(DType dtype) {
  return dtype == kFloat32 ? static_cast<double>(std::numeric_limits<float>::lowest())
                           : std::numeric_limits<double>::lowest();
}

// softmax of the scaled scores (..., Tq, Tk) over the keys `mask` lets each
// query see (int64, broadcastable to the scores; undefined: every key), 0
// at the hidden ones. q and k only name the shapes in an error.
Tensor weights_of_scores(const Tensor& scores_in, const Tensor& mask, const Tensor& q,
                         const Tensor& k) {
  const char* op = "scaled_dot_product_attention";
  Tensor scores = scores_in;
  Tensor weights;
  if (!mask.defined()) {
    weights = softmax(scores, -1);                                     // (..., Tq, Tk)
  } else {
    bool ok = true;
    Shape full = broadcast_or_fail(scores.shape(), mask.shape(), ok);
    ATTN_CHECK(ok && mask.dim() <= scores.dim(), op, ": mask ", shape_str(mask.shape()),
               " does not broadcast to the scores (..., Tq, Tk) = ", shape_str(scores.shape()),
               " of q ", shape_str(q.shape()), " and k ", shape_str(k.shape()));
    // A mask with a larger batch than q and k (one mask per sentence, shared
    // q): give the scores the mask's batch first, masked_fill keeps x's shape.
    if (full != scores.shape()) scores = expand(scores, full);
    Tensor hidden = eq(mask, 0.0);                                     // int64, 1 = hidden
    // Hidden scores get the most negative *finite* number, not the paper's
    // -inf, and the hidden weights are then set to exactly 0.
    //  - In a row with a visible key, exp(lowest - max) underflows to 0, so
    //    this is the paper's -inf; the second fill changes nothing.
    //  - In a fully masked row, -inf everywhere gives max = -inf and
    //    -inf - (-inf) = NaN: the softmax kernel returns a NaN row (as
    //    PyTorch does), and its backward, which sums g * y over the row,
    //    NaN gradients. Our where-based masked_fill happens to select those
    //    NaNs away again (it never multiplies), so -inf would also pass the
    //    tests on the CPU; but correctness would then hang on how `where` is
    //    implemented (cond * a + (1 - cond) * b turns 0 * NaN into NaN) and
    //    every fully masked row would trip a NaN check. With a finite fill
    //    the row softmaxes to a finite uniform row, which the second fill
    //    turns into zeros, so the output is 0. Backward: the second fill
    //    sends 0 to every hidden weight, softmax's backward of a zero g is 0,
    //    and the first fill sends nothing to hidden scores. No NaN is ever
    //    computed, forward or backward.
    weights = softmax(masked_fill(scores, hidden, lowest_finite(scores.dtype())), -1);
    weights = masked_fill(weights, hidden, 0.0);                       // (..., Tq, Tk)
  }
  return weights;
}

}  // namespace

AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& mask, double dropout, bool training,
                                             Generator* generator) {
  const char* op = "scaled_dot_product_attention";
  ATTN_CHECK(q.defined() && k.defined() && v.defined(), op, ": q, k and v must be defined");
  ATTN_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op,
             ": q (..., Tq, Dk), k (..., Tk, Dk) and v (..., Tk, Dv) need at least 2 dims, got q ",
             shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  ATTN_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), op,
             ": q, k and v must share one floating dtype, got ", dtype_name(q.dtype()), ", ",
             dtype_name(k.dtype()), ", ", dtype_name(v.dtype()));
  ATTN_CHECK(q.size(-1) == k.size(-1), op, ": q (..., Tq, Dk) and k (..., Tk, Dk) must have the "
             "same Dk, got q ", shape_str(q.shape()), " and k ", shape_str(k.shape()));
  ATTN_CHECK(k.size(-2) == v.size(-2), op, ": k (..., Tk, Dk) and v (..., Tk, Dv) must have the "
             "same Tk, got k ", shape_str(k.shape()), " and v ", shape_str(v.shape()));
  bool ok = true;
  Shape batch = broadcast_or_fail(batch_dims(q), batch_dims(k), ok);
  if (ok) batch = broadcast_or_fail(batch, batch_dims(v), ok);
  ATTN_CHECK(ok, op, ": the batch dims of q ", shape_str(q.shape()), ", k ", shape_str(k.shape()),
             " and v ", shape_str(v.shape()), " do not broadcast");
  ATTN_CHECK(dropout >= 0.0 && dropout < 1.0, op, ": dropout must be in [0, 1), got ", dropout);

  const int64_t head_dim = q.size(-1);
  // (1): the scores q . k / sqrt(d_k); the header says why the scale.
  Tensor scores = matmul(q, k.transpose(-2, -1)) *
                  (1.0 / std::sqrt(static_cast<double>(head_dim)));  // (..., Tq, Tk)

  AttentionResult result;
  result.weights = weights_of_scores(scores, mask, q, k);             // (..., Tq, Tk)
  // Attention dropout drops whole query-key links; inverted, so the
  // surviving weights are scaled by 1 / (1 - p) and nothing changes at test time.
  Tensor used = dropout > 0.0 && training
                    ? attn::dropout(result.weights, dropout, training, generator)
                    : result.weights;
  result.output = matmul(used, v);                                     // (..., Tq, Dv)
  return result;
}


// --- grouped heads: each kv head serves its group of query heads -----------------

Tensor grouped_scores(const Tensor& q, const Tensor& k) {
  ATTN_CHECK(q.defined() && k.defined() && q.dim() == 4 && k.dim() == 4 && q.size(0) == k.size(0) &&
                 q.size(3) == k.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
             "grouped_scores: expected q (B, H, Tq, Dk) and k (B, Hkv, Tk, Dk) with Hkv dividing "
             "H, got q ", q.defined() ? shape_str(q.shape()) : "undefined", " and k ",
             k.defined() ? shape_str(k.shape()) : "undefined");
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Dk = q.size(3);
  const int64_t Hkv = k.size(1), Tk = k.size(2), G = H / Hkv;
  if (G == 1) return matmul(q, k.transpose(-2, -1));                   // (B, H, Tq, Tk)
  // Query head h = g * G + r belongs to kv head g, so the G heads of a group
  // are neighbours along the head dim: (B, H, Tq, Dk) is (B, Hkv, G, Tq, Dk),
  // and stacking each group's heads along the rows gives (B, Hkv, G*Tq, Dk).
  Tensor rows = q.reshape({B, Hkv, G * Tq, Dk});                       // (B, Hkv, G*Tq, Dk)
  // One GEMM per (b, g): (G*Tq, Dk) x (Dk, Tk), kv head g read once for all
  // G query heads.
  Tensor scores = matmul(rows, k.transpose(-2, -1));                   // (B, Hkv, G*Tq, Tk)
  return scores.reshape({B, H, Tq, Tk});                               // (B, H, Tq, Tk), a view
}

Tensor grouped_weighted_sum(const Tensor& weights, const Tensor& v) {
  ATTN_CHECK(weights.defined() && v.defined() && weights.dim() == 4 && v.dim() == 4 &&
                 (weights.size(0) == v.size(0) || v.size(0) == 1) &&
                 weights.size(3) == v.size(2) && v.size(1) > 0 &&
                 weights.size(1) % v.size(1) == 0,
             "grouped_weighted_sum: expected weights (B, H, Tq, Tk) and v (B, Hkv, Tk, Dv) with "
             "Hkv dividing H, got weights ",
             weights.defined() ? shape_str(weights.shape()) : "undefined", " and v ",
             v.defined() ? shape_str(v.shape()) : "undefined");
  const int64_t B = weights.size(0), H = weights.size(1), Tq = weights.size(2),
                Tk = weights.size(3);
  const int64_t Hkv = v.size(1), Dv = v.size(3), G = H / Hkv;
  if (G == 1) return matmul(weights, v);                               // (B, H, Tq, Dv)
  // The same grouping: the G heads' weights as (G*Tq) rows against value head g.
  Tensor rows = weights.reshape({B, Hkv, G * Tq, Tk});                 // (B, Hkv, G*Tq, Tk)
  return matmul(rows, v).reshape({B, H, Tq, Dv});                      // (B, H, Tq, Dv)
}

// --- the mask as numbers, and the choice of path --------------------------------

AttentionMask AttentionMask::from_lengths(const Tensor& key_lengths, bool causal) {
  ATTN_CHECK(key_lengths.defined() && key_lengths.dim() == 1 && key_lengths.dtype() == kInt64,
             "AttentionMask::from_lengths: key_lengths must be int64 (B), got ",
             key_lengths.defined() ? dtype_name(key_lengths.dtype()) : "undefined", " ",
             key_lengths.defined() ? shape_str(key_lengths.shape()) : "");
  AttentionMask mask;
  mask.key_lengths = key_lengths;
  mask.causal = causal;
  return mask;
}

AttentionMask AttentionMask::causal_only() {
  AttentionMask mask;
  mask.causal = true;
  return mask;
}

Tensor AttentionMask::to_dense(int64_t query_length, int64_t key_length, Device device) const {
  if (dense.defined()) return dense.to(device);
  DenseCache& cache = *dense_cache_;
  if (cache.query_length == query_length && cache.key_length == key_length &&
      cache.device == device) {
    return cache.dense;
  }
  Tensor result;
  if (key_lengths.defined()) result = padding_mask(key_lengths, key_length);  // (B, 1, 1, Tk)
  if (causal) {
    // Query i is position i + (Tk - Tq): it sees keys j <= i + (Tk - Tq).
    // For Tq = Tk this is causal_mask(T).
    std::vector<int64_t> visible(static_cast<size_t>(query_length * key_length), 0);
    for (int64_t i = 0; i < query_length; ++i) {
      for (int64_t j = 0; j < key_length && j <= i + (key_length - query_length); ++j) {
        visible[i * key_length + j] = 1;
      }
    }
    Tensor future = from_vector(visible, {1, 1, query_length, key_length});  // (1, 1, Tq, Tk)
    result = result.defined() ? combine_masks(result, future) : future;    // (B|1, 1, Tq, Tk)
  }
  cache = {query_length, key_length, device, result.defined() ? result.to(device) : result};
  return cache.dense;
}

namespace {

// Whether q (B, H, Tq, Dk), k (B, Hkv, Tk, Dk), v (B, Hkv, Tk, Dv) are
// 4-d with one batch, Hkv dividing H, and key_lengths (if any) (B).
bool grouped_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask) {
  return q.dim() == 4 && k.dim() == 4 && v.defined() && v.dim() == 4 && q.size(0) == k.size(0) &&
         k.size(0) == v.size(0) && k.size(1) == v.size(1) && k.size(1) > 0 &&
         q.size(1) % k.size(1) == 0 &&
         (!mask.key_lengths.defined() || mask.key_lengths.shape() == Shape({q.size(0)}));
}

// The composed path for 4-d heads, grouped or not (grouped_scores and
// grouped_weighted_sum: no kv head is repeated). With the mask as numbers
// (key lengths, causal), the scale, both fills and the softmax are one kernel
// (attn::masked_softmax) instead of four passes, and no dense mask is built;
// with a dense mask, the fills of the reference overload above.
// q: (B, H, Tq, Dk), k: (B, Hkv, Tk, Dk), v: (B, Hkv, Tk, Dv), Hkv dividing H.
AttentionResult composed_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const AttentionMask& mask, const AttentionOptions& options) {
  const char* op = "scaled_dot_product_attention";
  ATTN_CHECK(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2) && grouped_shapes(q, k, v, mask),
             op, ": expected q (B, H, Tq, Dk), k (B, Hkv, Tk, Dk) and v (B, Hkv, Tk, Dv) with "
             "Hkv dividing H, got q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ",
             shape_str(v.shape()));
  ATTN_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), op,
             ": q, k and v must share one floating dtype, got ", dtype_name(q.dtype()), ", ",
             dtype_name(k.dtype()), ", ", dtype_name(v.dtype()));
  ATTN_CHECK(options.dropout >= 0.0 && options.dropout < 1.0, op,
             ": dropout must be in [0, 1), got ", options.dropout);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  Tensor scores = grouped_scores(q, k);                                    // (B, H, Tq, Tk)
  AttentionResult result;
  if (mask.dense.defined()) {
    Tensor dense = mask.to_dense(q.size(2), k.size(2), q.device());
    result.weights = weights_of_scores(scores * scale, dense, q, k);       // (B, H, Tq, Tk)
  } else {
    result.weights = masked_softmax(scores, mask.key_lengths, mask.causal, scale);  // (B,H,Tq,Tk)
  }
  Tensor used = options.dropout > 0.0 && options.training
                    ? attn::dropout(result.weights, options.dropout, true, options.generator)
                    : result.weights;
  result.output = grouped_weighted_sum(used, v);                           // (B, H, Tq, Dv)
  return result;
}

}  // namespace

bool fused_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionMask& mask, const AttentionOptions& options) {
  if (!options.fused || options.need_weights || mask.dense.defined()) return false;
  // The kernel has no dropout: attention dropout in training takes the composed path.
  if (options.dropout > 0.0 && options.training) return false;
  if (!q.defined() || !k.defined() || !v.defined()) return false;
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return false;
  if (!is_floating(q.dtype()) || q.dtype() != k.dtype() || q.dtype() != v.dtype()) return false;
  if (q.device() != k.device() || q.device() != v.device()) return false;
  return k.shape() == v.shape() && q.size(0) == k.size(0) && k.size(1) > 0 &&
         q.size(1) % k.size(1) == 0 && q.size(3) == k.size(3) &&
         (!mask.key_lengths.defined() || mask.key_lengths.shape() == Shape({q.size(0)}));
}

namespace {

// From this many queries a head up, attention without a graph is faster as
// two GEMMs and masked_softmax than as grouped_attention's dot products;
// below it the kernel wins, and it also reads q, k and v where the
// projections left them and writes its heads side by side, where the GEMMs
// want copies of both. Measured with bench_decode's encoder on the 2-core
// EPYC (AVX2), 1 thread, after the kernel scored eight keys at once
// (kernels/cpu/attend_rows.h): 64 source positions, batch 256, tiny
// 353 -> 285 ms, small 1452 -> 1364 ms with the kernel; 256 positions,
// batch 16, small 395 -> 445 ms and 512 positions 1129 -> 1263 ms with it.
// (Before that kernel, the crossover was below 16.)
constexpr int64_t kGemmAttentionQueries = 128;

bool many_queries_without_graph(const Tensor& q, const Tensor& k, const Tensor& v,
                                const AttentionMask& mask, const AttentionOptions& options) {
  if (!options.fused || options.need_weights || mask.dense.defined()) return false;
  if (options.dropout > 0.0 && options.training) return false;
  if (!q.defined() || !k.defined() || !v.defined()) return false;
  if (GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) {
    return false;
  }
  // Grouped heads (Hkv < H) stay with grouped_attention, which needs no expanded copy.
  return q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && q.size(2) >= kGemmAttentionQueries &&
         q.size(0) == k.size(0) && q.size(1) == k.size(1) && k.shape() == v.shape() &&
         q.size(3) == k.size(3) &&
         (!mask.key_lengths.defined() || mask.key_lengths.shape() == Shape({q.size(0)}));
}

}  // namespace

bool inference_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const AttentionMask& mask, const AttentionOptions& options) {
  if (!options.fused || options.need_weights || mask.dense.defined()) return false;
  if (options.dropout > 0.0 && options.training) return false;
  if (!q.defined() || !k.defined() || !v.defined()) return false;
  if (GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) {
    return false;  // training: flash_attention, which has the backward
  }
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return false;
  if (!is_floating(q.dtype()) || q.dtype() != k.dtype() || q.dtype() != v.dtype()) return false;
  if (q.device() != k.device() || q.device() != v.device()) return false;
  return k.shape() == v.shape() && q.size(0) == k.size(0) && k.size(1) > 0 &&
         q.size(1) % k.size(1) == 0 && q.size(3) == k.size(3) &&
         (!mask.key_lengths.defined() || mask.key_lengths.shape() == Shape({q.size(0)}));
}

AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const AttentionMask& mask,
                                             const AttentionOptions& options) {
  AttentionResult result;
  if (many_queries_without_graph(q, k, v, mask, options)) {
    // The encoder, or a whole target at once, at inference: scores by GEMM.
    return composed_attention(q, k, v, mask, options);
  }
  if (inference_attention_applies(q, k, v, mask, options)) {
    // No graph to build: the kernel reads each kv head once for its group of
    // query heads, and every operand where it lies (KV cache views included).
    result.output = grouped_attention(q, k, v, mask.key_lengths, mask.causal);  // (B, H, Tq, D)
    return result;                                                          // no weights
  }
  if (fused_attention_applies(q, k, v, mask, options)) {
    // One node; the forward keeps out and the row log-sum-exp, the backward
    // recomputes the weights (autograd/ops_flash_attention.cpp).
    result.output = flash_attention(q, k, v, mask.key_lengths, mask.causal);  // (B, H, Tq, D)
    return result;                                                          // no weights
  }
  ATTN_CHECK(q.defined() && k.defined() && q.dim() >= 2 && k.dim() >= 2,
             "scaled_dot_product_attention: q (..., Tq, Dk) and k (..., Tk, Dk) need at least "
             "2 dims");
  if (grouped_shapes(q, k, v, mask)) {
    return composed_attention(q, k, v, mask, options);  // 4-d heads, grouped or not
  }
  Tensor dense = mask.to_dense(q.size(-2), k.size(-2), q.device());
  return scaled_dot_product_attention(q, k, v, dense, options.dropout, options.training,
                                      options.generator);
}

// --- building masks ------------------------------------------------------------

Tensor padding_mask(const Tensor& lengths, int64_t key_length) {
  ATTN_CHECK(lengths.defined() && lengths.dim() == 1 && lengths.dtype() == kInt64,
             "padding_mask: lengths must be int64 (B), got ",
             lengths.defined() ? dtype_name(lengths.dtype()) : "undefined", " ",
             lengths.defined() ? shape_str(lengths.shape()) : "");
  ATTN_CHECK(key_length >= 0, "padding_mask: key_length must be >= 0, got ", key_length);
  const int64_t B = lengths.size(0);
  std::vector<int64_t> length = lengths.cpu().contiguous().to_vector<int64_t>();
  std::vector<int64_t> visible(static_cast<size_t>(B * key_length), 0);
  for (int64_t b = 0; b < B; ++b) {
    ATTN_CHECK(length[b] >= 0 && length[b] <= key_length, "padding_mask: length ", length[b],
               " of sentence ", b, " is outside [0, ", key_length, "] (lengths ",
               shape_str(lengths.shape()), ")");
    for (int64_t j = 0; j < length[b]; ++j) visible[b * key_length + j] = 1;
  }
  return from_vector(visible, {B, 1, 1, key_length}).to(lengths.device());  // (B, 1, 1, Tk)
}

Tensor causal_mask(int64_t length) {
  ATTN_CHECK(length >= 0, "causal_mask: length must be >= 0, got ", length);
  std::vector<int64_t> visible(static_cast<size_t>(length * length), 0);
  for (int64_t i = 0; i < length; ++i) {
    for (int64_t j = 0; j <= i; ++j) visible[i * length + j] = 1;  // query i sees keys j <= i
  }
  return from_vector(visible, {1, 1, length, length});              // (1, 1, T, T)
}

Tensor combine_masks(const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.defined() && b.defined(), "combine_masks: both masks must be defined");
  bool ok = true;
  broadcast_or_fail(a.shape(), b.shape(), ok);
  ATTN_CHECK(ok, "combine_masks: masks of shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " do not broadcast");
  // AND of 0/1 values is their product; the element-wise ops are floating
  // only, so multiply in float32 (0 and 1 are exact, on either device) and come back to int64.
  Tensor product = ne(a, 0.0).to(kFloat32) * ne(b, 0.0).to(kFloat32);
  return product.to(kInt64);                                       // broadcast shape
}

}  // namespace attn::nn
