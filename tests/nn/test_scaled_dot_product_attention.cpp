// Scaled dot-product attention (nn/scaled_dot_product_attention.h):
//   - output and weights against eq. (1) worked out with plain loops, with
//     and without a mask, and with batch dims that broadcast;
//   - gradcheck (float64) through q, k and v under padding + causal masks;
//   - leak tests: changing a future key/value (causal) or a padded key/value
//     (padding) leaves the other outputs unchanged bit for bit;
//   - a fully masked row gives zero weights, zero output and finite, zero
//     gradients, never NaN;
//   - the masks' shapes and values, and combine_masks' broadcasting;
//   - dropout only in training, reproducible with a generator;
//   - bad shapes are refused with messages naming the op and the shapes;
//   - outputs, weights and the gradients of q, k, v against PyTorch
//     (tests/golden/attention/, written by scripts/make_attention_golden.py).
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "golden_fixture.h"
#include "nn_test_util.h"
#include "nn/scaled_dot_product_attention.h"

namespace {

using attn_test::error_of;
using attn_test::values_of;
using attn_test::lengths_of;

using attn::Shape;
using attn::Tensor;
namespace nn = attn::nn;
using attn_test::max_diff;

std::vector<int64_t> ints_of(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }

Tensor randn64(const Shape& shape, attn::Generator& generator) {
  return attn::randn(shape, attn::kFloat64, &generator);
}

// Eq. (1) with loops, for q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv)
// and a full (B, H, Tq, Tk) 0/1 mask given as a function: weights and output.
struct ByHand {
  std::vector<double> weights, output;
};

ByHand attention_by_hand(const Tensor& q, const Tensor& k, const Tensor& v,
                         const std::function<bool(int64_t, int64_t, int64_t, int64_t)>& visible) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3);
  const int64_t Tk = k.size(2), Dv = v.size(3);
  std::vector<double> Q = values_of(q), K = values_of(k), V = values_of(v);
  ByHand out;
  out.weights.assign(static_cast<size_t>(B * H * Tq * Tk), 0.0);
  out.output.assign(static_cast<size_t>(B * H * Tq * Dv), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t bh = b * H + h;
      for (int64_t i = 0; i < Tq; ++i) {
        std::vector<double> score(static_cast<size_t>(Tk), 0.0);
        double largest = -INFINITY;
        for (int64_t j = 0; j < Tk; ++j) {
          if (!visible(b, h, i, j)) continue;
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) dot += Q[(bh * Tq + i) * D + d] * K[(bh * Tk + j) * D + d];
          score[j] = dot / std::sqrt(static_cast<double>(D));
          largest = std::max(largest, score[j]);
        }
        double total = 0.0;
        for (int64_t j = 0; j < Tk; ++j) {
          if (visible(b, h, i, j)) total += std::exp(score[j] - largest);
        }
        for (int64_t j = 0; j < Tk; ++j) {
          double w = visible(b, h, i, j) ? std::exp(score[j] - largest) / total : 0.0;
          out.weights[(bh * Tq + i) * Tk + j] = w;
          for (int64_t e = 0; e < Dv; ++e) out.output[(bh * Tq + i) * Dv + e] += w * V[(bh * Tk + j) * Dv + e];
        }
      }
    }
  }
  return out;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

