// cuBLAS for attn's GEMMs (kernels/cuda/matmul.cu, kernels/cuda/gemm_bf16.cu):
// the process's one handle, cuBLAS's status codes as attn::Error, and the
// int sizes cuBLAS takes.
#pragma once

#include <cublas_v2.h>

#include <climits>
#include <cstdint>

#include "kernels/error.h"

namespace attn::kernels::cuda {

// Throws attn::Error naming the cuBLAS call and the status, e.g.
// "cublasSgemmStridedBatched: CUBLAS_STATUS_INVALID_VALUE".
inline void check_cublas(cublasStatus_t status, const char* call) {
  ATTN_CHECK(status == CUBLAS_STATUS_SUCCESS, call, ": ", cublasGetStatusName(status));
}

// One cuBLAS handle for the process, made on the first GEMM of any kind. A
// handle holds GPU workspace and costs milliseconds to create, so it is made
// once. It is never destroyed: at process exit the CUDA runtime may already be
// torn down, and a cublasDestroy then can fail or crash; the driver frees it
// all anyway. (One handle shared by host threads is fine while they take
// turns, which attn's GPU code does: it launches from one thread.)
//
// CUBLAS_DEFAULT_MATH, explicit although it is the default: float GEMMs run in
// full fp32, never on TF32 tensor cores (kernels/cuda/matmul.cu says why),
// while bfloat16 GEMMs with float32 accumulation may use the tensor cores,
// which is their point.
inline cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t made = nullptr;
    check_cublas(cublasCreate(&made), "cublasCreate");
    check_cublas(cublasSetMathMode(made, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    check_cublas(cublasSetStream(made, nullptr), "cublasSetStream");  // the default stream
    return made;
  }();
  return h;
}

// cuBLAS takes sizes and leading dimensions as int (the _64 entry points take
// int64_t, but no matrix in attn comes near 2^31 rows). `op` names the GEMM in
// the message: "gemm_bf16: ldc = 3000000000 does not fit cuBLAS's int".
inline int cublas_int(int64_t value, const char* op, const char* what) {
  ATTN_CHECK(value >= 0 && value <= INT_MAX, op, ": ", what, " = ", value, " does not fit cuBLAS's int");
  return static_cast<int>(value);
}

}  // namespace attn::kernels::cuda
