// Luong attention (nn/luong_attention.h) and the Luong model (nn/luong.h):
//   - each score against its equation, worked out with plain loops;
//   - gradcheck (float64) of every score and scope, through the parameters,
//     the queries and the keys; for local-p the gradient reaches W_p and v_p
//     through p_t and the Gaussian;
//   - windows: what lies outside [p_t - D, p_t + D] or on padding gets zero
//     weight, and changing it moves nothing (leak tests);
//   - the whole model against PyTorch with the same weights
//     (tests/golden/luong/, written by scripts/make_luong_golden.py);
//   - teacher-forced forward() equals step-by-step decoding, with and
//     without input feeding, for every scope;
//   - bad options and shapes are refused with messages that name them.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/grad_mode.h"
#include "golden_fixture.h"
#include "nn_test_util.h"
#include "nn/luong.h"
#include "nn/luong_attention.h"

namespace {

using attn_test::error_of;
using attn_test::lengths_of;

using attn::Tensor;
namespace nn = attn::nn;
using attn_test::max_diff;

double at(const Tensor& t, std::initializer_list<int64_t> index) {
  std::vector<double> v = t.detach().to(attn::kFloat64).contiguous().to_vector<double>();
  int64_t flat = 0, k = 0;
  for (int64_t i : index) flat = flat * t.size(k++) + i;
  return v[static_cast<size_t>(flat)];
}

// --- the scores, by hand ------------------------------------------------------------

// score(h_t, hbar_s) of section 3.1 with loops, for one (b, t, s).
double score_by_hand(const nn::LuongAttention& attention, const Tensor& query, const Tensor& keys,
                     int64_t b, int64_t t, int64_t s) {
  const int64_t H = query.size(2), Hk = keys.size(2);
  const std::string& kind = attention.options().score;
  if (kind == "dot") {
    double sum = 0;
    for (int64_t i = 0; i < H; ++i) sum += at(query, {b, t, i}) * at(keys, {b, s, i});
    return sum;
  }
  if (kind == "general") {
    double sum = 0;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < Hk; ++j) {
        sum += at(query, {b, t, i}) * at(attention.score_weight, {i, j}) * at(keys, {b, s, j});
      }
    }
    return sum;
  }
  const int64_t A = attention.concat_v.size(0);
  double sum = 0;
  for (int64_t a = 0; a < A; ++a) {
    double pre = 0;
    for (int64_t i = 0; i < H; ++i) pre += at(attention.concat_query, {a, i}) * at(query, {b, t, i});
    for (int64_t j = 0; j < Hk; ++j) pre += at(attention.concat_key, {a, j}) * at(keys, {b, s, j});
    sum += at(attention.concat_v, {a}) * std::tanh(pre);
  }
  return sum;
}

TEST(LuongScores, EachScoreIsItsEquation) {
  for (std::string score : {"dot", "general", "concat"}) {
    attn::manual_seed(21);
    nn::LuongAttention attention(nn::LuongAttentionOptions(4, 4).set_score(score));
    attention.to(attn::kFloat64);
    Tensor query = attn::randn({2, 3, 4}, attn::kFloat64);
    Tensor keys = attn::randn({2, 5, 4}, attn::kFloat64);
    Tensor lengths = lengths_of({5, 3});
    nn::LuongAttentionOutput out =
        attention.forward(query, attention.precompute_keys(keys), keys, lengths);
    for (int64_t b = 0; b < 2; ++b) {
      int64_t S = b == 0 ? 5 : 3;
      for (int64_t t = 0; t < 3; ++t) {
        // a_t(s) = softmax over the real words of the scores, eq. (7).
        std::vector<double> e(static_cast<size_t>(S));
        double total = 0;
        for (int64_t s = 0; s < S; ++s) {
          e[s] = std::exp(score_by_hand(attention, query, keys, b, t, s));
          total += e[s];
        }
        for (int64_t s = 0; s < 5; ++s) {
          double expected = s < S ? e[s] / total : 0.0;
          EXPECT_NEAR(at(out.weights, {b, t, s}), expected, 1e-12) << score << " b" << b << " t" << t;
        }
        for (int64_t k = 0; k < 4; ++k) {
          double c = 0;
          for (int64_t s = 0; s < S; ++s) c += e[s] / total * at(keys, {b, s, k});
          EXPECT_NEAR(at(out.context, {b, t, k}), c, 1e-12) << score;
        }
      }
    }
  }
}

