// Cross-entropy of logits against target ids on the GPU: log-softmax and
// negative log-likelihood fused, with label smoothing and an ignored id. The
// twin of kernels/cpu/cross_entropy.cpp, whose header derives
//   loss = (1 − eps) · (lse − x_t) + eps · (lse − mean_k x_k)
//   dx   = row_grad · (softmax(x) − (1 − eps) · onehot(t) − eps / C)
//
// Forward: one block per row. A row is one sentence position's C logits (C is
// the vocabulary, tens of thousands), so its threads read it side by side and
// three numbers come out of one read: the max and Σ e^(x − max) (kept as a
// running pair, rescaled when the max grows: the online softmax of
// softmax.cu) and Σ x for the smoothing term. The partial triples meet through
// warp shuffles and then shared memory; thread 0 finishes the row in double
// exactly as the CPU does. The block's size follows C (one warp for a handful
// of classes, up to 512 threads for a vocabulary).
//
// Nothing comes back to the host: the caller counts the rows that are not
// ignored on the GPU too (autograd/ops_nn.cpp) and divides by that count for
// the mean, so a training step queues the loss without waiting for the GPU.
//
// Backward: the gradient of one logit needs only that logit, the row's lse
// (kept by the forward) and the row's target and row_grad; one block per row
// again, so those three are read once per row, and each thread writes every
// blockDim-th element of the row.
//
// Rounding: sums in double as on the CPU; the differences are expf's last bit
// and the online rescaling's (about 1e-7 relative on the sum): tests allow
// 1e-6 relative in float.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/check.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxRowThreads = 512;
constexpr int64_t kMaxBlocks = 65535;  // grid-stride loops cover the rest

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// Threads for one row of `classes`: whole warps, at least one, at most 512.
int row_threads(int64_t classes) {
  const int64_t warps = ceil_div(classes, kWarpSize);
  if (warps < 1) return kWarpSize;
  if (warps * kWarpSize > kMaxRowThreads) return kMaxRowThreads;
  return static_cast<int>(warps * kWarpSize);
}

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }

template <typename T>
__device__ inline T negative_infinity() {
  return static_cast<T>(-INFINITY);
}

// What the forward needs from a row, for the part of it a thread has seen.
template <typename T>
struct RowStats {
  T max;           // largest logit so far
  double sum_exp;  // Σ e^(x − max)
  double sum_x;    // Σ x (for label smoothing)
};

// sum · e^(from − to), with a zero sum kept exactly zero (from = to = −inf
// would give NaN); see softmax.cu.
template <typename T>
__device__ inline double rescaled(double sum, T from, T to) {
  return sum == 0.0 ? 0.0 : sum * exp(static_cast<double>(from) - static_cast<double>(to));
}

template <typename T>
__device__ inline RowStats<T> absorb(RowStats<T> acc, T x) {
  if (x > acc.max) {
    acc.sum_exp = rescaled(acc.sum_exp, acc.max, x);
    acc.max = x;
  }
  // A masked (−inf) logit adds e^−inf = 0; skipping it avoids (−inf) − (−inf).
  if (x != negative_infinity<T>()) acc.sum_exp += static_cast<double>(exp_of(x - acc.max));
  acc.sum_x += static_cast<double>(x);
  return acc;
}

template <typename T>
__device__ inline RowStats<T> combine(RowStats<T> a, RowStats<T> b) {
  const T max = a.max > b.max ? a.max : b.max;
  return RowStats<T>{max, rescaled(a.sum_exp, a.max, max) + rescaled(b.sum_exp, b.max, max),
                     a.sum_x + b.sum_x};
}

template <typename T>
__device__ inline RowStats<T> warp_reduce(RowStats<T> v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    RowStats<T> other{__shfl_xor_sync(kFullMask, v.max, offset),
                      __shfl_xor_sync(kFullMask, v.sum_exp, offset),
                      __shfl_xor_sync(kFullMask, v.sum_x, offset)};
    v = combine(v, other);
  }
  return v;
}

// Reduces over the block; the result is valid in thread 0 (the only reader).
// Every thread of the block must call it; the last __syncthreads lets the
// next row reuse `shared`.
template <typename T>
__device__ RowStats<T> block_reduce(RowStats<T> v, RowStats<T>* shared) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_reduce(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? shared[lane] : RowStats<T>{negative_infinity<T>(), 0.0, 0.0};
    v = warp_reduce(v);
  }
  __syncthreads();
  return v;
}

