#include "nn/rnnsearch.h"

#include <sstream>

#include "autograd/ops.h"

namespace attn::nn {
namespace {

constexpr int64_t kPadId = 0;  // data/vocab.h's kPad; nn/ does not include data/

// What the decoder carries between positions during generation.
class RNNSearchState : public DecoderState {
 public:
  Tensor annotations, projected_keys, fixed_context, source_mask;
  std::vector<Tensor> states;  // one (B, H) per decoder layer
  Tensor weights;              // (B, S) of the last step

  void reorder(const Tensor& indices) override {
    auto pick = [&](Tensor& t) {
      if (t.defined()) t = index_select(t, 0, indices);
    };
    pick(annotations);
    pick(projected_keys);
    pick(fixed_context);
    pick(source_mask);
    pick(weights);
    for (Tensor& s : states) pick(s);
  }
  Tensor last_attention() const override { return weights; }
};

}  // namespace

RNNSearch::RNNSearch(const RNNSearchOptions& options) : options_(options) {
  const int64_t E = options.embedding_size, H = options.hidden_size;
  const int64_t A = options.attention_size > 0 ? options.attention_size : H;
  ATTN_CHECK(E > 0 && H > 0 && options.encoder_layers > 0 && options.decoder_layers > 0 &&
                 options.source_vocab_size > 0 && options.target_vocab_size > 0,
             "RNNSearch: sizes must be positive (embedding ", E, ", hidden ", H, ", layers ",
             options.encoder_layers, "/", options.decoder_layers, ", vocabularies ",
             options.source_vocab_size, "/", options.target_vocab_size, ")");
  options_.attention_size = A;
  source_embedding_ = register_module("source_embedding", std::make_shared<Embedding>(
      EmbeddingOptions(options.source_vocab_size, E).set_padding_idx(kPadId)));
  target_embedding_ = register_module("target_embedding", std::make_shared<Embedding>(
      EmbeddingOptions(options.target_vocab_size, E).set_padding_idx(kPadId)));
  encoder_ = register_module("encoder", std::make_shared<GRU>(
      GRUOptions(E, H).set_bidirectional(true).set_num_layers(options.encoder_layers)
          .set_dropout(options.encoder_layers > 1 ? options.dropout : 0.0)));
  init_projection_ = register_module("init_projection", std::make_shared<Linear>(H, H));
  if (options.attention) {
    attention_ = register_module("attention", std::make_shared<AdditiveAttention>(
        AdditiveAttentionOptions(H, 2 * H, A)));
  }
  for (int64_t layer = 0; layer < options.decoder_layers; ++layer) {
    int64_t input = layer == 0 ? E + 2 * H : H;
    decoder_cells_.push_back(register_module("decoder_l" + std::to_string(layer),
                                             std::make_shared<GRUCell>(input, H)));
  }
  if (options.maxout) {
    // 2R pre-maxout units, R = H after pooling pairs (as the PyTorch reference).
    readout_ = register_module("readout", std::make_shared<Linear>(H + 2 * H + E, 2 * H));
  }
  output_ = register_module("output", std::make_shared<Linear>(H, options.target_vocab_size));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout));
}

RNNSearch::Encoded RNNSearch::encode(const Tensor& source, const Tensor& source_lengths) {
  ATTN_CHECK(source.dim() == 2 && source.dtype() == kInt64, "RNNSearch: source must be (B, S) "
             "int64, got ", dtype_name(source.dtype()), " ", shape_str(source.shape()));
  ATTN_CHECK(source_lengths.shape() == Shape({source.size(0)}), "RNNSearch: source_lengths must "
             "be (", source.size(0), "), got ", shape_str(source_lengths.shape()));
  const int64_t H = options_.hidden_size;
  Encoded encoded;
  // Real positions are those before each row's length: the rule the encoder's
  // GRU follows (nn/recurrent.h), so attention and encoder never disagree,
  // whatever ids sit in the padding.
  const int64_t B = source.size(0), S = source.size(1);
  std::vector<int64_t> lengths = source_lengths.cpu().to_vector<int64_t>();
  std::vector<int64_t> real(static_cast<size_t>(B * S));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < S; ++j) real[b * S + j] = j < lengths[b] ? 1 : 0;
  }
  encoded.source_mask = from_vector(real, {B, S}).to(source.device());        // (B, S)
  encoded.source_lengths = source_lengths;
  Tensor embedded = dropout_->forward(source_embedding_->forward(source));   // (B, S, E)
  GRUOutput run = encoder_->forward(embedded, source_lengths);
  encoded.annotations = run.output;                                          // (B, S, 2H)
  // h_n is (layers * 2, B, H): the last two rows are the top layer's forward
  // and backward final states; the backward one ended at word 1.
  int64_t rows = run.h_n.size(0);
  Tensor last_forward = run.h_n.select(0, rows - 2);                        // (B, H)
  Tensor first_backward = run.h_n.select(0, rows - 1);                      // (B, H)
  encoded.initial_state = tanh(init_projection_->forward(first_backward));  // (B, H)
  if (options_.attention) {
    encoded.projected_keys = attention_->precompute_keys(encoded.annotations);  // (B, S, A)
  } else {
    encoded.fixed_context = cat({last_forward, first_backward}, -1);           // (B, 2H)
  }
  (void)H;
  return encoded;
}

