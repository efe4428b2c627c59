#include "nn/recurrent.h"

#include <algorithm>
#include <cmath>

#include "nn/init.h"

namespace attn::nn {

SequenceMask::SequenceMask(const Tensor& lengths, int64_t batch, int64_t steps,
                           const Tensor& like, const std::string& layer) {
  min_length_ = steps;
  if (!lengths.defined()) return;
  ATTN_CHECK(lengths.dtype() == kInt64 && lengths.shape() == Shape({batch}), layer,
             ": lengths must be int64 (B) = (", batch, "), got ", dtype_name(lengths.dtype()),
             " of shape ", shape_str(lengths.shape()));
  std::vector<int64_t> length = lengths.to_vector<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    ATTN_CHECK(length[b] >= 0 && length[b] <= steps, layer, ": lengths[", b, "] = ", length[b],
               " is outside [0, ", steps, "] for an input of ", steps, " steps");
  }
  min_length_ = batch == 0 ? steps : *std::min_element(length.begin(), length.end());
  has_padding_ = min_length_ < steps;
  if (!has_padding_) return;

  std::vector<int64_t> real(static_cast<size_t>(batch * steps));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < steps; ++t) real[b * steps + t] = t < length[b] ? 1 : 0;
  }
  positions_ = from_vector(real, {batch, steps, 1}, like.options());
  steps_.reserve(static_cast<size_t>(steps));
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<int64_t> column(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) column[b] = real[b * steps + t];
    steps_.push_back(from_vector(column, {batch, 1}, TensorOptions(kInt64).device(like.device())));
  }
}

Tensor recurrent_uniform(const Shape& shape, int64_t hidden_size) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  return init::uniform(shape, -bound, bound);
}

std::string layer_suffix(int64_t layer, int64_t direction) {
  return "_l" + std::to_string(layer) + (direction == 1 ? "_reverse" : "");
}

std::vector<Tensor> time_steps(const Tensor& x) {
  // unbind, not T selects: its backward is one (B, T, F) buffer, not T of them.
  return unbind(x, 1);
}

Tensor batch_first_input(const Tensor& x, int64_t input_size, bool batch_first,
                         const std::string& layer) {
  const char* layout = batch_first ? "(B, T, " : "(T, B, ";
  ATTN_CHECK(x.dim() == 3 && x.size(2) == input_size, layer, ": input must be ", layout,
             input_size, "), got ", shape_str(x.shape()));
  check_floating(layer.c_str(), x);
  Tensor input = batch_first ? x : x.transpose(0, 1);
  ATTN_CHECK(input.size(1) > 0, layer, ": input has no time steps: ", shape_str(x.shape()));
  return input;
}

void check_initial_state(const Tensor& state, const char* name, int64_t layers_x_directions,
                         int64_t batch, int64_t hidden, const Tensor& like,
                         const std::string& layer) {
  if (!state.defined()) return;
  ATTN_CHECK(state.shape() == Shape({layers_x_directions, batch, hidden}), layer, ": ", name,
             " must be (num_layers * num_directions, B, H) = (", layers_x_directions, ", ",
             batch, ", ", hidden, "), got ", shape_str(state.shape()));
  check_same(layer.c_str(), like, state);
}

StackedRecurrent::StackedRecurrent(const std::string& layer_name, int64_t gates,
                                   int64_t input_size, int64_t hidden_size, int64_t num_layers,
                                   bool bias, bool bidirectional, double dropout)
    : layer_name_(layer_name), num_layers_(num_layers), directions_(bidirectional ? 2 : 1) {
  const int64_t I = input_size, H = hidden_size, G = gates, D = directions_;
  ATTN_CHECK(I > 0 && H > 0, layer_name, ": input_size and hidden_size must be positive, got ",
             I, " and ", H);
  ATTN_CHECK(num_layers >= 1, layer_name, ": num_layers must be at least 1, got ", num_layers);
  ATTN_CHECK(dropout >= 0.0 && dropout < 1.0, layer_name, ": dropout must be in [0, 1), got ",
             dropout);
  // Registered in PyTorch's order: layer, direction, then w_ih, w_hh, b_ih, b_hh.
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    const int64_t in = layer == 0 ? I : D * H;
    for (int64_t direction = 0; direction < D; ++direction) {
      const std::string suffix = layer_suffix(layer, direction);
      Weights w;
      w.weight_ih = register_parameter("weight_ih" + suffix, recurrent_uniform({G * H, in}, H));
      w.weight_hh = register_parameter("weight_hh" + suffix, recurrent_uniform({G * H, H}, H));
      if (bias) {
        w.bias_ih = register_parameter("bias_ih" + suffix, recurrent_uniform({G * H}, H));
        w.bias_hh = register_parameter("bias_hh" + suffix, recurrent_uniform({G * H}, H));
      }
      weights_.push_back(w);
    }
  }
}

const StackedRecurrent::Weights& StackedRecurrent::weights(int64_t layer,
                                                          int64_t direction) const {
  ATTN_CHECK(layer >= 0 && layer < num_layers_ && direction >= 0 && direction < directions_,
             layer_name_, ": no layer ", layer, " direction ", direction, " in a stack of ",
             num_layers_, " layers and ", directions_, " directions");
  return weights_[static_cast<size_t>(layer * directions_ + direction)];
}

const Tensor& StackedRecurrent::weight_ih(int64_t layer, int64_t direction) const {
  return weights(layer, direction).weight_ih;
}
const Tensor& StackedRecurrent::weight_hh(int64_t layer, int64_t direction) const {
  return weights(layer, direction).weight_hh;
}
const Tensor& StackedRecurrent::bias_ih(int64_t layer, int64_t direction) const {
  return weights(layer, direction).bias_ih;
}
const Tensor& StackedRecurrent::bias_hh(int64_t layer, int64_t direction) const {
  return weights(layer, direction).bias_hh;
}

}  // namespace attn::nn
