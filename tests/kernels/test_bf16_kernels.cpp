// The CPU reference kernels of mixed precision: the bfloat16 GEMM with
// float32 accumulation against the float32 GEMM, matmul on bfloat16 tensors,
// softmax / layer_norm / cross_entropy of bfloat16 inputs computed in float32,
// and the bfloat16 mode of autograd/autocast.h.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <attn/attn.h>
#include "kernels/gemm_bf16.h"
#include "kernels/matmul.h"

namespace {

using attn::BFloat16;
using attn::Device;
using attn::Tensor;

// The values a bfloat16 holds: what rounding to bfloat16 and back gives.
Tensor rounded(const Tensor& x) { return x.to(attn::kBFloat16).to(attn::kFloat32); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to(attn::kFloat32).to_vector<float>();
  std::vector<float> y = b.to(attn::kFloat32).to_vector<float>();
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::fabs(x[i] - y[i])));
  return worst;
}

TEST(GemmBF16, EqualsTheFloatGemmOfRoundedInputs) {
  // Transposes, a shared B (stride 0), padding in lda: the float32 GEMM of the
  // same values rounded to bfloat16 is what the bfloat16 GEMM must give, up
  // to the order of the float sums.
  const int64_t batch = 3, M = 5, N = 7, K = 33;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1;
      const int64_t stride_a = (ta ? K : M) * lda;
      Tensor a = rounded(attn::randn({batch * stride_a}));
      Tensor b = rounded(attn::randn({(tb ? N : K) * ldb}));
      Tensor a16 = a.to(attn::kBFloat16), b16 = b.to(attn::kBFloat16);
      Tensor want = attn::zeros({batch, M, N}), got = attn::zeros({batch, M, N});
      attn::kernels::gemm<Device::CPU, float>(ta, tb, batch, M, N, K, 1.0f, a.data_ptr<float>(),
                                              lda, stride_a, b.data_ptr<float>(), ldb, 0, 0.0f,
                                              want.data_ptr<float>(), N, M * N);
      attn::kernels::gemm_bf16<Device::CPU, float>(
          ta, tb, batch, M, N, K, 1.0f, a16.data_ptr<BFloat16>(), lda, stride_a,
          b16.data_ptr<BFloat16>(), ldb, 0, 0.0f, got.data_ptr<float>(), N, M * N);
      EXPECT_LT(max_abs_diff(want, got), 1e-4) << "trans_a " << ta << " trans_b " << tb;
      // A bfloat16 C: the same, rounded once (a relative 2^-9, plus beta).
      Tensor c16 = attn::ones({batch, M, N}).to(attn::kBFloat16);
      attn::kernels::gemm_bf16<Device::CPU, BFloat16>(
          ta, tb, batch, M, N, K, 1.0f, a16.data_ptr<BFloat16>(), lda, stride_a,
          b16.data_ptr<BFloat16>(), ldb, 0, 1.0f, c16.data_ptr<BFloat16>(), N, M * N);
      Tensor want_plus_one = want + 1.0;
      std::vector<float> w = want_plus_one.to_vector<float>();
      std::vector<float> g = c16.to(attn::kFloat32).to_vector<float>();
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_LE(std::fabs(w[i] - g[i]), std::fabs(w[i]) / 256 + 1e-4) << i;
      }
    }
  }
}

TEST(GemmBF16, OperandSpan) {
  EXPECT_EQ(attn::kernels::gemm_operand_span(false, 1, 2, 3, 3, 0), 6);
  EXPECT_EQ(attn::kernels::gemm_operand_span(true, 1, 2, 3, 2, 0), 6);   // stored (3, 2)
  EXPECT_EQ(attn::kernels::gemm_operand_span(false, 2, 2, 3, 5, 10), 18);
  EXPECT_EQ(attn::kernels::gemm_operand_span(false, 4, 0, 3, 3, 0), 0);
}

TEST(MatmulBF16, TensorsInBFloat16Out) {
  Tensor a = attn::randn({4, 6, 16}), b = attn::randn({16, 8});
  Tensor got = attn::matmul(a.to(attn::kBFloat16), b.to(attn::kBFloat16));
  EXPECT_EQ(got.dtype(), attn::kBFloat16);
  Tensor want = attn::matmul(rounded(a), rounded(b));
  // Float accumulation, one rounding of the result: at most 2^-8 relative.
  std::vector<float> w = want.to_vector<float>(), g = got.to(attn::kFloat32).to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i) EXPECT_LE(std::fabs(w[i] - g[i]), std::fabs(w[i]) / 256 + 1e-5);
  // Against the float32 product of the unrounded inputs: bfloat16's tolerance.
  EXPECT_LT(max_abs_diff(attn::matmul(a, b), got), 0.15);
}

