#include "train/models.h"

#include "nn/luong.h"
#include "nn/rnnsearch.h"
#include "nn/transformer.h"

namespace attn::train {

std::shared_ptr<nn::Translator> make_model(const ModelOptions& options) {
  ATTN_CHECK(options.output == "maxout" || options.output == "plain",
             "--output-layer: expected maxout or plain, got '", options.output, "'");
  if (options.type == "bahdanau" || options.type == "s2s") {
    ATTN_CHECK(options.attention_type.empty() || options.attention_type == "mlp",
               "--attention-type: --type ", options.type, " has only Bahdanau's additive (mlp) "
               "score, got '", options.attention_type, "' (Luong's dot, general and concat: "
               "--type luong)");
    ATTN_CHECK(options.attention_scope == "global", "--attention-scope ",
               options.attention_scope, " needs --type luong");
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
  if (options.type == "luong") {
    ATTN_CHECK(options.enc_depth == options.dec_depth, "--type luong: the decoder starts from the "
               "encoder's final state of each layer, so --enc-depth (", options.enc_depth,
               ") and --dec-depth (", options.dec_depth, ") must be equal");
    nn::LuongOptions luong(options.source_vocab_size, options.target_vocab_size);
    luong.embedding_size = options.dim_emb;
    luong.hidden_size = options.dim_rnn;
    luong.layers = options.enc_depth;
    luong.dropout = options.dropout_rnn;
    luong.score = options.attention_type.empty() ? "general" : options.attention_type;
    luong.scope = options.attention_scope;
    luong.window = options.attention_window;
    luong.attention_size = options.dim_att;
    luong.input_feed = options.input_feed;
    return std::make_shared<nn::Luong>(luong);
  }
  if (options.type == "transformer") {
    nn::TransformerOptions t(options.source_vocab_size, options.target_vocab_size);
    t.d_model = options.dim_emb;
    t.num_heads = options.transformer_heads;
    t.num_kv_heads = options.transformer_kv_heads;
    t.kv_rank = options.kv_rank;
    t.set_mla(options.mla_kv_latent, options.mla_q_latent, options.mla_rope_dim);
    t.d_ff = options.transformer_dim_ffn;
    t.encoder_layers = options.enc_depth;
    t.decoder_layers = options.dec_depth;
    t.dropout = options.transformer_dropout;
    t.attention_dropout = options.transformer_dropout_attention;
    t.pre_ln = options.pre_ln;
    t.tied_output = options.tied_embeddings;
    ATTN_CHECK(options.positions == "sinusoidal" || options.positions == "learned" ||
                   options.positions == "rope",
               "--positions: expected sinusoidal, learned or rope, got '", options.positions, "'");
    t.positions = options.positions;
    t.cla_factor = options.cla_factor;  // Cross-Layer Attention (nn/transformer.h)
    return std::make_shared<nn::Transformer>(t);
  }
  throw Error("--type: unknown model type '" + options.type +
              "' (known: bahdanau, luong, s2s, transformer)");
}

}  // namespace attn::train
