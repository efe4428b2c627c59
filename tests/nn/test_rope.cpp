// Rotary positions (RoPE; Su et al. 2021, RoFormer): the op attn::rope
// (autograd/ops_rope.cpp, kernels/rope.h) and its use in MultiheadAttention
// and the Transformer (positions = "rope"):
//   - the op against PyTorch (tests/golden/rope/, written by
//     scripts/make_rope_golden.py, which turns pairs as complex numbers the
//     way Meta's LLaMA reference code does): values and gradients, float32
//     and float64, and against the pair formula written out with loops;
//   - the backward is the rotation by the negative angle;
//   - the relative-position property (RoFormer eq. 16): the score of a query
//     turned at m and a key turned at n depends only on m - n;
//   - attention with rotary positions and grouped heads against PyTorch;
//   - MultiheadAttention: project_keys(x, position) turns key t at
//     position + t; attend() turns queries at query_position;
//   - the Transformer with rope: nothing added to the embeddings, cached
//     decoding equals forward() (float32, float64; MHA, GQA, MQA; pre/post-LN),
//     the cache holds turned keys, causal and padding leak tests, gradcheck;
//   - errors name the op and the value.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "golden_fixture.h"
#include "nn/multihead_attention.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn/transformer.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"

namespace {

using attn::Tensor;
using attn_test::error_of;
using attn_test::lengths_of;
using attn_test::max_diff;
using attn_test::values_of;
using Batch = attn_test::TransformerBatch;
namespace nn = attn::nn;

const char* kScript = "scripts/make_rope_golden.py";

double attr_double(const attn_test::Fixture& f, const std::string& key) {
  return std::stod(f.attrs.at(key));
}

// The pair formula with loops: x (rows, T, D) -> y, pair i of step t turned by
// sign * (offset + t) * base^(-2i/D).
std::vector<double> rope_by_hand(const std::vector<double>& x, int64_t rows, int64_t T, int64_t D,
                                 int64_t offset, double base, double sign) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D / 2; ++i) {
        const double angle = sign * static_cast<double>(offset + t) *
                             std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(D));
        const size_t e = static_cast<size_t>((r * T + t) * D + 2 * i);
        y[e] = x[e] * std::cos(angle) - x[e + 1] * std::sin(angle);
        y[e + 1] = x[e] * std::sin(angle) + x[e + 1] * std::cos(angle);
      }
  return y;
}

// --- the op ---------------------------------------------------------------------------

TEST(Rope, MatchesPyTorch) {
  for (const char* name : {"rope_offset_0", "rope_offset_7_base_100"}) {
    const attn_test::Fixture f = attn_test::load_fixture("rope", name, kScript);
    const int64_t offset = f.attr_int("offset");
    const double base = attr_double(f, "base");
    for (attn::DType dtype : {attn::kFloat64, attn::kFloat32}) {
      const double tolerance = dtype == attn::kFloat64 ? 1e-12 : 2e-6;
      Tensor x = f.at("x").to(dtype).detach().requires_grad_();
      Tensor y = attn::rope(x, offset, base);
      EXPECT_EQ(y.dtype(), dtype);
      EXPECT_LT(max_diff(y, f.at("out0")), tolerance) << name << " " << attn::dtype_name(dtype);
      (y * f.at("grad_out0").to(dtype)).sum().backward();
      EXPECT_LT(max_diff(x.grad(), f.at("grad_x")), tolerance)
          << name << " gradient " << attn::dtype_name(dtype);
    }
  }
}

