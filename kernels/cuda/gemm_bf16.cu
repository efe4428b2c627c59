// The bfloat16 GEMM of kernels/gemm_bf16.h on the GPU: cuBLAS's
// cublasGemmStridedBatchedEx with bfloat16 inputs (CUDA_R_16BF), float32
// accumulation (CUBLAS_COMPUTE_32F) and a float32 or bfloat16 C. On an A100,
// H100 or H200 this runs on the tensor cores; kernels/cpu/gemm_bf16.cpp is
// its CPU reference, and tests/kernels/test_cuda_bf16.cpp compares the two.
//
// Row-major in, column-major cuBLAS: the same trick as kernels/cuda/matmul.cu
// (C^T = op(B)^T op(A)^T: cuBLAS's first operand is our B, m and n swap),
// which that file explains.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cublas.h"
#include "kernels/gemm_bf16.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

using cuda::check_cublas;
using cuda::cublas_handle;  // the one handle matmul.cu uses too

int to_int(int64_t value, const char* what) { return cuda::cublas_int(value, "gemm_bf16", what); }

// C = beta * C for a GEMM with K = 0 (an empty sum), as in matmul.cu.
template <typename Out>
__global__ void scale_kernel(int64_t batch, int64_t M, int64_t N, float beta, Out* C, int64_t ldc,
                             int64_t stride_c) {
  const int64_t total = batch * M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / (M * N), row = (i / N) % M, col = i % N;
    Out& c = C[b * stride_c + row * ldc + col];
    c = Out(beta == 0.0f ? 0.0f : beta * float(c));
  }
}

constexpr int64_t kMaxBatchPerCall = 65535;  // matmul.cu says why

}  // namespace

template <Device D, typename Out>
void gemm_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
               float alpha, const BFloat16* A, int64_t lda, int64_t stride_a, const BFloat16* B,
               int64_t ldb, int64_t stride_b, float beta, Out* C, int64_t ldc, int64_t stride_c) {
  ATTN_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm_bf16: negative size (batch ", batch,
             ", M ", M, ", N ", N, ", K ", K, ")");
  if (batch == 0 || M == 0 || N == 0) return;
  ATTN_CHECK(batch == 1 || stride_c != 0, "gemm_bf16: stride_c is 0 for a batch of ", batch,
             ": every matrix would write the same C");
  if (K == 0) {
    if (beta == 1.0f) return;
    int64_t blocks = (batch * M * N + 255) / 256;
    if (blocks > 65535) blocks = 65535;
    scale_kernel<<<static_cast<unsigned>(blocks), 256>>>(batch, M, N, beta, C, ldc, stride_c);
    check_launch("gemm_bf16 scale_kernel (K = 0)");
    return;
  }
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = to_int(N, "N"), n = to_int(M, "M"), k = to_int(K, "K");
  const int ld_first = to_int(ldb, "ldb"), ld_second = to_int(lda, "lda");
  const int ld_c = to_int(ldc, "ldc");
  const cudaDataType_t c_type = std::is_same_v<Out, float> ? CUDA_R_32F : CUDA_R_16BF;
  for (int64_t start = 0; start < batch; start += kMaxBatchPerCall) {
    const int64_t count = batch - start < kMaxBatchPerCall ? batch - start : kMaxBatchPerCall;
    check_cublas(cublasGemmStridedBatchedEx(
                     cublas_handle(), op_first, op_second, m, n, k, &alpha, B + start * stride_b,
                     CUDA_R_16BF, ld_first, stride_b, A + start * stride_a, CUDA_R_16BF,
                     ld_second, stride_a, &beta, C + start * stride_c, c_type, ld_c, stride_c,
                     static_cast<int>(count), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx (bfloat16)");
  }
}

ATTN_INSTANTIATE(gemm_bf16, Device::CUDA, float)
ATTN_INSTANTIATE(gemm_bf16, Device::CUDA, BFloat16)

}  // namespace attn::kernels
