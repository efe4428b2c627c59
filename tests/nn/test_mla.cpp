// Multi-Head Latent Attention (nn/latent_attention.h; DeepSeek-V2,
// arXiv:2405.04434, section 2.1):
//   - one layer against PyTorch (tests/golden/mla/, written by
//     scripts/make_mla_golden.py from the paper's equations): output and the
//     gradients of the input and of every weight, float64 and float32;
//   - gradcheck in float64 of the layer and of a whole Transformer with MLA;
//   - absorbed == explicit (section 2.1.3) in float64, a whole causal block
//     and single decoding steps, with and without query compression;
//   - causal and padding leak tests, of the layer and of the Transformer;
//   - a Transformer's cached steps equal forward(); greedy and beam search
//     with the cache equal recomputing the whole prefix at every step;
//   - the cache holds only c_KV and k_R: L * B * t * (d_c + d_R) * sizeof;
//   - the options it refuses, each error naming the value.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "golden_fixture.h"
#include "nn/latent_attention.h"
#include "nn/transformer.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"
#include "train/models.h"
#include "train/options.h"

namespace {

using attn::Tensor;
using attn_test::error_of;
using attn_test::lengths_of;
using attn_test::max_diff;
using Batch = attn_test::TransformerBatch;
namespace nn = attn::nn;

const char* kScript = "scripts/make_mla_golden.py";

// --- the layer --------------------------------------------------------------------------

TEST(LatentAttention, MatchesPyTorch) {
  for (const char* name : {"mla_causal_q_latent", "mla_padding_no_q"}) {
    for (attn::DType dtype : {attn::kFloat64, attn::kFloat32}) {
      // Loaded again for each dtype: the float64 run marks the fixture's own x
      // as requiring grad, and x.to(float32) of that would not be a leaf.
      const attn_test::Fixture f = attn_test::load_fixture("mla", name, kScript);
      const int64_t D = f.at("x").size(2);
      nn::MultiHeadLatentAttention m(nn::LatentAttentionOptions(D, f.attr_int("num_heads"),
                                                                f.attr_int("kv_latent"))
                                         .set_q_latent(f.attr_int("q_latent"))
                                         .set_rope_dim(f.attr_int("rope_dim")));
      const bool causal = f.attr_int("causal") != 0;
      attn_test::check_module_against_fixture(
          f, &m, dtype, dtype == attn::kFloat64 ? 1e-12 : 2e-5,
          [&](const std::map<std::string, Tensor>& in) {
            const nn::AttentionMask mask = causal ? nn::AttentionMask::causal_only()
                                                  : nn::AttentionMask::from_lengths(in.at("lengths"));
            return std::vector<Tensor>{m.forward(in.at("x"), mask).output};
          });
    }
  }
}

TEST(LatentAttention, ShapesAndTheDefaultRopeDim) {
  EXPECT_EQ(nn::MultiHeadLatentAttention::default_rope_dim(128), 64);  // DeepSeek-V2
  EXPECT_EQ(nn::MultiHeadLatentAttention::default_rope_dim(16), 8);
  EXPECT_EQ(nn::MultiHeadLatentAttention::default_rope_dim(6), 2);     // 3, made even
  EXPECT_EQ(nn::MultiHeadLatentAttention::default_rope_dim(2), 2);     // at least one pair
  attn::manual_seed(71);
  nn::MultiHeadLatentAttention m(nn::LatentAttentionOptions(16, 4, 6));
  EXPECT_EQ(m.rope_dim(), 2);
  EXPECT_EQ(m.cache_width(), 8);
  EXPECT_EQ(m.q_down, nullptr);
  attn::NoGradGuard no_grad;
  Tensor x = attn::randn({2, 3, 16});
  EXPECT_EQ(attn::shape_str(m.project_latent(x).shape()), attn::shape_str({2, 1, 3, 6}));
  EXPECT_EQ(attn::shape_str(m.project_rope_keys(x).shape()), attn::shape_str({2, 1, 3, 2}));
  nn::MultiheadAttentionOutput out = m.forward(x, nn::AttentionMask::causal_only(), true);
  EXPECT_EQ(attn::shape_str(out.output.shape()), attn::shape_str({2, 3, 16}));
  EXPECT_EQ(attn::shape_str(out.weights.shape()), attn::shape_str({2, 4, 3, 3}));
  nn::MultiHeadLatentAttention::Absorbed w = m.absorb();
  EXPECT_EQ(attn::shape_str(w.query.shape()), attn::shape_str({4 * 6, 16}));
  EXPECT_EQ(attn::shape_str(w.output.shape()), attn::shape_str({16, 4 * 6}));
}

TEST(LatentAttention, RefusesNonsenseNamingTheValue) {
  auto make = [](const nn::LatentAttentionOptions& o) {
    return error_of([&] { nn::MultiHeadLatentAttention m(o); });
  };
  EXPECT_NE(make(nn::LatentAttentionOptions(8, 2, 0)).find("kv_latent (d_c, --mla-kv-latent) must "
                                                           "be positive, got 0"), std::string::npos);
  EXPECT_NE(make(nn::LatentAttentionOptions(8, 2, 4).set_rope_dim(3)).find("got 3"),
            std::string::npos);
  EXPECT_NE(make(nn::LatentAttentionOptions(8, 3, 4)).find("num_heads 3"), std::string::npos);
  EXPECT_NE(make(nn::LatentAttentionOptions(8, 2, 4).set_q_latent(-1)).find("got -1"),
            std::string::npos);
  attn::manual_seed(72);
  nn::MultiHeadLatentAttention m(nn::LatentAttentionOptions(8, 2, 4));
  Tensor x = attn::randn({2, 3, 8});
  EXPECT_NE(error_of([&] { m.attend(x, attn::randn({2, 1, 3, 5}), attn::randn({2, 1, 3, 2}),
                                    nn::AttentionMask(), false, 0); })
                .find("(2, 1, Tk, 4)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.forward(attn::randn({2, 3, 6})); }).find("d_model = 8, got [2, 3, 6]"),
            std::string::npos);
}

TEST(LatentAttention, GradcheckOfTheLayerFloat64) {
  for (int64_t q_latent : {0, 3}) {
    attn::manual_seed(73);
    nn::MultiHeadLatentAttention m(
        nn::LatentAttentionOptions(4, 2, 3).set_q_latent(q_latent).set_rope_dim(2));
    m.to(attn::kFloat64);
    attn::Generator g(7);
    Tensor x = attn::randn({2, 3, 4}, attn::kFloat64, &g).requires_grad_(true);
    std::vector<Tensor> inputs = m.parameters();
    inputs.push_back(x);
    for (bool causal : {true, false}) {
      const nn::AttentionMask mask = causal ? nn::AttentionMask::causal_only()
                                            : nn::AttentionMask::from_lengths(lengths_of({3, 2}));
      attn::GradcheckResult result = attn::gradcheck(
          [&](const std::vector<Tensor>&) { return m.forward(x, mask, false, 2).output; }, inputs);
      EXPECT_TRUE(result.passed) << "q_latent " << q_latent << (causal ? " causal: " : " padding: ")
                                 << result.message;
    }
  }
}

// Section 2.1.3: W^UK folded into the query, W^UV into W^O, attention over
// the latents, must give what rebuilding every head's keys and values gives.
TEST(LatentAttention, AbsorbedEqualsExplicitFloat64) {
  for (int64_t q_latent : {0, 5}) {
    attn::manual_seed(74);
    nn::MultiHeadLatentAttention m(
        nn::LatentAttentionOptions(12, 3, 5).set_q_latent(q_latent).set_rope_dim(4));
    m.to(attn::kFloat64);
    m.eval();
    attn::NoGradGuard no_grad;
    attn::Generator g(8);
    const int64_t T = 6, offset = 3;
    Tensor x = attn::randn({2, T, 12}, attn::kFloat64, &g);
    Tensor latent = m.project_latent(x);                               // (2, 1, T, 5)
    Tensor keys = m.project_rope_keys(x, offset);                      // (2, 1, T, 4)
    const nn::MultiHeadLatentAttention::Absorbed w = m.absorb();
    // A whole block, causal, and with key lengths as well.
    for (const nn::AttentionMask& mask :
         {nn::AttentionMask::causal_only(), nn::AttentionMask::from_lengths(lengths_of({6, 4}), true)}) {
      Tensor expl = m.attend(x, latent, keys, mask, false, offset).output;
      Tensor absorbed = m.attend_absorbed(x, latent, keys, w, offset, mask);
      EXPECT_LT(max_diff(expl, absorbed), 1e-12) << "q_latent " << q_latent;
      EXPECT_GT(max_diff(expl, attn::zeros_like(expl)), 1e-3);  // not trivially zero
    }
    // One decoding step per position against the cache of positions 0..t.
    for (int64_t t = 0; t < T; ++t) {
      Tensor query = x.narrow(1, t, 1);
      Tensor expl = m.attend(query, latent.narrow(2, 0, t + 1), keys.narrow(2, 0, t + 1),
                             nn::AttentionMask(), false, offset + t).output;
      Tensor absorbed = m.attend_absorbed(query, latent.narrow(2, 0, t + 1),
                                          keys.narrow(2, 0, t + 1), w, offset + t);
      EXPECT_LT(max_diff(expl, absorbed), 1e-12) << "q_latent " << q_latent << " t=" << t;
    }
  }
}

TEST(LatentAttention, CausalAndPaddingDoNotLeak) {
  attn::manual_seed(75);
  nn::MultiHeadLatentAttention m(nn::LatentAttentionOptions(8, 2, 4).set_q_latent(3));
  attn::NoGradGuard no_grad;
  attn::Generator g(9);
  const int64_t T = 5;
  Tensor x = attn::randn({2, T, 8}, attn::kFloat32, &g);
  Tensor before = m.forward(x, nn::AttentionMask::causal_only()).output;
  for (int64_t t = 0; t + 1 < T; ++t) {
    Tensor changed = x.clone();
    changed.narrow(1, t + 1, T - t - 1).copy_(attn::randn({2, T - t - 1, 8}, attn::kFloat32, &g));
    Tensor after = m.forward(changed, nn::AttentionMask::causal_only()).output;
    EXPECT_EQ(max_diff(before.narrow(1, 0, t + 1), after.narrow(1, 0, t + 1)), 0.0) << "t=" << t;
    EXPECT_GT(max_diff(before.narrow(1, t + 1, 1), after.narrow(1, t + 1, 1)), 0.0) << "t=" << t;
  }
  // Padding: keys past each sentence's length change nothing at the real positions.
  const nn::AttentionMask padding = nn::AttentionMask::from_lengths(lengths_of({5, 2}));
  Tensor changed = x.clone();
  changed.narrow(0, 1, 1).narrow(1, 2, 3).copy_(attn::randn({1, 3, 8}, attn::kFloat32, &g));
  Tensor a = m.forward(x, padding).output, b = m.forward(changed, padding).output;
  EXPECT_EQ(max_diff(a.narrow(0, 1, 1).narrow(1, 0, 2), b.narrow(0, 1, 1).narrow(1, 0, 2)), 0.0);
  EXPECT_EQ(max_diff(a.narrow(0, 0, 1), b.narrow(0, 0, 1)), 0.0);
}

// --- in the Transformer -----------------------------------------------------------------

// D = 16, H = 4 (Dh = 4), F = 32, 2 + 2 layers, MLA with d_c, d_c', d_R = 2.
nn::TransformerOptions tiny(int64_t d_c, int64_t d_q, bool pre_ln,
                            const std::string& positions = "rope") {
  return nn::TransformerOptions(13, 11).set_d_model(16).set_num_heads(4).set_d_ff(32)
      .set_layers(2, 2).set_pre_ln(pre_ln).set_max_length(16).set_dropout(0.0)
      .set_positions(positions).set_mla(d_c, d_q, 2);
}

TEST(LatentAttention, TransformerUsesItInTheSelfAttentionsOnly) {
  attn::manual_seed(76);
  nn::Transformer model(tiny(6, 0, false));
  EXPECT_NE(model.encoder_layers[0]->latent_self_attention, nullptr);
  EXPECT_EQ(model.encoder_layers[0]->self_attention, nullptr);
  EXPECT_NE(model.decoder_layers[1]->latent_self_attention, nullptr);
  EXPECT_NE(model.decoder_layers[1]->cross_attention, nullptr);
  const auto params = model.named_parameters();
  bool found = false;
  for (const auto& [name, p] : params) found = found || name == "decoder_l1.self_attention.kv_down.weight";
  EXPECT_TRUE(found);
  EXPECT_NE(model.describe().find("latent attention (MLA: d_c 6, d_c' none, d_R 2)"),
            std::string::npos) << model.describe();
}

TEST(LatentAttention, TransformerRefusesOtherKvSharing) {
  auto make = [](const nn::TransformerOptions& o) {
    return error_of([&] { nn::Transformer m(o); });
  };
  EXPECT_NE(make(tiny(6, 0, false).set_kv_rank(1)).find("kv_rank 0"), std::string::npos);
  EXPECT_NE(make(tiny(6, 0, false).set_num_kv_heads(2)).find("num_kv_heads 0"), std::string::npos);
  EXPECT_NE(make(tiny(6, 0, false).set_cla_factor(2)).find("cla_factor 1"), std::string::npos);
  EXPECT_NE(make(tiny(0, 3, false)).find("need mla_kv_latent > 0"), std::string::npos);
}

TEST(LatentAttention, GradcheckOfATransformerFloat64) {
  attn::manual_seed(77);
  nn::Transformer model(nn::TransformerOptions(7, 6).set_d_model(4).set_num_heads(2)
                            .set_d_ff(6).set_layers(1, 2).set_dropout(0.0).set_max_length(8)
                            .set_mla(3, 2, 2));
  model.to(attn::kFloat64);
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 3, 6, 0}, {2, 3});
  Tensor lengths = lengths_of({3, 2});
  Tensor input = attn::from_vector(std::vector<int64_t>{1, 4, 5, 1, 5, 0}, {2, 3});
  Tensor output = attn::from_vector(std::vector<int64_t>{4, 5, 2, 5, 2, 0}, {2, 3});
  attn::GradcheckResult result = attn::gradcheck(
      [&](const std::vector<Tensor>&) {
        Tensor logits = model.forward(source, lengths, input);          // (2, 3, 6)
        return attn::cross_entropy(logits.reshape({-1, 6}), output.reshape({-1}),
                                   attn::CrossEntropyOptions().ignore(0));
      },
      model.parameters());
  EXPECT_TRUE(result.passed) << result.message;
}

