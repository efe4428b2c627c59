// A leaf adopts its first gradient instead of copying it (autograd/engine.cpp,
// accumulate_into_leaf), but only a gradient nothing else can see: these
// tests give the engine gradients that are shared (one tensor handed to two
// leaves, the caller's own seed, a view of another gradient) and check that
// every leaf still gets a .grad of its own, with the right values.
#include <gtest/gtest.h>

#include <attn/attn.h>

namespace {

using attn::Tensor;

TEST(GradAdoption, OneGradientHandedToTwoLeavesIsNotShared) {
  // add's backward hands the same tensor to both inputs.
  Tensor a = attn::from_vector(std::vector<float>{1, 2, 3}, {3}).requires_grad_();
  Tensor b = attn::from_vector(std::vector<float>{4, 5, 6}, {3}).requires_grad_();
  Tensor seed = attn::from_vector(std::vector<float>{1, 10, 100}, {3});
  (a + b).backward(seed);
  EXPECT_FALSE(a.grad().shares_storage_with(b.grad()));
  EXPECT_FALSE(a.grad().shares_storage_with(seed));
  EXPECT_FALSE(b.grad().shares_storage_with(seed));
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{1, 10, 100}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{1, 10, 100}));
}

TEST(GradAdoption, TheCallersSeedIsCopiedIntoALeaf) {
  Tensor x = attn::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  Tensor seed = attn::from_vector(std::vector<float>{3, 4}, {2});
  x.backward(seed);
  EXPECT_FALSE(x.grad().shares_storage_with(seed));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 4}));
}

TEST(GradAdoption, ViewsAndTransposesGetAContiguousGradOfTheLeafsShape) {
  // transpose's backward returns a view; reshape's may share storage.
  Tensor w = attn::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor v = attn::from_vector(std::vector<float>{1, 1, 1, 1, 1, 1}, {6}).requires_grad_();
  Tensor scale = attn::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor loss = (w.transpose(0, 1) * scale).sum() + (v.reshape({2, 3}) * w).sum();
  loss.backward();
  EXPECT_EQ(w.grad().shape(), (attn::Shape{2, 3}));
  EXPECT_TRUE(w.grad().is_contiguous());
  // d/dw of sum(w^T * scale) = scale^T; of sum(v * w) = v.
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{2, 4, 6, 3, 5, 7}));
  EXPECT_EQ(v.grad().to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(v.grad().shares_storage_with(w));
}

TEST(GradAdoption, AnAdoptedGradientAccumulatesLikeACopiedOne) {
  Tensor x = attn::from_vector(std::vector<double>{1, -2}, {2}).requires_grad_();
  (x * x).sum().backward();  // 2x, a fresh tensor: adopted
  Tensor first = x.grad();
  (x * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, -1}));
  EXPECT_EQ(first.to_vector<double>(), (std::vector<double>{2, -4}));  // not written into
}

// Later contributions are added into the gradient's own buffer only when the
// engine alone holds it (autograd/engine.cpp, accumulated): a .grad the caller
// kept from an earlier backward must not change under it.
TEST(GradAdoption, AGradientTheCallerHoldsIsNotAddedInto) {
  Tensor w = attn::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  (w * 3.0).sum().backward();
  Tensor kept = w.grad();
  (w * 5.0).sum().backward();
  EXPECT_EQ(kept.to_vector<float>(), (std::vector<float>{3, 3}));
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{8, 8}));
}

// A weight used at many steps and an inner node used by many ops: every
// contribution counted once, whichever were added in place.
TEST(GradAdoption, ManyContributionsSumExactly) {
  Tensor w = attn::from_vector(std::vector<double>{1, 2, 3}, {3}).requires_grad_();
  Tensor h = w * 2.0;  // an inner node with five uses
  Tensor loss = (h * 1.0).sum();
  for (int k = 2; k <= 5; ++k) loss = loss + (h * static_cast<double>(k)).sum() + (w * 1.0).sum();
  loss.backward();
  // d/dw: 2 * (1 + 2 + 3 + 4 + 5) + 4 * 1 = 34 for every element.
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{34, 34, 34}));
}

}  // namespace