bool finite_everywhere(const Tensor& t) {
  for (double x : values_of(t)) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

// --- values ---------------------------------------------------------------------

TEST(ScaledDotProductAttention, NoMaskMatchesEquationOne) {
  attn::Generator generator(1);
  Tensor q = randn64({2, 3, 4, 5}, generator), k = randn64({2, 3, 6, 5}, generator),
         v = randn64({2, 3, 6, 7}, generator);
  nn::AttentionResult result = nn::scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(attn::shape_str(result.output.shape()), attn::shape_str(Shape{2, 3, 4, 7}));
  EXPECT_EQ(attn::shape_str(result.weights.shape()), attn::shape_str(Shape{2, 3, 4, 6}));
  ByHand expected = attention_by_hand(q, k, v, [](int64_t, int64_t, int64_t, int64_t) { return true; });
  EXPECT_LT(max_diff(values_of(result.weights), expected.weights), 1e-12);
  EXPECT_LT(max_diff(values_of(result.output), expected.output), 1e-12);
}

TEST(ScaledDotProductAttention, CombinedMaskMatchesEquationOne) {
  attn::Generator generator(2);
  const int64_t T = 5;
  Tensor q = randn64({3, 2, T, 4}, generator), k = randn64({3, 2, T, 4}, generator),
         v = randn64({3, 2, T, 3}, generator);
  std::vector<int64_t> lengths = {5, 3, 1};
  Tensor mask = nn::combine_masks(nn::padding_mask(lengths_of(lengths), T), nn::causal_mask(T));
  nn::AttentionResult result = nn::scaled_dot_product_attention(q, k, v, mask);
  ByHand expected = attention_by_hand(q, k, v, [&](int64_t b, int64_t, int64_t i, int64_t j) {
    return j <= i && j < lengths[b];
  });
  EXPECT_LT(max_diff(values_of(result.weights), expected.weights), 1e-12);
  EXPECT_LT(max_diff(values_of(result.output), expected.output), 1e-12);
}

TEST(ScaledDotProductAttention, Float32AgreesWithFloat64) {
  attn::Generator generator(3);
  Tensor q = randn64({2, 2, 4, 8}, generator), k = randn64({2, 2, 5, 8}, generator),
         v = randn64({2, 2, 5, 3}, generator);
  Tensor mask = nn::padding_mask(lengths_of({5, 2}), 5);
  nn::AttentionResult wide = nn::scaled_dot_product_attention(q, k, v, mask);
  nn::AttentionResult narrow = nn::scaled_dot_product_attention(
      q.to(attn::kFloat32), k.to(attn::kFloat32), v.to(attn::kFloat32), mask);
  EXPECT_EQ(narrow.output.dtype(), attn::kFloat32);
  EXPECT_LT(max_diff(narrow.output, wide.output), 1e-5);
  EXPECT_LT(max_diff(narrow.weights, wide.weights), 1e-5);
  // Padded keys get exactly 0 in float32 too.
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t j = 2; j < 5; ++j) {
        EXPECT_EQ(values_of(narrow.weights)[((1 * 2 + h) * 4 + i) * 5 + j], 0.0);
      }
    }
  }
}

TEST(ScaledDotProductAttention, ScaleIsOneOverSqrtHeadDim) {
  // One query, two keys: the weight ratio is exp((q.k1 - q.k2) / sqrt(d)).
  const int64_t D = 16;
  std::vector<double> qv(D, 1.0), kv(2 * D, 0.0);
  kv[0] = 1.0;  // q.k1 = 1, q.k2 = 0
  Tensor q = attn::from_vector(qv, {1, 1, 1, D}), k = attn::from_vector(kv, {1, 1, 2, D});
  Tensor v = attn::from_vector(std::vector<double>{1.0, 0.0}, {1, 1, 2, 1});
  std::vector<double> w = values_of(nn::scaled_dot_product_attention(q, k, v).weights);
  EXPECT_NEAR(w[0] / w[1], std::exp(1.0 / 4.0), 1e-12);
}

TEST(ScaledDotProductAttention, BatchDimsBroadcast) {
  // One key/value set (1, 1, Tk, D) shared by every batch entry and head.
  attn::Generator generator(4);
  Tensor q = randn64({2, 3, 4, 5}, generator), k = randn64({1, 1, 6, 5}, generator),
         v = randn64({1, 1, 6, 2}, generator);
  nn::AttentionResult shared = nn::scaled_dot_product_attention(q, k, v);
  nn::AttentionResult expanded = nn::scaled_dot_product_attention(
      q, attn::expand(k, {2, 3, 6, 5}).contiguous(), attn::expand(v, {2, 3, 6, 2}).contiguous());
  EXPECT_LT(max_diff(shared.output, expanded.output), 1e-14);
  // Also plain 3-d (B, T, D) inputs, without heads.
  nn::AttentionResult three = nn::scaled_dot_product_attention(
      randn64({2, 4, 5}, generator), randn64({2, 6, 5}, generator), randn64({2, 6, 2}, generator),
      nn::padding_mask(lengths_of({6, 3}), 6).reshape({2, 1, 6}));
  EXPECT_EQ(attn::shape_str(three.output.shape()), attn::shape_str(Shape{2, 4, 2}));
}

