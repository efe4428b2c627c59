// Additive (Bahdanau) attention's scores on the GPU, e = v^T tanh(keys + query),
// forward and backward fused. The twin of kernels/cpu/additive_attention.cpp, whose
// header says why the fusion pays (three (B, S, A) temporaries never exist).
//
// Forward: one warp per (b, s). Score (b, s) is a dot product over A (the
// attention size, a few hundred), so the 32 lanes of a warp take every 32nd
// a: each writes hidden[b, s, a] = tanh(keys + query) for its a's (the lanes
// write side by side, coalesced), keeps a partial Σ v[a] hidden[b, s, a], and
// the 32 partial sums meet through warp shuffles. A warp needs no shared
// memory and no __syncthreads; a block of 256 threads does 8 (b, s) at once.
//
// Backward, three outputs with three shapes of work:
//   dkeys[b, s, a] = dscores[b, s] · v[a] · (1 − hidden²): element-wise, one
//     thread per element.
//   dquery[b, a] = Σ_s dkeys[b, s, a]: one thread per (b, a) walking s in
//     order (S, the source length, is tens), recomputing each term rather
//     than reading dkeys back; same order and type as the CPU.
//   dv[a] = Σ_{b,s} dscores[b, s] · hidden[b, s, a]: a sum over all B · S rows
//     for only A outputs. One thread per a would leave most of the GPU idle,
//     so the rows are cut into chunks: pass 1, one thread per (chunk, a),
//     sums its chunk into a scratch buffer; pass 2, one thread per a sums the
//     chunks in order (the scheme of layer_norm.cu's dγ). No atomics: the
//     order of additions is fixed and the result is the same on every run.
// Each output may be null; its kernel is then not launched.
//
// Rounding: tanhf is within 2 ulp of tanh (the CPU's float tanh is exact to
// float); the score's partial sums are added in a tree rather than left to
// right; dv is summed in double where the CPU uses T. Tests allow 1e-5
// relative in float for scores and dquery, 2e-5 for dv (the CPU's own float
// sum of B · S terms drifts by that much).
#include <cuda_runtime.h>

#include "kernels/additive_attention.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;
using cuda::device_free;
using cuda::device_malloc;

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / kWarpSize;
constexpr int64_t kRowsPerChunk = 64;  // (b, s) rows summed by one thread in dv's pass 1
constexpr int64_t kMaxBlocks = 65535;  // grid-stride loops cover the rest

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline float tanh_of(float x) { return tanhf(x); }
__device__ inline double tanh_of(double x) { return tanh(x); }

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(kFullMask, v, offset);
  }
  return v;
}

// --- forward -----------------------------------------------------------------

// Warp w of block k owns rows (b, s) = k * 8 + w, then + 8 * gridDim.x, ...;
// the row index is the same for all 32 lanes, so all of them reach the
// shuffles together.
template <typename T>
__global__ void forward_kernel(const T* keys, const T* query, const T* v, int64_t B, int64_t S,
                               int64_t A, T* hidden, T* scores) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t rows = B * S;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t bs = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / kWarpSize; bs < rows;
       bs += step) {
    const T* k = keys + bs * A;
    const T* q = query + (bs / S) * A;
    T* h = hidden + bs * A;
    T partial = 0;
    for (int64_t a = lane; a < A; a += kWarpSize) {
      const T value = tanh_of(k[a] + q[a]);
      h[a] = value;
      partial += v[a] * value;
    }
    const T score = warp_sum(partial);
    if (lane == 0) scores[bs] = score;
  }
}

// --- backward ----------------------------------------------------------------

// dkeys[b, s, a] = dscores[b, s] · v[a] · (1 − hidden[b, s, a]²)
template <typename T>
__global__ void keys_grad_kernel(const T* dscores, const T* hidden, const T* v, int64_t rows,
                                 int64_t A, T* dkeys, bool accumulate) {
  const int64_t total = rows * A;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t a = idx % A;
    const T h = hidden[idx];
    const T d = dscores[idx / A] * v[a] * (T(1) - h * h);
    dkeys[idx] = accumulate ? dkeys[idx] + d : d;
  }
}