TEST(LatentAttention, CachedStepsEqualForward) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (int64_t d_q : {0, 5}) {
      for (bool pre_ln : {false, true}) {
        attn::manual_seed(78);
        nn::Transformer model(tiny(6, d_q, pre_ln, pre_ln ? "rope" : "sinusoidal"));
        model.to(dtype);
        model.eval();
        attn::NoGradGuard no_grad;
        Batch batch;
        std::vector<Tensor> weights;
        Tensor logits =
            model.forward_with_attention(batch.source, batch.lengths, batch.target, weights);
        auto base = model.start(batch.source, batch.lengths);
        auto& state = dynamic_cast<nn::TransformerState&>(*base);
        const double tolerance = dtype == attn::kFloat64 ? 1e-12 : 1e-5;
        for (int64_t t = 0; t < batch.target.size(1); ++t) {
          Tensor step = model.step(state, batch.target.select(1, t));   // (B, V)
          const std::string at = "d_q=" + std::to_string(d_q) + (pre_ln ? " pre" : " post") +
                                 " t=" + std::to_string(t);
          EXPECT_LT(max_diff(step, logits.select(1, t)), tolerance) << at;
          EXPECT_LT(max_diff(state.cross_weights.back(), weights.back().select(2, t)), tolerance)
              << at;
          // The cache: k_R (B, 1, t+1, d_R) and c_KV (B, 1, t+1, d_c), nothing per head.
          EXPECT_EQ(attn::shape_str(state.layers[1].self_keys.shape()),
                    attn::shape_str({3, 1, t + 1, 2})) << at;
          EXPECT_EQ(attn::shape_str(state.layers[1].self_values.shape()),
                    attn::shape_str({3, 1, t + 1, 6})) << at;
        }
      }
    }
  }
}

