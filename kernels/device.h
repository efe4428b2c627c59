// The kernels by device: each function here calls the CPU or the CUDA kernel
// of the same name (kernels/cpu.h, kernels/cuda.h) by its first argument.
//
// The ops of autograd/ call these, so an op is written once for both devices:
//   kernels::softmax_forward(x.device(), x.data_ptr<T>(), outer, n, inner, log,
//   y);
// T is float or double (int64_t where the kernel has one); the template only
// saves writing each forwarder twice, and the compiler picks the overload.
// A build without CUDA links kernels/cuda_unavailable.cpp, whose kernels throw.
#pragma once

#include <cstdint>

#include "kernels/cpu.h"
#include "kernels/cuda.h"
#include "kernels/dtype.h"

namespace attn::kernels {

template <typename From, typename To>
void convert(Device device, int64_t n, const From* src, To* dst) {
  if (device == Device::CUDA) {
    return cuda::convert(n, src, dst);
  }
  return cpu::convert(n, src, dst);
}

template <typename T>
void unary(Device device, UnaryOp op, int64_t n, const T* x, T* out) {
  if (device == Device::CUDA) {
    return cuda::unary(op, n, x, out);
  }
  return cpu::unary(op, n, x, out);
}

template <typename T>
void binary(Device device, BinaryOp op, int ndim, const int64_t* shape, const T* a,
            const int64_t* a_strides, const T* b, const int64_t* b_strides, T* out) {
  if (device == Device::CUDA) {
    return cuda::binary(op, ndim, shape, a, a_strides, b, b_strides, out);
  }
  return cpu::binary(op, ndim, shape, a, a_strides, b, b_strides, out);
}

template <typename T>
void binary_scalar(Device device, BinaryOp op, int64_t n, const T* x, T scalar, T* out) {
  if (device == Device::CUDA) {
    return cuda::binary_scalar(op, n, x, scalar, out);
  }
  return cpu::binary_scalar(op, n, x, scalar, out);
}

template <typename T>
void compare_scalar(Device device, CompareOp op, int64_t n, const T* x, T scalar, T* out) {
  if (device == Device::CUDA) {
    return cuda::compare_scalar(op, n, x, scalar, out);
  }
  return cpu::compare_scalar(op, n, x, scalar, out);
}

template <typename T>
void where(Device device, int ndim, const int64_t* shape, const int64_t* cond,
           const int64_t* cond_strides, const T* a, const int64_t* a_strides, const T* b,
           const int64_t* b_strides, T* out) {
  if (device == Device::CUDA) {
    return cuda::where(ndim, shape, cond, cond_strides, a, a_strides, b, b_strides, out);
  }
  return cpu::where(ndim, shape, cond, cond_strides, a, a_strides, b, b_strides, out);
}

template <typename T>
void copy_strided(Device device, int ndim, const int64_t* shape, const T* src,
                  const int64_t* src_strides, T* dst) {
  if (device == Device::CUDA) {
    return cuda::copy_strided(ndim, shape, src, src_strides, dst);
  }
  return cpu::copy_strided(ndim, shape, src, src_strides, dst);
}

template <typename T>
void copy_into_strided(Device device, int ndim, const int64_t* shape, const T* src, T* dst,
                       const int64_t* dst_strides, bool accumulate) {
  if (device == Device::CUDA) {
    return cuda::copy_into_strided(ndim, shape, src, dst, dst_strides, accumulate);
  }
  return cpu::copy_into_strided(ndim, shape, src, dst, dst_strides, accumulate);
}

template <typename T>
void fill(Device device, int64_t n, T value, T* out) {
  if (device == Device::CUDA) {
    return cuda::fill(n, value, out);
  }
  return cpu::fill(n, value, out);
}

template <typename T>
void sum_reduce(Device device, const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  if (device == Device::CUDA) {
    return cuda::sum_reduce(x, outer, n, inner, out);
  }
  return cpu::sum_reduce(x, outer, n, inner, out);
}

template <typename T>
void max_reduce(Device device, const T* x, int64_t outer, int64_t n, int64_t inner, T* out,
                int64_t* argmax) {
  if (device == Device::CUDA) {
    return cuda::max_reduce(x, outer, n, inner, out, argmax);
  }
  return cpu::max_reduce(x, outer, n, inner, out, argmax);
}

template <typename T>
void gemm(Device device, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
          T alpha, const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb,
          int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c) {
  if (device == Device::CUDA) {
    return cuda::gemm(trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b,
                      beta, C, ldc, stride_c);
  }
  return cpu::gemm(trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b,
                   beta, C, ldc, stride_c);
}

template <typename T>
void softmax_forward(Device device, const T* x, int64_t outer, int64_t n, int64_t inner, bool log,
                     T* y) {
  if (device == Device::CUDA) {
    return cuda::softmax_forward(x, outer, n, inner, log, y);
  }
  return cpu::softmax_forward(x, outer, n, inner, log, y);
}

template <typename T>
void softmax_backward(Device device, const T* y, const T* dy, int64_t outer, int64_t n,
                      int64_t inner, bool log, T* dx) {
  if (device == Device::CUDA) {
    return cuda::softmax_backward(y, dy, outer, n, inner, log, dx);
  }
  return cpu::softmax_backward(y, dy, outer, n, inner, log, dx);
}

template <typename T>
void layer_norm_forward(Device device, const T* x, const T* gamma, const T* beta, int64_t rows,
                        int64_t cols, T eps, T* y, T* mean, T* rstd) {
  if (device == Device::CUDA) {
    return cuda::layer_norm_forward(x, gamma, beta, rows, cols, eps, y, mean, rstd);
  }
  return cpu::layer_norm_forward(x, gamma, beta, rows, cols, eps, y, mean, rstd);
}

template <typename T>
void layer_norm_backward(Device device, const T* dy, const T* x, const T* gamma, const T* mean,
                         const T* rstd, int64_t rows, int64_t cols, T* dx, T* dgamma, T* dbeta) {
  if (device == Device::CUDA) {
    return cuda::layer_norm_backward(dy, x, gamma, mean, rstd, rows, cols, dx, dgamma, dbeta);
  }
  return cpu::layer_norm_backward(dy, x, gamma, mean, rstd, rows, cols, dx, dgamma, dbeta);
}

template <typename T>
void cross_entropy_forward(Device device, const T* logits, const int64_t* target, int64_t rows,
                              int64_t classes, int64_t ignore_index, T label_smoothing, T* loss,
                              T* lse) {
  if (device == Device::CUDA) {
    return cuda::cross_entropy_forward(logits, target, rows, classes, ignore_index, label_smoothing,
                                       loss, lse);
  }
  return cpu::cross_entropy_forward(logits, target, rows, classes, ignore_index, label_smoothing,
                                    loss, lse);
}

template <typename T>
void cross_entropy_backward(Device device, const T* logits, const int64_t* target, const T* lse,
                            const T* row_grad, int64_t rows, int64_t classes, int64_t ignore_index,
                            T label_smoothing, T* dlogits) {
  if (device == Device::CUDA) {
    return cuda::cross_entropy_backward(logits, target, lse, row_grad, rows, classes, ignore_index,
                                        label_smoothing, dlogits);
  }
  return cpu::cross_entropy_backward(logits, target, lse, row_grad, rows, classes, ignore_index,
                                     label_smoothing, dlogits);
}

template <typename T>
void index_select(Device device, const T* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, T* out) {
  if (device == Device::CUDA) {
    return cuda::index_select(src, outer, src_n, inner, index, index_n, out);
  }
  return cpu::index_select(src, outer, src_n, inner, index, index_n, out);
}

template <typename T>
void index_add(Device device, const T* grad, int64_t outer, int64_t index_n, int64_t inner,
               const int64_t* index, int64_t skip_index, int64_t dst_n, T* dst) {
  if (device == Device::CUDA) {
    return cuda::index_add(grad, outer, index_n, inner, index, skip_index, dst_n, dst);
  }
  return cpu::index_add(grad, outer, index_n, inner, index, skip_index, dst_n, dst);
}

template <typename T>
void gru_cell_forward(Device device, int64_t batch, int64_t hidden, const T* gi, int64_t gi_stride,
                      const T* gh, int64_t gh_stride, const T* h, int64_t h_stride, T* h_new,
                      T* saved) {
  if (device == Device::CUDA) {
    return cuda::gru_cell_forward(batch, hidden, gi, gi_stride, gh, gh_stride, h, h_stride, h_new,
                                  saved);
  }
  return cpu::gru_cell_forward(batch, hidden, gi, gi_stride, gh, gh_stride, h, h_stride, h_new,
                               saved);
}

template <typename T>
void gru_cell_backward(Device device, int64_t batch, int64_t hidden, const T* dh_new, const T* h,
                       int64_t h_stride, const T* saved, T* dgi, T* dgh, T* dh) {
  if (device == Device::CUDA) {
    return cuda::gru_cell_backward(batch, hidden, dh_new, h, h_stride, saved, dgi, dgh, dh);
  }
  return cpu::gru_cell_backward(batch, hidden, dh_new, h, h_stride, saved, dgi, dgh, dh);
}

template <typename T>
void lstm_cell_forward(Device device, int64_t batch, int64_t hidden, const T* gates,
                       int64_t gates_stride, const T* c, int64_t c_stride, T* h_new, T* c_new,
                       int64_t out_stride, T* saved) {
  if (device == Device::CUDA) {
    return cuda::lstm_cell_forward(batch, hidden, gates, gates_stride, c, c_stride, h_new, c_new,
                                   out_stride, saved);
  }
  return cpu::lstm_cell_forward(batch, hidden, gates, gates_stride, c, c_stride, h_new, c_new,
                                out_stride, saved);
}

template <typename T>
void lstm_cell_backward(Device device, int64_t batch, int64_t hidden, const T* dh_new,
                        const T* dc_new, int64_t d_stride, const T* c, int64_t c_stride,
                        const T* saved, T* dgates, T* dc) {
  if (device == Device::CUDA) {
    return cuda::lstm_cell_backward(batch, hidden, dh_new, dc_new, d_stride, c, c_stride, saved,
                                    dgates, dc);
  }
  return cpu::lstm_cell_backward(batch, hidden, dh_new, dc_new, d_stride, c, c_stride, saved,
                                 dgates, dc);
}

template <typename T>
void additive_scores_forward(Device device, const T* keys, const T* query, const T* v, int64_t B,
                             int64_t S, int64_t A, T* hidden, T* scores) {
  if (device == Device::CUDA) {
    return cuda::additive_scores_forward(keys, query, v, B, S, A, hidden, scores);
  }
  return cpu::additive_scores_forward(keys, query, v, B, S, A, hidden, scores);
}

template <typename T>
void additive_scores_backward(Device device, const T* dscores, const T* hidden, const T* v,
                              int64_t B, int64_t S, int64_t A, T* dkeys, T* dquery, T* dv) {
  if (device == Device::CUDA) {
    return cuda::additive_scores_backward(dscores, hidden, v, B, S, A, dkeys, dquery, dv);
  }
  return cpu::additive_scores_backward(dscores, hidden, v, B, S, A, dkeys, dquery, dv);
}

template <typename T>
void max_reduce_backward(Device device, const T* grad, const int64_t* argmax, int64_t outer,
                         int64_t n, int64_t inner, T* dx) {
  if (device == Device::CUDA) {
    return cuda::max_reduce_backward(grad, argmax, outer, n, inner, dx);
  }
  return cpu::max_reduce_backward(grad, argmax, outer, n, inner, dx);
}

template <typename T>
void sum_of_squares(Device device, int64_t n, const T* x, double* out) {
  if (device == Device::CUDA) {
    return cuda::sum_of_squares(n, x, out);
  }
  return cpu::sum_of_squares(n, x, out);
}

template <typename T>
void uniform(Device device, uint64_t seed, uint64_t offset, int64_t n, T* out) {
  if (device == Device::CUDA) {
    return cuda::uniform(seed, offset, n, out);
  }
  return cpu::uniform(seed, offset, n, out);
}

template <typename T>
void adam_step(Device device, int64_t n, T* p, const T* g, T* m, T* v, const AdamStep& s) {
  if (device == Device::CUDA) {
    return cuda::adam_step(n, p, g, m, v, s);
  }
  return cpu::adam_step(n, p, g, m, v, s);
}

template <typename T>
void sgd_step(Device device, int64_t n, T* p, const T* g, T* buf, const SgdStep& s) {
  if (device == Device::CUDA) {
    return cuda::sgd_step(n, p, g, buf, s);
  }
  return cpu::sgd_step(n, p, g, buf, s);
}

template <typename T>
void flash_attention_forward(Device device, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                             const T* q, const T* k, const T* v, const int64_t* key_lengths,
                             bool causal, T scale, T* out, T* lse) {
  if (device == Device::CUDA) {
    return cuda::flash_attention_forward(B, H, Tq, Tk, D, q, k, v, key_lengths, causal, scale, out,
                                         lse);
  }
  return cpu::flash_attention_forward(B, H, Tq, Tk, D, q, k, v, key_lengths, causal, scale, out,
                                      lse);
}

template <typename T>
void flash_attention_backward(Device device, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                              int64_t D, const T* q, const T* k, const T* v, const T* out,
                              const T* dout, const T* lse, const int64_t* key_lengths, bool causal,
                              T scale, T* dq, T* dk, T* dv) {
  if (device == Device::CUDA) {
    return cuda::flash_attention_backward(B, H, Tq, Tk, D, q, k, v, out, dout, lse, key_lengths,
                                          causal, scale, dq, dk, dv);
  }
  return cpu::flash_attention_backward(B, H, Tq, Tk, D, q, k, v, out, dout, lse, key_lengths,
                                       causal, scale, dq, dk, dv);
}

}  // namespace attn::kernels
