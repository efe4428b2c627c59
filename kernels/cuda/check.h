// Turning CUDA error codes into attn::Error, naming the call or kernel.
#pragma once

#include <cuda_runtime.h>

#include "kernels/error.h"

namespace attn::kernels::cuda {

inline void check_cuda(cudaError_t status, const char* what) {
  ATTN_CHECK(status == cudaSuccess, what, ": CUDA error: ", cudaGetErrorString(status));
}

// After a kernel launch: a bad launch configuration shows up here, not at the <<<>>>.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

}  // namespace attn::kernels::cuda