TEST(LuongScores, LocalPGaussianAndPosition) {
  // a_t(s) = softmax(score)_s * exp(-(s - p_t)^2 / (2 (D/2)^2)) over the
  // window, p_t = S sigmoid(v_p^T tanh(W_p h_t)): eqs. (9) and (10).
  attn::manual_seed(22);
  const int64_t D = 2;
  nn::LuongAttention attention(
      nn::LuongAttentionOptions(3, 3).set_score("dot").set_scope("local-p").set_window(D));
  attention.to(attn::kFloat64);
  Tensor query = attn::randn({1, 1, 3}, attn::kFloat64);
  Tensor keys = attn::randn({1, 8, 3}, attn::kFloat64);
  nn::LuongAttentionOutput out = attention.forward(query, keys, keys, lengths_of({7}));
  double logit = 0;
  for (int64_t a = 0; a < 3; ++a) {
    double hidden = 0;
    for (int64_t i = 0; i < 3; ++i) hidden += at(attention.position_weight, {a, i}) * at(query, {0, 0, i});
    logit += at(attention.position_v, {a}) * std::tanh(hidden);
  }
  const double p = 7.0 / (1.0 + std::exp(-logit));
  EXPECT_NEAR(at(out.positions, {0, 0}), p, 1e-12);
  double total = 0;
  std::vector<double> e(8, 0.0);
  for (int64_t s = 0; s < 7; ++s) {
    if (std::fabs(s - p) > D) continue;
    e[s] = std::exp(score_by_hand(attention, query, keys, 0, 0, s));
    total += e[s];
  }
  for (int64_t s = 0; s < 8; ++s) {
    double gauss = std::exp(-(s - p) * (s - p) / (2.0 * (D / 2.0) * (D / 2.0)));
    EXPECT_NEAR(at(out.weights, {0, 0, s}), e[s] / total * gauss, 1e-12) << "s=" << s;
  }
}

// --- gradients ----------------------------------------------------------------------

void expect_attention_gradcheck(const std::string& score, const std::string& scope) {
  attn::manual_seed(23);
  nn::LuongAttention attention(
      nn::LuongAttentionOptions(3, 3).set_score(score).set_scope(scope).set_window(1));
  attention.to(attn::kFloat64);
  std::vector<Tensor> variables = attention.parameters();
  const size_t first = variables.size();
  variables.push_back(attn::randn({2, 2, 3}, attn::kFloat64).requires_grad_());  // query
  variables.push_back(attn::randn({2, 4, 3}, attn::kFloat64).requires_grad_());  // keys = values
  Tensor lengths = lengths_of({4, 3});
  auto run = [&](const std::vector<Tensor>& v) {
    const Tensor& query = v[first];
    const Tensor& keys = v[first + 1];
    nn::LuongAttentionOutput out = attention.forward(query, attention.precompute_keys(keys), keys,
                                                     lengths, /*first_step=*/1);
    return attn::cat({out.context.reshape({-1}), out.weights.reshape({-1})}, 0);
  };
  attn::GradcheckResult result = attn::gradcheck(run, variables);
  EXPECT_TRUE(result.passed) << score << "/" << scope << ": " << result.message;
}

TEST(LuongGradcheck, DotGlobal) { expect_attention_gradcheck("dot", "global"); }
TEST(LuongGradcheck, GeneralGlobal) { expect_attention_gradcheck("general", "global"); }
TEST(LuongGradcheck, ConcatGlobal) { expect_attention_gradcheck("concat", "global"); }
TEST(LuongGradcheck, GeneralLocalM) { expect_attention_gradcheck("general", "local-m"); }
TEST(LuongGradcheck, ConcatLocalP) { expect_attention_gradcheck("concat", "local-p"); }
TEST(LuongGradcheck, DotLocalP) { expect_attention_gradcheck("dot", "local-p"); }