TEST(Rope, EqualsThePairFormulaAndItsBackwardTurnsBack) {
  attn::Generator g(3);
  const int64_t rows = 6, T = 7, D = 10, offset = 13;
  Tensor x = attn::randn({2, 3, T, D}, attn::kFloat64, &g).requires_grad_();
  Tensor w = attn::randn({2, 3, T, D}, attn::kFloat64, &g);
  Tensor y = attn::rope(x, offset);
  EXPECT_LT(max_diff(y, attn::from_vector(rope_by_hand(values_of(x), rows, T, D, offset, 1e4, 1.0),
                                          {2, 3, T, D})),
            1e-14);
  (y * w).sum().backward();
  // dL/dx = R^T w = w turned by the negative angles.
  EXPECT_LT(max_diff(x.grad(), attn::from_vector(rope_by_hand(values_of(w), rows, T, D, offset,
                                                              1e4, -1.0),
                                                 {2, 3, T, D})),
            1e-14);
  // A rotation keeps lengths, and position 0 is not turned at all.
  EXPECT_NEAR(values_of(y.pow(2.0).sum())[0], values_of(x.pow(2.0).sum())[0], 1e-10);
  EXPECT_EQ(values_of(attn::rope(x.detach()).narrow(2, 0, 1)),
            values_of(x.detach().narrow(2, 0, 1)));
  // Non-contiguous input: the same as its contiguous copy.
  Tensor xt = attn::randn({2, T, 3, D}, attn::kFloat64, &g).transpose(1, 2);
  EXPECT_EQ(values_of(attn::rope(xt, 2)), values_of(attn::rope(xt.contiguous(), 2)));
}

TEST(Rope, ScoresDependOnlyOnTheRelativePosition) {
  // RoFormer eq. 16: (R_m q)^T (R_n k) = q^T R_{n-m} k.
  attn::Generator g(5);
  const int64_t D = 16;
  Tensor q = attn::randn({1, 1, 1, D}, attn::kFloat64, &g);
  Tensor k = attn::randn({1, 1, 1, D}, attn::kFloat64, &g);
  auto score = [&](int64_t m, int64_t n) {
    return values_of((attn::rope(q, m) * attn::rope(k, n)).sum())[0];
  };
  for (int64_t distance : {0, 1, 3, 17}) {
    const double at_start = score(0, distance);
    for (int64_t shift : {1, 5, 40, 301}) {
      EXPECT_NEAR(score(shift, shift + distance), at_start, 1e-11)
          << "distance " << distance << " shift " << shift;
      EXPECT_NEAR(score(shift + distance, shift), score(distance, 0), 1e-11);
    }
  }
  // And it does depend on the distance (the positions are not lost).
  EXPECT_GT(std::fabs(score(0, 1) - score(0, 4)), 1e-3);
}

