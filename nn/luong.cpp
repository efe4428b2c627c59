#include "nn/luong.h"

#include <sstream>

#include "autograd/ops.h"

namespace attn::nn {
namespace {

constexpr int64_t kPadId = 0;  // data/vocab.h's kPad; nn/ does not include data/

// What the decoder carries between positions during generation.
class LuongState : public DecoderState {
 public:
  Tensor annotations, projected_keys, source_lengths;
  std::vector<LSTMState> states;  // one per decoder layer
  Tensor htilde;                  // (B, H): fed to the next step (input feeding)
  Tensor weights;                 // (B, S) of the last step
  Tensor positions;               // (B) of the last step, local attention only
  int64_t next_step = 0;          // the decoder position of the next step() (local-m)
  int64_t half_width = 0;         // D, or 0 for global attention

  void reorder(const Tensor& indices) override {
    auto pick = [&](Tensor& t) {
      if (t.defined()) t = index_select(t, 0, indices);
    };
    pick(annotations);
    pick(projected_keys);
    pick(source_lengths);
    pick(htilde);
    pick(weights);
    pick(positions);
    for (LSTMState& s : states) {
      pick(s.h);
      pick(s.c);
    }
  }
  Tensor last_attention() const override { return weights; }
  Tensor last_position() const override { return positions; }
  int64_t window() const override { return half_width; }
};

}  // namespace

Luong::Luong(const LuongOptions& options) : options_(options) {
  const int64_t E = options.embedding_size, H = options.hidden_size;
  ATTN_CHECK(E > 0 && H > 0 && options.layers > 0 && options.source_vocab_size > 0 &&
                 options.target_vocab_size > 0,
             "Luong: sizes must be positive (embedding ", E, ", hidden ", H, ", layers ",
             options.layers, ", vocabularies ", options.source_vocab_size, "/",
             options.target_vocab_size, ")");
  source_embedding_ = register_module("source_embedding", std::make_shared<Embedding>(
      EmbeddingOptions(options.source_vocab_size, E).set_padding_idx(kPadId)));
  target_embedding_ = register_module("target_embedding", std::make_shared<Embedding>(
      EmbeddingOptions(options.target_vocab_size, E).set_padding_idx(kPadId)));
  encoder_ = register_module("encoder", std::make_shared<LSTM>(
      LSTMOptions(E, H).set_num_layers(options.layers)
          .set_dropout(options.layers > 1 ? options.dropout : 0.0)));
  for (int64_t layer = 0; layer < options.layers; ++layer) {
    int64_t input = layer > 0 ? H : (options.input_feed ? E + H : E);
    decoder_cells_.push_back(register_module("decoder_l" + std::to_string(layer),
                                             std::make_shared<LSTMCell>(input, H)));
  }
  LuongAttentionOptions attention(H, H);
  attention.score = options.score;
  attention.scope = options.scope;
  attention.window = options.window;
  attention.attention_size = options.attention_size;
  attention_ = register_module("attention", std::make_shared<LuongAttention>(attention));
  combine_ = register_module("combine", std::make_shared<Linear>(
      LinearOptions(2 * H, H).set_bias(false)));
  output_ = register_module("output", std::make_shared<Linear>(H, options.target_vocab_size));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout));
}

Luong::Encoded Luong::encode(const Tensor& source, const Tensor& source_lengths) {
  ATTN_CHECK(source.dim() == 2 && source.dtype() == kInt64, "Luong: source must be (B, S) "
             "int64, got ", dtype_name(source.dtype()), " ", shape_str(source.shape()));
  ATTN_CHECK(source_lengths.shape() == Shape({source.size(0)}), "Luong: source_lengths must "
             "be (", source.size(0), "), got ", shape_str(source_lengths.shape()));
  Encoded encoded;
  Tensor embedded = dropout_->forward(source_embedding_->forward(source));  // (B, S, E)
  LSTMOutput run = encoder_->forward(embedded, source_lengths);
  encoded.annotations = run.output;                                         // (B, S, H)
  encoded.projected_keys = attention_->precompute_keys(encoded.annotations);
  encoded.source_lengths = source_lengths;
  // One direction, so h_n's row l is layer l's final state.
  for (int64_t layer = 0; layer < options_.layers; ++layer) {
    encoded.initial.push_back({run.h_n.select(0, layer), run.c_n.select(0, layer)});
  }
  return encoded;
}

Tensor Luong::decoder_layers(const Tensor& x, std::vector<LSTMState>& states) {
  Tensor input = x;
  for (size_t layer = 0; layer < decoder_cells_.size(); ++layer) {
    states[layer] = decoder_cells_[layer]->forward(input, states[layer]);
    input = layer + 1 < decoder_cells_.size() ? dropout_->forward(states[layer].h) : states[layer].h;
  }
  return input;  // (B, H)
}

Tensor Luong::attentional_state(const Tensor& context, const Tensor& top) const {
  return tanh(combine_->forward(cat({context, top}, -1)));  // eq. (5)
}