TEST(LatentAttention, CacheBytesFollowTheFormula) {
  // L * B * t * (d_c + d_R) * sizeof(dtype) for the self part; the cross
  // part stays MHA's, 2 * L * B * S * H * Dh * sizeof(dtype).
  const int64_t L = 3, B = 3, S = 5, D = 16, d_r = 2;
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (int64_t d_c : {1, 6}) {
      attn::manual_seed(79);
      nn::Transformer model(tiny(d_c, 0, false).set_layers(1, L));
      model.to(dtype);
      model.eval();
      attn::NoGradGuard no_grad;
      Batch batch;
      const int64_t size = static_cast<int64_t>(attn::element_size(dtype));
      auto state = model.start(batch.source, batch.lengths);
      nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*state);
      EXPECT_EQ(bytes.self_attention, 0);
      EXPECT_EQ(bytes.cross_attention, 2 * L * B * S * D * size);
      for (int64_t t = 1; t <= 4; ++t) {
        model.step(*state, batch.target.select(1, t - 1));
        bytes = nn::Transformer::cache_bytes(*state);
        EXPECT_EQ(bytes.self_attention, L * B * t * (d_c + d_r) * size) << "d_c=" << d_c << " t=" << t;
      }
    }
  }
}

TEST(LatentAttention, TransformerDoesNotLeak) {
  attn::manual_seed(80);
  nn::Transformer model(tiny(6, 5, false));
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor before = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
  const int64_t T = batch.target.size(1);
  for (int64_t t = 0; t + 1 < T; ++t) {
    std::vector<int64_t> ids = batch.target.contiguous().to_vector<int64_t>();
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t j = t + 1; j < T; ++j) ids[b * T + j] = (ids[b * T + j] + 3 + j) % 11;
    }
    Tensor after = model.forward(batch.source, batch.lengths, attn::from_vector(ids, {3, T}));
    EXPECT_EQ(max_diff(before.narrow(1, 0, t + 1), after.narrow(1, 0, t + 1)), 0.0) << "t=" << t;
  }
  // Source words past the lengths (the encoder's MLA self-attention and the cross-attention).
  std::vector<int64_t> ids = batch.source.contiguous().to_vector<int64_t>();
  const std::vector<int64_t> lengths = {5, 3, 4};
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t s = lengths[b]; s < 5; ++s) ids[b * 5 + s] = 7 + s;
  }
  Tensor changed = attn::from_vector(ids, {3, 5});
  EXPECT_EQ(max_diff(before, model.forward(changed, batch.lengths, batch.target)), 0.0);
}

