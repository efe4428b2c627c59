// The Transformer (nn/transformer.h) and its layers (nn/transformer_layers.h):
//   - cached step-by-step decoding equals the uncached forward() on the same
//     prefix, logits and cross-attention weights, in float32 and float64, for
//     MHA, GQA and MQA, post-LN and pre-LN, and shared/tied/learned options;
//   - leak tests, bit-exact: later target tokens do not move earlier logits;
//     source tokens past a sentence's length do not move its outputs;
//   - reorder (beam search) equals decoding the reordered batch from the start;
//   - gradcheck (float64) of a whole model's loss through every parameter;
//   - shared embeddings and the tied output are one tensor; bad vocabularies
//     and shapes are refused with messages that name them;
//   - the KV cache's size in bytes against the formula of design.md.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/grad_mode.h"
#include "golden_fixture.h"
#include "nn/transformer.h"
#include "nn_test_util.h"

namespace {

using attn::Tensor;
using attn_test::error_of;
using attn_test::lengths_of;
using Batch = attn_test::TransformerBatch;
using attn_test::max_diff;
namespace nn = attn::nn;

constexpr int64_t kSourceVocab = 13, kTargetVocab = 11;

// A tiny model: D = 8, H = 4 (Dh = 2), F = 16, 2 + 2 layers.
nn::TransformerOptions tiny(int64_t kv_heads, bool pre_ln) {
  return nn::TransformerOptions(kSourceVocab, kTargetVocab)
      .set_d_model(8).set_num_heads(4).set_num_kv_heads(kv_heads).set_d_ff(16)
      .set_layers(2, 2).set_pre_ln(pre_ln).set_max_length(16);
}

std::string name_of(const nn::TransformerOptions& o) {
  return "kv=" + std::to_string(o.num_kv_heads) + (o.pre_ln ? " pre-LN" : " post-LN") +
         (o.shared_embeddings ? " shared" : "") + (o.tied_output ? " tied" : "") +
         (o.positions != "sinusoidal" ? " " + o.positions : std::string());
}


std::vector<int64_t> ints_of(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }

// --- (a) cached decoding equals forward() -------------------------------------------

void expect_steps_equal_forward(const nn::TransformerOptions& options, attn::DType dtype,
                                double tolerance) {
  attn::manual_seed(41);
  nn::Transformer model(options);
  if (dtype == attn::kFloat64) model.to(attn::kFloat64);
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  std::vector<Tensor> weights;  // per layer (B, H, T, S)
  Tensor logits = model.forward_with_attention(batch.source, batch.lengths, batch.target, weights);
  ASSERT_EQ(logits.dtype(), dtype);
  std::unique_ptr<nn::DecoderState> base = model.start(batch.source, batch.lengths);
  auto& state = dynamic_cast<nn::TransformerState&>(*base);
  const int64_t kv = options.num_kv_heads == 0 ? options.num_heads : options.num_kv_heads;
  const std::string where = name_of(options) + (dtype == attn::kFloat64 ? " float64" : " float32");
  for (int64_t t = 0; t < batch.target.size(1); ++t) {
    Tensor step = model.step(state, batch.target.select(1, t));           // (B, V)
    const std::string at = where + " t=" + std::to_string(t);
    EXPECT_LT(max_diff(step, logits.select(1, t)), tolerance) << at;
    for (size_t l = 0; l < weights.size(); ++l) {
      EXPECT_LT(max_diff(state.cross_weights[l], weights[l].select(2, t)), tolerance) << at;
    }
    EXPECT_LT(max_diff(state.last_attention(), weights.back().select(2, t).mean(1)), tolerance)
        << at;
    // The self cache holds t+1 positions of Hkv heads of size Dh = 2.
    EXPECT_EQ(attn::shape_str(state.layers[0].self_keys.shape()),
              attn::shape_str({3, kv, t + 1, 2})) << at;
  }
  EXPECT_EQ(state.position, batch.target.size(1));
}

std::vector<nn::TransformerOptions> all_configurations() {
  std::vector<nn::TransformerOptions> configs;
  for (bool pre_ln : {false, true}) {
    for (int64_t kv : {4, 2, 1}) configs.push_back(tiny(kv, pre_ln));  // MHA, GQA, MQA
  }
  nn::TransformerOptions shared = tiny(2, true);  // one vocabulary of 13 for both sides
  shared.target_vocab_size = kSourceVocab;
  configs.push_back(shared.set_shared_embeddings(true).set_tied_output(true)
                        .set_learned_positions(true));
  // Rotary positions (tests/nn/test_rope.cpp has the rest), with GQA.
  configs.push_back(tiny(2, false).set_positions("rope"));
  configs.push_back(tiny(1, true).set_positions("rope"));
  return configs;
}

TEST(TransformerDecoding, CachedStepsEqualForwardFloat32) {
  for (const auto& options : all_configurations()) {
    expect_steps_equal_forward(options, attn::kFloat32, 1e-5);
  }
}

TEST(TransformerDecoding, CachedStepsEqualForwardFloat64) {
  for (const auto& options : all_configurations()) {
    expect_steps_equal_forward(options, attn::kFloat64, 1e-10);
  }
}

TEST(TransformerDecoding, CacheGrowsPastItsCapacityAndStaysEqualToForward) {
  // 70 positions: the self-attention buffers start with room for
  // kFirstCapacity = 32 and are replaced by ones of 64 and 128 positions,
  // written in place in between; every step must still equal forward(), for
  // MHA, GQA and MQA, sources of different lengths, with and without weights.
  const int64_t T = 70;
  for (int64_t kv : {4, 2, 1}) {
    for (bool need_weights : {true, false}) {
      attn::manual_seed(49);
      nn::Transformer model(tiny(kv, kv == 2).set_max_length(T));
      model.eval();
      attn::NoGradGuard no_grad;
      Batch batch;
      attn::Generator g(5);
      Tensor target = attn::randint(3, kTargetVocab, {3, T}, &g);                // (B, T)
      Tensor logits = model.forward(batch.source, batch.lengths, target);        // (B, T, V)
      std::unique_ptr<nn::DecoderState> base = model.start(batch.source, batch.lengths);
      base->need_weights = need_weights;
      auto& state = dynamic_cast<nn::TransformerState&>(*base);
      for (int64_t t = 0; t < T; ++t) {
        Tensor step = model.step(state, target.select(1, t));                    // (B, V)
        const std::string at = "kv=" + std::to_string(kv) + " weights=" +
                               std::to_string(need_weights) + " t=" + std::to_string(t);
        EXPECT_LT(max_diff(step, logits.select(1, t)), 1e-5) << at;
        const nn::TransformerDecoderLayerCache& cache = state.layers[1];
        EXPECT_EQ(attn::shape_str(cache.self_values.shape()), attn::shape_str({3, kv, t + 1, 2}))
            << at;
        EXPECT_EQ(cache.key_buffer.size(2), t < 32 ? 32 : (t < 64 ? 64 : 128)) << at;
        EXPECT_TRUE(cache.self_keys.shares_storage_with(cache.key_buffer)) << at;
      }
    }
  }
}

TEST(TransformerDecoding, StepUnderGradModeAppendsByCatAndBackpropagates) {
  // With a graph being built the cache grows by cat, which autograd follows:
  // the same logits as without the graph, and gradients reach the weights.
  attn::manual_seed(50);
  nn::Transformer model(tiny(2, false));
  model.eval();
  Batch batch;
  Tensor loss;
  std::vector<Tensor> cached;
  {
    attn::NoGradGuard no_grad;
    auto state = model.start(batch.source, batch.lengths);
    for (int64_t t = 0; t < 3; ++t) cached.push_back(model.step(*state, batch.target.select(1, t)));
  }
  auto state = model.start(batch.source, batch.lengths);
  for (int64_t t = 0; t < 3; ++t) {
    Tensor step = model.step(*state, batch.target.select(1, t));
    EXPECT_LT(max_diff(step, cached[t]), 1e-6) << "t=" << t;
    loss = loss.defined() ? loss + step.sum() : step.sum();
  }
  EXPECT_FALSE(dynamic_cast<nn::TransformerState&>(*state).layers[0].key_buffer.defined());
  loss.backward();
  Tensor grad = model.decoder_layers[0]->self_attention->k_proj->weight.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(attn::max(attn::maximum(grad, -grad)).item<double>(), 0.0);
}

TEST(TransformerDecoding, AttentionRowsSumToOneOverRealWords) {
  attn::manual_seed(42);
  nn::Transformer model(tiny(4, false));
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  auto state = model.start(batch.source, batch.lengths);
  model.step(*state, batch.target.select(1, 0));
  Tensor a = state->last_attention();                                    // (B, S)
  ASSERT_EQ(attn::shape_str(a.shape()), attn::shape_str({3, 5}));
  std::vector<double> v = attn_test::values_of(a);
  std::vector<int64_t> lengths = {5, 3, 4};
  for (int64_t b = 0; b < 3; ++b) {
    double total = 0;
    for (int64_t s = 0; s < 5; ++s) {
      if (s >= lengths[b]) {
        EXPECT_EQ(v[b * 5 + s], 0.0) << "padding b=" << b << " s=" << s;
      }
      total += v[b * 5 + s];
    }
    EXPECT_NEAR(total, 1.0, 1e-6) << "b=" << b;
  }
}

// --- (b) leak tests -------------------------------------------------------------------

TEST(TransformerLeaks, LaterTargetTokensDoNotChangeEarlierLogits) {
  for (bool pre_ln : {false, true}) {
    attn::manual_seed(43);
    nn::Transformer model(tiny(2, pre_ln));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    Tensor before = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
    const int64_t T = batch.target.size(1);
    for (int64_t t = 0; t + 1 < T; ++t) {
      std::vector<int64_t> ids = ints_of(batch.target);
      for (int64_t b = 0; b < 3; ++b) {
        for (int64_t j = t + 1; j < T; ++j) {
          ids[b * T + j] = (ids[b * T + j] + 3 + j) % kTargetVocab;
        }
      }
      Tensor changed = attn::from_vector(ids, {3, T});
      Tensor after = model.forward(batch.source, batch.lengths, changed);
      EXPECT_EQ(max_diff(before.narrow(1, 0, t + 1), after.narrow(1, 0, t + 1)), 0.0)
          << (pre_ln ? "pre-LN" : "post-LN") << " t=" << t;
      EXPECT_GT(max_diff(before.narrow(1, t + 1, T - t - 1), after.narrow(1, t + 1, T - t - 1)),
                0.0) << "the change must matter somewhere, t=" << t;
    }
  }
}

TEST(TransformerLeaks, SourceTokensPastTheLengthChangeNothing) {
  for (bool pre_ln : {false, true}) {
    attn::manual_seed(44);
    nn::Transformer model(tiny(1, pre_ln));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    std::vector<int64_t> ids = ints_of(batch.source);
    std::vector<int64_t> lengths = {5, 3, 4};
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t s = lengths[b]; s < 5; ++s) ids[b * 5 + s] = 7 + s;  // real words, not <pad>
    }
    Tensor changed = attn::from_vector(ids, {3, 5});
    std::vector<Tensor> w1, w2;
    Tensor a = model.forward_with_attention(batch.source, batch.lengths, batch.target, w1);
    Tensor b = model.forward_with_attention(changed, batch.lengths, batch.target, w2);
    EXPECT_EQ(max_diff(a, b), 0.0) << (pre_ln ? "pre-LN" : "post-LN");
    for (size_t l = 0; l < w1.size(); ++l) EXPECT_EQ(max_diff(w1[l], w2[l]), 0.0);
    // And through the cache: start() on either source, one step.
    auto s1 = model.start(batch.source, batch.lengths);
    auto s2 = model.start(changed, batch.lengths);
    Tensor first = batch.target.select(1, 0);
    EXPECT_EQ(max_diff(model.step(*s1, first), model.step(*s2, first)), 0.0);
  }
}

