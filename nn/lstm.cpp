#include "nn/lstm.h"

#include "autograd/ops.h"
#include "nn/layers.h"
#include "nn/recurrent.h"

namespace attn::nn {

// --- LSTMCell ------------------------------------------------------------------

LSTMCell::LSTMCell(const LSTMCellOptions& options) : options_(options) {
  const int64_t I = options.input_size, H = options.hidden_size;
  ATTN_CHECK(I > 0 && H > 0, "LSTMCell: input_size and hidden_size must be positive, got ", I,
             " and ", H);
  weight_ih = register_parameter("weight_ih", recurrent_uniform({4 * H, I}, H));
  weight_hh = register_parameter("weight_hh", recurrent_uniform({4 * H, H}, H));
  if (options.bias) {
    bias_ih = register_parameter("bias_ih", recurrent_uniform({4 * H}, H));
    bias_hh = register_parameter("bias_hh", recurrent_uniform({4 * H}, H));
  }
}

LSTMState LSTMCell::forward(const Tensor& x, const LSTMState& state) const {
  const int64_t I = options_.input_size, H = options_.hidden_size;
  ATTN_CHECK(x.dim() == 2 && x.size(1) == I, "LSTMCell(", I, ", ", H, "): x must be (B, ", I,
             "), got ", shape_str(x.shape()));
  const int64_t B = x.size(0);
  ATTN_CHECK(state.h.defined() == state.c.defined(), "LSTMCell(", I, ", ", H,
             "): give both h and c, or neither");
  for (const Tensor* part : {&state.h, &state.c}) {
    ATTN_CHECK(!part->defined() || part->shape() == Shape({B, H}), "LSTMCell(", I, ", ", H,
               "): h and c must be (B, H) = (", B, ", ", H, ") for x ", shape_str(x.shape()),
               ", got ", shape_str(part->shape()));
  }
  const TensorOptions like = TensorOptions(x.dtype()).device(x.device());
  Tensor h = state.h.defined() ? state.h : zeros({B, H}, like);
  Tensor c = state.c.defined() ? state.c : zeros({B, H}, like);
  Tensor gates = linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh);  // (B, 4H)
  Tensor next = lstm_cell_fused(gates, c);  // (B, 2H) = [h' | c']
  return LSTMState{next.narrow(1, 0, H), next.narrow(1, H, H)};
}

// --- LSTM ----------------------------------------------------------------------

LSTM::LSTM(const LSTMOptions& options)
    : StackedRecurrent("LSTM", 4, options.input_size, options.hidden_size, options.num_layers,
                       options.bias, options.bidirectional, options.dropout),
      options_(options) {}

Tensor LSTM::run_direction(const Tensor& input, const Weights& w, bool reverse,
                           const LSTMState& start, const SequenceMask& mask,
                           const Tensor& lengths, LSTMState& final) const {
  const int64_t T = input.size(1), H = options_.hidden_size;
  // Both biases only ever appear summed, so they join the input projection:
  // every step's x W_ih^T + b_ih + b_hh in one (B·T, F) x (F, 4H) product.
  Tensor bias = w.bias_ih.defined() ? w.bias_ih + w.bias_hh : Tensor();
  Tensor gi = linear(input, w.weight_ih, bias);   // (B, T, 4H)
  if (fused_ && input.device() == kCPU) {
    // The recurrence as one op (autograd/ops_rnn_layer.cpp): same steps, one node.
    Tensor states = lstm_layer(gi, w.weight_hh, start.h, start.c, lengths, reverse);  // (T, B, 2H)
    Tensor last = states.select(0, reverse ? 0 : T - 1);
    final = LSTMState{last.narrow(1, 0, H), last.narrow(1, H, H)};
    return states.narrow(2, 0, H).transpose(0, 1);  // (B, T, H)
  }
  std::vector<Tensor> gi_steps = time_steps(gi);  // T views (B, 4H)
  Tensor w_hh_t = w.weight_hh.t();                // (H, 4H), a view
  // h and c travel together as one (B, 2H) tensor [h | c], the layout
  // lstm_cell_fused returns, so that padding needs one where, not two.
  Tensor state = cat({start.h, start.c}, 1);  // (B, 2H)
  std::vector<Tensor> outputs(static_cast<size_t>(T));
  for (int64_t s = 0; s < T; ++s) {
    // The backward direction reads the sentence right to left.
    const int64_t t = reverse ? T - 1 - s : s;
    Tensor h = state.narrow(1, 0, H), c = state.narrow(1, H, H);
    Tensor gates = gi_steps[t] + matmul(h, w_hh_t);  // (B, 4H)
    Tensor next = lstm_cell_fused(gates, c);         // (B, 2H)
    // On padding (t >= length) the state passes through unchanged.
    state = mask.all_real(t) ? next : where(mask.step(t), next, state);
    outputs[static_cast<size_t>(t)] = state.narrow(1, 0, H);
  }
  final = LSTMState{state.narrow(1, 0, H), state.narrow(1, H, H)};
  return stack(outputs, 1);  // (B, T, H)
}

LSTMOutput LSTM::forward(const Tensor& x, const Tensor& lengths, const Tensor& h0,
                         const Tensor& c0) const {
  const int64_t H = options_.hidden_size, L = options_.num_layers, D = num_directions();
  Tensor input = batch_first_input(x, options_.input_size, options_.batch_first, "LSTM");
  const int64_t B = input.size(0), T = input.size(1);
  ATTN_CHECK(h0.defined() == c0.defined(), "LSTM: give both h0 and c0, or neither");
  check_initial_state(h0, "h0", L * D, B, H, input, "LSTM");
  check_initial_state(c0, "c0", L * D, B, H, input, "LSTM");
  SequenceMask mask(lengths, B, T, input, "LSTM");

  const TensorOptions like = TensorOptions(input.dtype()).device(input.device());
  std::vector<Tensor> final_h, final_c;  // (B, H) each, in the order of h_n and c_n
  Tensor layer_input = input;            // (B, T, F)
  for (int64_t layer = 0; layer < L; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t direction = 0; direction < D; ++direction) {
      const int64_t k = layer * D + direction;
      LSTMState start = h0.defined() ? LSTMState{h0.select(0, k), c0.select(0, k)}
                                     : LSTMState{zeros({B, H}, like), zeros({B, H}, like)};
      LSTMState final;
      outputs.push_back(
          run_direction(layer_input, weights(layer, direction), direction == 1, start, mask,
                        lengths, final));
      final_h.push_back(final.h);
      final_c.push_back(final.c);
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
  return LSTMOutput{output, stack(final_h, 0), stack(final_c, 0)};
}

}  // namespace attn::nn
