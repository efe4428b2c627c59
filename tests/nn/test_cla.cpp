// Cross-Layer Attention (nn/transformer.h, cla_factor; Brandon et al. 2024):
//   - factor 1 is today's model: the same parameters, names and outputs;
//   - factor N drops exactly the k_proj / v_proj of the sharing layers, and
//     nothing else (state_dict names of the rest unchanged);
//   - SharedKVAttention attends as MultiheadAttention::attend does with the
//     same query and output weights (MHA, GQA with rope, weights and fused);
//   - cached step-by-step decoding equals forward(), factor 2 and 3, GQA,
//     rope, pre-LN, a smaller last group, and after a reorder;
//   - the cache bytes equal the formula of TransformerState::cache_bytes,
//     2 * ceil(L / N) * B * Hkv * {t, S} * Dh * 4, and half of factor 1's;
//   - causal and padding leak tests with factor 2; gradcheck in float64;
//   - factors outside 1..decoder_layers are refused, naming the value.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "golden_fixture.h"
#include "nn/transformer.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"

namespace {

using attn::Tensor;
using attn_test::lengths_of;
using attn_test::max_diff;
using Batch = attn_test::TransformerBatch;  // B = 3, S = 5, T = 6
namespace nn = attn::nn;

constexpr int64_t kSourceVocab = 13, kTargetVocab = 11;

// D = 8, H = 4 (Dh = 2), F = 16, 1 encoder layer, `layers` decoder layers.
nn::TransformerOptions tiny(int64_t kv_heads, int64_t layers, int64_t factor) {
  return nn::TransformerOptions(kSourceVocab, kTargetVocab)
      .set_d_model(8).set_num_heads(4).set_num_kv_heads(kv_heads).set_d_ff(16)
      .set_layers(1, layers).set_max_length(16).set_cla_factor(factor);
}

std::vector<int64_t> ints_of(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }

// --- factor 1 is the paper's model; factor N drops only the shared projections ---------

TEST(CrossLayerAttention, FactorOneIsTodaysModel) {
  attn::manual_seed(61);
  nn::Transformer plain(tiny(2, 3, 1).set_cla_factor(1));
  attn::manual_seed(61);
  nn::Transformer other(tiny(2, 3, 1));
  auto a = plain.named_parameters();
  auto b = other.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(max_diff(a[i].second, b[i].second), 0.0) << a[i].first;
  }
  // Every decoder layer owns its projections, as before CLA.
  for (const auto& layer : plain.decoder_layers) {
    EXPECT_FALSE(layer->options().share_kv);
    ASSERT_NE(layer->self_attention, nullptr);
    EXPECT_EQ(layer->shared_self_attention, nullptr);
  }
  // The decoder's output is what the layers' own MultiheadAttention::forward
  // gives, layer by layer: the pre-CLA computation, written out.
  plain.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor logits = plain.forward(batch.source, batch.lengths, batch.target);
  EXPECT_EQ(plain.describe().find("CLA"), std::string::npos);
  Tensor memory = plain.encode(batch.source, batch.lengths);
  Tensor y = plain.target_embedding->forward(batch.target) * std::sqrt(8.0);
  y = plain.target_positions->forward(y, 0);
  const auto causal = nn::AttentionMask::causal_only();
  const auto padding = nn::AttentionMask::from_lengths(batch.lengths);
  for (const auto& layer : plain.decoder_layers) {
    Tensor h = layer->norm1->forward(
        y + layer->self_attention->forward(y, y, y, causal, false).output);
    Tensor h2 = layer->norm2->forward(
        h + layer->cross_attention->forward(h, memory, memory, padding, false).output);
    y = layer->norm3->forward(h2 + layer->feed_forward->forward(h2));
  }
  EXPECT_LT(max_diff(logits, plain.output->forward(y)), 1e-6);
}

