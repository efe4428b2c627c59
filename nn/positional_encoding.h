// Positional encoding (Vaswani et al. 2017, "Attention Is All You Need",
// section 3.5): self-attention treats its input as a set, so without help
// "the cat sat" and "sat the cat" look the same to it. The Transformer adds
// to each token's embedding a vector that depends only on its position:
//     PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
//     PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))
// Each pair of dimensions (2i, 2i+1) is a point turning on a circle at its
// own frequency w_i = 10000^(-2i / d_model), with wavelengths from 2*pi (the
// first pair) to 10000 * 2*pi (the last). The paper's reason for sinusoids:
// for a fixed offset k, PE(pos + k) is a linear function of PE(pos) — a
// rotation by the angle k * w_i in each pair —
//     [sin(w(p+k))]   [ cos(wk)  sin(wk)] [sin(wp)]
//     [cos(w(p+k))] = [-sin(wk)  cos(wk)] [cos(wp)]
// so attention can learn to look "k words back" with one linear map.
//
// Layout: sine on the even dimensions, cosine on the odd ones, interleaved,
// exactly as the paper writes it. Some libraries (tensor2tensor, and code
// derived from it) concatenate all the sines and then all the cosines
// instead; the two are the same up to a fixed permutation of the dimensions,
// but weights trained with one layout do not load into the other.
//
// Scaling: the Transformer multiplies the token embeddings by sqrt(d_model)
// before adding these positions (section 3.4), so that the embeddings, which
// start small, are not drowned by the unit-sized sinusoids. That scaling
// belongs to the model and will live in nn/transformer.h, not here: this
// module adds the positions as given.
//
// Learned positions (options.learned): a trained (max_length, d_model) table
// instead, as in BERT and GPT. The paper found both equally good (Table 3,
// row E) and chose sinusoids because they may extend to sentences longer than
// any seen in training; a learned table cannot go past max_length.
//
//   attn::nn::PositionalEncoding positions(attn::nn::PositionalEncodingOptions(512));
//   attn::Tensor h = positions.forward(embedded * std::sqrt(512.0));  // (B, T, 512)
#pragma once

#include <cstdint>
#include <memory>

#include "nn/layers.h"
#include "nn/module.h"

namespace attn::nn {

// The sinusoid table of section 3.5, every row a position:
// -> (length, d_model), row pos = [sin(pos w_0), cos(pos w_0), sin(pos w_1), ...].
// Computed in double and converted to `dtype`, so float32 and float64 tables
// agree to float32's rounding. d_model must be even (each frequency is a pair).
Tensor sinusoidal_positions(int64_t length, int64_t d_model, DType dtype = kFloat32);

struct PositionalEncodingOptions {
  int64_t d_model;            // D: the size of each embedding and position vector
  int64_t max_length = 5000;  // positions 0 .. max_length-1 exist (PyTorch's tutorial's 5000)
  double dropout = 0.1;       // the paper's P_drop on the sum of embeddings and positions (5.4)
  bool learned = false;       // a trained (max_length, d_model) table instead, as in BERT/GPT;
                              // the paper found both equal (Table 3, row E)

  PositionalEncodingOptions(int64_t d) : d_model(d) {}  // NOLINT: implicit, as libtorch
  PositionalEncodingOptions& set_max_length(int64_t n) { max_length = n; return *this; }
  PositionalEncodingOptions& set_dropout(double p) { dropout = p; return *this; }
  PositionalEncodingOptions& set_learned(bool on) { learned = on; return *this; }
};

class PositionalEncoding : public Module {
 public:
  // Sinusoidal: the table is computed once, here, and is not a parameter.
  // Learned: weight ~ N(0, 0.02^2), the initialisation of BERT and GPT-2
  // (their initializer_range = 0.02), so the positions start small beside the
  // sqrt(d_model)-scaled embeddings.
  explicit PositionalEncoding(const PositionalEncodingOptions& options);

  // x: (B, T, D) -> (B, T, D) = dropout(x + PE[offset : offset + T]).
  // offset is the position of x's first step: 0 for a whole sentence, t when
  // decoding one step at a time (x is then (B, 1, D) at position t).
  Tensor forward(const Tensor& x, int64_t offset = 0) const;

  const PositionalEncodingOptions& options() const { return options_; }

  // The (max_length, D) table being added. Sinusoidal: a plain float64
  // tensor, outside parameters() so optimizers and checkpoints skip it (it is
  // a function of max_length and D, nothing to save); forward converts the
  // rows it uses to x's dtype and device, so module.to(kFloat64) and CUDA
  // inputs need nothing more. Learned: the parameter "weight".
  Tensor table() const { return options_.learned ? weight : sinusoids_; }

  Tensor weight;  // learned only: (max_length, D); undefined for sinusoids

 private:
  PositionalEncodingOptions options_;
  Tensor sinusoids_;  // sinusoidal only: (max_length, D) float64
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace attn::nn