// --- (c) reorder ----------------------------------------------------------------------

TEST(TransformerDecoding, ReorderThenStepEqualsSteppingTheReorderedBatch) {
  // A permutation, and a beam-search expansion that repeats and drops rows.
  for (std::vector<int64_t> order : {std::vector<int64_t>{2, 0, 1},
                                     std::vector<int64_t>{1, 1, 2, 0, 2}}) {
    attn::manual_seed(45);
    nn::Transformer model(tiny(2, false));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    const int64_t n = static_cast<int64_t>(order.size());
    Tensor index = attn::from_vector(order, {n});
    // Two steps, reorder, then the rest.
    auto reordered = model.start(batch.source, batch.lengths);
    model.step(*reordered, batch.target.select(1, 0));
    model.step(*reordered, batch.target.select(1, 1));
    reordered->reorder(index);
    // From the start on the reordered batch.
    auto fresh = model.start(attn::index_select(batch.source, 0, index),
                             attn::index_select(batch.lengths, 0, index));
    Tensor target = attn::index_select(batch.target, 0, index);          // (n, T)
    model.step(*fresh, target.select(1, 0));
    model.step(*fresh, target.select(1, 1));
    for (int64_t t = 2; t < batch.target.size(1); ++t) {
      Tensor a = model.step(*reordered, target.select(1, t));
      Tensor b = model.step(*fresh, target.select(1, t));
      ASSERT_EQ(a.size(0), n);
      EXPECT_LT(max_diff(a, b), 1e-6) << "n=" << n << " t=" << t;
      EXPECT_LT(max_diff(reordered->last_attention(), fresh->last_attention()), 1e-6);
    }
    auto& state = dynamic_cast<nn::TransformerState&>(*reordered);
    EXPECT_EQ(ints_of(state.source_lengths), ints_of(attn::index_select(batch.lengths, 0, index)));
    EXPECT_EQ(state.memory_mask.size(0), n);
  }
}