TEST(ScaledDotProductAttention, WeightRowsSumToOneWhereAnythingIsVisible) {
  attn::Generator generator(5);
  const int64_t T = 4;
  Tensor q = randn64({2, 2, T, 3}, generator), k = randn64({2, 2, T, 3}, generator),
         v = randn64({2, 2, T, 3}, generator);
  Tensor mask = nn::combine_masks(nn::padding_mask(lengths_of({4, 2}), T), nn::causal_mask(T));
  Tensor row_sums = attn::sum(nn::scaled_dot_product_attention(q, k, v, mask).weights, {-1});
  for (double s : values_of(row_sums)) EXPECT_NEAR(s, 1.0, 1e-12);
}

// --- gradients ------------------------------------------------------------------

TEST(ScaledDotProductAttention, GradcheckThroughQueryKeyValueWithCombinedMask) {
  attn::Generator generator(6);
  const int64_t T = 4;
  Tensor q = randn64({2, 2, T, 3}, generator).requires_grad_();
  Tensor k = randn64({2, 2, T, 3}, generator).requires_grad_();
  Tensor v = randn64({2, 2, T, 2}, generator).requires_grad_();
  Tensor mask = nn::combine_masks(nn::padding_mask(lengths_of({4, 2}), T), nn::causal_mask(T));
  for (bool use_weights : {false, true}) {
    attn::GradcheckResult result = attn::gradcheck(
        [&](const std::vector<Tensor>& in) {
          nn::AttentionResult r = nn::scaled_dot_product_attention(in[0], in[1], in[2], mask);
          return use_weights ? r.weights : r.output;
        },
        {q, k, v});
    EXPECT_TRUE(result.passed) << (use_weights ? "weights: " : "output: ") << result.message;
  }
}

TEST(ScaledDotProductAttention, GradcheckWithDropoutAndFixedGenerator) {
  attn::Generator generator(7);
  Tensor q = randn64({1, 2, 3, 4}, generator).requires_grad_();
  Tensor k = randn64({1, 2, 5, 4}, generator).requires_grad_();
  Tensor v = randn64({1, 2, 5, 2}, generator).requires_grad_();
  attn::GradcheckResult result = attn::gradcheck(
      [&](const std::vector<Tensor>& in) {
        attn::Generator drop(42);  // same dropped links at every call
        return nn::scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.3, true, &drop)
            .output;
      },
      {q, k, v});
  EXPECT_TRUE(result.passed) << result.message;
}

TEST(ScaledDotProductAttention, FullyMaskedRowGivesZerosAndFiniteGradients) {
  // Sentence 1 has length 0: every key hidden, for every query.
  attn::Generator generator(8);
  Tensor q = randn64({2, 2, 3, 4}, generator).requires_grad_();
  Tensor k = randn64({2, 2, 3, 4}, generator).requires_grad_();
  Tensor v = randn64({2, 2, 3, 2}, generator).requires_grad_();
  Tensor mask = nn::combine_masks(nn::padding_mask(lengths_of({3, 0}), 3), nn::causal_mask(3));
  for (attn::DType dtype : {attn::kFloat64, attn::kFloat32}) {
    Tensor qd = q.detach().to(dtype).requires_grad_(), kd = k.detach().to(dtype).requires_grad_(),
           vd = v.detach().to(dtype).requires_grad_();
    nn::AttentionResult r = nn::scaled_dot_product_attention(qd, kd, vd, mask);
    EXPECT_TRUE(finite_everywhere(r.output) && finite_everywhere(r.weights));
    for (double x : values_of(r.output.narrow(0, 1, 1))) EXPECT_EQ(x, 0.0);
    for (double x : values_of(r.weights.narrow(0, 1, 1))) EXPECT_EQ(x, 0.0);
    // A loss through both outputs, so the weights' own path is exercised too.
    attn::Tensor loss = attn::sum(r.output * r.output) + attn::sum(r.weights * 3.0);
    loss.backward();
    for (const Tensor& leaf : {qd, kd, vd}) {
      ASSERT_TRUE(leaf.grad().defined());
      EXPECT_TRUE(finite_everywhere(leaf.grad()));
      // Nothing of sentence 1 is visible, so nothing of it gets a gradient.
      for (double x : values_of(leaf.grad().narrow(0, 1, 1))) EXPECT_EQ(x, 0.0);
    }
    // Sentence 0 still learns.
    double norm = 0.0;
    for (double x : values_of(qd.grad().narrow(0, 0, 1))) norm += std::fabs(x);
    EXPECT_GT(norm, 0.0);
  }
  // And gradcheck holds with the fully masked rows present.
  attn::GradcheckResult result = attn::gradcheck(
      [&](const std::vector<Tensor>& in) {
        return nn::scaled_dot_product_attention(in[0], in[1], in[2], mask).output;
      },
      {q, k, v});
  EXPECT_TRUE(result.passed) << result.message;
}

