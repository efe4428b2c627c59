// The CUDA kernels: the same functions as kernels/cpu.h, for buffers on the GPU.
//
// Read this file beside kernels/cpu.h: a kernel here has the same name and
// signature as its CPU twin, and the CPU one is the reference it is tested
// against (tests/kernels/test_cuda_kernels.cpp). Issue by issue, more of the
// CPU list moves over; for now the GPU has memory management and the first
// element-wise kernel, so the CUDA build path is exercised from day one.
//
// In a build without CUDA (no toolkit, or -DATTN_CUDA=OFF) these functions still
// exist (kernels/cuda_unavailable.cpp) and throw attn::Error saying so, so code
// above this floor never needs an #ifdef.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/cpu.h"

namespace attn::kernels::cuda {

// True when attn was built with CUDA and a GPU is usable. A machine with the
// toolkit but no GPU (or no driver) answers false; why_unavailable() says why,
// e.g. "CUDA driver version is insufficient for CUDA runtime version".
bool is_available();
std::string why_unavailable();
bool built_with_cuda();

// --- runtime.cu: memory ---
void* device_malloc(size_t nbytes);
void device_free(void* ptr);
void copy_host_to_device(void* dst, const void* src, size_t nbytes);
void copy_device_to_host(void* dst, const void* src, size_t nbytes);
void copy_device_to_device(void* dst, const void* src, size_t nbytes);

// --- elementwise.cu ---
// Same contract as cpu::binary: out (shape, contiguous) = op(a, b), a and b read
// through strides (0 = broadcast).
void binary(BinaryOp op, int ndim, const int64_t* shape, const float* a, const int64_t* a_strides,
            const float* b, const int64_t* b_strides, float* out);

}  // namespace attn::kernels::cuda
