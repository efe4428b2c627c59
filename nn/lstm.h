// Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget
// gate of Gers, Schmidhuber & Cummins 2000), in PyTorch's formulation:
//   i  = σ(W_ii x + b_ii + W_hi h + b_hi)      input gate
//   f  = σ(W_if x + b_if + W_hf h + b_hf)      forget gate
//   g  = tanh(W_ig x + b_ig + W_hg h + b_hg)   candidate
//   o  = σ(W_io x + b_io + W_ho h + b_ho)      output gate
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c')
// Where we differ from the papers: no peephole connections (Gers & Schmidhuber
// 2000), and two bias vectors where one would do (b_ih + b_hh), both as in
// PyTorch and cuDNN, so that weights move between them unchanged.
//
// The cell state c is the LSTM's memory: it changes only by the gated sum
// above, so its gradient flows back through time multiplied by f, not by a
// weight matrix (the paper's "constant error carousel").
//
//   attn::nn::LSTM encoder(attn::nn::LSTMOptions(256, 512).set_num_layers(2));
//   attn::nn::LSTMOutput out = encoder.forward(embedded, lengths);
//   // out.output: (B, S, 512), out.h_n and out.c_n: (2, B, 512)
#pragma once

#include <cstdint>
#include <vector>

#include "nn/module.h"
#include "nn/recurrent.h"
#include "kernels/generator.h"

namespace attn::nn {


// --- LSTMCell ------------------------------------------------------------------

struct LSTMCellOptions {
  int64_t input_size;   // I: features of each input x
  int64_t hidden_size;  // H: features of h and of c
  bool bias = true;     // learn b_ih and b_hh

  LSTMCellOptions(int64_t input, int64_t hidden) : input_size(input), hidden_size(hidden) {}
  LSTMCellOptions& set_bias(bool on) { bias = on; return *this; }
};

// The state an LSTM carries from step to step.
struct LSTMState {
  Tensor h;  // (B, H): the output of the step
  Tensor c;  // (B, H): the cell (the memory)
};

class LSTMCell : public Module {
 public:
  // Every weight and bias ~ U(±1/sqrt(H)), as torch.nn.LSTMCell.
  explicit LSTMCell(const LSTMCellOptions& options);
  LSTMCell(int64_t input_size, int64_t hidden_size)
      : LSTMCell(LSTMCellOptions(input_size, hidden_size)) {}

  // x: (B, I), state: h and c (B, H) each, or both undefined (zeros)
  // -> the new state, h' and c' (B, H) each.
  LSTMState forward(const Tensor& x, const LSTMState& state = {}) const;

  const LSTMCellOptions& options() const { return options_; }

  // PyTorch's names and layout: the four gates (i, f, g, o) stacked along dim 0.
  Tensor weight_ih;  // (4H, I)
  Tensor weight_hh;  // (4H, H)
  Tensor bias_ih;    // (4H), undefined without bias
  Tensor bias_hh;    // (4H), undefined without bias

 private:
  LSTMCellOptions options_;
};

// --- LSTM ----------------------------------------------------------------------

struct LSTMOptions {
  int64_t input_size;          // I: features of each input step
  int64_t hidden_size;         // H: features of h and c, per direction
  int64_t num_layers = 1;      // stacked layers; layer l > 0 reads layer l-1's outputs
  bool bias = true;            // learn b_ih and b_hh
  bool batch_first = true;     // input and output (B, T, ·); false: (T, B, ·). (PyTorch's
                               // default is false; ours follows the batches of data/.)
  double dropout = 0.0;        // dropout on the outputs of every layer but the last, in training
  bool bidirectional = false;  // also run right to left and concatenate: outputs (·, 2H)
  Generator* generator = nullptr;  // for the dropout masks; the default generator if null

  LSTMOptions(int64_t input, int64_t hidden) : input_size(input), hidden_size(hidden) {}
  LSTMOptions& set_num_layers(int64_t n) { num_layers = n; return *this; }
  LSTMOptions& set_bias(bool on) { bias = on; return *this; }
  LSTMOptions& set_batch_first(bool on) { batch_first = on; return *this; }
  LSTMOptions& set_dropout(double p) { dropout = p; return *this; }
  LSTMOptions& set_bidirectional(bool on) { bidirectional = on; return *this; }
  LSTMOptions& set_generator(Generator* g) { generator = g; return *this; }
};

struct LSTMOutput {
  Tensor output;  // (B, T, D*H) (or (T, B, D*H)): the last layer's h, 0 on padding
  Tensor h_n;     // (num_layers * D, B, H): final h of each layer and direction,
                  // in PyTorch's order l0, l0_reverse, l1, l1_reverse, ...
  Tensor c_n;     // (num_layers * D, B, H): final c, same order
};

class LSTM : public StackedRecurrent {
 public:
  // Every weight and bias ~ U(±1/sqrt(H)), as torch.nn.LSTM.
  explicit LSTM(const LSTMOptions& options);
  LSTM(int64_t input_size, int64_t hidden_size) : LSTM(LSTMOptions(input_size, hidden_size)) {}

  // x: (B, T, I); lengths: int64 (B) with 0 <= length <= T, or undefined (no
  // padding); h0, c0: (num_layers * D, B, H) each, or undefined (zeros).
  // Steps at t >= length[b] leave row b's state unchanged and output 0 (nn/recurrent.h).
  LSTMOutput forward(const Tensor& x, const Tensor& lengths = Tensor(),
                     const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor()) const;

  const LSTMOptions& options() const { return options_; }
  // On the CPU each layer and direction runs as one op (autograd::lstm_layer,
  // BPTT in one node); false runs it step by step with the ordinary ops, the
  // reference the tests compare the op with.
  void set_fused_recurrence(bool on) { fused_ = on; }
  // num_directions(), weight_ih(layer, direction), ...: nn/recurrent.h.

 private:
  // One layer in one direction over the whole batch: input (B, T, F) -> h at
  // every step (B, T, H), padding not yet zeroed; `final` receives the last state.
  Tensor run_direction(const Tensor& input, const Weights& w, bool reverse,
                       const LSTMState& start, const SequenceMask& mask, const Tensor& lengths,
                       LSTMState& final) const;

  LSTMOptions options_;
  bool fused_ = true;
};

}  // namespace attn::nn