// --- leaks ----------------------------------------------------------------------

TEST(ScaledDotProductAttention, CausalMaskHidesTheFuture) {
  attn::Generator generator(9);
  const int64_t T = 6, D = 4;
  Tensor q = randn64({1, 2, T, D}, generator), k = randn64({1, 2, T, D}, generator),
         v = randn64({1, 2, T, D}, generator);
  Tensor mask = nn::causal_mask(T);
  std::vector<double> before = values_of(nn::scaled_dot_product_attention(q, k, v, mask).output);
  for (int64_t future = 1; future < T; ++future) {
    // Change key and value `future` in every head, by a lot.
    std::vector<double> kv = values_of(k), vv = values_of(v);
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t d = 0; d < D; ++d) {
        kv[(h * T + future) * D + d] += 100.0;
        vv[(h * T + future) * D + d] -= 50.0;
      }
    }
    std::vector<double> after = values_of(nn::scaled_dot_product_attention(
        q, attn::from_vector(kv, k.shape()), attn::from_vector(vv, v.shape()), mask).output);
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t i = 0; i < T; ++i) {
        for (int64_t d = 0; d < D; ++d) {
          size_t at = static_cast<size_t>((h * T + i) * D + d);
          if (i < future) {
            EXPECT_EQ(after[at], before[at]) << "query " << i << " saw future key " << future;
          }
        }
      }
    }
  }
}

TEST(ScaledDotProductAttention, PaddingMaskHidesPaddedKeys) {
  attn::Generator generator(10);
  const int64_t T = 5, D = 3;
  std::vector<int64_t> lengths = {5, 2};
  Tensor q = randn64({2, 2, 4, D}, generator), k = randn64({2, 2, T, D}, generator),
         v = randn64({2, 2, T, D}, generator);
  Tensor mask = nn::padding_mask(lengths_of(lengths), T);
  nn::AttentionResult before = nn::scaled_dot_product_attention(q, k, v, mask);
  std::vector<double> kv = values_of(k), vv = values_of(v);
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t j = lengths[1]; j < T; ++j) {
      for (int64_t d = 0; d < D; ++d) {
        kv[((1 * 2 + h) * T + j) * D + d] = 1e3;  // huge scores, were they visible
        vv[((1 * 2 + h) * T + j) * D + d] = -1e3;
      }
    }
  }
  nn::AttentionResult after = nn::scaled_dot_product_attention(
      q, attn::from_vector(kv, k.shape()), attn::from_vector(vv, v.shape()), mask);
  EXPECT_EQ(values_of(after.output), values_of(before.output));
  EXPECT_EQ(values_of(after.weights), values_of(before.weights));
}

// --- dropout --------------------------------------------------------------------

TEST(ScaledDotProductAttention, DropoutOnlyInTraining) {
  attn::Generator generator(11);
  Tensor q = randn64({2, 2, 4, 3}, generator), k = randn64({2, 2, 4, 3}, generator),
         v = randn64({2, 2, 4, 3}, generator);
  nn::AttentionResult plain = nn::scaled_dot_product_attention(q, k, v);
  nn::AttentionResult evaluating = nn::scaled_dot_product_attention(q, k, v, Tensor(), 0.5, false);
  EXPECT_EQ(values_of(evaluating.output), values_of(plain.output));
  attn::Generator a(3), b(3);
  nn::AttentionResult first = nn::scaled_dot_product_attention(q, k, v, Tensor(), 0.5, true, &a);
  nn::AttentionResult second = nn::scaled_dot_product_attention(q, k, v, Tensor(), 0.5, true, &b);
  EXPECT_EQ(values_of(first.output), values_of(second.output));
  EXPECT_GT(max_diff(first.output, plain.output), 1e-6);
  // The weights returned are the ones before dropout.
  EXPECT_EQ(values_of(first.weights), values_of(plain.weights));
}

// --- errors ---------------------------------------------------------------------