// --- (d) gradients ----------------------------------------------------------------------

void expect_model_gradcheck(const nn::TransformerOptions& options) {
  attn::manual_seed(46);
  nn::Transformer model(options);
  model.to(attn::kFloat64);
  const int64_t V = options.target_vocab_size;
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 3, 6, 0}, {2, 3});
  Tensor lengths = lengths_of({3, 2});
  Tensor input = attn::from_vector(std::vector<int64_t>{1, 4, 5, 1, 5, 0}, {2, 3});
  Tensor output = attn::from_vector(std::vector<int64_t>{4, 5, 2, 5, 2, 0}, {2, 3});
  auto loss = [&](const std::vector<Tensor>&) {
    Tensor logits = model.forward(source, lengths, input);               // (2, 3, V)
    return attn::cross_entropy(logits.reshape({-1, V}), output.reshape({-1}),
                               attn::CrossEntropyOptions().ignore(0));
  };
  attn::GradcheckResult result = attn::gradcheck(loss, model.parameters());
  EXPECT_TRUE(result.passed) << name_of(options) << ": " << result.message;
}

nn::TransformerOptions gradcheck_options(int64_t kv_heads, bool pre_ln) {
  // Deterministic (no dropout), D = 4, H = 2, F = 6, 1 + 2 layers.
  return nn::TransformerOptions(7, 6).set_d_model(4).set_num_heads(2).set_num_kv_heads(kv_heads)
      .set_d_ff(6).set_layers(1, 2).set_dropout(0.0).set_pre_ln(pre_ln).set_max_length(8);
}

