// The CPU kernels: raw compute on buffers.
//
// This floor knows nothing of Tensor or autograd. Every function takes plain
// pointers and sizes; the caller (autograd/ops_*.cpp) has already checked
// shapes and dtypes. kernels/cuda.h declares the same functions for the GPU,
// with the same names and signatures, so the two can be read side by side.
//
// Layout conventions:
// - Outputs are contiguous unless a stride argument says otherwise.
// - "Strided" inputs come with one stride per dim of the output shape; a stride
//   of 0 repeats the element (broadcasting).
// - Reductions and row-wise ops see their input as (outer, n, inner): `n` is the
//   size of the reduced dim, `outer` the product of the sizes before it, `inner`
//   the product of the sizes after it. A reduction over the last dim has inner = 1.
// - Each function exists for float and double; the element-wise family also for
//   int64_t where that makes sense (copies, fills, comparisons).
#pragma once

#include <cstdint>

namespace attn::kernels {

// The largest number of dims a strided kernel accepts.
constexpr int kMaxDims = 8;

enum class UnaryOp { Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Relu, Abs };
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum };
// Comparisons give 1 or 0 in the input's type.
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };

// The scalars of one optimizer step (kernels adam_step and sgd_step below),
// computed once per step by train/optimizer.cpp, in double as PyTorch computes
// them in Python.
struct AdamStep {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double neg_step_size = 0;          // -lr / (1 - beta1^t)
  double bias_correction2_sqrt = 1;  // sqrt(1 - beta2^t)
  double weight_decay = 0;           // Adam: added to the gradient (L2)
  double shrink = 1;                 // AdamW: p *= 1 - lr * weight_decay first
  bool decoupled = false;            // AdamW
};

struct SgdStep {
  double lr = 0.1, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first = false;  // the momentum buffer holds nothing yet (PyTorch clones d into it)
};

namespace cpu {

// --- elementwise.cpp -------------------------------------------------------
// out[i] = op(x[i]) over n contiguous elements.
void unary(UnaryOp op, int64_t n, const float* x, float* out);
void unary(UnaryOp op, int64_t n, const double* x, double* out);

// out = op(a, b) with a and b read through strides (0 = broadcast), out
// contiguous of `shape` (ndim <= kMaxDims).
void binary(BinaryOp op, int ndim, const int64_t* shape, const float* a, const int64_t* a_strides,
            const float* b, const int64_t* b_strides, float* out);
void binary(BinaryOp op, int ndim, const int64_t* shape, const double* a,
            const int64_t* a_strides, const double* b, const int64_t* b_strides, double* out);

// out[i] = op(x[i], scalar) over n contiguous elements (x + 2, x * 0.5, x ^ 3, ...).
void binary_scalar(BinaryOp op, int64_t n, const float* x, float scalar, float* out);
void binary_scalar(BinaryOp op, int64_t n, const double* x, double scalar, double* out);

// out[i] = (x[i] op scalar) ? 1 : 0, in x's type.
void compare_scalar(CompareOp op, int64_t n, const float* x, float scalar, float* out);
void compare_scalar(CompareOp op, int64_t n, const double* x, double scalar, double* out);
void compare_scalar(CompareOp op, int64_t n, const int64_t* x, int64_t scalar, int64_t* out);

// out = cond != 0 ? a : b, all three read through strides, out contiguous.
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cond_strides,
           const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
           float* out);
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cond_strides,
           const double* a, const int64_t* a_strides, const double* b, const int64_t* b_strides,
           double* out);

// --- copy.cpp --------------------------------------------------------------
// Gathers a strided view into a contiguous buffer (what contiguous() does).
void copy_strided(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst);
void copy_strided(int ndim, const int64_t* shape, const double* src, const int64_t* src_strides,
                  double* dst);
void copy_strided(int ndim, const int64_t* shape, const int64_t* src,
                  const int64_t* src_strides, int64_t* dst);

// The opposite: scatters a contiguous buffer into a strided view (dst[view] = src),
// or adds it (dst[view] += src) when accumulate is true.
void copy_into_strided(int ndim, const int64_t* shape, const float* src, float* dst,
                       const int64_t* dst_strides, bool accumulate);
void copy_into_strided(int ndim, const int64_t* shape, const double* src, double* dst,
                       const int64_t* dst_strides, bool accumulate);
void copy_into_strided(int ndim, const int64_t* shape, const int64_t* src, int64_t* dst,
                       const int64_t* dst_strides, bool accumulate);

void fill(int64_t n, float value, float* out);
void fill(int64_t n, double value, double* out);
void fill(int64_t n, int64_t value, int64_t* out);