// dquery[b, a] = Σ_s dscores[b, s] · v[a] · (1 − hidden[b, s, a]²), s in order.
template <typename T>
__global__ void query_grad_kernel(const T* dscores, const T* hidden, const T* v, int64_t B,
                                  int64_t S, int64_t A, T* dquery) {
  const int64_t total = B * A;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / A;
    const int64_t a = idx % A;
    T acc = 0;
    for (int64_t s = 0; s < S; ++s) {
      const T h = hidden[(b * S + s) * A + a];
      acc += dscores[b * S + s] * v[a] * (T(1) - h * h);
    }
    dquery[idx] = acc;
  }
}

// dv pass 1: thread (chunk, a) sums rows [chunk * kRowsPerChunk, + kRowsPerChunk).
template <typename T>
__global__ void v_partials_kernel(const T* dscores, const T* hidden, int64_t rows, int64_t A,
                                  int64_t chunks, double* partial) {
  const int64_t total = chunks * A;
  for (int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; item < total;
       item += int64_t(gridDim.x) * blockDim.x) {
    const int64_t chunk = item / A;
    const int64_t a = item % A;
    const int64_t begin = chunk * kRowsPerChunk;
    const int64_t end = begin + kRowsPerChunk < rows ? begin + kRowsPerChunk : rows;
    double acc = 0;
    for (int64_t bs = begin; bs < end; ++bs) {
      acc += static_cast<double>(dscores[bs] * hidden[bs * A + a]);
    }
    partial[item] = acc;
  }
}

// dv pass 2: thread a adds chunks 0, 1, ... in order.
template <typename T>
__global__ void v_totals_kernel(const double* partial, int64_t chunks, int64_t A, T* dv,
                                bool accumulate) {
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < A;
       a += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) acc += partial[chunk * A + a];
    dv[a] = accumulate ? dv[a] + static_cast<T>(acc) : static_cast<T>(acc);
  }
}

// --- launchers ---------------------------------------------------------------

template <typename T>
void value_grad(const T* dscores, const T* hidden, int64_t rows, int64_t A, T* dv,
                bool accumulate) {
  // rows == 0 still writes zeros, as the CPU does.
  const int64_t chunks = ceil_div(rows, kRowsPerChunk);
  // From the caching allocator; freed as soon as pass 2 is queued, which is
  // safe on the one (default) stream (runtime.cu).
  double* partial = static_cast<double*>(device_malloc(static_cast<size_t>(chunks * A) *
                                                       sizeof(double)));
  if (chunks > 0) {
    v_partials_kernel<<<grid_for(ceil_div(chunks * A, kThreads)), kThreads>>>(dscores, hidden, rows,
                                                                             A, chunks, partial);
    check_launch("additive_attention_scores v_partials_kernel");
  }
  v_totals_kernel<<<grid_for(ceil_div(A, kThreads)), kThreads>>>(partial, chunks, A, dv,
                                                                    accumulate);
  device_free(partial);
  check_launch("additive_attention_scores v_totals_kernel");
}

}  // namespace

template <Device D, typename T>
void additive_attention_scores_forward(const T* keys, const T* query, const T* v, int64_t B,
                                       int64_t S, int64_t A, T* hidden, T* scores) {
  if (B * S == 0) return;
  forward_kernel<<<grid_for(ceil_div(B * S, kWarpsPerBlock)), kThreads>>>(keys, query, v, B, S, A,
                                                                          hidden, scores);
  check_launch("additive_attention_scores forward_kernel");
}

