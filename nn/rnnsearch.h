// RNNsearch: the first attention model (Bahdanau, Cho & Bengio 2014), and
// beside it the encoder-decoder without attention (RNNencdec, Cho et al. 2014)
// that it was built to beat.
//
// Encoder: a bidirectional GRU reads the source; the annotation of word j is
//   h_j = [forward state at j ; backward state at j]                  (B, S, 2H)
// Decoder, at each output position i (paper, appendix A.2.2):
//   c_i = attention(s_{i-1}, h_1..h_S)          the context (nn/additive_attention.h)
//   s_i = GRU(s_{i-1}, [E y_{i-1} ; c_i])       the decoder state
//   t_i = maxout(W_r [s_i ; c_i ; E y_{i-1}])   the "deep output": pairs of units, max of each
//   p(y_i | ...) = softmax(W_o t_i)
//   s_0 = tanh(W_s h_1^backward)                the backward encoder's state at word 1
// Without attention (`attention = false`) c_i is the same fixed vector at every
// step, [last forward state ; first backward state]: the whole sentence must fit
// in 2H numbers, the bottleneck that attention removes (docs/05, docs/06).
//
// Where we differ from the paper, each a choice a flag can revisit:
// - the deep output reads s_i (the new state), as dl4mt/Nematus and the PyTorch
//   reference do; the paper's appendix writes s_{i-1};
// - initialisation is PyTorch's uniform(±1/sqrt(fan_in)) rather than the
//   paper's orthogonal/N(0, 0.01^2) draws;
// - dropout (off by default) on embeddings, between layers and before W_o;
// - biases the paper's equations leave out: b_a inside the attention's tanh
//   (key_bias) and b_s in s_0 = tanh(W_s h_1 + b_s), as the PyTorch reference.
#pragma once

#include <memory>
#include <vector>

#include "nn/additive_attention.h"
#include "nn/gru.h"
#include "nn/layers.h"
#include "nn/translator.h"

namespace attn::nn {

struct RNNSearchOptions {
  int64_t source_vocab_size;
  int64_t target_vocab_size;
  int64_t embedding_size = 128;   // E (paper: 620)
  int64_t hidden_size = 256;      // H per direction (paper: 1000)
  int64_t attention_size = 0;     // A; 0 means H (paper: 1000)
  int64_t encoder_layers = 1;
  int64_t decoder_layers = 1;
  double dropout = 0.0;
  bool attention = true;          // false: RNNencdec, the fixed-vector baseline
  bool maxout = true;             // false: logits = W_o s_i (a plain output layer)

  RNNSearchOptions(int64_t source_vocab, int64_t target_vocab)
      : source_vocab_size(source_vocab), target_vocab_size(target_vocab) {}
};

class RNNSearch : public Translator {
 public:
  explicit RNNSearch(const RNNSearchOptions& options);

  // source: (B, S), source_lengths: (B), target_input: (B, T) -> logits (B, T, V)
  Tensor forward(const Tensor& source, const Tensor& source_lengths,
                 const Tensor& target_input) override;
  std::unique_ptr<DecoderState> start(const Tensor& source, const Tensor& source_lengths) override;
  Tensor step(DecoderState& state, const Tensor& previous) override;
  std::string describe() const override;

  const RNNSearchOptions& options() const { return options_; }

  // forward() takes the fused decoder op when it can (attention, one decoder
  // layer, on the CPU); false forces the step-by-step path, the reference the
  // tests compare the op with.
  void set_fused_decoder(bool on) { fused_decoder_ = on; }

 private:
  struct Encoded {
    Tensor annotations;     // (B, S, 2H)
    Tensor projected_keys;  // (B, S, A), or undefined without attention
    Tensor fixed_context;   // (B, 2H), only without attention
    Tensor source_mask;     // (B, S) int64, 1 = real token
    Tensor source_lengths;  // (B) int64, as given
    Tensor initial_state;   // (B, H)
  };
  Encoded encode(const Tensor& source, const Tensor& source_lengths);
  // One decoder position: updates `states` (one per layer), returns the
  // context c_i (B, 2H) and sets `weights` (B, S) when attending.
  Tensor decode_step(const Tensor& embedded, std::vector<Tensor>& states, const Encoded& encoded,
                     Tensor& weights);
  // Every position's states and contexts, (B, T, H) and (B, T, 2H), from the
  // fused decoder op (autograd/ops_bahdanau_decoder.cpp) when `fused`, else
  // step by step through decode_step: the same numbers to rounding.
  void decode_all(const Tensor& embedded, const Encoded& encoded, bool fused, Tensor& states,
                  Tensor& contexts);
  // [s; c; E y] (..., H + 2H + E) -> logits (..., V)
  Tensor output_layer(const Tensor& state, const Tensor& context, const Tensor& embedded);

  RNNSearchOptions options_;
  bool fused_decoder_ = true;
  std::shared_ptr<Embedding> source_embedding_, target_embedding_;
  std::shared_ptr<GRU> encoder_;
  std::shared_ptr<Linear> init_projection_;
  std::shared_ptr<AdditiveAttention> attention_;
  std::vector<std::shared_ptr<GRUCell>> decoder_cells_;
  std::shared_ptr<Linear> readout_, output_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace attn::nn