TEST(CrossLayerAttention, SharingLayersHaveNoKeyOrValueProjections) {
  const int64_t D = 8, Hkv = 2, Dh = 2, kv = Hkv * Dh;
  attn::manual_seed(62);
  nn::Transformer full(tiny(Hkv, 4, 1));
  nn::Transformer cla2(tiny(Hkv, 4, 2));
  nn::Transformer cla3(tiny(Hkv, 4, 3));  // groups {0, 1, 2} and {3}
  auto names = [](const nn::Module& m) {
    std::set<std::string> out;
    for (const auto& [name, p] : m.named_parameters()) out.insert(name);
    return out;
  };
  const std::set<std::string> all = names(full);
  // The k/v projections (weight and bias) of self- and cross-attention.
  auto kv_names = [](int64_t l) {
    std::vector<std::string> out;
    for (const char* attention : {"self_attention", "cross_attention"}) {
      for (const char* proj : {"k_proj", "v_proj"}) {
        for (const char* p : {"weight", "bias"}) {
          out.push_back("decoder_l" + std::to_string(l) + "." + attention + "." + proj + "." + p);
        }
      }
    }
    return out;
  };
  const int64_t per_layer = 2 * 2 * (D * kv + kv);  // self + cross, k + v, weight + bias
  for (auto [model, sharing] : {std::pair<nn::Transformer*, std::vector<int64_t>>{&cla2, {1, 3}},
                                {&cla3, {1, 2}}}) {
    std::set<std::string> expected = all;
    for (int64_t l : sharing) {
      for (const std::string& name : kv_names(l)) {
        ASSERT_EQ(expected.erase(name), 1u) << name;
      }
    }
    EXPECT_EQ(names(*model), expected) << model->describe();
    EXPECT_EQ(model->parameter_count(),
              full.parameter_count() - static_cast<int64_t>(sharing.size()) * per_layer);
    for (int64_t l : sharing) {
      EXPECT_TRUE(model->decoder_layers[l]->options().share_kv);
      EXPECT_EQ(model->decoder_layers[l]->self_attention, nullptr);
      EXPECT_NE(model->decoder_layers[l]->shared_self_attention, nullptr);
    }
  }
  EXPECT_NE(cla2.describe().find("CLA factor 2"), std::string::npos) << cla2.describe();
}

// --- SharedKVAttention against MultiheadAttention --------------------------------------

TEST(CrossLayerAttention, SharedKVAttentionAttendsAsMultiheadAttention) {
  for (bool rope : {false, true}) {
    for (int64_t kv_heads : {4, 2}) {
      attn::manual_seed(63);
      auto options = nn::MultiheadAttentionOptions(8, 4).set_num_kv_heads(kv_heads).set_rope(rope);
      nn::MultiheadAttention full(options);
      nn::SharedKVAttention shared(options);
      {
        attn::NoGradGuard no_grad;
        shared.q_proj->weight.copy_(full.q_proj->weight);
        shared.q_proj->bias.copy_(full.q_proj->bias);
        shared.out_proj->weight.copy_(full.out_proj->weight);
        shared.out_proj->bias.copy_(full.out_proj->bias);
      }
      Tensor query = attn::randn({2, 3, 8});
      Tensor source = attn::randn({2, 5, 8});
      Tensor keys = full.project_keys(source), values = full.project_values(source);
      for (bool need_weights : {true, false}) {
        auto a = full.attend(query, keys, values, nn::AttentionMask::causal_only(), need_weights, 2);
        auto b = shared.attend(query, keys, values, nn::AttentionMask::causal_only(), need_weights, 2);
        EXPECT_EQ(max_diff(a.output, b.output), 0.0) << "rope " << rope << " kv " << kv_heads;
        if (need_weights) {
          EXPECT_EQ(max_diff(a.weights, b.weights), 0.0);
        }
      }
      // Keys of the wrong head count are refused, naming the shapes.
      try {
        shared.attend(query, attn::randn({2, 3, 5, 2}), attn::randn({2, 3, 5, 2}));
        FAIL() << "no error for 3 kv heads";
      } catch (const attn::Error& e) {
        EXPECT_NE(std::string(e.what()).find("[2, 3, 5, 2]"), std::string::npos) << e.what();
      }
    }
  }
}

// --- cached decoding equals forward() ---------------------------------------------------