TEST(Rope, ErrorsNameTheOpAndTheValue) {
  Tensor odd = attn::zeros({2, 3, 5});
  std::string e = error_of([&] { attn::rope(odd); });
  EXPECT_NE(e.find("rope"), std::string::npos) << e;
  EXPECT_NE(e.find("D even"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 3, 5]"), std::string::npos) << e;
  e = error_of([&] { attn::rope(attn::zeros({3, 4}), -1); });
  EXPECT_NE(e.find("offset"), std::string::npos) << e;
  EXPECT_NE(e.find("-1"), std::string::npos) << e;
  e = error_of([&] { attn::rope(attn::zeros({3, 4}), 0, 1.0); });
  EXPECT_NE(e.find("base"), std::string::npos) << e;
  e = error_of([&] {
    nn::MultiheadAttention(nn::MultiheadAttentionOptions(12, 4).set_rope(true));  // Dh = 3
  });
  EXPECT_NE(e.find("must be even"), std::string::npos) << e;
  EXPECT_NE(e.find("= 3"), std::string::npos) << e;
  e = error_of([&] { nn::Transformer(nn::TransformerOptions(5, 5).set_positions("relative")); });
  EXPECT_NE(e.find("positions"), std::string::npos) << e;
  EXPECT_NE(e.find("'relative'"), std::string::npos) << e;
}

// --- attention with rotary positions -----------------------------------------------------

TEST(Rope, GroupedAttentionWithRotaryPositionsMatchesPyTorch) {
  const attn_test::Fixture f = attn_test::load_fixture("rope", "rope_attention_gqa", kScript);
  EXPECT_EQ(f.attr_int("num_kv_heads"), 2);
  for (bool fused : {false, true}) {
    Tensor q = f.at("q").clone().requires_grad_(), k = f.at("k").clone().requires_grad_();
    Tensor v = f.at("v").clone().requires_grad_();
    const nn::AttentionMask mask = nn::AttentionMask::from_lengths(f.at("lengths"), true);
    nn::AttentionResult r = nn::scaled_dot_product_attention(
        attn::rope(q), attn::rope(k), v, mask, nn::AttentionOptions().set_need_weights(!fused));
    EXPECT_LT(max_diff(r.output, f.at("out0")), 1e-12) << (fused ? "fused" : "composed");
    (r.output * f.at("grad_out0")).sum().backward();
    for (const char* name : {"q", "k", "v"}) {
      const Tensor& leaf = name[0] == 'q' ? q : (name[0] == 'k' ? k : v);
      EXPECT_LT(max_diff(leaf.grad(), f.at(std::string("grad_") + name)), 1e-12)
          << (fused ? "fused " : "composed ") << name;
    }
  }
}

TEST(Rope, MultiheadAttentionTurnsKeysWhenProjectedAndQueriesWhenAttending) {
  attn::manual_seed(7);
  nn::MultiheadAttention plain(nn::MultiheadAttentionOptions(8, 2).set_num_kv_heads(1));
  nn::MultiheadAttention rotary(nn::MultiheadAttentionOptions(8, 2).set_num_kv_heads(1)
                                    .set_rope(true));
  rotary.load_state_dict(plain.state_dict());
  attn::Generator g(9);
  Tensor x = attn::randn({2, 5, 8}, attn::kFloat32, &g);
  // Key t is turned at position + t; values never.
  EXPECT_LT(max_diff(rotary.project_keys(x, 4), attn::rope(plain.project_keys(x), 4)), 1e-6);
  EXPECT_EQ(values_of(rotary.project_values(x)), values_of(plain.project_values(x)));
  // attend() turns queries at query_position: the last query of the
  // sequence, attending from position 4, equals row 4 of the whole forward.
  const nn::AttentionMask causal = nn::AttentionMask::causal_only();
  Tensor whole = rotary.forward(x, x, x, causal).output;                        // (2, 5, 8)
  Tensor last = rotary.attend(x.narrow(1, 4, 1), rotary.project_keys(x),
                              rotary.project_values(x), causal, true, 4).output;  // (2, 1, 8)
  EXPECT_LT(max_diff(last, whole.narrow(1, 4, 1)), 1e-6);
  // Without rope the layer is the plain one; with it, it is not.
  EXPECT_GT(max_diff(whole, plain.forward(x, x, x, causal).output), 1e-3);
}

// --- the Transformer with rotary positions ------------------------------------------------

nn::TransformerOptions tiny_rope(int64_t kv_heads, bool pre_ln) {
  return nn::TransformerOptions(13, 11).set_d_model(8).set_num_heads(2)  // Dh = 4: two pairs
      .set_num_kv_heads(kv_heads).set_d_ff(16).set_layers(2, 2).set_pre_ln(pre_ln)
      .set_positions("rope");
}

TEST(RopeTransformer, AddsNoPositionsToTheEmbeddingsAndSaysSo) {
  nn::Transformer model(tiny_rope(1, false));
  EXPECT_EQ(model.source_positions, nullptr);
  EXPECT_EQ(model.target_positions, nullptr);
  ASSERT_NE(model.embedding_dropout, nullptr);
  EXPECT_NE(model.describe().find("rotary (RoPE) positions"), std::string::npos)
      << model.describe();
  EXPECT_TRUE(model.encoder_layers[0]->self_attention->options().rope);
  EXPECT_TRUE(model.decoder_layers[0]->self_attention->options().rope);
  EXPECT_FALSE(model.decoder_layers[0]->cross_attention->options().rope);
  // The same parameters as the sinusoidal model (rotary positions have none).
  nn::Transformer sinusoidal(tiny_rope(1, false).set_positions("sinusoidal"));
  EXPECT_EQ(model.parameter_count(), sinusoidal.parameter_count());
}

TEST(RopeTransformer, CachedStepsEqualForwardAndTheCacheHoldsTurnedKeys) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    const double tolerance = dtype == attn::kFloat64 ? 1e-10 : 1e-5;
    for (auto [kv_heads, pre_ln] : std::vector<std::pair<int64_t, bool>>{
             {2, false}, {1, true}, {2, true}}) {
      const std::string where = std::string(attn::dtype_name(dtype)) + " kv=" +
                                std::to_string(kv_heads) + (pre_ln ? " pre-LN" : " post-LN");
      attn::manual_seed(51);
      nn::Transformer model(tiny_rope(kv_heads, pre_ln));
      model.to(dtype);
      model.eval();
      attn::NoGradGuard no_grad;
      Batch batch;
      Tensor logits = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
      auto base = model.start(batch.source, batch.lengths);
      auto& state = dynamic_cast<nn::TransformerState&>(*base);
      state.need_weights = false;  // the fused path of `attn translate`
      for (int64_t t = 0; t < batch.target.size(1); ++t) {
        Tensor step = model.step(state, batch.target.select(1, t));
        EXPECT_LT(max_diff(step, logits.select(1, t)), tolerance) << where << " t=" << t;
      }
      // The first layer's cache is its keys turned at 0 .. T-1: project the
      // first layer's input (the embeddings, no positions added) again.
      const nn::TransformerDecoderLayer& layer = *model.decoder_layers[0];
      Tensor x = model.target_embedding->forward(batch.target) * std::sqrt(8.0);
      Tensor a = pre_ln ? layer.norm1->forward(x) : x;
      EXPECT_LT(max_diff(state.layers[0].self_keys, layer.self_attention->project_keys(a, 0)),
                tolerance) << where;
      EXPECT_GT(max_diff(state.layers[0].self_keys,
                         attn::rope(layer.self_attention->project_keys(a, 0), 1)), 1e-3)
          << where << ": the keys are turned at their own positions";
    }
  }
}

