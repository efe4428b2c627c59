// The gated recurrent unit (Cho et al. 2014, "Learning Phrase Representations
// using RNN Encoder-Decoder", section 2.3), in PyTorch's formulation:
//   r  = σ(W_ir x + b_ir + W_hr h + b_hr)
//   z  = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h
// Where we differ from the paper: Cho et al. apply r before the product,
// tanh(W x + U (r ⊙ h)); PyTorch (and cuDNN) apply it after, r ⊙ (U h + b),
// which lets U h for all three gates be one matrix product. We follow PyTorch
// so that weights move between the two unchanged.
//
// GRUCell is one step (a decoder calls it once per output word); GRU runs a
// whole batch of sequences, with several layers and both directions, as
// RNNsearch's encoder does (Bahdanau et al. 2014, section 3.2).
//
//   attn::nn::GRU encoder(attn::nn::GRUOptions(256, 512).set_bidirectional(true));
//   auto [annotations, final] = encoder.forward(embedded, lengths);
//   // annotations: (B, S, 1024), final: (2, B, 512)
#pragma once

#include <cstdint>
#include <vector>

#include "nn/module.h"
#include "nn/recurrent.h"
#include "kernels/generator.h"

namespace attn::nn {


// --- GRUCell -------------------------------------------------------------------

struct GRUCellOptions {
  int64_t input_size;   // I: features of each input x
  int64_t hidden_size;  // H: features of the state h
  bool bias = true;     // learn b_ih and b_hh

  GRUCellOptions(int64_t input, int64_t hidden) : input_size(input), hidden_size(hidden) {}
  GRUCellOptions& set_bias(bool on) { bias = on; return *this; }
};

class GRUCell : public Module {
 public:
  // Every weight and bias ~ U(±1/sqrt(H)), as torch.nn.GRUCell.
  explicit GRUCell(const GRUCellOptions& options);
  GRUCell(int64_t input_size, int64_t hidden_size)
      : GRUCell(GRUCellOptions(input_size, hidden_size)) {}

  // x: (B, I), h: (B, H) or undefined (zeros) -> h': (B, H)
  Tensor forward(const Tensor& x, const Tensor& h = Tensor()) const;

  const GRUCellOptions& options() const { return options_; }

  // PyTorch's names and layout: the three gates (r, z, n) stacked along dim 0.
  Tensor weight_ih;  // (3H, I)
  Tensor weight_hh;  // (3H, H)
  Tensor bias_ih;    // (3H), undefined without bias
  Tensor bias_hh;    // (3H), undefined without bias

 private:
  GRUCellOptions options_;
};

// --- GRU -----------------------------------------------------------------------

struct GRUOptions {
  int64_t input_size;          // I: features of each input step
  int64_t hidden_size;         // H: features of the state, per direction
  int64_t num_layers = 1;      // stacked layers; layer l > 0 reads layer l-1's outputs
  bool bias = true;            // learn b_ih and b_hh
  bool batch_first = true;     // input and output (B, T, ·); false: (T, B, ·). (PyTorch's
                               // default is false; ours follows the batches of data/.)
  double dropout = 0.0;        // dropout on the outputs of every layer but the last, in training
  bool bidirectional = false;  // also run right to left and concatenate: outputs (·, 2H)
  Generator* generator = nullptr;  // for the dropout masks; the default generator if null

  GRUOptions(int64_t input, int64_t hidden) : input_size(input), hidden_size(hidden) {}
  GRUOptions& set_num_layers(int64_t n) { num_layers = n; return *this; }
  GRUOptions& set_bias(bool on) { bias = on; return *this; }
  GRUOptions& set_batch_first(bool on) { batch_first = on; return *this; }
  GRUOptions& set_dropout(double p) { dropout = p; return *this; }
  GRUOptions& set_bidirectional(bool on) { bidirectional = on; return *this; }
  GRUOptions& set_generator(Generator* g) { generator = g; return *this; }
};

struct GRUOutput {
  Tensor output;  // (B, T, D*H) (or (T, B, D*H)): the last layer's states, 0 on padding
  Tensor h_n;     // (num_layers * D, B, H): each layer and direction's final state,
                  // in PyTorch's order l0, l0_reverse, l1, l1_reverse, ...
};

class GRU : public StackedRecurrent {
 public:
  // Every weight and bias ~ U(±1/sqrt(H)), as torch.nn.GRU.
  explicit GRU(const GRUOptions& options);
  GRU(int64_t input_size, int64_t hidden_size) : GRU(GRUOptions(input_size, hidden_size)) {}

  // x: (B, T, I); lengths: int64 (B) with 0 <= length <= T, or undefined (no
  // padding); h0: (num_layers * D, B, H) or undefined (zeros).
  // Steps at t >= length[b] leave row b's state unchanged and output 0 (nn/recurrent.h).
  GRUOutput forward(const Tensor& x, const Tensor& lengths = Tensor(),
                    const Tensor& h0 = Tensor()) const;

  const GRUOptions& options() const { return options_; }
  // On the CPU each layer and direction runs as one op (autograd::gru_layer,
  // BPTT in one node); false runs it step by step with the ordinary ops, the
  // reference the tests compare the op with.
  void set_fused_recurrence(bool on) { fused_ = on; }
  // num_directions(), weight_ih(layer, direction), ...: nn/recurrent.h.

 private:
  // One layer in one direction over the whole batch: input (B, T, F) ->
  // states (B, T, H), padding not yet zeroed; `final` receives the last state.
  Tensor run_direction(const Tensor& input, const Weights& w, bool reverse, const Tensor& h0,
                       const SequenceMask& mask, const Tensor& lengths, Tensor& final) const;

  GRUOptions options_;
  bool fused_ = true;
};

}  // namespace attn::nn
