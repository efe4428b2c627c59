// bfloat16 on the GPU against its CPU twins: the casts (kernels/cuda/copy.cu's
// convert, bit for bit: both round to nearest even), the bfloat16 GEMM on
// cuBLAS (kernels/cuda/gemm_bf16.cu) against the CPU reference
// (kernels/cpu/gemm_bf16.cpp), and a float32 linear under AutocastBF16Guard
// on both devices. Skips where no GPU is usable.
//
// Tolerance of the GEMM: both sides multiply the same bfloat16 values exactly
// and accumulate in float32; only the order of the sums differs (and cuBLAS's
// tensor cores may add in float32 with their own grouping), so the float32
// bound of test_cuda_gemm.cpp, 1e-5 * sqrt(K) relative to 1 + |c|, holds for
// a float32 C. A bfloat16 C is rounded once on each side, and a float32 sum
// that lies near a rounding boundary may round one step apart: 2^-7.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <vector>

#include "kernels/gemm_bf16.h"
#include "tests/kernels/cuda_test_util.h"

namespace {

using attn::BFloat16;
using attn::Device;
using attn::Tensor;
using attn_cuda_test::expect_close;
using attn_cuda_test::gpu;
using attn_cuda_test::uniform;

TEST(CudaBF16, CastsMatchTheCpuBitForBit) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(11);
  Tensor x = uniform({4099}, -1e3, 1e3, g);
  std::vector<BFloat16> cpu = x.to(attn::kBFloat16).to_vector<BFloat16>();
  std::vector<BFloat16> dev = gpu(x).to(attn::kBFloat16).to_vector<BFloat16>();
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); ++i) ASSERT_EQ(cpu[i].bits, dev[i].bits) << i;
  // And back, exactly.
  Tensor back = gpu(x).to(attn::kBFloat16).to(attn::kFloat32);
  expect_close(x.to(attn::kBFloat16).to(attn::kFloat32), back, 0.0, "bf16 -> float32");
}

TEST(CudaBF16, GemmMatchesTheCpuReference) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(12);
  const int64_t batch = 3, M = 33, N = 65, K = 129;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const int64_t lda = ta ? M : K, ldb = tb ? K : N;
      Tensor a = uniform({batch, ta ? K : M, ta ? M : K}, -1, 1, g).to(attn::kBFloat16);
      Tensor b = uniform({tb ? N : K, tb ? K : N}, -1, 1, g).to(attn::kBFloat16);
      Tensor c_cpu = attn::zeros({batch, M, N}), c_gpu = gpu(c_cpu);
      Tensor a_gpu = gpu(a), b_gpu = gpu(b);
      attn::kernels::gemm_bf16<Device::CPU, float>(ta, tb, batch, M, N, K, 1.0f,
                                                   a.data_ptr<BFloat16>(), lda, M * K,
                                                   b.data_ptr<BFloat16>(), ldb, 0, 0.0f,
                                                   c_cpu.data_ptr<float>(), N, M * N);
      attn::kernels::gemm_bf16<Device::CUDA, float>(ta, tb, batch, M, N, K, 1.0f,
                                                    a_gpu.data_ptr<BFloat16>(), lda, M * K,
                                                    b_gpu.data_ptr<BFloat16>(), ldb, 0, 0.0f,
                                                    c_gpu.data_ptr<float>(), N, M * N);
      expect_close(c_cpu, c_gpu, 1e-5 * std::sqrt(double(K)), "gemm_bf16 float C");
      // bfloat16 C through matmul of bfloat16 tensors.
      Tensor ab = attn::matmul(ta ? a.transpose(-1, -2) : a, tb ? b.t() : b);
      Tensor ab_gpu = attn::matmul(ta ? a_gpu.transpose(-1, -2) : a_gpu, tb ? b_gpu.t() : b_gpu);
      EXPECT_EQ(ab_gpu.dtype(), attn::kBFloat16);
      expect_close(ab, ab_gpu, 1.0 / 128, "matmul of bfloat16 tensors");
    }
  }
}

TEST(CudaBF16, AutocastLinearMatchesTheCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(13);
  Tensor x = uniform({4, 7, 96}, -1, 1, g), w = uniform({48, 96}, -1, 1, g);
  Tensor bias = uniform({48}, -1, 1, g);
  Tensor y_cpu, y_gpu;
  {
    attn::AutocastBF16Guard bf16;
    y_cpu = attn::linear(x, w, bias);
    y_gpu = attn::linear(gpu(x), gpu(w), gpu(bias));
  }
  expect_close(y_cpu, y_gpu, 1e-4, "linear under AutocastBF16Guard");
}

}  // namespace