Tensor RNNSearch::decode_step(const Tensor& embedded, std::vector<Tensor>& states,
                              const Encoded& encoded, Tensor& weights) {
  Tensor context;
  if (options_.attention) {
    // The query is the top layer's previous state s_{i-1}.
    AttentionOutput attended = attention_->forward(states.back(), encoded.projected_keys,
                                                   encoded.annotations, encoded.source_mask);
    context = attended.context;    // (B, 2H)
    weights = attended.weights;    // (B, S)
  } else {
    context = encoded.fixed_context;
  }
  Tensor input = cat({embedded, context}, -1);  // (B, E + 2H)
  for (size_t layer = 0; layer < decoder_cells_.size(); ++layer) {
    states[layer] = decoder_cells_[layer]->forward(input, states[layer]);  // (B, H)
    input = layer + 1 < decoder_cells_.size() ? dropout_->forward(states[layer]) : states[layer];
  }
  return context;
}

Tensor RNNSearch::output_layer(const Tensor& state, const Tensor& context, const Tensor& embedded) {
  if (!options_.maxout) return output_->forward(dropout_->forward(state));
  // t~ = W_r [s; c; E y]: (..., 2H); maxout keeps the larger of each pair of units.
  Tensor pre = readout_->forward(cat({state, context, embedded}, -1));
  Shape pairs = pre.shape();
  pairs.back() /= 2;
  pairs.push_back(2);
  Tensor pooled = max(pre.reshape(pairs), -1);                              // (..., H)
  return output_->forward(dropout_->forward(pooled));                       // (..., V)
}

Tensor RNNSearch::forward(const Tensor& source, const Tensor& source_lengths,
                          const Tensor& target_input) {
  ATTN_CHECK(target_input.dim() == 2 && target_input.size(0) == source.size(0),
             "RNNSearch: target_input must be (", source.size(0), ", T), got ",
             shape_str(target_input.shape()));
  Encoded encoded = encode(source, source_lengths);
  Tensor embedded = dropout_->forward(target_embedding_->forward(target_input));  // (B, T, E)
  const bool fused = fused_decoder_ && options_.attention && decoder_cells_.size() == 1 &&
                     decoder_cells_[0]->bias_hh.defined() && embedded.device() == kCPU;
  Tensor states, contexts;
  decode_all(embedded, encoded, fused, states, contexts);
  // The output layer needs no recurrence: run it once over all positions.
  return output_layer(states, contexts, embedded);  // (B, T, V)
}

void RNNSearch::decode_all(const Tensor& embedded, const Encoded& encoded, bool fused,
                           Tensor& states, Tensor& contexts) {
  const int64_t E = options_.embedding_size, H = options_.hidden_size;
  if (fused) {
    // W_ih [E y; c] = W_ih[:, :E] E y + W_ih[:, E:] c: the first half for all
    // positions at once here, the second inside the op, step by step.
    const GRUCell& cell = *decoder_cells_[0];
    Tensor gi_emb = linear(embedded.transpose(0, 1), cell.weight_ih.narrow(1, 0, E),
                           cell.bias_ih);                                     // (T, B, 3H)
    Tensor out = bahdanau_decoder(gi_emb, encoded.initial_state,
                                  cell.weight_ih.narrow(1, E, 2 * H), cell.weight_hh,
                                  cell.bias_hh, attention_->query_weight,
                                  attention_->score_weight, encoded.projected_keys,
                                  encoded.annotations, encoded.source_lengths);
    Tensor batch_major = out.transpose(0, 1);                                // (B, T, 3H)
    states = batch_major.narrow(2, 0, H);
    contexts = batch_major.narrow(2, H, 2 * H);
    return;
  }
  std::vector<Tensor> layer_states(decoder_cells_.size(), encoded.initial_state);
  std::vector<Tensor> top_states, step_contexts;
  Tensor weights;
  // unbind, not select: one node hands each step its slice of the gradient,
  // where T selects would each build a gradient the size of the whole sequence.
  std::vector<Tensor> steps = unbind(embedded, 1);  // T x (B, E)
  for (const Tensor& step_input : steps) {
    Tensor context = decode_step(step_input, layer_states, encoded, weights);
    top_states.push_back(layer_states.back());
    step_contexts.push_back(context);
  }
  states = stack(top_states, 1);
  contexts = stack(step_contexts, 1);
}

std::unique_ptr<DecoderState> RNNSearch::start(const Tensor& source, const Tensor& source_lengths) {
  Encoded encoded = encode(source, source_lengths);
  auto state = std::make_unique<RNNSearchState>();
  state->annotations = encoded.annotations;
  state->projected_keys = encoded.projected_keys;
  state->fixed_context = encoded.fixed_context;
  state->source_mask = encoded.source_mask;
  state->states.assign(decoder_cells_.size(), encoded.initial_state);
  return state;
}

Tensor RNNSearch::step(DecoderState& base, const Tensor& previous) {
  auto& state = dynamic_cast<RNNSearchState&>(base);
  Encoded encoded;
  encoded.annotations = state.annotations;
  encoded.projected_keys = state.projected_keys;
  encoded.fixed_context = state.fixed_context;
  encoded.source_mask = state.source_mask;
  Tensor embedded = dropout_->forward(target_embedding_->forward(previous));  // (B, E)
  Tensor context = decode_step(embedded, state.states, encoded, state.weights);
  return output_layer(state.states.back(), context, embedded);               // (B, V)
}

std::string RNNSearch::describe() const {
  std::ostringstream out;
  out << (options_.attention ? "RNNsearch (Bahdanau attention)" : "RNNencdec (no attention)")
      << ": embeddings " << options_.embedding_size << ", bidirectional GRU encoder "
      << options_.encoder_layers << "x" << options_.hidden_size << ", GRU decoder "
      << options_.decoder_layers << "x" << options_.hidden_size;
  if (options_.attention) out << ", attention MLP " << options_.attention_size;
  out << ", " << (options_.maxout ? "maxout" : "plain") << " output, vocabularies "
      << options_.source_vocab_size << "/" << options_.target_vocab_size << ", "
      << parameter_count() << " parameters";
  return out.str();
}

}  // namespace attn::nn
