// The teaching GEMMs of kernels/cuda/gemm_teaching.cu: CUDA only, float only.
#pragma once

#include <cstdint>

namespace attn::kernels::cuda {

// GEMM three ways, for the course (docs/13-attention-on-the-gpu.md):
// C (M, N) = A (M, K) @ B (K, N), float, row-major, contiguous. No
// CPU twin: they are steps towards cuBLAS (kernels::gemm in kernels/matmul.h), tested and benchmarked
// against it. naive: one thread per C element, reading A and B from global
// memory.
void gemm_naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// tiled: a block loads 32x32 tiles of A and B into shared memory and reuses
// them.
void gemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// register-tiled: each thread computes an 8x8 patch of C from registers.
void gemm_register_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);

}  // namespace attn::kernels::cuda