// --mla-* are kept in the model file's metadata, so `attn translate`, `eval`
// and `plot` rebuild the same model; files from before the keys mean no MLA.
TEST(LatentAttention, ModelFileKeepsTheSizesAndOldFilesMeanOff) {
  attn::train::ModelOptions options;
  options.type = "transformer";
  options.source_vocab_size = 9;
  options.target_vocab_size = 9;
  options.dim_emb = 8;
  options.transformer_heads = 2;
  options.mla_kv_latent = 5;
  options.mla_q_latent = 3;
  options.mla_rope_dim = 4;
  std::map<std::string, std::string> metadata = options.to_metadata();
  EXPECT_EQ(metadata.at("model.mla_kv_latent"), "5");
  const attn::train::ModelOptions back = attn::train::ModelOptions::from_metadata(metadata);
  EXPECT_EQ(back.mla_kv_latent, 5);
  EXPECT_EQ(back.mla_q_latent, 3);
  EXPECT_EQ(back.mla_rope_dim, 4);
  auto model = std::dynamic_pointer_cast<nn::Transformer>(attn::train::make_model(back));
  ASSERT_NE(model, nullptr);
  ASSERT_NE(model->decoder_layers[0]->latent_self_attention, nullptr);
  EXPECT_EQ(model->decoder_layers[0]->latent_self_attention->cache_width(), 5 + 4);
  EXPECT_NE(model->decoder_layers[0]->latent_self_attention->q_down, nullptr);
  for (const char* key : {"model.mla_kv_latent", "model.mla_q_latent", "model.mla_rope_dim"}) {
    metadata.erase(key);
  }
  EXPECT_EQ(attn::train::ModelOptions::from_metadata(metadata).mla_kv_latent, 0);
  // The checks of the command line, on what a file says.
  options.mla_rope_dim = 3;
  EXPECT_NE(error_of([&] { attn::train::validate(options, ""); }).find("--mla-rope-dim"),
            std::string::npos);
  options.mla_rope_dim = 0;
  options.kv_rank = 2;
  EXPECT_NE(error_of([&] { attn::train::validate(options, ""); }).find("--kv-rank 2"),
            std::string::npos);
}