template <Device D, typename T>
void additive_attention_scores_backward(const T* dscores, const T* hidden, const T* v, int64_t B,
                                        int64_t S, int64_t A, T* dkeys, T* dquery, T* dv,
                                        bool accumulate) {
  if (A == 0) return;
  const int64_t rows = B * S;
  if (dkeys != nullptr && rows > 0) {
    keys_grad_kernel<<<grid_for(ceil_div(rows * A, kThreads)), kThreads>>>(dscores, hidden, v,
                                                                          rows, A, dkeys, accumulate);
    check_launch("additive_attention_scores keys_grad_kernel");
  }
  if (dquery != nullptr && B > 0) {
    query_grad_kernel<<<grid_for(ceil_div(B * A, kThreads)), kThreads>>>(dscores, hidden, v, B, S,
                                                                        A, dquery);
    check_launch("additive_attention_scores query_grad_kernel");
  }
  if (dv != nullptr) value_grad(dscores, hidden, rows, A, dv, accumulate);
}

// --- softmax and context -------------------------------------------------------
//
// One thread per row b, the CPU's loop as it is: these serve the fused RNN
// decoders, whose rows are few (B) and short (S, Hk a few hundred). Simple
// rather than fast; the same order of additions as the CPU.

template <typename T>
__global__ void softmax_context_forward_kernel(int64_t B, int64_t S, int64_t Hk, const T* scores,
                                               const int64_t* lengths, const T* values,
                                               T* weights, T* context) {
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < B;
       b += int64_t(gridDim.x) * blockDim.x) {
    const int64_t L = lengths[b];
    const T* e = scores + b * S;
    T* w = weights + b * S;
    T* c = context + b * Hk;
    for (int64_t k = 0; k < Hk; ++k) c[k] = 0;
    for (int64_t s = 0; s < S; ++s) w[s] = 0;
    if (L <= 0) continue;
    T top = e[0];
    for (int64_t s = 1; s < L; ++s) top = e[s] > top ? e[s] : top;
    T total = 0;
    for (int64_t s = 0; s < L; ++s) {
      w[s] = exp(e[s] - top);
      total += w[s];
    }
    for (int64_t s = 0; s < L; ++s) {
      w[s] /= total;
      for (int64_t k = 0; k < Hk; ++k) c[k] += w[s] * values[(b * S + s) * Hk + k];
    }
  }
}

template <typename T>
__global__ void softmax_context_backward_kernel(int64_t B, int64_t S, int64_t Hk,
                                                const T* weights, const T* values,
                                                const T* dcontext, T* dscores) {
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < B;
       b += int64_t(gridDim.x) * blockDim.x) {
    const T* w = weights + b * S;
    const T* dc = dcontext + b * Hk;
    T* de = dscores + b * S;
    T weighted = 0;
    for (int64_t s = 0; s < S; ++s) {
      T g = 0;
      for (int64_t k = 0; k < Hk; ++k) g += values[(b * S + s) * Hk + k] * dc[k];
      de[s] = g;
      weighted += w[s] * g;
    }
    for (int64_t s = 0; s < S; ++s) de[s] = w[s] * (de[s] - weighted);
  }
}

template <Device D, typename T>
void attention_softmax_context_forward(int64_t B, int64_t S, int64_t Hk, const T* scores,
                                       const int64_t* lengths, const T* values, T* weights,
                                       T* context) {
  if (B == 0) return;
  softmax_context_forward_kernel<<<grid_for(ceil_div(B, kThreads)), kThreads>>>(
      B, S, Hk, scores, lengths, values, weights, context);
  check_launch("attention_softmax_context_forward");
}

template <Device D, typename T>
void attention_softmax_context_backward(int64_t B, int64_t S, int64_t Hk, const T* weights,
                                        const T* values, const T* dcontext, T* dscores) {
  if (B == 0) return;
  softmax_context_backward_kernel<<<grid_for(ceil_div(B, kThreads)), kThreads>>>(
      B, S, Hk, weights, values, dcontext, dscores);
  check_launch("attention_softmax_context_backward");
}

ATTN_INSTANTIATE_FLOATING(additive_attention_scores_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(additive_attention_scores_backward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(attention_softmax_context_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(attention_softmax_context_backward, Device::CUDA)

}  // namespace attn::kernels
