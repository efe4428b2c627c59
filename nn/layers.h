// The basic layers: Linear, Embedding, Dropout and LayerNorm, as in
// torch::nn, with the same parameter names (weight, bias) and the same
// initialisation, so that weights trained here load into PyTorch and back.
//
//   attn::nn::Linear proj(attn::nn::LinearOptions(512, 1000).set_bias(false));
//   attn::Tensor logits = proj.forward(states);      // (B, T, 512) -> (B, T, 1000)
//
// Each layer is a thin Module around one op of autograd/ops.h; the op does the
// work and holds the backward rule, the layer owns the parameters and the
// train/eval switch.
#pragma once

#include <cstdint>
#include <optional>

#include "autograd/ops.h"
#include "nn/module.h"

namespace attn::nn {

// The affine map of Linear as a function:
// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out),
//   y = x W^T + b.
// The leading dims are flattened into one, so a (B, T, in) input is a single
// (B·T, in) x (in, out) matrix product forward and backward. It is an op of
// its own, attn::linear (autograd/ops_nn.cpp), named here too.
using attn::linear;

// --- Linear --------------------------------------------------------------------

struct LinearOptions {
  int64_t in_features;   // size of each input's last dim
  int64_t out_features;  // size of each output's last dim
  bool bias = true;      // learn an additive bias

  LinearOptions(int64_t in, int64_t out) : in_features(in), out_features(out) {}
  LinearOptions& set_bias(bool on) { bias = on; return *this; }
};

class Linear : public Module {
 public:
  // weight ~ U(±1/sqrt(in)) (PyTorch's kaiming_uniform with a = sqrt(5)),
  // bias ~ U(±1/sqrt(in)), as torch.nn.Linear.
  explicit Linear(const LinearOptions& options);
  Linear(int64_t in_features, int64_t out_features)
      : Linear(LinearOptions(in_features, out_features)) {}

  // x: (..., in_features) -> (..., out_features)
  Tensor forward(const Tensor& x) const;

  const LinearOptions& options() const { return options_; }

  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features), undefined when options.bias is false

 private:
  LinearOptions options_;
};

// --- Embedding -----------------------------------------------------------------

struct EmbeddingOptions {
  int64_t num_embeddings;              // V: the vocabulary size
  int64_t embedding_dim;               // D: the size of each vector
  std::optional<int64_t> padding_idx;  // that row starts at 0 and never gets a gradient;
                                       // negative counts from the end, as in PyTorch

  EmbeddingOptions(int64_t num, int64_t dim) : num_embeddings(num), embedding_dim(dim) {}
  EmbeddingOptions& set_padding_idx(int64_t index) { padding_idx = index; return *this; }
};

class Embedding : public Module {
 public:
  // weight ~ N(0, 1) as torch.nn.Embedding, with the padding row set to 0.
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}

  // ids: int64 (...) with values in [0, V) -> (..., D)
  Tensor forward(const Tensor& ids) const;

  const EmbeddingOptions& options() const { return options_; }
  // The padding row in [0, V), or -1 when there is none.
  int64_t padding_row() const { return padding_row_; }

  Tensor weight;  // (num_embeddings, embedding_dim)

 private:
  EmbeddingOptions options_;
  int64_t padding_row_ = -1;
};

// --- Dropout -------------------------------------------------------------------

struct DropoutOptions {
  double p = 0.5;                  // probability of zeroing each element, in [0, 1)
  Generator* generator = nullptr;  // where the masks come from; the default generator if null

  DropoutOptions(double probability = 0.5) : p(probability) {}  // NOLINT: implicit, as libtorch
  DropoutOptions& set_generator(Generator* g) { generator = g; return *this; }
};

// Inverted dropout (Srivastava et al. 2014): in training, zeroes each element
// with probability p and scales the others by 1/(1-p); in evaluation (after
// eval()), the identity. No parameters.
class Dropout : public Module {
 public:
  explicit Dropout(const DropoutOptions& options = {});

  // x: any shape -> the same shape
  Tensor forward(const Tensor& x) const;

  const DropoutOptions& options() const { return options_; }

 private:
  DropoutOptions options_;
};

// --- LayerNorm -----------------------------------------------------------------

struct LayerNormOptions {
  int64_t normalized_shape;        // D: the size of the last dim, which is normalised
  double eps = 1e-5;               // added to the variance inside the square root
  bool elementwise_affine = true;  // learn a per-feature scale (weight) and shift (bias)

  LayerNormOptions(int64_t dim) : normalized_shape(dim) {}  // NOLINT: implicit, as libtorch
  LayerNormOptions& set_eps(double value) { eps = value; return *this; }
  LayerNormOptions& set_elementwise_affine(bool on) { elementwise_affine = on; return *this; }
};

// Ba, Kiros and Hinton 2016: each position's vector is normalised to mean 0
// and variance 1 over its last dim, then scaled and shifted. Only the last dim
// is supported (what Transformers use); PyTorch also accepts several.
class LayerNorm : public Module {
 public:
  // weight = 1, bias = 0, as torch.nn.LayerNorm.
  explicit LayerNorm(const LayerNormOptions& options);
  explicit LayerNorm(int64_t dim) : LayerNorm(LayerNormOptions(dim)) {}

  // x: (..., D) -> (..., D)
  Tensor forward(const Tensor& x) const;

  const LayerNormOptions& options() const { return options_; }

  Tensor weight;  // gamma: (D), undefined without elementwise_affine
  Tensor bias;    // beta: (D), undefined without elementwise_affine

 private:
  LayerNormOptions options_;
};

}  // namespace attn::nn
