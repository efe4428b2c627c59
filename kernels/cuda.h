// The CUDA kernels: the same functions as kernels/cpu.h, for buffers on the
// GPU.
//
// Read this file beside kernels/cpu.h: every kernel here has the same name and
// signature as its CPU twin, whose comment there is the contract (shapes,
// layouts, what is overwritten). The CPU kernel is the reference each CUDA one
// is tested against (tests/kernels/test_cuda_*.cpp), and kernels/device.h
// picks one or the other by the tensor's device.
//
// Data pointers are device pointers; the shape and stride arrays of the
// strided kernels are host arrays (a few numbers, copied into the launch's
// arguments), and scalars and structs travel by value. A kernel returns as
// soon as its work is queued: nothing here makes the host wait, except the
// copies to the host and synchronize().
//
// In a build without CUDA (no toolkit, or -DATTN_CUDA=OFF) these functions
// still exist (kernels/cuda_unavailable.cpp) and throw attn::Error saying so,
// so code above this floor never needs an #ifdef.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/cpu.h"

namespace attn::kernels::cuda {

// True when attn was built with CUDA and a GPU is usable. A machine with the
// toolkit but no GPU (or no driver) answers false; why_unavailable() says why,
// e.g. "CUDA driver version is insufficient for CUDA runtime version".
bool is_available();
std::string why_unavailable();
bool built_with_cuda();
// The GPU's name ("NVIDIA H200"), or "" when none.
std::string device_name();

// --- runtime.cu: memory ------------------------------------------------------
// device_malloc takes from a caching allocator (runtime.cu): freed blocks are
// kept per size and handed out again, because cudaMalloc and cudaFree
// synchronise the device and cost tens of microseconds each.
void* device_malloc(size_t nbytes);
void device_free(void* ptr);
// Bytes held by the allocator: in use, and cached for reuse.
size_t allocated_bytes();
size_t cached_bytes();
// Gives the cached blocks back to CUDA.
void empty_cache();
void copy_host_to_device(void* dst, const void* src, size_t nbytes);
void copy_device_to_host(void* dst, const void* src, size_t nbytes);
void copy_device_to_device(void* dst, const void* src, size_t nbytes);
// Waits until every queued kernel has finished (benchmarks and timing only).
void synchronize();

// Checks that report late, so that a training step never waits for the GPU
// to validate its own inputs: counts, on the GPU, the ids[0..n) outside
// [0, limit) other than `allowed` (pass -1 for none), and returns at once. The
// next copy to the host (loss.item(), printing, .cpu()) or synchronize() looks
// at the count and throws attn::Error with `what` and the number found.
void check_ids_later(const int64_t* ids, int64_t n, int64_t limit, int64_t allowed,
                     const std::string& what);

// --- elementwise.cu ----------------------------------------------------------
void unary(UnaryOp op, int64_t n, const float* x, float* out);
void unary(UnaryOp op, int64_t n, const double* x, double* out);
void binary(BinaryOp op, int ndim, const int64_t* shape, const float* a, const int64_t* a_strides,
            const float* b, const int64_t* b_strides, float* out);
void binary(BinaryOp op, int ndim, const int64_t* shape, const double* a, const int64_t* a_strides,
            const double* b, const int64_t* b_strides, double* out);
void binary_scalar(BinaryOp op, int64_t n, const float* x, float scalar, float* out);
void binary_scalar(BinaryOp op, int64_t n, const double* x, double scalar, double* out);
void compare_scalar(CompareOp op, int64_t n, const float* x, float scalar, float* out);
void compare_scalar(CompareOp op, int64_t n, const double* x, double scalar, double* out);
void compare_scalar(CompareOp op, int64_t n, const int64_t* x, int64_t scalar, int64_t* out);
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cond_strides,
           const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
           float* out);
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cond_strides,
           const double* a, const int64_t* a_strides, const double* b, const int64_t* b_strides,
           double* out);

// --- copy.cu -----------------------------------------------------------------
void copy_strided(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst);
void copy_strided(int ndim, const int64_t* shape, const double* src, const int64_t* src_strides,
                  double* dst);
void copy_strided(int ndim, const int64_t* shape, const int64_t* src, const int64_t* src_strides,
                  int64_t* dst);
void copy_into_strided(int ndim, const int64_t* shape, const float* src, float* dst,
                       const int64_t* dst_strides, bool accumulate);
void copy_into_strided(int ndim, const int64_t* shape, const double* src, double* dst,
                       const int64_t* dst_strides, bool accumulate);
