// attn::masked_softmax (kernels/masked_softmax.h), the one-kernel weights of
// the composed attention path, against the four ops it replaces:
//   - equal to softmax(masked_fill(scale * s, hidden, lowest)) with hidden
//     weights set to 0, for padding, causal (Tq = Tk and Tq < Tk, as when
//     decoding), both, no mask, and sentences whose every key is hidden;
//   - gradients equal to that composition's;
//   - leak test: hidden scores (even NaN or inf) change nothing, forward or backward;
//   - scaled_dot_product_attention with a mask given as numbers, in training
//     with the weights wanted, equal to the same call with the dense mask;
//   - at inference (no graph), the GEMM path for many queries and the grouped
//     kernel for one equal the dense-mask path;
//   - key lengths out of range or of the wrong shape are refused by name.
// Its float64 gradcheck is the "masked_softmax" case of autograd/gradcheck_cases.cpp.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nn_test_util.h"
#include "nn/scaled_dot_product_attention.h"

namespace {

using attn::Tensor;
using attn_test::error_of;
using attn_test::lengths_of;
using attn_test::values_of;
namespace nn = attn::nn;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = values_of(a), y = values_of(b);
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
}

// The four ops the kernel replaces (nn/scaled_dot_product_attention.cpp's dense path).
Tensor by_composition(const Tensor& scores, const Tensor& lengths, bool causal, double scale) {
  const int64_t tq = scores.size(-2), tk = scores.size(-1);
  nn::AttentionMask mask = lengths.defined() ? nn::AttentionMask::from_lengths(lengths, causal)
                           : causal          ? nn::AttentionMask::causal_only()
                                             : nn::AttentionMask();
  Tensor dense = mask.to_dense(tq, tk, attn::kCPU);
  Tensor s = scores * scale;
  if (!dense.defined()) return attn::softmax(s, -1);
  Tensor hidden = attn::eq(dense, 0.0);
  const double lowest = scores.dtype() == attn::kFloat32
                            ? static_cast<double>(std::numeric_limits<float>::lowest())
                            : std::numeric_limits<double>::lowest();
  Tensor w = attn::softmax(attn::masked_fill(s, hidden, lowest), -1);
  return attn::masked_fill(w, hidden, 0.0);
}

struct Variant {
  std::vector<int64_t> lengths;  // empty: no key lengths
  bool causal;
  int64_t tq;
};

const Variant kVariants[] = {
    {{}, false, 6}, {{6, 3, 0}, false, 6}, {{}, true, 6}, {{6, 4, 0}, true, 6},
    {{6, 5, 2}, true, 2},  // two new queries at the end of six keys (cached decoding)
    {{}, true, 1},
};

TEST(MaskedSoftmax, EqualsTheComposedOpsForwardAndBackward) {
  attn::Generator g(7);
  const int64_t B = 3, H = 2, Tk = 6;
  for (attn::DType dtype : {attn::kFloat64, attn::kFloat32}) {
    const double tol = dtype == attn::kFloat64 ? 1e-14 : 2e-6;
    for (const Variant& v : kVariants) {
      Tensor lengths = v.lengths.empty() ? Tensor() : lengths_of(v.lengths);
      Tensor s1 = (attn::randn({B, H, v.tq, Tk}, dtype, &g) * 3.0).detach().requires_grad_(true);
      Tensor s2 = s1.detach().clone().requires_grad_(true);
      Tensor fused = attn::masked_softmax(s1, lengths, v.causal, 0.25);
      Tensor composed = by_composition(s2, lengths, v.causal, 0.25);
      EXPECT_LT(max_abs_diff(fused, composed), tol) << "causal " << v.causal << " tq " << v.tq;
      Tensor w = attn::randn({B, H, v.tq, Tk}, dtype, &g);
      (fused * w).sum().backward();
      (composed * w).sum().backward();
      EXPECT_LT(max_abs_diff(s1.grad(), s2.grad()), tol) << "causal " << v.causal << " tq " << v.tq;
    }
  }
}

TEST(MaskedSoftmax, SentenceWithNoVisibleKeyGetsZerosAndZeroGradient) {
  attn::Generator g(3);
  Tensor s = attn::randn({2, 1, 3, 4}, attn::kFloat64, &g).requires_grad_(true);
  Tensor y = attn::masked_softmax(s, lengths_of({4, 0}), false, 1.0);
  std::vector<double> values = values_of(y);
  for (size_t i = 12; i < 24; ++i) EXPECT_EQ(values[i], 0.0);
  (y * attn::randn({2, 1, 3, 4}, attn::kFloat64, &g)).sum().backward();
  std::vector<double> grad = values_of(s.grad());
  for (size_t i = 12; i < 24; ++i) EXPECT_EQ(grad[i], 0.0);
  for (double x : grad) EXPECT_TRUE(std::isfinite(x));
}