// Converts between element types (float <-> double <-> int64, truncating to int).
void convert(int64_t n, const float* src, double* dst);
void convert(int64_t n, const double* src, float* dst);
void convert(int64_t n, const int64_t* src, float* dst);
void convert(int64_t n, const int64_t* src, double* dst);
void convert(int64_t n, const float* src, int64_t* dst);
void convert(int64_t n, const double* src, int64_t* dst);

// --- reduce.cpp ------------------------------------------------------------
// out[o, i] = sum_k x[o, k, i]; x contiguous (outer, n, inner), out (outer, inner).
// Accumulates in double so that float sums do not drift with n.
void sum_reduce(const float* x, int64_t outer, int64_t n, int64_t inner, float* out);
void sum_reduce(const double* x, int64_t outer, int64_t n, int64_t inner, double* out);

// out[o, i] = max_k x[o, k, i] and argmax[o, i] = the first k that attains it.
void max_reduce(const float* x, int64_t outer, int64_t n, int64_t inner, float* out,
                int64_t* argmax);
void max_reduce(const double* x, int64_t outer, int64_t n, int64_t inner, double* out,
                int64_t* argmax);

// --- matmul.cpp ------------------------------------------------------------
// C = alpha * op(A) @ op(B) + beta * C for `batch` matrices, on OpenBLAS.
// op(A) is (M, K): A is stored (M, K) with row stride lda, or (K, M) when
// trans_a. op(B) is (K, N) likewise. Matrix b of a batch starts at
// A + b * stride_a (stride 0 reuses one matrix for the whole batch).
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c);
void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
          double alpha, const double* A, int64_t lda, int64_t stride_a, const double* B,
          int64_t ldb, int64_t stride_b, double beta, double* C, int64_t ldc, int64_t stride_c);

// --- softmax.cpp -----------------------------------------------------------
// y = softmax(x) (or log_softmax when `log`) along n, x and y (outer, n, inner).
// Subtracts the running max first, so large logits do not overflow.
void softmax_forward(const float* x, int64_t outer, int64_t n, int64_t inner, bool log, float* y);
void softmax_forward(const double* x, int64_t outer, int64_t n, int64_t inner, bool log,
                     double* y);
// dx from y (the forward's output) and dy:
//   softmax:     dx = y * (dy - sum_k dy_k y_k)
//   log_softmax: dx = dy - exp(y) * sum_k dy_k
void softmax_backward(const float* y, const float* dy, int64_t outer, int64_t n, int64_t inner,
                      bool log, float* dx);
void softmax_backward(const double* y, const double* dy, int64_t outer, int64_t n,
                      int64_t inner, bool log, double* dx);

// --- layer_norm.cpp --------------------------------------------------------
// Normalises each row of x (rows, cols): y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps), biased variance. gamma and beta may be null
// (no affine). Writes mean and rstd (rows) for the backward.
void layer_norm_forward(const float* x, const float* gamma, const float* beta, int64_t rows,
                        int64_t cols, float eps, float* y, float* mean, float* rstd);
void layer_norm_forward(const double* x, const double* gamma, const double* beta, int64_t rows,
                        int64_t cols, double eps, double* y, double* mean, double* rstd);
// dx (rows, cols); dgamma and dbeta (cols) are overwritten when non-null.
void layer_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                         const float* rstd, int64_t rows, int64_t cols, float* dx, float* dgamma,
                         float* dbeta);
void layer_norm_backward(const double* dy, const double* x, const double* gamma,
                         const double* mean, const double* rstd, int64_t rows, int64_t cols,
                         double* dx, double* dgamma, double* dbeta);

// --- cross_entropy.cpp -----------------------------------------------------
// Per-row loss of logits (rows, classes) against target ids (rows), fused
// log-softmax and negative log-likelihood, with label smoothing eps:
//   loss = (1 - eps) * (lse - x[target]) + eps * (lse - mean_k x[k])
// Rows whose target equals ignore_index get loss 0 (the caller counts the
// others, on the tensor's device, for the mean: autograd/ops_nn.cpp).
// Writes loss (rows) and lse (rows, the log-sum-exp, kept for the backward).
void cross_entropy_forward(const float* logits, const int64_t* target, int64_t rows,
                           int64_t classes, int64_t ignore_index, float label_smoothing,
                           float* loss, float* lse);
void cross_entropy_forward(const double* logits, const int64_t* target, int64_t rows,
                           int64_t classes, int64_t ignore_index, double label_smoothing,
                           double* loss, double* lse);
// d logits = row_grad[r] * (softmax(x) - (1 - eps) * onehot(target) - eps / classes),
// zero for ignored rows. row_grad holds dL/dloss[r] (for a mean: g / count).
void cross_entropy_backward(const float* logits, const int64_t* target, const float* lse,
                            const float* row_grad, int64_t rows, int64_t classes,
                            int64_t ignore_index, float label_smoothing, float* dlogits);
