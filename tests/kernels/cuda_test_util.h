// Shared helpers for the CUDA kernel tests (test_cuda_*.cpp, the
// test_cuda_kernels program): each test runs a CUDA kernel and its CPU twin
// on the same fresh random inputs and compares.
//
// Inputs are made as CPU tensors, copied with .to(kCUDA); data_ptr<T>() of a
// CUDA tensor is a device pointer, which is what a kernel's Device::CUDA
// definition takes (kernels::softmax_forward<Device::CUDA>, ...). Where no GPU
// is usable, every test skips with the reason CUDA gives.
#pragma once

#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda/runtime.h"

#define ATTN_REQUIRE_GPU()                       \
  if (!attn::kernels::cuda::is_available())     \
  GTEST_SKIP() << "no usable GPU: " << attn::kernels::cuda::why_unavailable()

namespace attn_cuda_test {

// A CPU tensor's copy on the GPU.
inline attn::Tensor gpu(const attn::Tensor& cpu) { return cpu.to(attn::kCUDA); }

// An uninitialised tensor on the GPU (the kernel under test fills it).
inline attn::Tensor gpu_empty(const attn::Shape& shape, attn::DType dtype = attn::kFloat32) {
  return attn::Tensor::empty(shape, attn::TensorOptions(dtype).device(attn::kCUDA));
}

// Uniform in [lo, hi), as float32 or float64, on the CPU.
inline attn::Tensor uniform(const attn::Shape& shape, double lo, double hi, attn::Generator& g,
                            attn::DType dtype = attn::kFloat32) {
  return attn::rand(shape, dtype, &g) * (hi - lo) + lo;
}

// Mixed tolerance: |gpu - cpu| <= tol * (1 + |cpu|) element by element; the
// first failure names `what`, the flat index and both values. NaN must match
// NaN and inf must match inf of the same sign.
inline void expect_close(const attn::Tensor& cpu, const attn::Tensor& gpu_result, double tol,
                         const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu_result.shape()) << what;
  std::vector<double> want = cpu.to_vector<double>(), got = gpu_result.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i]) || std::isinf(want[i])) {
      ASSERT_TRUE(std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i])
          << what << " at " << i << ": cpu " << want[i] << " gpu " << got[i];
      continue;
    }
    ASSERT_LE(std::abs(got[i] - want[i]), tol * (1.0 + std::abs(want[i])))
        << what << " at " << i << " of " << want.size() << ": cpu " << want[i] << " gpu "
        << got[i];
  }
}

}  // namespace attn_cuda_test
