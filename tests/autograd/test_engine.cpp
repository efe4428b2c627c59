// The backward engine: accumulation, graph release, NoGradGuard, detach.
#include <gtest/gtest.h>

#include <attn/attn.h>

namespace {

using attn::Tensor;

TEST(Engine, ChainRuleThroughSharedNode) {
  // y = x * x used twice: L = sum(y + y) -> dL/dx = 4x
  Tensor x = attn::from_vector(std::vector<double>{1, -2, 3}, {3}).requires_grad_();
  Tensor y = x * x;
  Tensor loss = (y + y).sum();
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, -8, 12}));
}

TEST(Engine, GradientsAccumulateAcrossCalls) {
  Tensor x = attn::from_vector(std::vector<double>{1, 2}, {2}).requires_grad_();
  (x * 3.0).sum().backward();
  (x * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  (x * 2.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

TEST(Engine, SecondBackwardThroughFreedGraphThrows) {
  Tensor a = attn::randn({2, 3}).requires_grad_();
  Tensor b = attn::randn({3, 2}).requires_grad_();
  Tensor loss = attn::matmul(a, b).sum();
  loss.backward();
  try {
    loss.backward();
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
}

TEST(Engine, NoGradGuardRecordsNothing) {
  Tensor x = attn::randn({2}).requires_grad_();
  {
    attn::NoGradGuard no_grad;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Engine, DetachCutsTheGraph) {
  Tensor x = attn::randn({2}).requires_grad_();
  Tensor y = (x * 2.0).detach();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.shares_storage_with(y));
  Tensor z = (x * y).sum();
  z.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), y.to_vector<float>());
}

TEST(Engine, NodesAreNamedAfterTheirOp) {
  Tensor a = attn::randn({2, 3}).requires_grad_();
  Tensor b = attn::randn({3, 4}).requires_grad_();
  Tensor c = attn::matmul(a, b);
  ASSERT_NE(c.grad_fn(), nullptr);
  EXPECT_EQ(c.grad_fn()->name(), "MatmulBackward");
  EXPECT_EQ(attn::softmax(c, -1).grad_fn()->name(), "SoftmaxBackward");
}

TEST(Engine, BackwardWithExplicitGradient) {
  Tensor x = attn::from_vector(std::vector<double>{1, 2, 3}, {3}).requires_grad_();
  Tensor y = x * x;
  y.backward(attn::from_vector(std::vector<double>{1, 0, 2}, {3}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 0, 12}));
}

TEST(Engine, UnusedBranchStillReleasesAndLeafGetsOnlyUsedPaths) {
  Tensor x = attn::from_vector(std::vector<double>{1, 2}, {2}).requires_grad_();
  Tensor parts = attn::cat({x, x * 5.0}, 0);
  Tensor first = parts.narrow(0, 0, 2);  // only x's copy is used
  first.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}

}  // namespace

namespace {

TEST(Engine, EmbeddingPaddingRowGetsNoGradient) {
  attn::Tensor weight = attn::randn({4, 3}).requires_grad_();
  attn::Tensor ids = attn::from_vector(std::vector<int64_t>{0, 2, 0, 2, 1}, {5});
  attn::embedding(weight, ids, /*padding_idx=*/0).sum().backward();
  std::vector<float> grad = weight.grad().to_vector<float>();
  std::vector<float> expected = {0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0};
  EXPECT_EQ(grad, expected);
}

}  // namespace

namespace {

// The fused additive-attention scores equal the composed ops they replace,
// values and gradients (float64, so only rounding may differ).
TEST(Engine, FusedAdditiveScoresMatchComposedOps) {
  attn::Generator g(5);
  attn::Tensor keys = attn::randn({3, 4, 5}, attn::kFloat64, &g).requires_grad_();
  attn::Tensor query = attn::randn({3, 5}, attn::kFloat64, &g).requires_grad_();
  attn::Tensor v = attn::randn({5}, attn::kFloat64, &g).requires_grad_();
  attn::Tensor weights = attn::randn({3, 4}, attn::kFloat64, &g);
  attn::Tensor fused = attn::additive_attention_scores(keys, query, v);
  (fused * weights).sum().backward();
  std::vector<double> fused_values = fused.to_vector<double>();
  std::vector<attn::Tensor> fused_grads = {keys.grad(), query.grad(), v.grad()};
  keys.zero_grad();
  query.zero_grad();
  v.zero_grad();
  attn::Tensor composed = attn::matmul(attn::tanh(keys + query.unsqueeze(1)), v);
  (composed * weights).sum().backward();
  std::vector<double> composed_values = composed.to_vector<double>();
  std::vector<attn::Tensor> composed_grads = {keys.grad(), query.grad(), v.grad()};
  ASSERT_EQ(fused_values.size(), composed_values.size());
  for (size_t i = 0; i < fused_values.size(); ++i) {
    EXPECT_NEAR(fused_values[i], composed_values[i], 1e-12);
  }
  for (size_t k = 0; k < 3; ++k) {
    std::vector<double> a = fused_grads[k].to_vector<double>(), b = composed_grads[k].to_vector<double>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << "input " << k << " at " << i;
  }
}

}  // namespace