TEST(LuongGradcheck, LocalPGradientReachesThePositionWeights) {
  // The window's edges are a step function; the Gaussian is what carries
  // dL/dp_t to W_p and v_p. Both get a nonzero gradient.
  attn::manual_seed(24);
  nn::LuongAttention attention(
      nn::LuongAttentionOptions(3, 3).set_score("dot").set_scope("local-p").set_window(2));
  Tensor query = attn::randn({2, 1, 3});
  Tensor keys = attn::randn({2, 6, 3});
  nn::LuongAttentionOutput out = attention.forward(query, keys, keys, lengths_of({6, 4}));
  out.context.sum().backward();
  ASSERT_TRUE(attention.position_weight.grad().defined());
  EXPECT_GT((attention.position_v.grad() * attention.position_v.grad()).sum().item<float>(), 0.0f);
  EXPECT_GT((attention.position_weight.grad() * attention.position_weight.grad()).sum().item<float>(), 0.0f);
}

TEST(LuongModelGradcheck, InputFeedingLocalPTwoLayers) {
  attn::manual_seed(25);
  nn::LuongOptions options(7, 6);
  options.embedding_size = 2;
  options.hidden_size = 3;
  options.layers = 2;
  options.score = "general";
  options.scope = "local-p";
  options.window = 1;
  nn::Luong model(options);
  model.to(attn::kFloat64);
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 4, 5, 0}, {2, 3});
  Tensor target = attn::from_vector(std::vector<int64_t>{2, 4, 5, 2, 5, 4}, {2, 3});
  Tensor lengths = lengths_of({3, 2});
  auto run = [&](const std::vector<Tensor>&) { return model.forward(source, lengths, target); };
  attn::GradcheckResult result = attn::gradcheck(run, model.parameters());
  EXPECT_TRUE(result.passed) << result.message;
}

// --- windows and padding ------------------------------------------------------------

TEST(LuongWindows, LocalMSeesOnlyItsWindowAndClampsAtTheEnd) {
  attn::manual_seed(26);
  nn::LuongAttention attention(
      nn::LuongAttentionOptions(3, 3).set_score("dot").set_scope("local-m").set_window(1));
  Tensor query = attn::randn({1, 6, 3});
  Tensor keys = attn::randn({1, 5, 3});
  nn::LuongAttentionOutput out = attention.forward(query, keys, keys, lengths_of({4}));
  for (int64_t t = 0; t < 6; ++t) {
    int64_t p = std::min<int64_t>(t, 3);  // p_t = t, clamped to the last word (index 3)
    EXPECT_EQ(at(out.positions, {0, t}), static_cast<double>(p));
    double row = 0;
    for (int64_t s = 0; s < 5; ++s) {
      double w = at(out.weights, {0, t, s});
      bool inside = s < 4 && std::abs(s - p) <= 1;
      if (inside) {
        EXPECT_GT(w, 0.0) << "t=" << t << " s=" << s;
      } else {
        EXPECT_EQ(w, 0.0) << "t=" << t << " s=" << s;
      }
      row += w;
    }
    EXPECT_NEAR(row, 1.0, 1e-6) << "t=" << t;
  }
}

TEST(LuongWindows, NothingOutsideTheWindowOrOnPaddingLeaks) {
  for (std::string scope : {"global", "local-m", "local-p"}) {
    attn::manual_seed(27);
    nn::LuongAttention attention(
        nn::LuongAttentionOptions(3, 3).set_score("general").set_scope(scope).set_window(1));
    Tensor query = attn::randn({1, 1, 3});
    Tensor keys = attn::randn({1, 7, 3});
    Tensor lengths = lengths_of({5});
    attn::NoGradGuard no_grad;
    nn::LuongAttentionOutput before =
        attention.forward(query, attention.precompute_keys(keys), keys, lengths, 2);
    // Change every position that must be invisible: outside the window, or padding.
    std::vector<float> values = keys.contiguous().to_vector<float>();
    double centre = scope == "global" ? 0 : at(before.positions, {0, 0});
    for (int64_t s = 0; s < 7; ++s) {
      bool visible = s < 5 && (scope == "global" || std::fabs(s - centre) <= 1);
      if (visible) continue;
      for (int64_t k = 0; k < 3; ++k) values[s * 3 + k] += 100.0f;
    }
    Tensor changed = attn::from_vector(values, {1, 7, 3});
    nn::LuongAttentionOutput after =
        attention.forward(query, attention.precompute_keys(changed), changed, lengths, 2);
    EXPECT_EQ(max_diff(before.context, after.context), 0.0) << scope;
    EXPECT_EQ(max_diff(before.weights, after.weights), 0.0) << scope;
  }
}

