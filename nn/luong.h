// Luong, Pham & Manning (2015): a stacked-LSTM encoder-decoder with attention
// on the top layer, the score and scope chosen from nn/luong_attention.h.
//
// Encoder: an L-layer LSTM reads the source left to right; its top states
// are hbar_1..hbar_S. Decoder, at each output position t (section 3):
//   x_t      = [E y_{t-1} ; htilde_{t-1}]     input feeding (3.3), htilde_0 = 0
//   h_t      = LSTM stack(x_t, state)          the top layer's output
//   a_t, c_t = attention(h_t, hbar)            eq. (7), over the scope
//   htilde_t = tanh(W_c [c_t ; h_t])           the attentional hidden state, eq. (5)
//   p(y_t)   = softmax(W_s htilde_t)           eq. (6)
// The decoder starts from the encoder's final (h, c) of each layer.
//
// Input feeding tells the decoder what it attended to last time; without
// it (input_feed = false) the decoder's LSTM never sees the attention, and
// training runs the whole target through the LSTM first, then attends for
// every position in one batched product, much faster (nn/luong.cpp).
//
// Where we differ from the paper, each a flag away: no source reversal (the
// paper reverses the source, after Sutskever et al. 2014), initialisation
// as PyTorch's modules (the paper: uniform(±0.1)), and a bias in the
// output layer W_s (eq. (6) has none; W_c has none, as eq. (5) writes it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/lstm.h"
#include "nn/luong_attention.h"
#include "nn/translator.h"

namespace attn::nn {

struct LuongOptions {
  int64_t source_vocab_size;
  int64_t target_vocab_size;
  int64_t embedding_size = 128;   // E (paper: 1000)
  int64_t hidden_size = 256;      // H (paper: 1000)
  int64_t layers = 1;             // encoder and decoder depth (paper: 4)
  double dropout = 0.0;           // on embeddings, between layers, on htilde (paper: 0.2)
  std::string score = "general";  // dot | general | concat
  std::string scope = "global";   // global | local-m | local-p
  int64_t window = 10;            // D for the local scopes (paper: 10)
  int64_t attention_size = 0;     // concat's and local-p's hidden layer; 0 means H
  bool input_feed = true;         // section 3.3 (paper: on)

  LuongOptions(int64_t source_vocab, int64_t target_vocab)
      : source_vocab_size(source_vocab), target_vocab_size(target_vocab) {}
};

class Luong : public Translator {
 public:
  explicit Luong(const LuongOptions& options);

  // source: (B, S), source_lengths: (B), target_input: (B, T) -> logits (B, T, V)
  Tensor forward(const Tensor& source, const Tensor& source_lengths,
                 const Tensor& target_input) override;
  std::unique_ptr<DecoderState> start(const Tensor& source, const Tensor& source_lengths) override;
  Tensor step(DecoderState& state, const Tensor& previous) override;
  std::string describe() const override;

  // forward() again, but also hands back the attention of every position:
  // weights (B, T, S) and, for local attention, the centres p_t (B, T).
  // forward() takes the fused decoder op (autograd/ops_luong_decoder.cpp) when
  // it can (global attention with the dot or general score, input feeding, one
  // layer, on the CPU); false forces the step-by-step path, the reference the
  // tests compare the op with. forward_with_attention is always step by step.
  void set_fused_decoder(bool on) { fused_decoder_ = on; }

  Tensor forward_with_attention(const Tensor& source, const Tensor& source_lengths,
                                const Tensor& target_input, LuongAttentionOutput& attention);

  const LuongOptions& options() const { return options_; }

 private:
  struct Encoded {
    Tensor annotations;      // (B, S, H): hbar
    Tensor projected_keys;   // from LuongAttention::precompute_keys
    Tensor source_lengths;   // (B) int64
    std::vector<LSTMState> initial;  // per layer, (B, H) each
  };
  Encoded encode(const Tensor& source, const Tensor& source_lengths);
  // Runs the LSTM stack on x (B, I) and returns the top output h_t (B, H).
  Tensor decoder_layers(const Tensor& x, std::vector<LSTMState>& states);
  // [c ; h] (..., 2H) -> htilde (..., H)
  Tensor attentional_state(const Tensor& context, const Tensor& top) const;

  LuongOptions options_;
  std::shared_ptr<Embedding> source_embedding_, target_embedding_;
  std::shared_ptr<LSTM> encoder_;
  std::vector<std::shared_ptr<LSTMCell>> decoder_cells_;
  std::shared_ptr<LuongAttention> attention_;
  std::shared_ptr<Linear> combine_;  // W_c
  std::shared_ptr<Linear> output_;   // W_s
  std::shared_ptr<Dropout> dropout_;
  bool fused_decoder_ = true;
};

}  // namespace attn::nn
