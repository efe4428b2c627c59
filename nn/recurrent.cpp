#include "nn/recurrent.h"

#include <algorithm>
#include <cmath>

#include "nn/init.h"

namespace attn::nn {

SequenceMask::SequenceMask(const Tensor& lengths, int64_t batch, int64_t steps, DType dtype,
                           const std::string& layer) {
  min_length_ = steps;
  if (!lengths.defined()) return;
  ATTN_CHECK(lengths.dtype() == kInt64 && lengths.shape() == Shape({batch}), layer,
             ": lengths must be int64 (B) = (", batch, "), got ", dtype_name(lengths.dtype()),
             " of shape ", shape_str(lengths.shape()));
  ATTN_CHECK(lengths.device() == kCPU, layer, ": lengths must be on the CPU");
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
  positions_ = from_vector(real, {batch, steps, 1}).to(dtype);
  steps_.reserve(static_cast<size_t>(steps));
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<int64_t> column(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) column[b] = real[b * steps + t];
    steps_.push_back(from_vector(column, {batch, 1}));
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

}  // namespace attn::nn
