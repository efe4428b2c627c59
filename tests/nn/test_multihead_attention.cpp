// Multi-head attention (nn/multihead_attention.h), with MQA and GQA:
//   - output and weights against the paper's formula (section 3.2.2) worked
//     out with plain loops, for MHA, GQA and MQA, and forward = project + attend;
//   - outputs, per-head weights and every gradient against PyTorch's
//     torch.nn.MultiheadAttention (tests/golden/mha/, written by
//     scripts/make_mha_golden.py), with key padding and causal masks;
//   - GQA with num_kv_heads = num_heads is MHA; MQA/GQA equal MHA with the
//     k/v projection rows repeated group-wise;
//   - gradcheck (float64) through every parameter and input under a
//     causal + padding mask, for MHA, GQA and MQA;
//   - a causal leak test, the parameter counts, and the error messages.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "golden_fixture.h"
#include "nn_test_util.h"
#include "nn/multihead_attention.h"

namespace {

using attn_test::error_of;
using attn_test::values_of;
using attn_test::lengths_of;

using attn::Shape;
using attn::Tensor;
namespace nn = attn::nn;
using attn_test::max_diff;

Tensor randn64(const Shape& shape, attn::Generator& generator) {
  return attn::randn(shape, attn::kFloat64, &generator);
}

// A float64 module with D = d_model, H heads and Hkv kv heads.
nn::MultiheadAttention make_mha(int64_t d_model, int64_t heads, int64_t kv_heads) {
  nn::MultiheadAttention m(nn::MultiheadAttentionOptions(d_model, heads).set_num_kv_heads(kv_heads));
  m.to(attn::kFloat64);
  return m;
}

// y = x W^T + b for one row x (D_in) of a (rows, D_in) matrix, with loops.
std::vector<double> affine_rows(const std::vector<double>& x, int64_t rows, int64_t in,
                                const nn::Linear& layer) {
  std::vector<double> W = values_of(layer.weight), b = values_of(layer.bias);
  const int64_t out = layer.options().out_features;
  std::vector<double> y(static_cast<size_t>(rows * out), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b[o];
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * W[o * in + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

// Section 3.2.2 with loops for query (B, Tq, D), key/value (B, Tk, D):
// head h uses kv head h / (H / Hkv). -> output (B, Tq, D), weights (B, H, Tq, Tk).
std::pair<std::vector<double>, std::vector<double>> mha_by_hand(
    const nn::MultiheadAttention& m, const Tensor& query, const Tensor& key, const Tensor& value,
    const std::function<bool(int64_t, int64_t, int64_t)>& visible) {
  const int64_t B = query.size(0), Tq = query.size(1), Tk = key.size(1), D = query.size(2);
  const int64_t H = m.options().num_heads, Hkv = m.num_kv_heads(), Dh = m.head_dim();
  std::vector<double> Q = affine_rows(values_of(query), B * Tq, D, *m.q_proj);  // (B, Tq, H*Dh)
  std::vector<double> K = affine_rows(values_of(key), B * Tk, D, *m.k_proj);    // (B, Tk, Hkv*Dh)
  std::vector<double> V = affine_rows(values_of(value), B * Tk, D, *m.v_proj);  // (B, Tk, Hkv*Dh)
  std::vector<double> concat(static_cast<size_t>(B * Tq * D), 0.0);
  std::vector<double> weights(static_cast<size_t>(B * H * Tq * Tk), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / Hkv);
      for (int64_t i = 0; i < Tq; ++i) {
        std::vector<double> score(static_cast<size_t>(Tk), -INFINITY);
        double largest = -INFINITY, total = 0.0;
        for (int64_t j = 0; j < Tk; ++j) {
          if (!visible(b, i, j)) continue;
          double dot = 0.0;
          for (int64_t d = 0; d < Dh; ++d) {
            dot += Q[(b * Tq + i) * H * Dh + h * Dh + d] * K[(b * Tk + j) * Hkv * Dh + g * Dh + d];
          }
          score[j] = dot / std::sqrt(static_cast<double>(Dh));
          largest = std::max(largest, score[j]);
        }
        for (int64_t j = 0; j < Tk; ++j) total += visible(b, i, j) ? std::exp(score[j] - largest) : 0.0;
        for (int64_t j = 0; j < Tk; ++j) {
          double w = visible(b, i, j) ? std::exp(score[j] - largest) / total : 0.0;
          weights[((b * H + h) * Tq + i) * Tk + j] = w;
          for (int64_t d = 0; d < Dh; ++d) {
            concat[(b * Tq + i) * D + h * Dh + d] += w * V[(b * Tk + j) * Hkv * Dh + g * Dh + d];
          }
        }
      }
    }
  }
  return {affine_rows(concat, B * Tq, D, *m.out_proj), weights};
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// --- values ---------------------------------------------------------------------

TEST(MultiheadAttention, MatchesSectionThreeTwoTwoByHand) {
  attn::Generator generator(1);
  const int64_t D = 8, Tq = 3, Tk = 4;
  std::vector<int64_t> lengths = {4, 2};
  Tensor mask = nn::padding_mask(lengths_of(lengths), Tk);
  for (auto [H, Hkv] : std::vector<std::pair<int64_t, int64_t>>{{2, 2}, {4, 2}, {4, 1}}) {
    nn::MultiheadAttention m = make_mha(D, H, Hkv);
    Tensor query = randn64({2, Tq, D}, generator), key = randn64({2, Tk, D}, generator),
           value = randn64({2, Tk, D}, generator);
    nn::MultiheadAttentionOutput r = m.forward(query, key, value, mask);
    EXPECT_EQ(attn::shape_str(r.output.shape()), attn::shape_str(Shape{2, Tq, D}));
    EXPECT_EQ(attn::shape_str(r.weights.shape()), attn::shape_str(Shape{2, H, Tq, Tk}));
    auto [output, weights] = mha_by_hand(m, query, key, value, [&](int64_t b, int64_t, int64_t j) {
      return j < lengths[b];
    });
    EXPECT_LT(max_diff(values_of(r.output), output), 1e-12) << "H " << H << " Hkv " << Hkv;
    EXPECT_LT(max_diff(values_of(r.weights), weights), 1e-12) << "H " << H << " Hkv " << Hkv;
    // forward = project + attend, the path a KV cache takes.
    Tensor keys = m.project_keys(key), values = m.project_values(value);
    EXPECT_EQ(attn::shape_str(keys.shape()), attn::shape_str(Shape{2, Hkv, Tk, D / H}));
    nn::MultiheadAttentionOutput split = m.attend(query, keys, values, mask);
    EXPECT_EQ(values_of(split.output), values_of(r.output));
  }
}

TEST(MultiheadAttention, GroupedWithAsManyKvHeadsAsHeadsIsMultiHead) {
  attn::Generator generator(2);
  nn::MultiheadAttention plain = make_mha(8, 4, 0), grouped = make_mha(8, 4, 4);
  EXPECT_EQ(plain.num_kv_heads(), 4);
  grouped.load_state_dict(plain.state_dict());
  Tensor x = randn64({2, 5, 8}, generator);
  Tensor mask = nn::causal_mask(5);
  nn::MultiheadAttentionOutput a = plain.forward(x, x, x, mask), b = grouped.forward(x, x, x, mask);
  EXPECT_EQ(values_of(a.output), values_of(b.output));
  EXPECT_EQ(values_of(a.weights), values_of(b.weights));
}

TEST(MultiheadAttention, QueryGroupsEqualMultiHeadWithRepeatedKvWeights) {
  attn::Generator generator(3);
  const int64_t D = 8, H = 4;
  for (int64_t Hkv : {1, 2}) {
    nn::MultiheadAttention grouped = make_mha(D, H, Hkv), full = make_mha(D, H, H);
    const int64_t Dh = D / H, group = H / Hkv;
    // Row h*Dh + d of the full k/v projection = row (h / group)*Dh + d of the grouped one.
    std::vector<int64_t> rows;
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t d = 0; d < Dh; ++d) rows.push_back((h / group) * Dh + d);
    }
    Tensor index = attn::from_vector(rows, {H * Dh});
    std::map<std::string, Tensor> state = grouped.state_dict();
    for (const char* name : {"k_proj.weight", "k_proj.bias", "v_proj.weight", "v_proj.bias"}) {
      state[name] = attn::index_select(state.at(name).detach(), 0, index);
    }
    full.load_state_dict(state);
    Tensor query = randn64({2, 3, D}, generator), memory = randn64({2, 4, D}, generator);
    Tensor mask = nn::padding_mask(lengths_of({4, 3}), 4);
    nn::MultiheadAttentionOutput a = grouped.forward(query, memory, memory, mask);
    nn::MultiheadAttentionOutput b = full.forward(query, memory, memory, mask);
    EXPECT_LT(max_diff(a.output, b.output), 1e-13) << "Hkv " << Hkv;
    EXPECT_LT(max_diff(a.weights, b.weights), 1e-13) << "Hkv " << Hkv;
  }
}

TEST(MultiheadAttention, CausalSelfAttentionDoesNotSeeTheFuture) {
  attn::Generator generator(4);
  const int64_t T = 5, D = 8;
  for (int64_t Hkv : {4, 2, 1}) {
    nn::MultiheadAttention m = make_mha(D, 4, Hkv);
    Tensor x = randn64({1, T, D}, generator);
    std::vector<double> before = values_of(m.forward(x, x, x, nn::causal_mask(T)).output);
    for (int64_t future = 1; future < T; ++future) {
      std::vector<double> changed = values_of(x);
      for (int64_t d = 0; d < D; ++d) changed[future * D + d] += 100.0;
      Tensor y = attn::from_vector(changed, x.shape());
      std::vector<double> after = values_of(m.forward(y, y, y, nn::causal_mask(T)).output);
      for (int64_t i = 0; i < future * D; ++i) {
        ASSERT_EQ(after[i], before[i]) << "position " << i / D << " saw position " << future;
      }
    }
  }
}

// --- gradients ------------------------------------------------------------------

TEST(MultiheadAttention, GradcheckThroughParametersAndInputs) {
  attn::Generator generator(5);
  const int64_t T = 4, D = 8;
  Tensor mask = nn::combine_masks(nn::padding_mask(lengths_of({4, 2}), T), nn::causal_mask(T));
  for (int64_t Hkv : {4, 2, 1}) {
    nn::MultiheadAttention m = make_mha(D, 4, Hkv);
    Tensor query = randn64({2, T, D}, generator).requires_grad_();
    Tensor memory = randn64({2, T, D}, generator).requires_grad_();
    std::vector<Tensor> inputs = m.parameters();  // perturbed in place by gradcheck
    inputs.push_back(query);
    inputs.push_back(memory);
    for (bool use_weights : {false, true}) {
      attn::GradcheckResult result = attn::gradcheck(
          [&](const std::vector<Tensor>&) {
            nn::MultiheadAttentionOutput r = m.forward(query, memory, memory, mask);
            return use_weights ? r.weights : r.output;
          },
          inputs);
      EXPECT_TRUE(result.passed) << "Hkv " << Hkv << (use_weights ? " weights: " : " output: ")
                                 << result.message;
    }
  }
}

// --- parameters and errors ------------------------------------------------------

TEST(MultiheadAttention, ParameterCounts) {
  const int64_t D = 8, H = 4, Dh = 2;
  nn::MultiheadAttention mha = make_mha(D, H, 0), gqa = make_mha(D, H, 2), mqa = make_mha(D, H, 1);
  EXPECT_EQ(mqa.k_proj->weight.numel(), D * Dh);
  EXPECT_EQ(mqa.v_proj->weight.numel(), D * Dh);
  EXPECT_EQ(attn::shape_str(gqa.k_proj->weight.shape()), attn::shape_str(Shape{2 * Dh, D}));
  auto count = [&](int64_t kv) { return 2 * (D * D + D) + 2 * (D * kv * Dh + kv * Dh); };
  EXPECT_EQ(mha.parameter_count(), count(H));
  EXPECT_EQ(gqa.parameter_count(), count(2));
  EXPECT_EQ(mqa.parameter_count(), count(1));
  std::vector<std::string> names;
  for (const auto& [name, p] : mqa.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"q_proj.weight", "q_proj.bias", "k_proj.weight",
                                             "k_proj.bias", "v_proj.weight", "v_proj.bias",
                                             "out_proj.weight", "out_proj.bias"}));
  nn::MultiheadAttention no_bias(nn::MultiheadAttentionOptions(D, H).set_bias(false));
  EXPECT_EQ(no_bias.parameter_count(), 2 * D * D + 2 * D * D);
}