Tensor Luong::forward_with_attention(const Tensor& source, const Tensor& source_lengths,
                                     const Tensor& target_input, LuongAttentionOutput& attention) {
  ATTN_CHECK(target_input.dim() == 2 && target_input.size(0) == source.size(0),
             "Luong: target_input must be (", source.size(0), ", T), got ",
             shape_str(target_input.shape()));
  Encoded encoded = encode(source, source_lengths);
  Tensor embedded = dropout_->forward(target_embedding_->forward(target_input));  // (B, T, E)
  std::vector<LSTMState> states = encoded.initial;
  std::vector<Tensor> steps = unbind(embedded, 1);  // T x (B, E)
  Tensor htildes;                                   // (B, T, H)
  if (options_.input_feed) {
    // Sequential: step t's input needs htilde_{t-1}, which needs step t-1's attention.
    const int64_t B = source.size(0), H = options_.hidden_size;
    Tensor htilde = zeros({B, H}, embedded.options());
    std::vector<Tensor> outputs, weights, positions;
    for (size_t t = 0; t < steps.size(); ++t) {
      Tensor top = decoder_layers(cat({steps[t], htilde}, -1), states);     // (B, H)
      LuongAttentionOutput a = attention_->forward(top.unsqueeze(1), encoded.projected_keys,
                                                   encoded.annotations, encoded.source_lengths,
                                                   static_cast<int64_t>(t));
      htilde = attentional_state(a.context.squeeze(1), top);                // (B, H)
      outputs.push_back(htilde);
      weights.push_back(a.weights.squeeze(1));
      if (a.positions.defined()) positions.push_back(a.positions.squeeze(1));
    }
    htildes = stack(outputs, 1);
    attention.weights = stack(weights, 1);                                  // (B, T, S)
    attention.positions = positions.empty() ? Tensor() : stack(positions, 1);
  } else {
    // The LSTM never sees the attention: run it first, then attend for all
    // positions at once, (B, T, H) queries against (B, S, H) keys.
    std::vector<Tensor> tops;
    for (const Tensor& step_input : steps) tops.push_back(decoder_layers(step_input, states));
    Tensor top = stack(tops, 1);                                            // (B, T, H)
    attention = attention_->forward(top, encoded.projected_keys, encoded.annotations,
                                    encoded.source_lengths, 0);
    htildes = attentional_state(attention.context, top);
  }
  return output_->forward(dropout_->forward(htildes));                      // (B, T, V)
}

Tensor Luong::forward(const Tensor& source, const Tensor& source_lengths,
                      const Tensor& target_input) {
  const LSTMCell& cell = *decoder_cells_[0];
  const bool fused = fused_decoder_ && options_.input_feed && options_.layers == 1 &&
                     options_.scope == "global" && options_.score != "concat" &&
                     cell.bias_ih.defined() && source.device() == kCPU;
  if (fused) {
    ATTN_CHECK(target_input.dim() == 2 && target_input.size(0) == source.size(0),
               "Luong: target_input must be (", source.size(0), ", T), got ",
               shape_str(target_input.shape()));
    Encoded encoded = encode(source, source_lengths);
    Tensor embedded = dropout_->forward(target_embedding_->forward(target_input));  // (B, T, E)
    // x W_ih^T with x = [E y; htilde] splits into W_ih[:, :E] E y, for all
    // positions at once here with both biases, and W_ih[:, E:] htilde inside the op.
    const int64_t E = options_.embedding_size, H = options_.hidden_size;
    Tensor gi_emb = linear(embedded.transpose(0, 1), cell.weight_ih.narrow(1, 0, E),
                           cell.bias_ih + cell.bias_hh);                    // (T, B, 4H)
    Tensor htildes = luong_decoder(gi_emb, encoded.initial[0].h, encoded.initial[0].c,
                                   cell.weight_ih.narrow(1, E, H), cell.weight_hh,
                                   combine_->weight, encoded.projected_keys,
                                   encoded.annotations, encoded.source_lengths);  // (T, B, H)
    return output_->forward(dropout_->forward(htildes.transpose(0, 1)));   // (B, T, V)
  }
  LuongAttentionOutput unused;
  return forward_with_attention(source, source_lengths, target_input, unused);
}

std::unique_ptr<DecoderState> Luong::start(const Tensor& source, const Tensor& source_lengths) {
  Encoded encoded = encode(source, source_lengths);
  auto state = std::make_unique<LuongState>();
  state->annotations = encoded.annotations;
  state->projected_keys = encoded.projected_keys;
  state->source_lengths = encoded.source_lengths;
  state->states = encoded.initial;
  state->htilde = zeros({source.size(0), options_.hidden_size}, encoded.annotations.options());
  state->half_width = options_.scope == "global" ? 0 : options_.window;
  return state;
}

Tensor Luong::step(DecoderState& base, const Tensor& previous) {
  auto& state = dynamic_cast<LuongState&>(base);
  Tensor x = dropout_->forward(target_embedding_->forward(previous));      // (B, E)
  if (options_.input_feed) x = cat({x, state.htilde}, -1);                  // (B, E + H)
  Tensor top = decoder_layers(x, state.states);                             // (B, H)
  LuongAttentionOutput a = attention_->forward(top.unsqueeze(1), state.projected_keys,
                                               state.annotations, state.source_lengths,
                                               state.next_step++);
  state.htilde = attentional_state(a.context.squeeze(1), top);
  state.weights = a.weights.squeeze(1);                                     // (B, S)
  state.positions = a.positions.defined() ? a.positions.squeeze(1) : Tensor();
  return output_->forward(dropout_->forward(state.htilde));                 // (B, V)
}

std::string Luong::describe() const {
  std::ostringstream out;
  out << "Luong attention (" << options_.score << ", " << options_.scope;
  if (options_.scope != "global") out << ", D=" << options_.window;
  out << (options_.input_feed ? ", input feeding" : ", no input feeding") << "): embeddings "
      << options_.embedding_size << ", LSTM encoder and decoder " << options_.layers << "x"
      << options_.hidden_size << ", vocabularies " << options_.source_vocab_size << "/"
      << options_.target_vocab_size << ", " << parameter_count() << " parameters";
  return out.str();
}

}  // namespace attn::nn