// Decodes by recomputing the prefix at every step: no cache at all.
class RecomputingDecoder : public nn::Translator {
 public:
  explicit RecomputingDecoder(std::shared_ptr<nn::Transformer> model) : model_(std::move(model)) {}
  struct State : nn::DecoderState {
    Tensor source, lengths, prefix;  // (B, S), (B), (B, t)
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

std::shared_ptr<nn::Transformer> decoding_model(int64_t d_q) {
  attn::manual_seed(81);
  auto model = std::make_shared<nn::Transformer>(tiny(6, d_q, false));
  model->to(attn::kFloat64);
  model->eval();
  return model;
}

TEST(LatentAttention, GreedyWithTheCacheEqualsRecomputing) {
  attn::NoGradGuard no_grad;
  for (int64_t d_q : {0, 5}) {
    auto model = decoding_model(d_q);
    RecomputingDecoder slow(model);
    Batch batch;
    auto cached = attn::decode::greedy_decode(*model, batch.source, batch.lengths, 12);
    auto recomputed = attn::decode::greedy_decode(slow, batch.source, batch.lengths, 12);
    EXPECT_EQ(cached.tokens, recomputed.tokens);
    size_t longest = 0;
    for (const auto& tokens : cached.tokens) longest = std::max(longest, tokens.size());
    EXPECT_GE(longest, 5u) << "the outputs must run several steps";
    EXPECT_GT(cached.peak_cache.self_attention, 0);
  }
}

TEST(LatentAttention, BeamSearchWithTheCacheEqualsRecomputing) {
  attn::NoGradGuard no_grad;
  for (bool need_attention : {true, false}) {
    auto model = decoding_model(5);
    RecomputingDecoder slow(model);
    Batch batch;
    attn::decode::BeamSearchOptions options;
    options.beam_size = 4;
    options.normalize = 0.6;
    options.n_best = 3;
    options.max_length = 12;
    auto recomputed = attn::decode::beam_search(slow, batch.source, batch.lengths, options);
    options.need_attention = need_attention;
    auto cached = attn::decode::beam_search(*model, batch.source, batch.lengths, options);
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
  }
}

}  // namespace
