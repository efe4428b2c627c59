#include "nn/layers.h"

#include <cmath>

#include "tensor/grad_mode.h"
#include "nn/init.h"
#include "nn/packed_weights.h"

namespace attn::nn {

// --- Linear --------------------------------------------------------------------

Linear::Linear(const LinearOptions& options) : options_(options) {
  ATTN_CHECK(options.in_features > 0 && options.out_features > 0,
             "Linear: in_features and out_features must be positive, got ", options.in_features,
             " and ", options.out_features);
  const int64_t in = options.in_features, out = options.out_features;
  // PyTorch's reset_parameters: kaiming_uniform(a = sqrt(5)) for the weight,
  // which works out to U(±1/sqrt(in)), and the same bound for the bias, so
  // that each output starts with a variance independent of `in`.
  weight = register_parameter("weight", init::kaiming_uniform({out, in}, std::sqrt(5.0)));
  if (options.bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    bias = register_parameter("bias", init::uniform({out}, -bound, bound));
  }
}

Tensor Linear::forward(const Tensor& x) const {
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) == options_.in_features, "Linear(",
             options_.in_features, " -> ", options_.out_features, "): input must be (..., ",
             options_.in_features, "), got ", shape_str(x.shape()));
  // Inside a decode (PackedWeightsScope), from the decode's packed copy of the weight.
  return linear_in_scope(x, weight, bias);
}

// --- Embedding -----------------------------------------------------------------

Embedding::Embedding(const EmbeddingOptions& options) : options_(options) {
  const int64_t V = options.num_embeddings, D = options.embedding_dim;
  ATTN_CHECK(V > 0 && D > 0, "Embedding: num_embeddings and embedding_dim must be positive, got ",
             V, " and ", D);
  if (options.padding_idx.has_value()) {
    const int64_t index = *options.padding_idx;
    ATTN_CHECK(index >= -V && index < V, "Embedding: padding_idx ", index,
               " is outside the vocabulary of ", V, " (allowed: [", -V, ", ", V, "))");
    padding_row_ = index < 0 ? index + V : index;
  }
  // N(0, 1) as torch.nn.Embedding. The padding row is zero, so padded
  // positions contribute nothing, and embedding() gives it no gradient, so it
  // stays zero for the whole training run.
  Tensor table = init::normal({V, D});
  if (padding_row_ >= 0) table.narrow(0, padding_row_, 1).zero_();
  weight = register_parameter("weight", table);
}

Tensor Embedding::forward(const Tensor& ids) const {
  ATTN_CHECK(ids.dtype() == kInt64, "Embedding(", options_.num_embeddings, ", ",
             options_.embedding_dim, "): ids must be int64, got ", dtype_name(ids.dtype()),
             " of shape ", shape_str(ids.shape()));
  return embedding(weight, ids, padding_row_);
}

// --- Dropout -------------------------------------------------------------------

Dropout::Dropout(const DropoutOptions& options) : options_(options) {
  ATTN_CHECK(options.p >= 0.0 && options.p < 1.0, "Dropout: p must be in [0, 1), got ",
             options.p);
}

Tensor Dropout::forward(const Tensor& x) const {
  return dropout(x, options_.p, is_training(), options_.generator);
}

// --- LayerNorm -----------------------------------------------------------------

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options) {
  ATTN_CHECK(options.normalized_shape > 0, "LayerNorm: normalized_shape must be positive, got ",
             options.normalized_shape);
  ATTN_CHECK(options.eps > 0.0, "LayerNorm: eps must be positive, got ", options.eps);
  if (options.elementwise_affine) {
    // Start as the plain normalisation: scale 1, shift 0 (Ba et al. 2016, as PyTorch).
    weight = register_parameter("weight", ones({options.normalized_shape}));
    bias = register_parameter("bias", zeros({options.normalized_shape}));
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) == options_.normalized_shape, "LayerNorm(",
             options_.normalized_shape, "): input must be (..., ", options_.normalized_shape,
             "), got ", shape_str(x.shape()));
  return layer_norm(x, weight, bias, options_.eps);
}

}  // namespace attn::nn
