// Generation with the key/value cache (nn/transformer.h) against generation
// that recomputes the whole prefix at every step, through the real decoders:
// greedy_decode and beam_search (train/decode/decode.h, train/decode/beam_search.h).
//
// The recomputing decoder is a Translator of its own, written here: its state
// keeps the source and the tokens chosen so far, and each step() runs the
// Transformer's teacher-forced forward() on the whole prefix and keeps the last
// position's logits. That is the slow, obviously right way; the cached model
// must produce the same tokens and, to float tolerance, the same scores, also
// when beam search reorders the cache with its hypotheses (issue 5, "Cached
// and uncached decoding produce the same tokens").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "data/vocab.h"
#include "nn/transformer.h"
#include "tensor/creation.h"
#include "kernels/generator.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"
#include "train/models.h"
#include "train/options.h"

namespace {

using attn::Tensor;
namespace nn = attn::nn;

// Decodes by recomputing the prefix: no cache at all.
class RecomputingDecoder : public nn::Translator {
 public:
  explicit RecomputingDecoder(std::shared_ptr<nn::Transformer> model) : model_(std::move(model)) {}

  struct State : nn::DecoderState {
    Tensor source, lengths;  // (B, S), (B)
    Tensor prefix;           // (B, t) int64: <s> and the tokens chosen before the last one
    void reorder(const Tensor& indices) override {
      source = attn::index_select(source, 0, indices);
      lengths = attn::index_select(lengths, 0, indices);
      prefix = attn::index_select(prefix, 0, indices);
    }
  };

  Tensor forward(const Tensor& source, const Tensor& lengths, const Tensor& target) override {
    return model_->forward(source, lengths, target);
  }
  std::unique_ptr<nn::DecoderState> start(const Tensor& source, const Tensor& lengths) override {
    auto state = std::make_unique<State>();
    state->source = source;
    state->lengths = lengths;
    state->prefix = attn::zeros({source.size(0), 0}, attn::kInt64);
    return state;
  }
  // The prefix grows by `previous`; the whole prefix goes through the decoder.
  Tensor step(nn::DecoderState& base, const Tensor& previous) override {
    auto& state = static_cast<State&>(base);
    state.prefix = attn::cat({state.prefix, previous.reshape({-1, 1})}, 1);
    Tensor logits = model_->forward(state.source, state.lengths, state.prefix);  // (B, t, V)
    const int64_t t = state.prefix.size(1);
    return logits.narrow(1, t - 1, 1).reshape({logits.size(0), logits.size(2)});
  }
  std::string describe() const override { return "recomputing " + model_->describe(); }

