// Tensor basics: creation, views without copies, contiguous(), printing,
// seeded randomness, dtype conversion.
#include <gtest/gtest.h>

#include <sstream>

#include <attn/attn.h>

namespace {

using attn::Tensor;

TEST(Tensor, CreationAndAccess) {
  Tensor z = attn::zeros({2, 3});
  EXPECT_EQ(z.shape(), (attn::Shape{2, 3}));
  EXPECT_EQ(z.dim(), 2);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), attn::kFloat32);
  EXPECT_EQ(z.device(), attn::kCPU);
  EXPECT_EQ(attn::ones({2}, attn::kFloat64).to_vector<double>(), (std::vector<double>{1, 1}));
  EXPECT_EQ(attn::full({3}, 2.5).to_vector<float>(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(attn::arange(4).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(attn::arange(1.0, 2.0, 0.25, attn::kFloat32).to_vector<float>(),
            (std::vector<float>{1.0f, 1.25f, 1.5f, 1.75f}));
  Tensor v = attn::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_DOUBLE_EQ(attn::full({}, 7.0).item(), 7.0);
  EXPECT_THROW(attn::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), attn::Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor x = attn::arange(0.0, 12.0, 1.0, attn::kFloat32).reshape({3, 4});
  Tensor t = x.transpose(0, 1);
  EXPECT_TRUE(t.shares_storage_with(x));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.shape(), (attn::Shape{4, 3}));
  EXPECT_EQ(t.strides(), (attn::Shape{1, 4}));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage_with(x));
  EXPECT_EQ(c.to_vector<float>(), t.to_vector<float>());

  Tensor row = x.narrow(0, 1, 1);
  EXPECT_TRUE(row.shares_storage_with(x));
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(x.select(1, 2).to_vector<float>(), (std::vector<float>{2, 6, 10}));
  EXPECT_EQ(x.slice(1, 0, 4, 2).to_vector<float>(), (std::vector<float>{0, 2, 4, 6, 8, 10}));

  Tensor e = attn::from_vector(std::vector<float>{1, 2}, {2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides()[1], 0);
  EXPECT_EQ(e.to_vector<float>(), (std::vector<float>{1, 1, 1, 2, 2, 2}));

  Tensor u = x.unsqueeze(0);
  EXPECT_EQ(u.shape(), (attn::Shape{1, 3, 4}));
  EXPECT_EQ(u.squeeze(0).shape(), (attn::Shape{3, 4}));
  EXPECT_EQ(x.permute({1, 0}).strides(), (attn::Shape{1, 4}));
  // A view of a view through compatible strides, without a copy.
  Tensor y = attn::zeros({2, 3, 4}).transpose(0, 1);  // (3, 2, 4)
  EXPECT_THROW(y.view({3, 8}), attn::Error);  // dims 1 and 2 are not adjacent in memory
  EXPECT_EQ(y.reshape({3, 8}).shape(), (attn::Shape{3, 8}));
}

TEST(Tensor, ReshapeViewsWhenItCan) {
  Tensor x = attn::randn({4, 6});
  Tensor r = x.reshape({2, 2, 6});
  EXPECT_TRUE(r.shares_storage_with(x));
  Tensor sliced = x.narrow(1, 0, 3);  // (4, 3) with row stride 6: rows stay apart
  Tensor flat = sliced.reshape({12});
  EXPECT_FALSE(flat.shares_storage_with(x));
  EXPECT_EQ(flat.to_vector<float>(), sliced.to_vector<float>());
  Tensor split_rows = sliced.reshape({2, 2, 3});  // splitting a dim keeps the view
  EXPECT_TRUE(split_rows.shares_storage_with(x));
  EXPECT_EQ(split_rows.to_vector<float>(), sliced.to_vector<float>());
}

TEST(Tensor, CopyAndFillInPlace) {
  Tensor x = attn::zeros({2, 3});
  x.narrow(1, 1, 2).fill_(5.0);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{0, 5, 5, 0, 5, 5}));
  x.copy_(attn::from_vector(std::vector<float>{1, 2, 3}, {3}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  x.t().copy_(attn::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
}

TEST(Tensor, DtypeConversion) {
  Tensor x = attn::from_vector(std::vector<float>{1.5f, -2.25f}, {2});
  EXPECT_EQ(x.to(attn::kFloat64).to_vector<double>(), (std::vector<double>{1.5, -2.25}));
  EXPECT_EQ(x.to(attn::kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2}));
}

TEST(Tensor, SeededRandomnessRepeats) {
  attn::manual_seed(42);
  Tensor a = attn::randn({100});
  attn::manual_seed(42);
  Tensor b = attn::randn({100});
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  attn::Generator g1(7), g2(7);
  EXPECT_EQ(attn::rand({50}, attn::kFloat64, &g1).to_vector<double>(),
            attn::rand({50}, attn::kFloat64, &g2).to_vector<double>());
  // Mean and variance of a large standard normal sample are near 0 and 1.
  attn::Generator g(3);
  Tensor big = attn::randn({20000}, attn::kFloat64, &g);
  EXPECT_NEAR(big.mean().item(), 0.0, 0.03);
  EXPECT_NEAR((big * big).mean().item(), 1.0, 0.05);
  Tensor ids = attn::randint(3, 7, {1000}, &g);
  for (int64_t v : ids.to_vector<int64_t>()) {
    EXPECT_GE(v, 3);
    EXPECT_LT(v, 7);
  }
}

TEST(Tensor, PrintsLikePyTorch) {
  Tensor x = attn::from_vector(std::vector<float>{0.1f, -1.2f, 3.0f, 4.5f}, {2, 2});
  std::ostringstream out;
  out << x;
  EXPECT_EQ(out.str(),
            "tensor([[ 0.1000, -1.2000],\n"
            "        [ 3.0000,  4.5000]], shape=[2, 2], dtype=float32)");
  std::ostringstream ints;
  ints << attn::arange(3);
  EXPECT_EQ(ints.str(), "tensor([0, 1, 2], shape=[3], dtype=int64)");
  std::ostringstream big;
  big << attn::zeros({2000});
  EXPECT_NE(big.str().find("..."), std::string::npos);
  std::ostringstream tracked;
  Tensor w = attn::ones({2}).requires_grad_();
  tracked << w * 2.0;
  EXPECT_NE(tracked.str().find("grad_fn=<MulScalarBackward>"), std::string::npos) << tracked.str();
}

TEST(Tensor, CudaIsReportedClearly) {
  if (attn::kernels::cuda::is_available()) {
    Tensor x = attn::from_vector(std::vector<float>{1, 2, 3}, {3}).to(attn::kCUDA);
    EXPECT_EQ(x.device(), attn::kCUDA);
    EXPECT_EQ(x.to(attn::kCPU).to_vector<float>(), (std::vector<float>{1, 2, 3}));
  } else {
    EXPECT_THROW(attn::zeros({2}).to(attn::kCUDA), attn::Error);
    EXPECT_FALSE(attn::kernels::cuda::why_unavailable().empty());
  }
}

}  // namespace

namespace {

// Every build (once only Debug, ATTN_DEBUG_CHECKS) proves that views stay
// inside their buffer; tests/tensor/test_checked_sizes.cpp has the rest.
TEST(Tensor, EveryBuildCatchesViewsOutsideTheirBuffer) {
  attn::Tensor x = attn::zeros({2, 3});
  EXPECT_THROW(attn::make_view(x, {7}, {1}, 0), attn::Error);
  EXPECT_THROW(attn::make_view(x, {2}, {1}, 5), attn::Error);
  EXPECT_EQ(attn::make_view(x, {3}, {2}, 0).numel(), 3);
}

}  // namespace