TEST(MatmulBF16, SoftmaxLayerNormCrossEntropyComputeInFloat32) {
  Tensor x = attn::randn({6, 10});
  Tensor x16 = x.to(attn::kBFloat16);
  Tensor s = attn::softmax(x16, -1);
  EXPECT_EQ(s.dtype(), attn::kFloat32);
  // Exactly the float32 kernel on the rounded input: the math is float32.
  EXPECT_EQ(s.to_vector<float>(), attn::softmax(rounded(x), -1).to_vector<float>());
  EXPECT_LT(max_abs_diff(s, attn::softmax(x, -1)), 0.01);
  EXPECT_LT(max_abs_diff(attn::log_softmax(x16, -1), attn::log_softmax(x, -1)), 0.05);

  Tensor gamma = attn::randn({10}), beta = attn::randn({10});
  Tensor y = attn::layer_norm(x16, gamma, beta, 1e-5);
  EXPECT_EQ(y.dtype(), attn::kFloat32);
  EXPECT_EQ(y.to_vector<float>(),
            attn::layer_norm(rounded(x), gamma, beta, 1e-5).to_vector<float>());
  EXPECT_LT(max_abs_diff(y, attn::layer_norm(x, gamma, beta, 1e-5)), 0.05);

  Tensor target = attn::from_vector(std::vector<int64_t>{0, 3, 9, 1, 2, 5}, {6});
  Tensor loss16 = attn::cross_entropy(x16, target);
  EXPECT_EQ(loss16.dtype(), attn::kFloat32);
  EXPECT_NEAR(loss16.item(), attn::cross_entropy(x, target).item(), 0.02);
  // The gradient reaches a float32 leaf through the casts.
  Tensor leaf = x.clone().requires_grad_();
  attn::cross_entropy(leaf.to(attn::kBFloat16), target).backward();
  EXPECT_EQ(leaf.grad().dtype(), attn::kFloat32);
}

TEST(Autocast, GemmsOfFloatOpsRunOnRoundedInputs) {
  Tensor a = attn::randn({3, 5, 24}), w = attn::randn({12, 24}), bias = attn::randn({12});
  Tensor exact = attn::linear(a, w, bias);
  Tensor want = attn::linear(rounded(a), rounded(w), bias);
  Tensor got;
  {
    attn::AutocastBF16Guard bf16;
    EXPECT_TRUE(attn::AutocastBF16::is_enabled());
    got = attn::linear(a, w, bias);
  }
  EXPECT_FALSE(attn::AutocastBF16::is_enabled());
  EXPECT_EQ(got.dtype(), attn::kFloat32);
  EXPECT_LT(max_abs_diff(want, got), 1e-4);
  EXPECT_GT(max_abs_diff(exact, got), 0.0);  // the rounding happened
  EXPECT_LT(max_abs_diff(exact, got), 0.2);

  // matmul, batched and through a transposed view, forward and backward.
  Tensor q = attn::randn({2, 4, 8}).requires_grad_(), k = attn::randn({2, 6, 8}).requires_grad_();
  Tensor scores;
  {
    attn::AutocastBF16Guard bf16;
    scores = attn::matmul(q, k.transpose(-1, -2));
    scores.sum().backward();
  }
  Tensor want_scores = attn::matmul(rounded(q.detach()), rounded(k.detach()).transpose(-1, -2));
  EXPECT_LT(max_abs_diff(want_scores, scores), 1e-4);
  // d sum(q k^T) / dq = (sum over the rows of k), its GEMM in bfloat16 too.
  Tensor want_gq = attn::matmul(attn::ones({2, 4, 6}), rounded(k.detach()));
  EXPECT_LT(max_abs_diff(want_gq, q.grad()), 1e-4);
  // float64 GEMMs are never cast.
  Tensor d = attn::randn({3, 3}, attn::kFloat64);
  Tensor dd;
  {
    attn::AutocastBF16Guard bf16;
    dd = attn::matmul(d, d);
  }
  EXPECT_EQ(dd.to_vector<double>(), attn::matmul(d, d).to_vector<double>());
}

}  // namespace