TEST(LuongWindows, LocalPCentreStaysInsideTheSentence) {
  attn::manual_seed(28);
  nn::LuongAttention attention(
      nn::LuongAttentionOptions(4, 4).set_score("dot").set_scope("local-p").set_window(1));
  Tensor query = attn::randn({3, 5, 4}) * 10.0;  // saturate the sigmoid both ways
  Tensor keys = attn::randn({3, 6, 4});
  nn::LuongAttentionOutput out = attention.forward(query, keys, keys, lengths_of({6, 2, 1}));
  std::vector<int64_t> lengths = {6, 2, 1};
  for (int64_t b = 0; b < 3; ++b) {
    double row_total = 0;
    for (int64_t t = 0; t < 5; ++t) {
      double p = at(out.positions, {b, t});
      EXPECT_GE(p, 0.0);
      EXPECT_LE(p, static_cast<double>(lengths[b]));
      for (int64_t s = lengths[b]; s < 6; ++s) EXPECT_EQ(at(out.weights, {b, t, s}), 0.0);
      for (int64_t s = 0; s < 6; ++s) row_total += at(out.weights, {b, t, s});
    }
    EXPECT_GT(row_total, 0.0) << "every row keeps at least one word, b=" << b;
  }
}

// --- the model against PyTorch ------------------------------------------------------

void check_luong_fixture(const std::string& name, attn::DType dtype, double tolerance) {
  attn_test::Fixture f = attn_test::load_fixture("luong", name, "scripts/make_luong_golden.py");
  const int64_t V = f.attr_int("vocab");
  nn::LuongOptions options(V, V);
  options.embedding_size = f.attr_int("embedding_size");
  options.hidden_size = f.attr_int("hidden_size");
  options.layers = f.attr_int("layers");
  options.score = f.attrs.at("score");
  options.scope = f.attrs.at("scope");
  options.window = f.attr_int("window");
  options.input_feed = f.attr_int("input_feed") != 0;
  auto model = std::make_shared<nn::Luong>(options);
  const bool local_p = options.scope == "local-p";
  attn_test::check_module_against_fixture(
      f, model.get(), dtype, tolerance, [&](const std::map<std::string, Tensor>& in) {
        nn::LuongAttentionOutput attention;
        Tensor logits = model->forward_with_attention(in.at("source"), in.at("source_lengths"),
                                                      in.at("target_input"), attention);
        std::vector<Tensor> outputs = {logits, attention.weights};
        if (local_p) outputs.push_back(attention.positions);
        return outputs;
      });
}

const std::vector<std::string> kLuongFixtures = {
    "luong_general_global_two_layers", "luong_dot_local_m", "luong_concat_local_p",
    "luong_general_local_p_no_feed"};

TEST(LuongGolden, MatchesPyTorchInFloat64) {
  for (const std::string& name : kLuongFixtures) check_luong_fixture(name, attn::kFloat64, 1e-10);
}

TEST(LuongGolden, MatchesPyTorchInFloat32) {
  for (const std::string& name : kLuongFixtures) check_luong_fixture(name, attn::kFloat32, 2e-5);
}

// --- forward() equals decoding step by step ------------------------------------------