TEST(ScaledDotProductAttention, RefusesMismatchedShapes) {
  Tensor q = attn::zeros({2, 2, 3, 4}, attn::kFloat64);
  Tensor k = attn::zeros({2, 2, 5, 4}, attn::kFloat64);
  Tensor v = attn::zeros({2, 2, 5, 6}, attn::kFloat64);
  std::string e = error_of([&] {
    nn::scaled_dot_product_attention(q, attn::zeros({2, 2, 5, 3}, attn::kFloat64), v);
  });
  EXPECT_NE(e.find("scaled_dot_product_attention"), std::string::npos) << e;
  EXPECT_NE(e.find("Dk"), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{2, 2, 5, 3})), std::string::npos) << e;

  e = error_of([&] {
    nn::scaled_dot_product_attention(q, k, attn::zeros({2, 2, 4, 6}, attn::kFloat64));
  });
  EXPECT_NE(e.find("scaled_dot_product_attention"), std::string::npos) << e;
  EXPECT_NE(e.find("Tk"), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{2, 2, 4, 6})), std::string::npos) << e;

  e = error_of([&] {
    nn::scaled_dot_product_attention(q, attn::zeros({3, 2, 5, 4}, attn::kFloat64), v);
  });
  EXPECT_NE(e.find("batch dims"), std::string::npos) << e;

  e = error_of([&] { nn::scaled_dot_product_attention(q, k, v, nn::causal_mask(4)); });
  EXPECT_NE(e.find("mask"), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{1, 1, 4, 4})), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{2, 2, 3, 5})), std::string::npos) << e;

  e = error_of([&] { nn::scaled_dot_product_attention(attn::zeros({4}, attn::kFloat64), k, v); });
  EXPECT_NE(e.find("at least 2 dims"), std::string::npos) << e;

  e = error_of([&] { nn::scaled_dot_product_attention(q.to(attn::kFloat32), k, v); });
  EXPECT_NE(e.find("dtype"), std::string::npos) << e;

  e = error_of([&] { nn::scaled_dot_product_attention(q, k, v, Tensor(), 1.0, true); });
  EXPECT_NE(e.find("dropout"), std::string::npos) << e;
}

// --- against PyTorch ------------------------------------------------------------

// Runs the fixture's q, k, v (and mask) in `dtype`, pushes the upstream
// gradients grad_out0 (output) and grad_out1 (weights) through, and compares
// the outputs and grad_q, grad_k, grad_v with PyTorch's.
void check_against_pytorch(const std::string& name, attn::DType dtype, double tolerance) {
  attn_test::Fixture f =
      attn_test::load_fixture("attention", name, "scripts/make_attention_golden.py");
  Tensor q = f.at("q").to(dtype).requires_grad_(), k = f.at("k").to(dtype).requires_grad_(),
         v = f.at("v").to(dtype).requires_grad_();
  Tensor mask = f.has("mask") ? f.at("mask") : Tensor();
  nn::AttentionResult r = nn::scaled_dot_product_attention(q, k, v, mask);
  EXPECT_LT(max_diff(r.output, f.at("out0")), tolerance) << name << ": output";
  EXPECT_LT(max_diff(r.weights, f.at("out1")), tolerance) << name << ": weights";
  Tensor loss = attn::sum(r.output * f.at("grad_out0").to(dtype)) +
                attn::sum(r.weights * f.at("grad_out1").to(dtype));
  loss.backward();
  EXPECT_LT(max_diff(q.grad(), f.at("grad_q")), tolerance) << name << ": grad q";
  EXPECT_LT(max_diff(k.grad(), f.at("grad_k")), tolerance) << name << ": grad k";
  EXPECT_LT(max_diff(v.grad(), f.at("grad_v")), tolerance) << name << ": grad v";
}

TEST(ScaledDotProductAttention, MatchesPyTorch) {
  for (const char* name : {"attention_no_mask", "attention_padding", "attention_causal",
                           "attention_padding_causal"}) {
    check_against_pytorch(name, attn::kFloat64, 1e-12);
    check_against_pytorch(name, attn::kFloat32, 1e-4);
  }
}

// --- masks ----------------------------------------------------------------------

