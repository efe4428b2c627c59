// The CPU reference for the bfloat16 GEMM of kernels/gemm_bf16.h.
//
// A CPU has no bfloat16 multiply worth calling (OpenBLAS's sbgemm exists only
// on some builds), so the reference does exactly what the definition says:
// widen A and B to float32 (exact), multiply with the float32 GEMM
// (kernels/cpu/matmul.cpp, so accumulation is float32), and round C to
// bfloat16 when C is bfloat16. Its results differ from cuBLAS's only by the
// order of the float32 sums, and it makes `--precision bf16` testable on a
// machine without a GPU. It costs the float32 GEMM plus two casts: no faster.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/error.h"
#include "kernels/gemm_bf16.h"
#include "kernels/matmul.h"

namespace attn::kernels {
namespace {

std::vector<float> widen(const BFloat16* data, int64_t n) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 1)));
  cpu::parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = float(data[i]);
  });
  return out;
}

}  // namespace

template <Device D, typename Out>
void gemm_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
               float alpha, const BFloat16* A, int64_t lda, int64_t stride_a, const BFloat16* B,
               int64_t ldb, int64_t stride_b, float beta, Out* C, int64_t ldc, int64_t stride_c) {
  ATTN_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm_bf16: negative size (batch ", batch,
             ", M ", M, ", N ", N, ", K ", K, ")");
  if (batch == 0 || M == 0 || N == 0) return;
  const std::vector<float> a = widen(A, gemm_operand_span(trans_a, batch, M, K, lda, stride_a));
  const std::vector<float> b = widen(B, gemm_operand_span(trans_b, batch, K, N, ldb, stride_b));
  if constexpr (std::is_same_v<Out, float>) {
    gemm<Device::CPU, float>(trans_a, trans_b, batch, M, N, K, alpha, a.data(), lda, stride_a,
                             b.data(), ldb, stride_b, beta, C, ldc, stride_c);
  } else {
    // A float32 C, contiguous per matrix: the GEMM accumulates there, then
    // each element is rounded to bfloat16 once.
    std::vector<float> c(static_cast<size_t>(batch * M * N));
    for (int64_t m = 0; m < batch; ++m) {
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          c[(m * M + i) * N + j] = beta == 0.0f ? 0.0f : float(C[m * stride_c + i * ldc + j]);
        }
      }
    }
    gemm<Device::CPU, float>(trans_a, trans_b, batch, M, N, K, alpha, a.data(), lda, stride_a,
                             b.data(), ldb, stride_b, beta, c.data(), N, M * N);
    for (int64_t m = 0; m < batch; ++m) {
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          C[m * stride_c + i * ldc + j] = BFloat16(c[(m * M + i) * N + j]);
        }
      }
    }
  }
}

ATTN_INSTANTIATE(gemm_bf16, Device::CPU, float)
ATTN_INSTANTIATE(gemm_bf16, Device::CPU, BFloat16)

}  // namespace attn::kernels