void expect_steps_equal_forward(const nn::TransformerOptions& options, bool reorder) {
  attn::manual_seed(64);
  nn::Transformer model(options);
  model.to(attn::kFloat64);
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor source = batch.source, lengths = batch.lengths, target = batch.target;
  auto state = model.start(source, lengths);
  if (reorder) {
    // Two steps, then a beam-search style reorder of the rows; the reference
    // is forward() on the reordered batch.
    Tensor index = attn::from_vector(std::vector<int64_t>{2, 2, 0}, {3});
    model.step(*state, target.select(1, 0));
    model.step(*state, target.select(1, 1));
    state->reorder(index);
    source = attn::index_select(source, 0, index);
    lengths = attn::index_select(lengths, 0, index);
    target = attn::index_select(target, 0, index);
  }
  std::vector<Tensor> weights;
  Tensor logits = model.forward_with_attention(source, lengths, target, weights);  // (B, T, V)
  const std::string where = model.describe();
  for (int64_t t = reorder ? 2 : 0; t < target.size(1); ++t) {
    Tensor step = model.step(*state, target.select(1, t));                        // (B, V)
    EXPECT_LT(max_diff(step, logits.select(1, t)), 1e-12) << where << " t=" << t;
    auto& s = dynamic_cast<nn::TransformerState&>(*state);
    for (size_t l = 0; l < weights.size(); ++l) {
      EXPECT_LT(max_diff(s.cross_weights[l], weights[l].select(2, t)), 1e-12) << where;
    }
  }
}

TEST(CrossLayerAttention, CachedStepsEqualForward) {
  expect_steps_equal_forward(tiny(4, 2, 2), false);                            // CLA2, MHA
  expect_steps_equal_forward(tiny(2, 4, 2).set_positions("rope"), false);      // CLA2 + GQA + rope
  expect_steps_equal_forward(tiny(1, 3, 2).set_pre_ln(true), false);           // last group of 1
  expect_steps_equal_forward(tiny(2, 3, 3).set_positions("rope"), false);      // one group of 3
  expect_steps_equal_forward(tiny(2, 4, 2).set_positions("rope"), true);       // after a reorder
}

// --- the cache's bytes --------------------------------------------------------------------

TEST(CrossLayerAttention, CacheBytesFollowTheFormula) {
  const int64_t B = 3, S = 5, Dh = 2, kv = 2;
  for (auto [L, N] : std::vector<std::pair<int64_t, int64_t>>{{4, 1}, {4, 2}, {3, 2}, {4, 3},
                                                              {4, 4}}) {
    attn::manual_seed(65);
    nn::Transformer model(tiny(kv, L, N));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    auto state = model.start(batch.source, batch.lengths);
    const int64_t G = (L + N - 1) / N;  // groups: ceil(L / N); one set of keys and values each
    nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*state);
    EXPECT_EQ(bytes.self_attention, 0);
    EXPECT_EQ(bytes.cross_attention, 2 * G * B * kv * S * Dh * 4) << "L=" << L << " N=" << N;
    for (int64_t t = 1; t <= 4; ++t) {
      model.step(*state, batch.target.select(1, t - 1));
      bytes = nn::Transformer::cache_bytes(*state);
      EXPECT_EQ(bytes.self_attention, 2 * G * B * kv * t * Dh * 4)
          << "L=" << L << " N=" << N << " t=" << t;
    }
    // Only the first layer of each group holds tensors.
    auto& s = dynamic_cast<nn::TransformerState&>(*state);
    for (int64_t l = 0; l < L; ++l) {
      EXPECT_EQ(s.layers[l].self_keys.defined(), l % N == 0) << "layer " << l;
      EXPECT_EQ(s.layers[l].cross_keys.defined(), l % N == 0) << "layer " << l;
    }
    if (L == 4 && N == 2) {
      EXPECT_EQ(bytes.total() * 2, 2 * 4 * B * kv * (4 + S) * Dh * 4) << "CLA2: half of factor 1";
    }
  }
}

// --- leaks -----------------------------------------------------------------------------

