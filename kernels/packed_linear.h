// A linear layer's product with its weight packed once, for decoding on the
// CPU:  y (M, N) = x (M, K) @ W^T + b,  W (N, K).
//
// Why: a decoder step multiplies the same weights at every step, by a batch
// of only M = B rows (one position per sentence). A BLAS call re-packs W into
// the order its inner loop reads at every call (OpenBLAS's sgemm_incopy), and
// with M = 256 rows that packing is paid for 256 rows of work: 8% of a small
// Transformer's cached step on the 2-core EPYC (bench/README.md, "Packed
// weights"), plus 3% for writing the bias into y before the product adds onto
// it. Packing W once per decode, and adding the bias when the sums leave the
// registers, removes both. This is the packed-weight GEMM of inference
// engines (oneDNN's reordered weights, FBGEMM's PackedGemmMatrix, CTranslate2's
// packed linear weights), at a teaching size.
//
// The packed layout: W's N rows in panels of kPanel = 16, each panel K rows
// of 16 numbers,
//     packed[p][k][j] = W[16 p + j][k]      (zero where 16 p + j >= N)
// so the inner loop reads 16 weights of one k as two 8-float vectors, in
// order, and multiplies them by one number of each of 6 rows of x into a
// 6 x 16 block of y held in 12 AVX2 registers (kernels/cpu/packed_linear.cpp).
//
// Numerics: every y[m][n] starts at b[n], and the K products are added onto it
// in k order, one rounding per multiply-add, by one thread, whatever M, N or
// the thread count:
// a row's result does not depend on the other rows of the batch. It differs
// from OpenBLAS's (which adds in blocks) in the last bits.
//
// CPU only. On the GPU cuBLAS reads W as it is stored, and attn never packs a
// CUDA tensor (attn::linear_prepack keeps it as it is), so there is no
// kernels/cuda/packed_linear.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// The panel width: 16 outputs, two AVX2 vectors of floats.
constexpr int64_t kPackedLinearPanel = 16;

// How many elements the packed copy of an (N, K) weight has:
// ceil(N / 16) * K * 16.
inline int64_t packed_linear_size(int64_t N, int64_t K) {
  return (N + kPackedLinearPanel - 1) / kPackedLinearPanel * K * kPackedLinearPanel;
}

// w (N, K) row-major -> packed (ceil(N / 16), K, 16), the layout above.
template <Device D, typename T>
void pack_linear_weight(const T* w, int64_t N, int64_t K, T* packed);

// y (M, N) = x (M, K) @ W^T + bias, with W given packed; x and y row-major
// and contiguous; bias (N) may be null (no bias).
template <Device D, typename T>
void packed_linear(const T* x, int64_t M, int64_t K, const T* packed, int64_t N, const T* bias,
                   T* y);

}  // namespace attn::kernels