void cross_entropy_backward(const double* logits, const int64_t* target, const double* lse,
                            const double* row_grad, int64_t rows, int64_t classes,
                            int64_t ignore_index, double label_smoothing, double* dlogits);

// --- index.cpp -------------------------------------------------------------
// Gathers along the middle dim: out[o, j, i] = src[o, index[j], i], src
// (outer, src_n, inner), out (outer, index_n, inner). Embedding lookup is the
// case outer = 1. Indices must be in [0, src_n); the caller checks.
void index_select(const float* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, float* out);
void index_select(const double* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, double* out);
void index_select(const int64_t* src, int64_t outer, int64_t src_n, int64_t inner,
                  const int64_t* index, int64_t index_n, int64_t* out);
// The backward: dst[o, index[j], i] += grad[o, j, i], in order of j, so the
// result is deterministic. Rows j with index[j] == skip_index are left out
// (the embedding's padding index; pass -1 for none). dst is not cleared.
void index_add(const float* grad, int64_t outer, int64_t index_n, int64_t inner,
               const int64_t* index, int64_t skip_index, int64_t dst_n, float* dst);
void index_add(const double* grad, int64_t outer, int64_t index_n, int64_t inner,
               const int64_t* index, int64_t skip_index, int64_t dst_n, double* dst);

// --- rnn_cells.cpp ---------------------------------------------------------
// One GRU step's gates (PyTorch's order r, z, n) from the two projections
// gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, both (batch, 3H) with row
// strides gi_stride and gh_stride; h (batch, H) with row stride h_stride:
//   h_new = (1 - z) * n + z * h  (batch, H) contiguous.
// When saved is non-null it receives (batch, 4H) = (r, z, n, gh_n) for the backward.
void gru_cell_forward(int64_t batch, int64_t hidden, const float* gi, int64_t gi_stride,
                      const float* gh, int64_t gh_stride, const float* h, int64_t h_stride,
                      float* h_new, float* saved);
void gru_cell_forward(int64_t batch, int64_t hidden, const double* gi, int64_t gi_stride,
                      const double* gh, int64_t gh_stride, const double* h, int64_t h_stride,
                      double* h_new, double* saved);
// From dh_new (batch, H) contiguous, h and saved: dgi and dgh (batch, 3H) and
// dh (batch, H, the direct path h -> h_new only), all contiguous and overwritten.
void gru_cell_backward(int64_t batch, int64_t hidden, const float* dh_new, const float* h,
                       int64_t h_stride, const float* saved, float* dgi, float* dgh, float* dh);
void gru_cell_backward(int64_t batch, int64_t hidden, const double* dh_new, const double* h,
                       int64_t h_stride, const double* saved, double* dgi, double* dgh,
                       double* dh);

// One LSTM step's gates (PyTorch's order i, f, g, o) from the summed
// projections gates (batch, 4H, row stride gates_stride) and the cell state c
// (batch, H, row stride c_stride): c_new = f * c + i * g, h_new = o * tanh(c_new),
// both (batch, H) with row stride out_stride (H when separate, 2H to write them
// side by side into one (batch, 2H) buffer). saved, when non-null, receives
// (batch, 5H) = (i, f, g, o, tanh(c_new)).
void lstm_cell_forward(int64_t batch, int64_t hidden, const float* gates, int64_t gates_stride,
                       const float* c, int64_t c_stride, float* h_new, float* c_new,
                       int64_t out_stride, float* saved);
void lstm_cell_forward(int64_t batch, int64_t hidden, const double* gates, int64_t gates_stride,
                       const double* c, int64_t c_stride, double* h_new, double* c_new,
                       int64_t out_stride, double* saved);
// From dh_new and dc_new (batch, H, row stride d_stride), c and saved: dgates
// (batch, 4H) and dc (batch, H), contiguous and overwritten.
void lstm_cell_backward(int64_t batch, int64_t hidden, const float* dh_new, const float* dc_new,
                        int64_t d_stride, const float* c, int64_t c_stride, const float* saved,
                        float* dgates, float* dc);
void lstm_cell_backward(int64_t batch, int64_t hidden, const double* dh_new,
                        const double* dc_new, int64_t d_stride, const double* c, int64_t c_stride,
                        const double* saved, double* dgates, double* dc);

// --- attention.cpp ---------------------------------------------------------
// Bahdanau's alignment scores, fused (nn/additive_attention.h):
//   hidden[b, s, :] = tanh(keys[b, s, :] + query[b, :])      (B, S, A), kept for the backward
//   scores[b, s]    = sum_a v[a] * hidden[b, s, a]             (B, S)
// keys: (B, S, A) = U_a h + b_a, precomputed once per sentence; query: (B, A) = W_a s.
void additive_scores_forward(const float* keys, const float* query, const float* v, int64_t B,
                             int64_t S, int64_t A, float* hidden, float* scores);