TEST(TransformerGradcheck, PostLNMultiHead) { expect_model_gradcheck(gradcheck_options(2, false)); }

TEST(TransformerGradcheck, PreLNMultiQuerySharedTiedLearned) {
  nn::TransformerOptions options = gradcheck_options(1, true);
  options.target_vocab_size = 7;
  expect_model_gradcheck(options.set_shared_embeddings(true).set_tied_output(true)
                             .set_learned_positions(true));
}

// --- (e) shared embeddings and the tied output ------------------------------------------

TEST(TransformerSharing, SharedAndTiedWeightsAreOneTensor) {
  const int64_t V = 13, D = 8;
  auto make = [&](bool shared, bool tied) {
    nn::TransformerOptions o = tiny(4, false);
    o.target_vocab_size = V;
    return std::make_unique<nn::Transformer>(o.set_shared_embeddings(shared).set_tied_output(tied));
  };
  const int64_t plain = make(false, false)->parameter_count();
  EXPECT_EQ(make(true, false)->parameter_count(), plain - V * D);          // one table, not two
  EXPECT_EQ(make(false, true)->parameter_count(), plain - V * D - V);      // no W_out, no bias
  EXPECT_EQ(make(true, true)->parameter_count(), plain - 2 * V * D - V);

  auto model = make(true, true);
  EXPECT_EQ(model->source_embedding.get(), model->target_embedding.get());
  EXPECT_EQ(model->output, nullptr);
  int64_t holders = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    if (p.shares_storage_with(model->source_embedding->weight)) ++holders;
  }
  EXPECT_EQ(holders, 1) << "the shared table must appear once in parameters()";
  // Tied: logit v is <y, E[v]> with no bias, so zeroing row v zeroes it.
  model->eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  model->source_embedding->weight.narrow(0, 12, 1).zero_();  // id 12: not in the target
  Tensor logits = model->forward(batch.source, batch.lengths, batch.target);
  EXPECT_EQ(max_diff(logits.narrow(2, 12, 1), attn::zeros({3, 6, 1})), 0.0);
}

