// Matrix multiplication on the GPU through cuBLAS, the twin of
// kernels/cpu/matmul.cpp (OpenBLAS).
//
// As on the CPU, attn does not write its production GEMM: NVIDIA's cuBLAS is
// the reference point for speed. The three GEMMs we do write, to learn from,
// are in gemm_teaching.cu, and bench/gpu_kernels.cpp measures them against
// this one.
//
// Row-major in, column-major cuBLAS. attn stores matrices row by row; cuBLAS
// (like Fortran BLAS) reads them column by column. The same bytes read the
// other way are the transpose: a row-major (M, N) matrix with leading
// dimension ldc is, to cuBLAS, a column-major (N, M) matrix with the same
// leading dimension. So instead of transposing anything we use
//
//   C = op(A) op(B)   <=>   C^T = op(B)^T op(A)^T
//
// and ask cuBLAS for C^T (N, M): its first operand is our B, its second our
// A, M and N swap places, and each operand keeps its own transpose flag (our
// B, untransposed and row-major (K, N), is to cuBLAS an untransposed
// column-major (N, K) = op(B)^T, exactly what it needs). The leading
// dimensions and batch strides pass through unchanged. No data moves.
//
// Precision: the handle keeps CUBLAS_DEFAULT_MATH, so float GEMMs run in full
// fp32 and never on TF32 tensor cores (which keep 10 bits of mantissa and would
// put results ~1e-3 away from the CPU's). That is slower than TF32 on an H200
// but keeps a model trained on the GPU close to the one trained on the CPU;
// a TF32 option would be a named choice, not a silent default.
//
// Stream: cuBLAS runs on the default stream, like every attn kernel, so a GEMM
// is ordered after the kernel that produced its inputs and before the one that
// reads C, with no synchronisation by the host.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cublas.h"
#include "kernels/matmul.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

using cuda::check_cublas;
using cuda::cublas_handle;

int to_int(int64_t value, const char* what) { return cuda::cublas_int(value, "gemm", what); }

// C = beta * C for each matrix of the batch: what a GEMM with K = 0 does (the
// sum over k is empty). beta == 0 writes zeros without reading C, as BLAS
// does, so NaN or uninitialised memory in C does not leak through.
template <typename T>
__global__ void scale_kernel(int64_t batch, int64_t M, int64_t N, T beta, T* C, int64_t ldc,
                             int64_t stride_c) {
  const int64_t total = batch * M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / (M * N), row = (i / N) % M, col = i % N;
    T& c = C[b * stride_c + row * ldc + col];
    c = beta == T(0) ? T(0) : beta * c;
  }
}

template <typename T>
void scale(int64_t batch, int64_t M, int64_t N, T beta, T* C, int64_t ldc, int64_t stride_c) {
  if (beta == T(1)) return;
  const int threads = 256;
  int64_t blocks = (batch * M * N + threads - 1) / threads;
  if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
  scale_kernel<<<static_cast<unsigned>(blocks), threads>>>(batch, M, N, beta, C, ldc, stride_c);
  check_launch("gemm scale_kernel (K = 0)");
}

// The float and double entry points of cuBLAS, behind one name.
cublasStatus_t strided_batched(cublasOperation_t op_first, cublasOperation_t op_second, int m,
                               int n, int k, const float* alpha, const float* first, int ld_first,
                               long long stride_first, const float* second, int ld_second,
                               long long stride_second, const float* beta, float* C, int ldc,
                               long long stride_c, int batch) {
  return cublasSgemmStridedBatched(cublas_handle(), op_first, op_second, m, n, k, alpha, first, ld_first,
                                   stride_first, second, ld_second, stride_second, beta, C, ldc,
                                   stride_c, batch);
}
cublasStatus_t strided_batched(cublasOperation_t op_first, cublasOperation_t op_second, int m,
                               int n, int k, const double* alpha, const double* first,
                               int ld_first, long long stride_first, const double* second,
                               int ld_second, long long stride_second, const double* beta,
                               double* C, int ldc, long long stride_c, int batch) {
  return cublasDgemmStridedBatched(cublas_handle(), op_first, op_second, m, n, k, alpha, first, ld_first,
                                   stride_first, second, ld_second, stride_second, beta, C, ldc,
                                   stride_c, batch);
}

const char* call_name(float) { return "cublasSgemmStridedBatched"; }
const char* call_name(double) { return "cublasDgemmStridedBatched"; }

// At most this many matrices per cuBLAS call. Some cuBLAS versions put the
// batch on a grid dimension capped at 65535 (PyTorch splits its batched GEMMs
// for the same reason); one more call per 65535 matrices costs nothing.
constexpr int64_t kMaxBatchPerCall = 65535;

}  // namespace

template <Device D, typename T>
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
          T beta, T* C, int64_t ldc, int64_t stride_c) {
  ATTN_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm: negative size (batch ", batch,
             ", M ", M, ", N ", N, ", K ", K, ")");
  if (batch == 0 || M == 0 || N == 0) return;
  // Every matrix of the batch writing the same C would race (A and B may be
  // shared with stride 0, C may not).
  ATTN_CHECK(batch == 1 || stride_c != 0, "gemm: stride_c is 0 for a batch of ", batch,
             ": every matrix would write the same C");
  if (K == 0) {
    // An empty sum: C = beta * C. Done here rather than by cuBLAS, which
    // rejects the leading dimension 0 that a (M, 0) matrix may carry.
    scale(batch, M, N, beta, C, ldc, stride_c);
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T (header):
  // cuBLAS's first operand is our B, its m is our N and its n our M.
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = to_int(N, "N"), n = to_int(M, "M"), k = to_int(K, "K");
  const int ld_first = to_int(ldb, "ldb"), ld_second = to_int(lda, "lda");
  const int ld_c = to_int(ldc, "ldc");
  for (int64_t start = 0; start < batch; start += kMaxBatchPerCall) {
    const int64_t count = batch - start < kMaxBatchPerCall ? batch - start : kMaxBatchPerCall;
    check_cublas(strided_batched(op_first, op_second, m, n, k, &alpha, B + start * stride_b,
                                 ld_first, stride_b, A + start * stride_a, ld_second, stride_a,
                                 &beta, C + start * stride_c, ld_c, stride_c,
                                 static_cast<int>(count)),
                 call_name(T()));
  }
}

ATTN_INSTANTIATE_FLOATING(gemm, Device::CUDA)

}  // namespace attn::kernels