// --- forward -----------------------------------------------------------------

// Block b owns rows b, b + gridDim.x, ... An ignored row is skipped by the
// whole block together (its target is the same for every thread), so no
// thread misses block_reduce's __syncthreads.
template <typename T>
__global__ void forward_kernel(const T* logits, const int64_t* target, int64_t rows,
                               int64_t classes, int64_t ignore_index, double eps, T* loss,
                               T* lse) {
  __shared__ RowStats<T> shared[kWarpSize];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = target[r];
    if (t == ignore_index) {
      if (threadIdx.x == 0) {
        loss[r] = 0;
        lse[r] = 0;  // never read by the backward; written so it is not garbage
      }
      continue;
    }
    const T* xr = logits + r * classes;
    RowStats<T> stats{negative_infinity<T>(), 0.0, 0.0};
    for (int64_t k = threadIdx.x; k < classes; k += blockDim.x) stats = absorb(stats, xr[k]);
    stats = block_reduce(stats, shared);
    if (threadIdx.x == 0) {
      // A row of only −inf logits has no finite max; the CPU's e^(x − max) is
      // NaN there, and so is its lse. Give the same NaN, not −inf + log 0.
      const double row_lse = stats.max == negative_infinity<T>()
                                 ? static_cast<double>(NAN)
                                 : static_cast<double>(stats.max) + log(stats.sum_exp);
      // A target outside [0, classes) is reported late by the caller's check
      // (check_ids_later); until then it must not read outside the row: NaN.
      const double x_t =
          t >= 0 && t < classes ? static_cast<double>(xr[t]) : static_cast<double>(NAN);
      double row_loss = (1.0 - eps) * (row_lse - x_t);
      // Only when smoothing: with eps = 0 a −inf logit must not make 0 · inf = NaN.
      if (eps != 0.0) row_loss += eps * (row_lse - stats.sum_x / static_cast<double>(classes));
      loss[r] = static_cast<T>(row_loss);
      lse[r] = static_cast<T>(row_lse);
    }
  }
}

// --- backward ----------------------------------------------------------------

template <typename T>
__global__ void backward_kernel(const T* logits, const int64_t* target, const T* lse,
                                const T* row_grad, int64_t rows, int64_t classes,
                                int64_t ignore_index, T eps, T* dlogits) {
  const T smooth = eps / static_cast<T>(classes);  // the eps / C every class receives
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    T* dr = dlogits + r * classes;
    const int64_t t = target[r];
    if (t == ignore_index) {
      for (int64_t k = threadIdx.x; k < classes; k += blockDim.x) dr[k] = T(0);
      continue;
    }
    const T* xr = logits + r * classes;
    const T g = row_grad[r];
    const T l = lse[r];
    // softmax(x)_k = e^(x_k − lse); the target's own class also loses (1 − eps).
    for (int64_t k = threadIdx.x; k < classes; k += blockDim.x) {
      T d = g * (exp_of(xr[k] - l) - smooth);
      if (k == t) d -= g * (T(1) - eps);
      dr[k] = d;
    }
  }
}

}  // namespace

// --- launchers ---------------------------------------------------------------

template <Device D, typename T>
void cross_entropy_forward(const T* logits, const int64_t* target, int64_t rows, int64_t classes,
                           int64_t ignore_index, T label_smoothing, T* loss, T* lse) {
  if (rows == 0) return;
  forward_kernel<<<grid_for(rows), row_threads(classes)>>>(
      logits, target, rows, classes, ignore_index, static_cast<double>(label_smoothing), loss, lse);
  check_launch("cross_entropy forward_kernel");
}

template <Device D, typename T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* lse, const T* row_grad,
                            int64_t rows, int64_t classes, int64_t ignore_index, T label_smoothing,
                            T* dlogits) {
  if (rows == 0 || classes == 0) return;
  backward_kernel<<<grid_for(rows), row_threads(classes)>>>(
      logits, target, lse, row_grad, rows, classes, ignore_index, label_smoothing, dlogits);
  check_launch("cross_entropy backward_kernel");
}

ATTN_INSTANTIATE_FLOATING(cross_entropy_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(cross_entropy_backward, Device::CUDA)

}  // namespace attn::kernels
