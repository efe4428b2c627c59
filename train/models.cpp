#include "train/models.h"

#include "nn/rnnsearch.h"

namespace attn::train {

std::shared_ptr<nn::Translator> make_model(const ModelOptions& options) {
  ATTN_CHECK(options.output == "maxout" || options.output == "plain",
             "--output-layer: expected maxout or plain, got '", options.output, "'");
  if (options.type == "bahdanau" || options.type == "s2s") {
    nn::RNNSearchOptions rnn(options.source_vocab_size, options.target_vocab_size);
    rnn.embedding_size = options.dim_emb;
    rnn.hidden_size = options.dim_rnn;
    rnn.attention_size = options.dim_att;
    rnn.encoder_layers = options.enc_depth;
    rnn.decoder_layers = options.dec_depth;
    rnn.dropout = options.dropout_rnn;
    rnn.attention = options.type == "bahdanau";
    rnn.maxout = options.output == "maxout";
    return std::make_shared<nn::RNNSearch>(rnn);
  }
  throw Error("--type: unknown model type '" + options.type +
              "' (known: bahdanau, s2s; luong and transformer come in later issues)");
}

}  // namespace attn::train
