// Mixed precision: the GEMMs of float32 ops in bfloat16, everything else in
// float32 (docs/13-attention-on-the-gpu.md, "bfloat16").
//
// Training in bfloat16 halves the bytes a GEMM reads and lets the GPU use its
// tensor cores, but 8 significant bits are too few for everything: an update
// lr * grad is often below half a step of the weight it is added to, and
// would round away; a softmax or a layer norm sums many terms; a loss is a
// log of small numbers. So, as PyTorch's autocast and every mixed-precision
// recipe do:
//   - the weights (the "master" copy) and the optimizer's state stay float32;
//   - each GEMM (matmul, linear, forward and backward) casts its two inputs
//     down to bfloat16 and multiplies them with float32 accumulation
//     (kernels/gemm_bf16.h), writing a float32 result;
//   - softmax, layer norm, the loss and every elementwise op run in float32.
// What bfloat16 costs is the rounding of a GEMM's inputs (a relative 2^-9),
// once per GEMM.
//
// The mode is per thread, like grad mode (tensor/grad_mode.h): a guard turns
// it on for a scope, and the training step (train/train_step.cpp) holds one
// around forward and backward when `--precision bf16` is given. Ops check it
// where they call the float GEMM, through autograd::gemm below; float64 GEMMs
// (gradient checks) are never cast.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/dtype.h"
#include "kernels/matmul.h"

namespace attn {

class AutocastBF16 {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// While one is alive, float32 GEMMs on this thread run in bfloat16.
//   { attn::AutocastBF16Guard bf16; Tensor loss = model.loss(batch); loss.backward(); }
class AutocastBF16Guard {
 public:
  explicit AutocastBF16Guard(bool enabled = true) : previous_(AutocastBF16::is_enabled()) {
    AutocastBF16::set_enabled(enabled);
  }
  ~AutocastBF16Guard() { AutocastBF16::set_enabled(previous_); }
  AutocastBF16Guard(const AutocastBF16Guard&) = delete;
  AutocastBF16Guard& operator=(const AutocastBF16Guard&) = delete;

 private:
  bool previous_;
};

namespace autograd {

// kernels::gemm (kernels/matmul.h, same arguments) for float32 on `device`
// with its A and B rounded to bfloat16 and float32 accumulation: each operand
// is cast over the span it covers (kernels::gemm_operand_span), so its
// leading dimension and batch stride stay the same.
void gemm_float_via_bf16(Device device, bool trans_a, bool trans_b, int64_t batch, int64_t M,
                         int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                         int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                         float beta, float* C, int64_t ldc, int64_t stride_c);

// What ops call instead of kernels::gemm: the float32 GEMM in bfloat16 while
// the mode is on, kernels::gemm otherwise.
template <Device D, typename T>
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
          T beta, T* C, int64_t ldc, int64_t stride_c) {
  if constexpr (std::is_same_v<T, float>) {
    if (AutocastBF16::is_enabled()) {
      gemm_float_via_bf16(D, trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb,
                          stride_b, beta, C, ldc, stride_c);
      return;
    }
  }
  kernels::gemm<D, T>(trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b,
                      beta, C, ldc, stride_c);
}

}  // namespace autograd
}  // namespace attn
