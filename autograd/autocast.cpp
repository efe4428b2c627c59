// The bfloat16 mode of autograd/autocast.h and its GEMM.
#include "autograd/autocast.h"

#include "kernels/copy.h"
#include "kernels/gemm_bf16.h"
#include "tensor/tensor.h"

namespace attn {

namespace {
thread_local bool autocast_bf16_enabled = false;
}  // namespace

bool AutocastBF16::is_enabled() { return autocast_bf16_enabled; }
void AutocastBF16::set_enabled(bool enabled) { autocast_bf16_enabled = enabled; }

namespace autograd {

void gemm_float_via_bf16(Device device, bool trans_a, bool trans_b, int64_t batch, int64_t M,
                         int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                         int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                         float beta, float* C, int64_t ldc, int64_t stride_c) {
  const int64_t span_a = kernels::gemm_operand_span(trans_a, batch, M, K, lda, stride_a);
  const int64_t span_b = kernels::gemm_operand_span(trans_b, batch, K, N, ldb, stride_b);
  // The bfloat16 copies live in tensors, so the device's allocator (and its
  // cache, on the GPU) provides them and frees them after the GEMM.
  Tensor a16 = Tensor::empty({span_a}, TensorOptions(kBFloat16).device(device), "gemm (bf16)");
  Tensor b16 = Tensor::empty({span_b}, TensorOptions(kBFloat16).device(device), "gemm (bf16)");
  kernels::dispatch_device(device, "gemm (bf16)", [&](auto on) {
    kernels::convert<on, float, BFloat16>(span_a, A, a16.data_ptr<BFloat16>());
    kernels::convert<on, float, BFloat16>(span_b, B, b16.data_ptr<BFloat16>());
    kernels::gemm_bf16<on, float>(trans_a, trans_b, batch, M, N, K, alpha,
                                  a16.data_ptr<BFloat16>(), lda, stride_a,
                                  b16.data_ptr<BFloat16>(), ldb, stride_b, beta, C, ldc, stride_c);
  });
}

}  // namespace autograd
}  // namespace attn
