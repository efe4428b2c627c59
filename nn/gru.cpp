#include "nn/gru.h"

#include "autograd/ops.h"
#include "nn/layers.h"
#include "nn/recurrent.h"

namespace attn::nn {

// --- GRUCell -------------------------------------------------------------------

GRUCell::GRUCell(const GRUCellOptions& options) : options_(options) {
  const int64_t I = options.input_size, H = options.hidden_size;
  ATTN_CHECK(I > 0 && H > 0, "GRUCell: input_size and hidden_size must be positive, got ", I,
             " and ", H);
  weight_ih = register_parameter("weight_ih", recurrent_uniform({3 * H, I}, H));
  weight_hh = register_parameter("weight_hh", recurrent_uniform({3 * H, H}, H));
  if (options.bias) {
    bias_ih = register_parameter("bias_ih", recurrent_uniform({3 * H}, H));
    bias_hh = register_parameter("bias_hh", recurrent_uniform({3 * H}, H));
  }
}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) const {
  const int64_t I = options_.input_size, H = options_.hidden_size;
  ATTN_CHECK(x.dim() == 2 && x.size(1) == I, "GRUCell(", I, ", ", H, "): x must be (B, ", I,
             "), got ", shape_str(x.shape()));
  const int64_t B = x.size(0);
  ATTN_CHECK(!h.defined() || h.shape() == Shape({B, H}), "GRUCell(", I, ", ", H,
             "): h must be (B, H) = (", B, ", ", H, ") for x ", shape_str(x.shape()), ", got ",
             shape_str(h.shape()));
  Tensor state = h.defined() ? h : zeros({B, H}, TensorOptions(x.dtype()).device(x.device()));
  Tensor gi = linear(x, weight_ih, bias_ih);      // (B, 3H)
  Tensor gh = linear(state, weight_hh, bias_hh);  // (B, 3H)
  return gru_cell_fused(gi, gh, state);           // (B, H)
}

// --- GRU -----------------------------------------------------------------------

GRU::GRU(const GRUOptions& options)
    : StackedRecurrent("GRU", 3, options.input_size, options.hidden_size, options.num_layers,
                       options.bias, options.bidirectional, options.dropout),
      options_(options) {}

Tensor GRU::run_direction(const Tensor& input, const Weights& w, bool reverse, const Tensor& h0,
                          const SequenceMask& mask, const Tensor& lengths,
                          Tensor& final) const {
  const int64_t T = input.size(1);
  // Every step's input projection at once: one (B·T, F) x (F, 3H) product
  // instead of T small ones. Only h W_hh^T has to wait for the previous step.
  Tensor gi = linear(input, w.weight_ih, w.bias_ih);  // (B, T, 3H)
  if (fused_ && w.bias_hh.defined() && input.device() == kCPU) {
    // The recurrence as one op (autograd/ops_rnn_layer.cpp): same steps, one node.
    Tensor states = gru_layer(gi, w.weight_hh, w.bias_hh, h0, lengths, reverse);  // (T, B, H)
    final = states.select(0, reverse ? 0 : T - 1);
    return states.transpose(0, 1);  // (B, T, H)
  }
  std::vector<Tensor> gi_steps = time_steps(gi);      // T views (B, 3H)
  Tensor w_hh_t = w.weight_hh.t();                    // (H, 3H), a view
  Tensor h = h0;                                      // (B, H)
  std::vector<Tensor> states(static_cast<size_t>(T));
  for (int64_t s = 0; s < T; ++s) {
    // The backward direction reads the sentence right to left.
    const int64_t t = reverse ? T - 1 - s : s;
    Tensor gh = matmul(h, w_hh_t);  // (B, 3H)
    if (w.bias_hh.defined()) gh = gh + w.bias_hh;
    Tensor h_new = gru_cell_fused(gi_steps[t], gh, h);  // (B, H)
    // On padding (t >= length) the state passes through unchanged.
    h = mask.all_real(t) ? h_new : where(mask.step(t), h_new, h);
    states[static_cast<size_t>(t)] = h;
  }
  final = h;
  return stack(states, 1);  // (B, T, H)
}

GRUOutput GRU::forward(const Tensor& x, const Tensor& lengths, const Tensor& h0) const {
  const int64_t H = options_.hidden_size, L = options_.num_layers, D = num_directions();
  Tensor input = batch_first_input(x, options_.input_size, options_.batch_first, "GRU");
  const int64_t B = input.size(0), T = input.size(1);
  check_initial_state(h0, "h0", L * D, B, H, input, "GRU");
  SequenceMask mask(lengths, B, T, input, "GRU");

  std::vector<Tensor> finals;  // (B, H) each, in the order of h_n
  Tensor layer_input = input;  // (B, T, F)
  for (int64_t layer = 0; layer < L; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t direction = 0; direction < D; ++direction) {
      Tensor start = h0.defined() ? h0.select(0, layer * D + direction)
                                  : zeros({B, H}, TensorOptions(input.dtype()).device(input.device()));
      Tensor final;
      outputs.push_back(
          run_direction(layer_input, weights(layer, direction), direction == 1, start, mask,
                        lengths, final));
      finals.push_back(final);
    }
    layer_input = D == 1 ? outputs[0] : cat(outputs, 2);  // (B, T, D*H)
    // Dropout between layers, as in PyTorch: not after the last one.
    if (layer + 1 < L && options_.dropout > 0.0) {
      layer_input = dropout(layer_input, options_.dropout, is_training(), options_.generator);
    }
  }
  // Padded positions hold carried states (and, in deeper layers, values computed
  // from them); the caller sees zeros there.
  Tensor output = mask.has_padding() ? layer_input * mask.positions() : layer_input;
  if (!options_.batch_first) output = output.transpose(0, 1);
  return GRUOutput{output, stack(finals, 0)};
}

}  // namespace attn::nn