void copy_into_strided(int ndim, const int64_t* shape, const int64_t* src, int64_t* dst,
                       const int64_t* dst_strides, bool accumulate);
void fill(int64_t n, float value, float* out);
void fill(int64_t n, double value, double* out);
void fill(int64_t n, int64_t value, int64_t* out);
void convert(int64_t n, const float* src, double* dst);
void convert(int64_t n, const double* src, float* dst);
void convert(int64_t n, const int64_t* src, float* dst);
void convert(int64_t n, const int64_t* src, double* dst);
void convert(int64_t n, const float* src, int64_t* dst);
void convert(int64_t n, const double* src, int64_t* dst);

// --- reduce.cu ---------------------------------------------------------------
void sum_reduce(const float* x, int64_t outer, int64_t n, int64_t inner, float* out);
void sum_reduce(const double* x, int64_t outer, int64_t n, int64_t inner, double* out);
void max_reduce(const float* x, int64_t outer, int64_t n, int64_t inner, float* out,
                int64_t* argmax);
void max_reduce(const double* x, int64_t outer, int64_t n, int64_t inner, double* out,
                int64_t* argmax);

// --- matmul.cu ---------------------------------------------------------------
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c);
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, int64_t stride_a, const double* B, int64_t ldb,
          int64_t stride_b, double beta, double* C, int64_t ldc, int64_t stride_c);

// --- softmax.cu --------------------------------------------------------------
void softmax_forward(const float* x, int64_t outer, int64_t n, int64_t inner, bool log, float* y);
void softmax_forward(const double* x, int64_t outer, int64_t n, int64_t inner, bool log, double* y);
void softmax_backward(const float* y, const float* dy, int64_t outer, int64_t n, int64_t inner,
                      bool log, float* dx);
void softmax_backward(const double* y, const double* dy, int64_t outer, int64_t n, int64_t inner,
                      bool log, double* dx);

// --- layer_norm.cu -----------------------------------------------------------
void layer_norm_forward(const float* x, const float* gamma, const float* beta, int64_t rows,
                        int64_t cols, float eps, float* y, float* mean, float* rstd);
void layer_norm_forward(const double* x, const double* gamma, const double* beta, int64_t rows,
                        int64_t cols, double eps, double* y, double* mean, double* rstd);
void layer_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                         const float* rstd, int64_t rows, int64_t cols, float* dx, float* dgamma,
                         float* dbeta);
void layer_norm_backward(const double* dy, const double* x, const double* gamma, const double* mean,
                         const double* rstd, int64_t rows, int64_t cols, double* dx, double* dgamma,
                         double* dbeta);

// --- cross_entropy.cu --------------------------------------------------------
void cross_entropy_forward(const float* logits, const int64_t* target, int64_t rows,
                              int64_t classes, int64_t ignore_index, float label_smoothing,
                              float* loss, float* lse);
void cross_entropy_forward(const double* logits, const int64_t* target, int64_t rows,
                              int64_t classes, int64_t ignore_index, double label_smoothing,
                              double* loss, double* lse);
void cross_entropy_backward(const float* logits, const int64_t* target, const float* lse,
                            const float* row_grad, int64_t rows, int64_t classes,
                            int64_t ignore_index, float label_smoothing, float* dlogits);
void cross_entropy_backward(const double* logits, const int64_t* target, const double* lse,
                            const double* row_grad, int64_t rows, int64_t classes,
                            int64_t ignore_index, double label_smoothing, double* dlogits);

// --- index.cu ----------------------------------------------------------------
void index_select(const float* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, float* out);
void index_select(const double* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, double* out);
void index_select(const int64_t* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, int64_t* out);
void index_add(const float* grad, int64_t outer, int64_t index_n, int64_t inner,
               const int64_t* index, int64_t skip_index, int64_t dst_n, float* dst);
void index_add(const double* grad, int64_t outer, int64_t index_n, int64_t inner,
               const int64_t* index, int64_t skip_index, int64_t dst_n, double* dst);

// --- rnn_cells.cu ------------------------------------------------------------
void gru_cell_forward(int64_t batch, int64_t hidden, const float* gi, int64_t gi_stride,
                      const float* gh, int64_t gh_stride, const float* h, int64_t h_stride,
                      float* h_new, float* saved);
void gru_cell_forward(int64_t batch, int64_t hidden, const double* gi, int64_t gi_stride,
                      const double* gh, int64_t gh_stride, const double* h, int64_t h_stride,
                      double* h_new, double* saved);
