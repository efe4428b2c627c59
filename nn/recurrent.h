// What the recurrent layers (nn/gru.h, nn/lstm.h) share: checking their
// inputs, turning sequence lengths into masks, naming their parameters as
// PyTorch does, and cutting a (B, T, ...) tensor into its time steps.
//
// Padding. A batch holds sentences of different lengths, padded to the
// longest, T. With lengths given, a step t >= length[b] is padding for row b:
//   - the state of row b passes through it unchanged, so the forward
//     direction's final state is the state after the last real token, and the
//     backward direction, which walks t = T-1 ... 0, starts from the initial
//     state at each row's own last real token;
//   - the output there is 0.
// Blending h = mask ? h' : h (a where) does both; it also stops any gradient
// from reaching the steps computed on padding, so their values never matter
// (tests/nn/test_layers.cpp changes them and checks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/module.h"

namespace attn::nn {

// Lengths as masks, built once per forward and shared by every layer and
// direction.
class SequenceMask {
 public:
  // lengths: int64 (batch) with 0 <= length <= steps, or undefined (no
  // padding: every row has all `steps` real steps). `layer` names the caller
  // in error messages ("GRU"). like: the input, whose dtype and device the
  // masks take. The lengths are read on the host (a small copy when on the GPU).
  SequenceMask(const Tensor& lengths, int64_t batch, int64_t steps, const Tensor& like,
               const std::string& layer);

  // True when some row is shorter than `steps`.
  bool has_padding() const { return has_padding_; }
  // True when every row has a real token at step t: no blending needed there.
  bool all_real(int64_t t) const { return t < min_length_; }
  // (batch, 1) int64: 1 where t < length, 0 on padding; for where().
  const Tensor& step(int64_t t) const { return steps_.at(static_cast<size_t>(t)); }
  // (batch, steps, 1) in the layer's dtype: 1 at real positions, 0 at padding;
  // multiplies the outputs so padding reads 0.
  const Tensor& positions() const { return positions_; }

 private:
  bool has_padding_ = false;
  int64_t min_length_ = 0;
  std::vector<Tensor> steps_;
  Tensor positions_;
};

// The initial value of every weight and bias of a recurrent layer with
// hidden size H: U(±1/sqrt(H)), as torch.nn.RNNBase.reset_parameters. (Cho et
// al. and Bahdanau et al. used orthogonal and Gaussian starts; with Adam the
// uniform one trains as well on our tasks and matches PyTorch.)
Tensor recurrent_uniform(const Shape& shape, int64_t hidden_size);

// PyTorch's suffix for the parameters of one layer and direction:
// "_l0", "_l1", and "_l0_reverse" for the backward direction.
std::string layer_suffix(int64_t layer, int64_t direction);

// The T time steps of x (B, T, F), each a (B, F) view: step t is x[:, t].
// The views are what the fused cells read directly (rows a stride apart).
std::vector<Tensor> time_steps(const Tensor& x);

// Checks a recurrent layer's input and returns it batch-first:
// x: (B, T, input_size) when batch_first, else (T, B, input_size).
Tensor batch_first_input(const Tensor& x, int64_t input_size, bool batch_first,
                         const std::string& layer);

// Checks an initial state: undefined (zeros), or (layers * directions, B, H).
void check_initial_state(const Tensor& state, const char* name, int64_t layers_x_directions,
                         int64_t batch, int64_t hidden, const Tensor& like,
                         const std::string& layer);

// The parameters of a stack of recurrent layers, the part GRU (3 gates) and
// LSTM (4 gates) share: per layer and direction, weight_ih (G*H, in),
// weight_hh (G*H, H) and their biases, registered in PyTorch's order and with
// PyTorch's names (weight_ih_l0, ..., bias_hh_l1_reverse), so named_parameters()
// lists them as torch.nn.GRU / torch.nn.LSTM do.
class StackedRecurrent : public Module {
 public:
  int64_t num_directions() const { return directions_; }

  // The parameters of one layer and direction (0 forward, 1 backward), the
  // tensors registered as weight_ih_l{layer}[_reverse] and so on.
  const Tensor& weight_ih(int64_t layer, int64_t direction = 0) const;
  const Tensor& weight_hh(int64_t layer, int64_t direction = 0) const;
  const Tensor& bias_ih(int64_t layer, int64_t direction = 0) const;  // undefined without bias
  const Tensor& bias_hh(int64_t layer, int64_t direction = 0) const;

 protected:
  struct Weights {
    Tensor weight_ih, weight_hh, bias_ih, bias_hh;
  };
  // Checks the sizes (messages name `layer_name`) and registers every weight,
  // each ~ U(±1/sqrt(H)) as PyTorch.
  StackedRecurrent(const std::string& layer_name, int64_t gates, int64_t input_size,
                   int64_t hidden_size, int64_t num_layers, bool bias, bool bidirectional,
                   double dropout);
  const Weights& weights(int64_t layer, int64_t direction) const;

 private:
  std::string layer_name_;
  int64_t num_layers_;
  int64_t directions_;
  std::vector<Weights> weights_;  // index layer * D + direction
};

}  // namespace attn::nn