TEST(TransformerSharing, SharedEmbeddingsNeedEqualVocabularies) {
  std::string message =
      error_of([] { nn::Transformer(tiny(4, false).set_shared_embeddings(true)); });
  EXPECT_NE(message.find("shared_embeddings"), std::string::npos) << message;
  EXPECT_NE(message.find("13"), std::string::npos) << message;
  EXPECT_NE(message.find("11"), std::string::npos) << message;
}

// --- (f) the size of the KV cache ---------------------------------------------------------

TEST(TransformerCache, BytesFollowTheFormula) {
  // 2 * layers * B * Hkv * t * Dh * 4 bytes for the self part, the same with
  // S for the cross part; decoder layers only (3 here, the encoder has 1).
  const int64_t L = 3, B = 3, S = 5, H = 4, Dh = 2;
  int64_t mha_self = 0;
  for (int64_t kv : {4, 2, 1}) {
    attn::manual_seed(47);
    nn::Transformer model(tiny(kv, false).set_layers(1, L));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    auto state = model.start(batch.source, batch.lengths);
    nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*state);
    EXPECT_EQ(bytes.self_attention, 0);
    EXPECT_EQ(bytes.cross_attention, 2 * L * B * kv * S * Dh * 4);
    for (int64_t t = 1; t <= 4; ++t) {
      model.step(*state, batch.target.select(1, t - 1));
      bytes = nn::Transformer::cache_bytes(*state);
      EXPECT_EQ(bytes.self_attention, 2 * L * B * kv * t * Dh * 4) << "kv=" << kv << " t=" << t;
      EXPECT_EQ(bytes.total(), bytes.self_attention + bytes.cross_attention);
    }
    if (kv == H) mha_self = bytes.self_attention;
    if (kv == 1) {
      EXPECT_EQ(bytes.self_attention * H, mha_self) << "MQA keeps 1/H of MHA's cache";
    }
  }
}