// Leak test: what sits at a hidden key, however wild, reaches neither the
// weights nor the gradient of any visible score.
TEST(MaskedSoftmax, HiddenScoresChangeNothing) {
  attn::Generator g(11);
  const int64_t B = 2, H = 2, T = 5;
  Tensor lengths = lengths_of({5, 3});
  Tensor base = attn::randn({B, H, T, T}, attn::kFloat32, &g);
  std::vector<double> wild = values_of(base);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < T; ++i) {
        for (int64_t j = 0; j < T; ++j) {
          const bool visible = j <= i && j < (b == 0 ? 5 : 3);
          if (!visible) wild[((b * H + h) * T + i) * T + j] = (j % 2) ? NAN : 1e30;
        }
      }
    }
  }
  Tensor a = base.detach().requires_grad_(true);
  Tensor c = attn::from_vector(wild, {B, H, T, T}).to(attn::kFloat32).detach().requires_grad_(true);
  Tensor ya = attn::masked_softmax(a, lengths, true, 0.5);
  Tensor yc = attn::masked_softmax(c, lengths, true, 0.5);
  EXPECT_EQ(values_of(ya), values_of(yc));
  Tensor w = attn::randn({B, H, T, T}, attn::kFloat32, &g);
  (ya * w).sum().backward();
  (yc * w).sum().backward();
  EXPECT_EQ(values_of(a.grad()), values_of(c.grad()));
}

// The attention op with the mask as numbers takes masked_softmax; with the
// same mask made dense it takes the four ops. Weights, output and gradients agree.
TEST(MaskedSoftmax, AttentionWithNumericMaskEqualsDenseMask) {
  const int64_t B = 3, H = 2, T = 5, D = 4;
  Tensor lengths = lengths_of({5, 2, 0});
  for (bool causal : {false, true}) {
    attn::Generator g(5);
    std::vector<Tensor> inputs[2];
    std::vector<Tensor> outs[2], weights[2];
    for (int path = 0; path < 2; ++path) {
      attn::Generator data(9), drop(13);
      for (int n = 0; n < 3; ++n) {
        inputs[path].push_back(attn::randn({B, H, T, D}, attn::kFloat64, &data).requires_grad_(true));
      }
      nn::AttentionMask mask = nn::AttentionMask::from_lengths(lengths, causal);
      if (path == 1) mask = nn::AttentionMask(mask.to_dense(T, T, attn::kCPU));
      nn::AttentionResult r = nn::scaled_dot_product_attention(
          inputs[path][0], inputs[path][1], inputs[path][2], mask,
          nn::AttentionOptions().set_dropout(0.2).set_training(true).set_need_weights(true)
              .set_generator(&drop));
      outs[path].push_back(r.output);
      weights[path].push_back(r.weights);
      (r.output * attn::randn({B, H, T, D}, attn::kFloat64, &g)).sum().backward();
      g = attn::Generator(5);
    }
    EXPECT_LT(max_abs_diff(weights[0][0], weights[1][0]), 1e-14) << "causal " << causal;
    EXPECT_LT(max_abs_diff(outs[0][0], outs[1][0]), 1e-14) << "causal " << causal;
    for (int n = 0; n < 3; ++n) {
      EXPECT_LT(max_abs_diff(inputs[0][n].grad(), inputs[1][n].grad()), 1e-13)
          << "causal " << causal << " input " << n;
    }
  }
}

// Without a graph and with many queries a head (the encoder at inference),
// attention takes two GEMMs and masked_softmax; with one query a head the
// grouped kernel. Both equal the dense-mask path.
TEST(MaskedSoftmax, InferenceAttentionEqualsDenseMaskForManyAndOneQueries) {
  attn::NoGradGuard no_grad;
  attn::Generator g(21);
  const int64_t B = 3, H = 2, D = 8;
  Tensor lengths = lengths_of({20, 7, 0});
  for (int64_t tq : {20, 1}) {
    for (bool causal : {false, true}) {
      Tensor q = attn::randn({B, H, tq, D}, attn::kFloat64, &g);
      Tensor k = attn::randn({B, H, 20, D}, attn::kFloat64, &g);
      Tensor v = attn::randn({B, H, 20, D}, attn::kFloat64, &g);
      nn::AttentionMask mask = nn::AttentionMask::from_lengths(lengths, causal);
      Tensor fast = nn::scaled_dot_product_attention(q, k, v, mask, nn::AttentionOptions()).output;
      Tensor dense = nn::scaled_dot_product_attention(
          q, k, v, mask.to_dense(tq, 20, attn::kCPU)).output;
      EXPECT_LT(max_abs_diff(fast, dense), 1e-12) << "tq " << tq << " causal " << causal;
    }
  }
}

TEST(MaskedSoftmax, RefusesBadKeyLengths) {
  Tensor s = attn::zeros({2, 1, 3, 4});
  std::string e = error_of([&] { attn::masked_softmax(s, lengths_of({4, 5}), false, 1.0); });
  EXPECT_NE(e.find("masked_softmax"), std::string::npos) << e;
  EXPECT_NE(e.find("key length 5"), std::string::npos) << e;
  e = error_of([&] { attn::masked_softmax(s, lengths_of({4}), false, 1.0); });
  EXPECT_NE(e.find("[2, 1, 3, 4]"), std::string::npos) << e;
  e = error_of([&] { attn::masked_softmax(attn::zeros({3, 4}), lengths_of({4}), false, 1.0); });
  EXPECT_NE(e.find("(B, ..., Tq, Tk)"), std::string::npos) << e;
}

}  // namespace