TEST(MultiheadAttention, ErrorsNameTheClassAndTheNumbers) {
  std::string e = error_of([] { nn::MultiheadAttention(nn::MultiheadAttentionOptions(10, 4)); });
  EXPECT_NE(e.find("MultiheadAttention"), std::string::npos) << e;
  EXPECT_NE(e.find("10"), std::string::npos) << e;
  EXPECT_NE(e.find("4"), std::string::npos) << e;
  e = error_of([] {
    nn::MultiheadAttention(nn::MultiheadAttentionOptions(12, 4).set_num_kv_heads(3));
  });
  EXPECT_NE(e.find("num_heads 4"), std::string::npos) << e;
  EXPECT_NE(e.find("num_kv_heads 3"), std::string::npos) << e;

  nn::MultiheadAttention m = make_mha(8, 4, 2);
  Tensor x = attn::zeros({2, 3, 8}, attn::kFloat64);
  e = error_of([&] { m.forward(attn::zeros({2, 3, 7}, attn::kFloat64), x, x); });
  EXPECT_NE(e.find("MultiheadAttention"), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{2, 3, 7})), std::string::npos) << e;
  e = error_of([&] { m.forward(x, x, attn::zeros({2, 4, 8}, attn::kFloat64)); });
  EXPECT_NE(e.find(attn::shape_str(Shape{2, 4, 8})), std::string::npos) << e;
  e = error_of([&] { m.attend(x, attn::zeros({2, 4, 3, 2}, attn::kFloat64), m.project_values(x)); });
  EXPECT_NE(e.find("(B, Hkv, Tk, Dh)"), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{2, 4, 3, 2})), std::string::npos) << e;
}