TEST(TransformerCache, Float64DoublesTheBytes) {
  attn::manual_seed(48);
  nn::Transformer model(tiny(2, false));
  model.to(attn::kFloat64);
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  auto state = model.start(batch.source, batch.lengths);
  model.step(*state, batch.target.select(1, 0));
  EXPECT_EQ(nn::Transformer::cache_bytes(*state).self_attention, 2 * 2 * 3 * 2 * 1 * 2 * 8);
}

// --- presets, descriptions and errors -------------------------------------------------------

TEST(TransformerOptions, PresetsAndDescriptions) {
  nn::TransformerOptions base = nn::TransformerOptions::base(100, 120);
  EXPECT_EQ(base.d_model, 512);
  EXPECT_EQ(base.num_heads, 8);
  EXPECT_EQ(base.d_ff, 2048);
  EXPECT_EQ(base.encoder_layers, 6);
  EXPECT_EQ(base.decoder_layers, 6);
  EXPECT_EQ(base.dropout, 0.1);
  EXPECT_EQ(base.attention_dropout, 0.0);
  EXPECT_FALSE(base.pre_ln);
  nn::Transformer toy(nn::TransformerOptions::toy(20, 30));
  EXPECT_EQ(toy.describe().rfind("transformer: 2+2 layers, d_model 64, 4 heads (4 kv heads: MHA), "
                                 "d_ff 256, post-LN", 0), 0u) << toy.describe();
  nn::Transformer mqa(nn::TransformerOptions::toy(20, 30).set_num_kv_heads(1).set_pre_ln(true));
  EXPECT_NE(mqa.describe().find("4 heads (1 kv head: MQA), d_ff 256, pre-LN"), std::string::npos)
      << mqa.describe();
  nn::Transformer gqa(nn::TransformerOptions::toy(20, 30).set_num_kv_heads(2));
  EXPECT_NE(gqa.describe().find("(2 kv heads: GQA)"), std::string::npos) << gqa.describe();
}

TEST(TransformerErrors, BadShapesAreNamed) {
  attn::manual_seed(49);
  nn::Transformer model(tiny(4, false));
  Batch batch;
  std::string message = error_of([&] {
    model.forward(batch.source, batch.lengths,
                  attn::from_vector(std::vector<int64_t>{1, 2}, {2, 1}));
  });
  EXPECT_NE(message.find("target_input must be (3, T)"), std::string::npos) << message;
  message = error_of([&] { model.forward(batch.source, lengths_of({5, 3}), batch.target); });
  EXPECT_NE(message.find("source_lengths must be int64 (3)"), std::string::npos) << message;
  message = error_of([&] { model.forward(batch.source, lengths_of({5, 6, 1}), batch.target); });
  EXPECT_NE(message.find("length 6"), std::string::npos) << message;
  auto state = model.start(batch.source, batch.lengths);
  message = error_of([&] { model.step(*state, lengths_of({1, 1})); });
  EXPECT_NE(message.find("previous must be int64 (3)"), std::string::npos) << message;
  message = error_of([] { nn::Transformer(tiny(3, false)); });
  EXPECT_NE(message.find("num_kv_heads 3"), std::string::npos) << message;
  // A decoder layer's step with a (B, T > 1, D) input.
  nn::TransformerDecoderLayer layer(nn::TransformerLayerOptions(8, 4, 16));
  nn::TransformerDecoderLayerCache cache = layer.start(attn::randn({2, 5, 8}));
  message = error_of([&] { layer.step(attn::randn({2, 3, 8}), cache); });
  EXPECT_NE(message.find("TransformerDecoderLayer::step: input must be (2, 1, 8), got [2, 3, 8]"),
            std::string::npos) << message;
  message = error_of([&] { nn::PositionwiseFeedForward(8, 16).forward(attn::randn({2, 7})); });
  EXPECT_NE(message.find("PositionwiseFeedForward: input must be (..., 8), got [2, 7]"),
            std::string::npos) << message;
}

}  // namespace