void additive_scores_forward(const double* keys, const double* query, const double* v, int64_t B,
                             int64_t S, int64_t A, double* hidden, double* scores);
// From dscores (B, S): dkeys (B, S, A) = dscores * v * (1 - hidden^2);
// dquery (B, A) = sum over s of dkeys; dv (A) = sum over b, s of dscores * hidden.
// Each output is overwritten; any may be null when not needed.
void additive_scores_backward(const float* dscores, const float* hidden, const float* v, int64_t B,
                              int64_t S, int64_t A, float* dkeys, float* dquery, float* dv);
void additive_scores_backward(const double* dscores, const double* hidden, const double* v,
                              int64_t B, int64_t S, int64_t A, double* dkeys, double* dquery,
                              double* dv);

// --- reduce.cpp (continued) ------------------------------------------------
// The backward of max_reduce: dx (outer, n, inner) is zero except
// dx[o, argmax[o, i], i] = grad[o, i]. dx is overwritten.
void max_reduce_backward(const float* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, float* dx);
void max_reduce_backward(const double* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, double* dx);
// *out = sum_i x[i]^2 over n elements, accumulated in double (the global
// gradient norm squared: clip.cpp writes one sum per parameter into one
// buffer, on the gradients' device, and reads them back together).
void sum_of_squares(int64_t n, const float* x, double* out);
void sum_of_squares(int64_t n, const double* x, double* out);

// --- random.cpp ------------------------------------------------------------
// out[i] = the uniform number in [0, 1) that Generator::uniform() draws as its
// (offset + i)-th number under `seed`: element i depends on i alone, so the
// GPU fills the same numbers in parallel and a seed gives the same dropout
// mask on both devices.
void uniform(uint64_t seed, uint64_t offset, int64_t n, float* out);
void uniform(uint64_t seed, uint64_t offset, int64_t n, double* out);

// --- optimizer.cpp ---------------------------------------------------------
// One parameter's update, the inner loops of torch/optim/adam.py, adamw.py
// and sgd.py, with the scalars of AdamStep and SgdStep (above).
// p, g, m (exp_avg), v (exp_avg_sq): n elements; p, m and v are updated.
void adam_step(int64_t n, float* p, const float* g, float* m, float* v, const AdamStep& s);
void adam_step(int64_t n, double* p, const double* g, double* m, double* v, const AdamStep& s);

// buf may be null when momentum is 0.
void sgd_step(int64_t n, float* p, const float* g, float* buf, const SgdStep& s);
void sgd_step(int64_t n, double* p, const double* g, double* buf, const SgdStep& s);

// --- flash_attention.cpp ---------------------------------------------------
// Fused scaled dot-product attention, softmax(q k^T * scale) v, computed the
// FlashAttention way (Dao et al. 2022): each query row meets the keys in
// blocks with an online softmax (running max and sum), so the (Tq, Tk) score
// matrix is never stored. docs/13-attention-on-the-gpu.md walks through it.
//   q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, D), out (B, H, Tq, D), all contiguous.
//   key_lengths (B) or null: key j of batch b is visible only when j < key_lengths[b]
//     (the padding mask of nn/scaled_dot_product_attention.h).
//   causal: query i sees keys j <= i + (Tk - Tq) (aligned at the end, so a
//     decoder step with a KV cache, Tq = 1, sees every cached key).
//   lse (B, H, Tq): log-sum-exp of each row's visible scores, for the backward;
//     -inf for a row that sees no key, whose output is then 0 (as the composed
//     path's fully masked rows).
void flash_attention_forward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                             const float* q, const float* k, const float* v,
                             const int64_t* key_lengths, bool causal, float scale, float* out,
                             float* lse);
void flash_attention_forward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                             const double* q, const double* k, const double* v,
                             const int64_t* key_lengths, bool causal, double scale, double* out,
                             double* lse);
// The backward recomputes the scores block by block from q, k and lse:
//   P = exp(S - lse),  dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)),
//   dQ = dS K * scale,  dK = dS^T Q * scale.
// dq, dk, dv have the shapes of q, k, v and are overwritten.
void flash_attention_backward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                              const float* q, const float* k, const float* v, const float* out,
                              const float* dout, const float* lse, const int64_t* key_lengths,
                              bool causal, float scale, float* dq, float* dk, float* dv);
void flash_attention_backward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                              const double* q, const double* k, const double* v,
                              const double* out, const double* dout, const double* lse,
                              const int64_t* key_lengths, bool causal, double scale, double* dq,
                              double* dk, double* dv);

}  // namespace cpu
}  // namespace attn::kernels