 private:
  std::shared_ptr<nn::Transformer> model_;
};

struct DecodingCase {
  std::shared_ptr<nn::Transformer> model;
  Tensor source, lengths;
};

// A small random Transformer in float64 (so that the two ways of computing
// the same numbers differ far below any gap between candidate tokens) and a
// batch of sources of different lengths.
// positions: "sinusoidal" or "rope" (rotary: the cache holds turned keys);
// cla_factor: Cross-Layer Attention over decoder_layers decoder layers.
struct DecodingParams {
  int64_t kv_heads;
  bool pre_ln;
  std::string positions;
  int64_t cla_factor = 1;
  int64_t decoder_layers = 2;
  int64_t kv_rank = 0;  // Low-Rank KV rank; 0 = off
};

DecodingCase make_setup(const DecodingParams& p) {
  attn::manual_seed(11);
  nn::TransformerOptions options(17, 19);
  options.set_d_model(16).set_num_heads(4).set_num_kv_heads(p.kv_heads).set_d_ff(32);
  options.set_layers(2, p.decoder_layers).set_pre_ln(p.pre_ln).set_dropout(0.0)
      .set_positions(p.positions).set_cla_factor(p.cla_factor);
  options.set_kv_rank(p.kv_rank);
  DecodingCase s;
  s.model = std::make_shared<nn::Transformer>(options);
  s.model->to(attn::kFloat64);
  s.model->eval();
  attn::Generator g(3);
  const std::vector<int64_t> lengths = {6, 3, 5};
  std::vector<int64_t> ids;
  for (int64_t length : lengths) {
    for (int64_t j = 0; j < 6; ++j) {
      ids.push_back(j < length ? 4 + static_cast<int64_t>(g.below(13)) : attn::data::kPad);
    }
  }
  s.source = attn::from_vector(ids, {3, 6});
  s.lengths = attn::from_vector(lengths, {3});
  return s;
}

class CachedDecoding : public ::testing::TestWithParam<DecodingParams> {};

TEST_P(CachedDecoding, GreedyEqualsRecomputing) {
  attn::NoGradGuard no_grad;
  DecodingCase s = make_setup(GetParam());
  RecomputingDecoder slow(s.model);
  auto cached = attn::decode::greedy_decode(*s.model, s.source, s.lengths, 12);
  auto recomputed = attn::decode::greedy_decode(slow, s.source, s.lengths, 12);
  EXPECT_EQ(cached.tokens, recomputed.tokens);
  // Not a trivial agreement: the outputs run for several steps before </s>.
  size_t longest = 0;
  for (const auto& tokens : cached.tokens) longest = std::max(longest, tokens.size());
  EXPECT_GE(longest, 5u);
  ASSERT_TRUE(cached.attention.defined());
  EXPECT_GT(cached.peak_cache.total(), 0);
  EXPECT_EQ(recomputed.peak_cache.total(), 0);  // the slow decoder keeps no cache
}

TEST_P(CachedDecoding, BeamSearchEqualsRecomputing) {
  attn::NoGradGuard no_grad;
  DecodingCase s = make_setup(GetParam());
  RecomputingDecoder slow(s.model);
  attn::decode::BeamSearchOptions options;
  options.beam_size = 4;
  options.normalize = 0.6;
  options.n_best = 3;
  options.max_length = 12;
  auto cached = attn::decode::beam_search(*s.model, s.source, s.lengths, options);
  auto recomputed = attn::decode::beam_search(slow, s.source, s.lengths, options);
  ASSERT_EQ(cached.nbest.size(), recomputed.nbest.size());
  for (size_t b = 0; b < cached.nbest.size(); ++b) {
    ASSERT_EQ(cached.nbest[b].size(), recomputed.nbest[b].size()) << "sentence " << b;
    for (size_t k = 0; k < cached.nbest[b].size(); ++k) {
      EXPECT_EQ(cached.nbest[b][k].tokens, recomputed.nbest[b][k].tokens)
          << "sentence " << b << " hypothesis " << k;
      EXPECT_NEAR(cached.nbest[b][k].score, recomputed.nbest[b][k].score, 1e-9)
          << "sentence " << b << " hypothesis " << k;
    }
  }
  // The cache grew with the beams: B * K rows of self-attention keys and values.
  EXPECT_GT(cached.peak_cache.self_attention, 0);
  EXPECT_GT(cached.peak_cache.cross_attention, 0);
}

// The decoding path of `attn translate` and `attn eval`: no attention weights
// asked for, so every attention of the cached steps runs through the fused
// kernel. It must give what recomputing the prefix gives (the composed path,
// through forward()), tokens and scores, for greedy and beam search.
TEST_P(CachedDecoding, FusedTokensOnlyDecodingEqualsRecomputing) {
  attn::NoGradGuard no_grad;
  DecodingCase s = make_setup(GetParam());
  RecomputingDecoder slow(s.model);
  auto greedy = attn::decode::greedy_decode(*s.model, s.source, s.lengths, 12,
                                            /*need_attention=*/false);
  auto greedy_recomputed = attn::decode::greedy_decode(slow, s.source, s.lengths, 12);
  EXPECT_EQ(greedy.tokens, greedy_recomputed.tokens);
  EXPECT_FALSE(greedy.attention.defined());

  attn::decode::BeamSearchOptions options;
  options.beam_size = 4;
  options.normalize = 0.6;
  options.n_best = 3;
  options.max_length = 12;
  auto recomputed = attn::decode::beam_search(slow, s.source, s.lengths, options);
  options.need_attention = false;
  auto fused = attn::decode::beam_search(*s.model, s.source, s.lengths, options);
  ASSERT_EQ(fused.nbest.size(), recomputed.nbest.size());
  for (size_t b = 0; b < fused.nbest.size(); ++b) {
    ASSERT_EQ(fused.nbest[b].size(), recomputed.nbest[b].size()) << "sentence " << b;
    for (size_t k = 0; k < fused.nbest[b].size(); ++k) {
      EXPECT_EQ(fused.nbest[b][k].tokens, recomputed.nbest[b][k].tokens)
          << "sentence " << b << " hypothesis " << k;
      EXPECT_NEAR(fused.nbest[b][k].score, recomputed.nbest[b][k].score, 1e-9)
          << "sentence " << b << " hypothesis " << k;
      EXPECT_FALSE(fused.nbest[b][k].attention.defined());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(MhaGqaMqaPostAndPreLnSinusoidalAndRope, CachedDecoding,
                         ::testing::Values(DecodingParams{4, false, "sinusoidal"},
                                           DecodingParams{2, false, "sinusoidal"},
                                           DecodingParams{1, true, "sinusoidal"},
                                           DecodingParams{2, false, "rope"},
                                           DecodingParams{1, true, "rope"}));

// Cross-Layer Attention: factor 2 (MHA over 2 layers; GQA with rope over 4),
// and factor 2 over 3 layers (the last group a single layer) with MQA,
// pre-LN and rope.
INSTANTIATE_TEST_SUITE_P(CrossLayerAttention, CachedDecoding,
                         ::testing::Values(DecodingParams{4, false, "sinusoidal", 2, 2},
                                           DecodingParams{2, false, "rope", 2, 4},
                                           DecodingParams{1, true, "rope", 2, 3}));

// Low-Rank KV (nn/multihead_attention.h): the cache holds the shared key and
// value and the per-head latents; rank 1 and full rank (Dh = 4).
INSTANTIATE_TEST_SUITE_P(LowRankKv, CachedDecoding,
                         ::testing::Values(DecodingParams{4, true, "sinusoidal", 1, 2, 1},
                                           DecodingParams{4, false, "sinusoidal", 1, 2, 4}));

// --cla-factor is kept in the model file (model.cla_factor); a file from
// before the key means 1, no sharing. make_model builds the sharing layers.
TEST(ModelOptionsClaFactor, RoundTripAndOldFilesMeanOne) {
  attn::train::ModelOptions options;
  options.type = "transformer";
  options.source_vocab_size = 9;
  options.target_vocab_size = 9;
  options.dim_emb = 8;
  options.transformer_heads = 2;
  options.dec_depth = 4;
  options.cla_factor = 2;
  std::map<std::string, std::string> metadata = options.to_metadata();
  EXPECT_EQ(metadata.at("model.cla_factor"), "2");
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).cla_factor, 2);
  metadata.erase("model.cla_factor");
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).cla_factor, 1);
  auto model = std::dynamic_pointer_cast<nn::Transformer>(attn::train::make_model(options));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->options().cla_factor, 2);
  EXPECT_FALSE(model->decoder_layers[0]->options().share_kv);
  EXPECT_TRUE(model->decoder_layers[1]->options().share_kv);
  EXPECT_FALSE(model->decoder_layers[2]->options().share_kv);
  EXPECT_TRUE(model->decoder_layers[3]->options().share_kv);
  // A file that claims more sharing than it has layers is refused by key.
  metadata = options.to_metadata();
  metadata["model.cla_factor"] = "5";
  try {
    attn::train::ModelOptions::from_metadata(metadata);
    FAIL() << "no error for model.cla_factor 5 over 4 decoder layers";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cla_factor"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("5"), std::string::npos) << e.what();
  }
}