TEST(AttentionMasks, PaddingMaskShapeAndValues) {
  Tensor mask = nn::padding_mask(lengths_of({3, 1, 0}), 4);
  EXPECT_EQ(mask.dtype(), attn::kInt64);
  EXPECT_EQ(attn::shape_str(mask.shape()), attn::shape_str(Shape{3, 1, 1, 4}));
  EXPECT_EQ(ints_of(mask), (std::vector<int64_t>{1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_NE(error_of([] { nn::padding_mask(lengths_of({5}), 4); }).find("padding_mask"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              nn::padding_mask(attn::zeros({2}, attn::kFloat32), 4);
            }).find("int64"),
            std::string::npos);
}

TEST(AttentionMasks, CausalMaskIsLowerTriangular) {
  Tensor mask = nn::causal_mask(3);
  EXPECT_EQ(mask.dtype(), attn::kInt64);
  EXPECT_EQ(attn::shape_str(mask.shape()), attn::shape_str(Shape{1, 1, 3, 3}));
  EXPECT_EQ(ints_of(mask), (std::vector<int64_t>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(attn::shape_str(nn::causal_mask(0).shape()), attn::shape_str(Shape{1, 1, 0, 0}));
}

TEST(AttentionMasks, CombineMasksIsAndWithBroadcasting) {
  Tensor both = nn::combine_masks(nn::padding_mask(lengths_of({2, 3}), 3), nn::causal_mask(3));
  EXPECT_EQ(both.dtype(), attn::kInt64);
  EXPECT_EQ(attn::shape_str(both.shape()), attn::shape_str(Shape{2, 1, 3, 3}));
  EXPECT_EQ(ints_of(both), (std::vector<int64_t>{1, 0, 0, 1, 1, 0, 1, 1, 0,     // length 2
                                                 1, 0, 0, 1, 1, 0, 1, 1, 1}));  // length 3
  // Nonzero values other than 1 count as "visible".
  Tensor odd = attn::from_vector(std::vector<int64_t>{0, 7, -2}, {3});
  EXPECT_EQ(ints_of(nn::combine_masks(odd, odd)), (std::vector<int64_t>{0, 1, 1}));
  std::string e = error_of([] { nn::combine_masks(nn::causal_mask(3), nn::causal_mask(4)); });
  EXPECT_NE(e.find("combine_masks"), std::string::npos) << e;
  EXPECT_NE(e.find(attn::shape_str(Shape{1, 1, 4, 4})), std::string::npos) << e;
}

}  // namespace

namespace {

// The fused op (autograd/ops_flash_attention.cpp) against this file's composed
// path: same outputs and same gradients, with padding, causal and both masks,
// and rows that see no key (zeros in both paths).
TEST(ScaledDotProductAttention, FusedOpMatchesComposed) {
  attn::Generator g(42);
  const int64_t B = 2, H = 3, T = 5, D = 8;
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 0}, {2});
  for (int variant = 0; variant < 3; ++variant) {
    const bool causal = variant >= 1, padded = variant != 1;
    Tensor q = attn::randn({B, H, T, D}, attn::kFloat64, &g).requires_grad_(true);
    Tensor k = attn::randn({B, H, T, D}, attn::kFloat64, &g).requires_grad_(true);
    Tensor v = attn::randn({B, H, T, D}, attn::kFloat64, &g).requires_grad_(true);
    Tensor mask;
    if (padded) mask = nn::padding_mask(lengths, T);
    if (causal) mask = mask.defined() ? nn::combine_masks(mask, nn::causal_mask(T)) : nn::causal_mask(T);
    Tensor composed = nn::scaled_dot_product_attention(q, k, v, mask).output;
    Tensor fused = attn::flash_attention(q, k, v, padded ? lengths : Tensor(), causal);
    EXPECT_LT(max_diff(fused, composed), 1e-12) << "variant " << variant;
    Tensor w = attn::randn({B, H, T, D}, attn::kFloat64, &g);
    std::vector<std::vector<double>> grads[2];
    for (int path = 0; path < 2; ++path) {
      for (Tensor* t : {&q, &k, &v}) t->zero_grad();
      ((path == 0 ? composed : fused) * w).sum().backward();
      for (Tensor* t : {&q, &k, &v}) grads[path].push_back(values_of(t->grad()));
    }
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_EQ(grads[0][i].size(), grads[1][i].size());
      for (size_t j = 0; j < grads[0][i].size(); ++j) {
        ASSERT_NEAR(grads[1][i][j], grads[0][i][j], 1e-10) << "variant " << variant << " input " << i;
      }
    }
  }
}

}  // namespace