void gru_cell_backward(int64_t batch, int64_t hidden, const float* dh_new, const float* h,
                       int64_t h_stride, const float* saved, float* dgi, float* dgh, float* dh);
void gru_cell_backward(int64_t batch, int64_t hidden, const double* dh_new, const double* h,
                       int64_t h_stride, const double* saved, double* dgi, double* dgh, double* dh);
void lstm_cell_forward(int64_t batch, int64_t hidden, const float* gates, int64_t gates_stride,
                       const float* c, int64_t c_stride, float* h_new, float* c_new,
                       int64_t out_stride, float* saved);
void lstm_cell_forward(int64_t batch, int64_t hidden, const double* gates, int64_t gates_stride,
                       const double* c, int64_t c_stride, double* h_new, double* c_new,
                       int64_t out_stride, double* saved);
void lstm_cell_backward(int64_t batch, int64_t hidden, const float* dh_new, const float* dc_new,
                        int64_t d_stride, const float* c, int64_t c_stride, const float* saved,
                        float* dgates, float* dc);
void lstm_cell_backward(int64_t batch, int64_t hidden, const double* dh_new, const double* dc_new,
                        int64_t d_stride, const double* c, int64_t c_stride, const double* saved,
                        double* dgates, double* dc);

// --- attention.cu ------------------------------------------------------------
void additive_scores_forward(const float* keys, const float* query, const float* v, int64_t B,
                             int64_t S, int64_t A, float* hidden, float* scores);
void additive_scores_forward(const double* keys, const double* query, const double* v, int64_t B,
                             int64_t S, int64_t A, double* hidden, double* scores);
void additive_scores_backward(const float* dscores, const float* hidden, const float* v, int64_t B,
                              int64_t S, int64_t A, float* dkeys, float* dquery, float* dv);
void additive_scores_backward(const double* dscores, const double* hidden, const double* v,
                              int64_t B, int64_t S, int64_t A, double* dkeys, double* dquery,
                              double* dv);

// --- reduce.cu ---------------------------------------------------------------
void max_reduce_backward(const float* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, float* dx);
void max_reduce_backward(const double* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, double* dx);
void sum_of_squares(int64_t n, const float* x, double* out);
void sum_of_squares(int64_t n, const double* x, double* out);

// --- random.cu ---------------------------------------------------------------
void uniform(uint64_t seed, uint64_t offset, int64_t n, float* out);
void uniform(uint64_t seed, uint64_t offset, int64_t n, double* out);

// --- optimizer.cu ------------------------------------------------------------
void adam_step(int64_t n, float* p, const float* g, float* m, float* v, const AdamStep& s);
void adam_step(int64_t n, double* p, const double* g, double* m, double* v, const AdamStep& s);
void sgd_step(int64_t n, float* p, const float* g, float* buf, const SgdStep& s);
void sgd_step(int64_t n, double* p, const double* g, double* buf, const SgdStep& s);

// --- flash_attention.cu ------------------------------------------------------
void flash_attention_forward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                             const float* q, const float* k, const float* v,
                             const int64_t* key_lengths, bool causal, float scale, float* out,
                             float* lse);
void flash_attention_forward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                             const double* q, const double* k, const double* v,
                             const int64_t* key_lengths, bool causal, double scale, double* out,
                             double* lse);
void flash_attention_backward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                              const float* q, const float* k, const float* v, const float* out,
                              const float* dout, const float* lse, const int64_t* key_lengths,
                              bool causal, float scale, float* dq, float* dk, float* dv);
void flash_attention_backward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                              const double* q, const double* k, const double* v, const double* out,
                              const double* dout, const double* lse, const int64_t* key_lengths,
                              bool causal, double scale, double* dq, double* dk, double* dv);

// --- gemm_teaching.cu: GEMM three ways, for the course (docs/13-attention-on-the-gpu.md)
// --------- C (M, N) = A (M, K) @ B (K, N), float, row-major, contiguous. No
// CPU twin: they are steps towards cuBLAS (gemm above), tested and benchmarked
// against it. naive: one thread per C element, reading A and B from global
// memory.
void gemm_naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// tiled: a block loads 32x32 tiles of A and B into shared memory and reuses
// them.
void gemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// register-tiled: each thread computes an 8x8 patch of C from registers.
void gemm_register_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);

}  // namespace attn::kernels::cuda