// --kv-rank is kept in the model file's metadata; files from before the key
// mean no Low-Rank KV.
TEST(ModelOptionsKvRank, RoundTripAndOldFilesMeanOff) {
  attn::train::ModelOptions options;
  options.type = "transformer";
  options.source_vocab_size = 9;
  options.target_vocab_size = 9;
  options.dim_emb = 8;
  options.transformer_heads = 2;
  options.kv_rank = 3;
  std::map<std::string, std::string> metadata = options.to_metadata();
  EXPECT_EQ(metadata.at("model.kv_rank"), "3");
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).kv_rank, 3);
  auto model = std::dynamic_pointer_cast<nn::Transformer>(attn::train::make_model(options));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->options().kv_rank, 3);
  metadata.erase("model.kv_rank");
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).kv_rank, 0);
}

// --positions is kept in the model file's metadata, so `attn translate`
// rebuilds the same model; a file from before the key means the paper's
// sinusoids.
TEST(ModelOptionsPositions, RoundTripAndOldFilesMeanSinusoidal) {
  attn::train::ModelOptions options;
  options.type = "transformer";
  options.source_vocab_size = 9;
  options.target_vocab_size = 9;
  options.positions = "rope";
  std::map<std::string, std::string> metadata = options.to_metadata();
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).positions, "rope");
  metadata.erase("model.positions");
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).positions, "sinusoidal");
  // make_model builds what the options say, and refuses a kind it does not know.
  options.dim_emb = 8;
  options.transformer_heads = 2;
  auto model = std::dynamic_pointer_cast<nn::Transformer>(attn::train::make_model(options));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->options().positions, "rope");
  options.positions = "relative";
  try {
    attn::train::make_model(options);
    FAIL() << "no error for --positions relative";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--positions"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'relative'"), std::string::npos) << e.what();
  }
}

}  // namespace
