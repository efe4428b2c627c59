// The CUDA kernels against their CPU twins on fresh random inputs.
//
// Where no GPU is usable (these development machines have the CUDA toolkit but
// no GPU), every test here skips with the reason CUDA gives. On a GPU machine,
// scripts/gpu-check builds and runs them.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include "kernels/cuda/runtime.h"

namespace {

using attn::Tensor;

#define ATTN_REQUIRE_GPU()                                                              \
  if (!attn::kernels::cuda::is_available())                                            \
  GTEST_SKIP() << "no usable GPU: " << attn::kernels::cuda::why_unavailable()

TEST(CudaKernels, BuildKnowsWhetherItHasCuda) {
  // Holds with or without a GPU: a CUDA build reports it, a CPU build says why not.
  if (!attn::kernels::cuda::built_with_cuda()) {
    EXPECT_FALSE(attn::kernels::cuda::is_available());
    EXPECT_NE(attn::kernels::cuda::why_unavailable().find("without CUDA"), std::string::npos);
  } else if (!attn::kernels::cuda::is_available()) {
    EXPECT_FALSE(attn::kernels::cuda::why_unavailable().empty());
  }
  SUCCEED();
}

TEST(CudaKernels, RoundTripCopy) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(1);
  Tensor x = attn::randn({37, 19}, {}, &g);
  Tensor back = x.to(attn::kCUDA).to(attn::kCPU);
  EXPECT_EQ(back.to_vector<float>(), x.to_vector<float>());
}

// Binary ops with broadcasting, sizes that divide no block size, against the CPU.
TEST(CudaKernels, BinaryMatchesCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(2);
  struct Case { attn::Shape a, b; };
  for (const Case& c : {Case{{1000}, {1000}}, Case{{7, 33, 5}, {33, 1}}, Case{{3, 1, 257}, {4, 1}},
                        Case{{65537}, {}}}) {
    Tensor a = attn::randn(c.a, {}, &g);
    Tensor b = attn::rand(c.b, {}, &g) + 0.5;  // positive, for div and pow
    Tensor ga = a.to(attn::kCUDA), gb = b.to(attn::kCUDA);
    // Element-wise float ops are exact or differ by an ulp (powf), so the
    // tolerance is a few ulps of the values involved.
    for (int op = 0; op < 4; ++op) {
      Tensor cpu = op == 0 ? a + b : op == 1 ? a - b : op == 2 ? a * b : a / b;
      Tensor gpu = op == 0 ? ga + gb : op == 1 ? ga - gb : op == 2 ? ga * gb : ga / gb;
      std::vector<float> want = cpu.to_vector<float>(), got = gpu.to_vector<float>();
      ASSERT_EQ(want.size(), got.size());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-6f * (1.0f + std::abs(want[i])))
            << "op " << op << " case a=" << attn::shape_str(c.a) << " at " << i;
      }
    }
  }
}

TEST(CudaKernels, MixingDevicesThrows) {
  ATTN_REQUIRE_GPU();
  Tensor a = attn::zeros({2}).to(attn::kCUDA);
  EXPECT_THROW(a + attn::zeros({2}), attn::Error);
}

}  // namespace