// --- against PyTorch ------------------------------------------------------------

TEST(MultiheadAttention, MatchesPyTorch) {
  for (const char* name : {"mha_self_padding_causal", "mha_cross_padding", "mha_cross_no_mask"}) {
    for (auto [dtype, tolerance] : {std::pair{attn::kFloat64, 1e-12}, std::pair{attn::kFloat32, 1e-4}}) {
      // Loaded afresh per dtype: the float64 run marks the fixture's own
      // tensors as requiring grad, and a cast of those would not be a leaf.
      attn_test::Fixture f = attn_test::load_fixture("mha", name, "scripts/make_mha_golden.py");
      nn::MultiheadAttention m(
          nn::MultiheadAttentionOptions(f.attr_int("d_model"), f.attr_int("num_heads")));
      attn_test::check_module_against_fixture(
          f, &m, dtype, tolerance, [&](const std::map<std::string, Tensor>& in) {
            Tensor mask = in.count("mask") ? in.at("mask") : Tensor();
            nn::MultiheadAttentionOutput r =
                in.count("x") ? m.forward(in.at("x"), in.at("x"), in.at("x"), mask)
                              : m.forward(in.at("query"), in.at("key"), in.at("value"), mask);
            return std::vector<Tensor>{r.output, r.weights};
          });
    }
  }
}

}  // namespace