void expect_forward_equals_steps(const std::string& score, const std::string& scope, bool feed) {
  attn::manual_seed(29);
  nn::LuongOptions options(11, 9);
  options.embedding_size = 5;
  options.hidden_size = 6;
  options.score = score;
  options.scope = scope;
  options.window = 2;
  options.input_feed = feed;
  nn::Luong model(options);
  model.eval();
  attn::NoGradGuard no_grad;
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0}, {2, 5});
  Tensor lengths = lengths_of({5, 3});
  Tensor target = attn::from_vector(std::vector<int64_t>{2, 4, 5, 6, 7, 8, 2, 8, 7, 6, 5, 4},
                                    {2, 6});
  nn::LuongAttentionOutput attention;
  Tensor logits = model.forward_with_attention(source, lengths, target, attention);  // (B, T, V)
  std::unique_ptr<nn::DecoderState> state = model.start(source, lengths);
  for (int64_t t = 0; t < 6; ++t) {
    Tensor step = model.step(*state, target.select(1, t));
    std::string where = score + "/" + scope + (feed ? "/feed" : "/no-feed") + " t=" + std::to_string(t);
    EXPECT_LT(max_diff(step, logits.select(1, t)), 1e-5) << where;
    EXPECT_LT(max_diff(state->last_attention(), attention.weights.select(1, t)), 1e-6) << where;
    if (scope == "global") {
      EXPECT_FALSE(state->last_position().defined());
      EXPECT_EQ(state->window(), 0);
    } else {
      EXPECT_LT(max_diff(state->last_position(), attention.positions.select(1, t)), 1e-5) << where;
      EXPECT_EQ(state->window(), 2);
    }
  }
}

TEST(LuongModel, ForwardEqualsStepsDotGlobalFeed) { expect_forward_equals_steps("dot", "global", true); }
TEST(LuongModel, ForwardEqualsStepsGeneralGlobalNoFeed) {
  expect_forward_equals_steps("general", "global", false);
}
TEST(LuongModel, ForwardEqualsStepsConcatLocalM) { expect_forward_equals_steps("concat", "local-m", true); }
TEST(LuongModel, ForwardEqualsStepsGeneralLocalMNoFeed) {
  expect_forward_equals_steps("general", "local-m", false);
}
TEST(LuongModel, ForwardEqualsStepsGeneralLocalP) { expect_forward_equals_steps("general", "local-p", true); }
TEST(LuongModel, ForwardEqualsStepsDotLocalPNoFeed) { expect_forward_equals_steps("dot", "local-p", false); }

TEST(LuongModel, PaddedSourceIdsChangeNothing) {
  attn::manual_seed(30);
  nn::LuongOptions options(11, 9);
  options.embedding_size = 4;
  options.hidden_size = 5;
  options.scope = "local-p";
  options.window = 1;
  nn::Luong model(options);
  attn::NoGradGuard no_grad;
  Tensor lengths = lengths_of({4, 2});
  Tensor target = attn::from_vector(std::vector<int64_t>{2, 4, 5, 2, 6, 7}, {2, 3});
  Tensor a = attn::from_vector(std::vector<int64_t>{4, 5, 6, 7, 8, 9, 0, 0}, {2, 4});
  Tensor b = attn::from_vector(std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 3}, {2, 4});
  EXPECT_EQ(max_diff(model.forward(a, lengths, target), model.forward(b, lengths, target)), 0.0);
}

// --- errors -------------------------------------------------------------------------

TEST(LuongErrors, BadOptionsAndShapesAreNamed) {
  EXPECT_NE(error_of([] { nn::LuongAttention(nn::LuongAttentionOptions(3, 3).set_score("mlp")); })
                .find("--attention-type"), std::string::npos);
  EXPECT_NE(error_of([] { nn::LuongAttention(nn::LuongAttentionOptions(3, 3).set_scope("local")); })
                .find("local-m"), std::string::npos);
  EXPECT_NE(error_of([] { nn::LuongAttention(nn::LuongAttentionOptions(3, 4).set_score("dot")); })
                .find("equal query and key sizes"), std::string::npos);
  EXPECT_NE(error_of([] {
              nn::LuongAttention(nn::LuongAttentionOptions(3, 3).set_scope("local-m").set_window(0));
            }).find("at least 1"), std::string::npos);
  nn::LuongAttention attention(nn::LuongAttentionOptions(3, 3));
  Tensor keys = attn::randn({2, 4, 3});
  std::string message = error_of([&] {
    attention.forward(attn::randn({2, 1, 5}), attention.precompute_keys(keys), keys,
                      lengths_of({4, 4}));
  });
  EXPECT_NE(message.find("LuongAttention: query must be (B, T, 3), got [2, 1, 5]"),
            std::string::npos) << message;
  message = error_of([&] {
    attention.forward(attn::randn({2, 1, 3}), attention.precompute_keys(keys), keys,
                      lengths_of({4, 9}));
  });
  EXPECT_NE(message.find("source length 9"), std::string::npos) << message;
}

}  // namespace
