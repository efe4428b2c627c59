// Rotary positions on the GPU (kernels/cuda/rope.cu) against the CPU twin
// (kernels/cpu/rope.cpp), float and double, forward (inverse = false) and the
// turn back (inverse = true), at offset 0 and at an offset of a long decode;
// then the op attn::rope on CUDA tensors, forward and backward.
//
// Both devices take the angles, their sines and cosines and the products in
// double and round once, so they agree to about an ulp of T (the device's
// sin and cos may differ from the host's in the last bit of a double).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <attn/attn.h>

#include <cstdint>
#include <type_traits>

#include "kernels/rope.h"
#include "tests/kernels/cuda_test_util.h"

namespace attn_cuda_test {
namespace {

using attn::Device;
using attn::Tensor;
namespace kernels = attn::kernels;

// The largest |a - b| over two CPU tensors of one shape and dtype T.
template <typename T>
double max_difference(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.to(attn::kCPU).contiguous();
  EXPECT_EQ(x.shape(), y.shape());
  double worst = 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(x.data_ptr<T>()[i]) -
                                     static_cast<double>(y.data_ptr<T>()[i])));
  }
  return worst;
}

// The CUDA kernel against the CPU one on the same input: the largest difference.
template <typename T>
double rope_difference(int64_t rows, int64_t length, int64_t D, int64_t offset, bool inverse,
                uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "rows " << rows << " length " << length << " D " << D
                                    << " offset " << offset << (inverse ? " inverse" : ""));
  const attn::DType dtype = std::is_same<T, float>::value ? attn::kFloat32 : attn::kFloat64;
  attn::Generator g(seed);
  Tensor x = uniform({rows, length, D}, -1, 1, g, dtype);
  Tensor want = Tensor::empty({rows, length, D}, dtype);
  kernels::rope_rotate<Device::CPU, T>(rows, length, D, offset, 10000.0, inverse,
                                       x.data_ptr<T>(), want.data_ptr<T>());
  Tensor gx = gpu(x), got = gpu_empty({rows, length, D}, dtype);
  kernels::rope_rotate<Device::CUDA, T>(rows, length, D, offset, 10000.0, inverse,
                                        gx.data_ptr<T>(), got.data_ptr<T>());
  return max_difference<T>(want, got);
}

TEST(CudaRope, KernelMatchesCpu) {
  ATTN_REQUIRE_GPU();
  for (bool inverse : {false, true}) {
    EXPECT_LE(rope_difference<float>(6, 33, 64, 0, inverse, 1), 2e-7);
    // a decode step far into a sentence
    EXPECT_LE(rope_difference<float>(2, 1, 128, 4095, inverse, 2), 2e-7);
    EXPECT_LE(rope_difference<double>(5, 17, 6, 7, inverse, 3), 1e-14);
    EXPECT_LE(rope_difference<double>(1, 300, 2, 0, inverse, 4), 1e-14);  // one pair
  }
}

TEST(CudaRope, OpForwardAndBackwardMatchCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(5);
  Tensor x = attn::randn({2, 3, 9, 16}, attn::kFloat64, &g);
  Tensor w = attn::randn({2, 3, 9, 16}, attn::kFloat64, &g);
  Tensor cpu_x = x.clone().requires_grad_(), gpu_x = gpu(x).requires_grad_();
  Tensor cpu_y = attn::rope(cpu_x, 11), gpu_y = attn::rope(gpu_x, 11);
  EXPECT_LE(max_difference<double>(cpu_y.detach(), gpu_y.detach()), 1e-14) << "rope forward";
  (cpu_y * w).sum().backward();
  (gpu_y * gpu(w)).sum().backward();
  EXPECT_LE(max_difference<double>(cpu_x.grad(), gpu_x.grad()), 1e-14) << "rope backward";
}

}  // namespace
}  // namespace attn_cuda_test