TEST(CrossLayerAttention, LaterTargetTokensDoNotChangeEarlierLogits) {
  for (bool pre_ln : {false, true}) {
    attn::manual_seed(66);
    nn::Transformer model(tiny(2, 4, 2).set_pre_ln(pre_ln).set_positions("rope"));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    Tensor before = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
    const int64_t T = batch.target.size(1);
    for (int64_t t = 0; t + 1 < T; ++t) {
      std::vector<int64_t> ids = ints_of(batch.target);
      for (int64_t b = 0; b < 3; ++b) {
        for (int64_t j = t + 1; j < T; ++j) ids[b * T + j] = (ids[b * T + j] + 3 + j) % kTargetVocab;
      }
      Tensor after = model.forward(batch.source, batch.lengths, attn::from_vector(ids, {3, T}));
      EXPECT_EQ(max_diff(before.narrow(1, 0, t + 1), after.narrow(1, 0, t + 1)), 0.0)
          << (pre_ln ? "pre-LN" : "post-LN") << " t=" << t;
      EXPECT_GT(max_diff(before.narrow(1, t + 1, T - t - 1), after.narrow(1, t + 1, T - t - 1)),
                0.0) << "the change must matter somewhere, t=" << t;
    }
  }
}

TEST(CrossLayerAttention, SourceTokensPastTheLengthChangeNothing) {
  attn::manual_seed(67);
  nn::Transformer model(tiny(1, 4, 2));
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  std::vector<int64_t> ids = ints_of(batch.source);
  const std::vector<int64_t> lengths = {5, 3, 4};
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t s = lengths[b]; s < 5; ++s) ids[b * 5 + s] = 7 + s;  // real words, not <pad>
  }
  Tensor changed = attn::from_vector(ids, {3, 5});
  EXPECT_EQ(max_diff(model.forward(batch.source, batch.lengths, batch.target),
                     model.forward(changed, batch.lengths, batch.target)), 0.0);
  auto s1 = model.start(batch.source, batch.lengths);
  auto s2 = model.start(changed, batch.lengths);
  for (int64_t t = 0; t < 3; ++t) {
    Tensor token = batch.target.select(1, t);
    EXPECT_EQ(max_diff(model.step(*s1, token), model.step(*s2, token)), 0.0) << "t=" << t;
  }
}

// --- gradients --------------------------------------------------------------------------

void expect_cla_gradcheck(const nn::TransformerOptions& options) {
  attn::manual_seed(68);
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
  EXPECT_TRUE(result.passed) << model.describe() << ": " << result.message;
}

nn::TransformerOptions gradcheck_options(int64_t kv_heads, int64_t layers, int64_t factor) {
  // Deterministic (no dropout), D = 4, H = 2, F = 6, 1 + `layers` layers.
  return nn::TransformerOptions(7, 6).set_d_model(4).set_num_heads(2).set_num_kv_heads(kv_heads)
      .set_d_ff(6).set_layers(1, layers).set_dropout(0.0).set_max_length(8)
      .set_cla_factor(factor);
}

TEST(CrossLayerAttention, GradcheckFactorTwo) {
  // The first layer's k_proj and v_proj get gradients from both layers of the group.
  expect_cla_gradcheck(gradcheck_options(2, 2, 2));
}

TEST(CrossLayerAttention, GradcheckFactorTwoMultiQueryRopePreLN) {
  expect_cla_gradcheck(gradcheck_options(1, 3, 2).set_positions("rope").set_pre_ln(true));
}

// --- errors -------------------------------------------------------------------------------

TEST(CrossLayerAttention, FactorsOutsideOneToLayersAreRefused) {
  for (int64_t factor : {0, -1, 5}) {
    try {
      nn::Transformer model(tiny(2, 4, factor));
      FAIL() << "no error for cla_factor " << factor;
    } catch (const attn::Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("cla_factor"), std::string::npos) << message;
      EXPECT_NE(message.find("--dec-depth"), std::string::npos) << message;
      EXPECT_NE(message.find("got " + std::to_string(factor)), std::string::npos) << message;
    }
  }
  // A sharing layer alone, without its group's first layer, says what it needs.
  nn::TransformerLayerOptions layer(8, 4, 16);
  nn::TransformerDecoderLayer shared(layer.set_share_kv(true));
  try {
    shared.forward(attn::randn({1, 2, 8}), attn::randn({1, 3, 8}));
    FAIL() << "no error without the shared keys";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("share_kv"), std::string::npos) << e.what();
  }
  auto cache = shared.start(attn::randn({1, 3, 8}));
  try {
    shared.step(attn::randn({1, 1, 8}), cache);
    FAIL() << "no error without the shared cache";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("share_kv"), std::string::npos) << e.what();
  }
}

}  // namespace
