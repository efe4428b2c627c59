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

namespace attn::nn {

// Lengths as masks, built once per forward and shared by every layer and
// direction.
class SequenceMask {
 public:
  // lengths: int64 (batch) with 0 <= length <= steps, or undefined (no
  // padding: every row has all `steps` real steps). `layer` names the caller
  // in error messages ("GRU").
  SequenceMask(const Tensor& lengths, int64_t batch, int64_t steps, DType dtype,
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

}  // namespace attn::nn