TEST(RopeTransformer, LaterTargetTokensAndPaddedSourceWordsChangeNothing) {
  attn::manual_seed(53);
  nn::Transformer model(tiny_rope(2, false));
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor before = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
  const int64_t T = batch.target.size(1);
  // Causal: changing tokens after t leaves the logits up to t alone.
  for (int64_t t = 0; t + 1 < T; ++t) {
    std::vector<int64_t> ids = batch.target.contiguous().to_vector<int64_t>();
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t j = t + 1; j < T; ++j) ids[b * T + j] = (ids[b * T + j] + 3 + j) % 11;
    Tensor after = model.forward(batch.source, batch.lengths, attn::from_vector(ids, {3, T}));
    EXPECT_EQ(max_diff(before.narrow(1, 0, t + 1), after.narrow(1, 0, t + 1)), 0.0) << "t=" << t;
    EXPECT_GT(max_diff(before, after), 0.0) << "t=" << t;
  }
  // Padding: real words past a sentence's length change nothing.
  std::vector<int64_t> ids = batch.source.contiguous().to_vector<int64_t>();
  const std::vector<int64_t> lengths = {5, 3, 4};
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t s = lengths[b]; s < 5; ++s) ids[b * 5 + s] = 7 + s;
  Tensor changed = model.forward(attn::from_vector(ids, {3, 5}), batch.lengths, batch.target);
  EXPECT_EQ(max_diff(before, changed), 0.0);
}

TEST(RopeTransformer, Gradcheck) {
  attn::manual_seed(55);
  nn::Transformer model(nn::TransformerOptions(7, 6).set_d_model(4).set_num_heads(2)
                            .set_num_kv_heads(1).set_d_ff(6).set_layers(1, 1).set_dropout(0.0)
                            .set_positions("rope"));
  model.to(attn::kFloat64);
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 3, 6, 0}, {2, 3});
  Tensor lengths = lengths_of({3, 2});
  Tensor input = attn::from_vector(std::vector<int64_t>{1, 4, 5, 1, 5, 0}, {2, 3});
  Tensor output = attn::from_vector(std::vector<int64_t>{4, 5, 2, 5, 2, 0}, {2, 3});
  auto loss = [&](const std::vector<Tensor>&) {
    Tensor logits = model.forward(source, lengths, input);  // (2, 3, 6)
    return attn::cross_entropy(logits.reshape({-1, 6}), output.reshape({-1}),
                               attn::CrossEntropyOptions().ignore(0));
  };
  attn::GradcheckResult result = attn::gradcheck(loss, model.parameters());
  EXPECT_TRUE(result.passed) << result.message;
}

}  // namespace
