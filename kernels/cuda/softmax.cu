// Softmax and log-softmax along one dim on the GPU, the twin of
// kernels/cpu/softmax.cpp (read that file first: the formulas are there).
//
// The input is (outer, n, inner). What a GPU thread should own depends on
// where the n elements of a "row" lie:
//
// inner == 1 (the last dim, the common case): a row is n contiguous elements,
// so the threads that share a row read it side by side (coalesced) and
// combine their partial results.
//   - n <= 1024: one warp (32 threads) per row. Each lane walks every 32nd
//     element and the 32 partial results meet through warp shuffles
//     (__shfl_xor_sync: registers to registers, no shared memory, no
//     __syncthreads). A block of 256 threads handles 8 rows at once.
//   - n > 1024 (a 50k vocabulary): one block of 512 threads per row. Each warp
//     reduces with shuffles as above; then the 16 warp results go through
//     shared memory and warp 0 combines them.
// inner > 1: the n elements of a row are `inner` apart, and neighbouring
//   threads should read neighbouring addresses. So one thread owns one column
//   (o, i) and walks its n elements alone; thread i+1 reads the element next
//   to thread i's at every step, which is as coalesced as it gets. The thread
//   does exactly what the CPU's forward_columns does, in the same order.
//
// The running max (online softmax, Milakov and Gimelshein 2018). The CPU reads
// a row three times: for the max, for Σ e^(x - max), and to write y. Here each
// thread keeps a pair (max so far, Σ e^(x - max so far)); when a larger x
// arrives the sum is rescaled by e^(old max - new max). Pairs combine the same
// way, so the max and the sum come out of ONE read of the row, and the write
// is the second. (Rescaling is rare: only when a thread's max grows.)
//
// Sums in double, as on the CPU. softmax is limited by memory bandwidth, not
// arithmetic, and an H200 adds doubles at half its float rate, so the double
// adds cost nothing measurable; in exchange a 50k-long sum is as exact as the
// CPU's, and GPU and CPU differ only by expf's last bit (CUDA's expf is within
// 2 ulp): tests/kernels/test_cuda_nn.cpp allows 1e-6 relative in float.
//
// -inf logits (masked positions) contribute e^-inf = 0. A thread whose
// elements are all -inf has max -inf and sum 0, and such a pair must not
// produce (-inf) - (-inf) = NaN when combined, so `rescaled` treats a zero sum
// as exactly zero. A row that is entirely -inf still gives NaN, as on the CPU
// (x - max = NaN there).
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/softmax.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;  // every lane of the warp takes part
constexpr int kRowsPerBlock = 8;             // warp-per-row kernel: 8 warps of 32 = 256 threads
constexpr int kRowThreads = 512;             // block-per-row kernel
constexpr int kColumnThreads = 256;          // thread-per-column kernel
constexpr int64_t kWarpRowLimit = 1024;      // n up to this: a warp per row
constexpr int64_t kMaxBlocks = 65535;        // grid-stride loops cover the rest

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }

template <typename T>
__device__ inline T negative_infinity() {
  return static_cast<T>(-INFINITY);
}

// --- the running (max, sum) pair ---------------------------------------------

template <typename T>
struct MaxSum {
  T max;       // the largest x seen so far
  double sum;  // Σ e^(x - max) over the x seen so far
};

// sum * e^(from - to): a sum taken relative to max `from`, re-expressed
// relative to the larger max `to`. A zero sum stays zero even when from and
// to are both -inf (where e^(from - to) would be NaN). A NaN sum stays NaN.
template <typename T>
__device__ inline double rescaled(double sum, T from, T to) {
  return sum == 0.0 ? 0.0 : sum * exp(static_cast<double>(from) - static_cast<double>(to));
}

// Adds one element x to a thread's pair.
template <typename T>
__device__ inline MaxSum<T> absorb(MaxSum<T> acc, T x) {
  if (x > acc.max) {
    acc.sum = rescaled(acc.sum, acc.max, x);
    acc.max = x;
  }
  // e^-inf = 0, so a -inf element adds nothing; skipping it also avoids
  // (-inf) - (-inf) while the max is still -inf.
  if (x != negative_infinity<T>()) acc.sum += static_cast<double>(exp_of(x - acc.max));
  return acc;
}

template <typename T>
__device__ inline MaxSum<T> combine(MaxSum<T> a, MaxSum<T> b) {
  const T max = a.max > b.max ? a.max : b.max;
  return MaxSum<T>{max, rescaled(a.sum, a.max, max) + rescaled(b.sum, b.max, max)};
}

// Butterfly reduction: after 5 rounds every lane holds the pair of all 32.
// All 32 lanes must call it (they do: a warp's row index is the same for all
// its lanes, so no lane has left its loop early).
template <typename T>
__device__ inline MaxSum<T> warp_reduce(MaxSum<T> v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    MaxSum<T> other{__shfl_xor_sync(kFullMask, v.max, offset),
                    __shfl_xor_sync(kFullMask, v.sum, offset)};
    v = combine(v, other);
  }
  return v;
}

__device__ inline double warp_sum(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(kFullMask, v, offset);
  }
  return v;
}

// Block reductions: each warp reduces, lane 0 of each warp leaves its result
// in shared[warp], and warp 0 combines those. shared has kWarpSize + 1 slots:
// one per warp and the last for the answer every thread then reads. Called by
// every thread of the block (it holds __syncthreads); the final
// __syncthreads lets the caller reuse `shared` right away.
template <typename T>
__device__ MaxSum<T> block_reduce(MaxSum<T> v, MaxSum<T>* shared) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_reduce(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? shared[lane] : MaxSum<T>{negative_infinity<T>(), 0.0};
    v = warp_reduce(v);
    if (lane == 0) shared[kWarpSize] = v;
  }
  __syncthreads();
  v = shared[kWarpSize];
  __syncthreads();
  return v;
}

__device__ double block_sum(double v, double* shared) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warp_sum(lane < warps ? shared[lane] : 0.0);
    if (lane == 0) shared[kWarpSize] = v;
  }
  __syncthreads();
  v = shared[kWarpSize];
  __syncthreads();
  return v;
}

// --- forward -----------------------------------------------------------------

// The second pass over a row, by the `count` threads that share it (thread
// `first` takes elements first, first + count, ...). Same arithmetic as the
// CPU's forward_rows once max and sum are known.
template <typename T>
__device__ void write_row(const T* xr, T* yr, int64_t n, int first, int count, MaxSum<T> stats,
                          bool take_log) {
  if (take_log) {
    const T log_sum = static_cast<T>(log(stats.sum));
    for (int64_t k = first; k < n; k += count) yr[k] = (xr[k] - stats.max) - log_sum;
  } else {
    const T scale = static_cast<T>(1.0 / stats.sum);
    for (int64_t k = first; k < n; k += count) yr[k] = exp_of(xr[k] - stats.max) * scale;
  }
}

// inner == 1, n <= kWarpRowLimit: warp w of block b owns rows b * 8 + w, then
// that plus 8 * gridDim.x, ...
template <typename T>
__global__ void forward_rows_warp(const T* x, int64_t rows, int64_t n, bool take_log, T* y) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / kWarpSize; r < rows;
       r += step) {
    const T* xr = x + r * n;
    MaxSum<T> stats{negative_infinity<T>(), 0.0};
    for (int64_t k = lane; k < n; k += kWarpSize) stats = absorb(stats, xr[k]);
    stats = warp_reduce(stats);
    write_row(xr, y + r * n, n, lane, kWarpSize, stats, take_log);
  }
}

// inner == 1, n > kWarpRowLimit: block b owns rows b, b + gridDim.x, ... The
// loop condition is the same for every thread of the block, so the
// __syncthreads inside block_reduce are reached by all of them.
template <typename T>
__global__ void forward_rows_block(const T* x, int64_t rows, int64_t n, bool take_log, T* y) {
  __shared__ MaxSum<T> shared[kWarpSize + 1];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    MaxSum<T> stats{negative_infinity<T>(), 0.0};
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) stats = absorb(stats, xr[k]);
    stats = block_reduce(stats, shared);
    write_row(xr, y + r * n, n, threadIdx.x, blockDim.x, stats, take_log);
  }
}

// inner > 1: thread per column (o, i), element k at base + k * inner. The
// three passes of the CPU's forward_columns, in its order.
template <typename T>
__global__ void forward_columns(const T* x, int64_t outer, int64_t n, int64_t inner,
                                bool take_log, T* y) {
  const int64_t columns = outer * inner;
  for (int64_t col = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; col < columns;
       col += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = col / inner;
    const int64_t i = col % inner;
    const T* xc = x + o * n * inner + i;
    T* yc = y + o * n * inner + i;
    T m = xc[0];
    for (int64_t k = 1; k < n; ++k) m = xc[k * inner] > m ? xc[k * inner] : m;
    double sum = 0;
    if (take_log) {
      for (int64_t k = 0; k < n; ++k) sum += static_cast<double>(exp_of(xc[k * inner] - m));
      const T log_sum = static_cast<T>(log(sum));
      for (int64_t k = 0; k < n; ++k) yc[k * inner] = (xc[k * inner] - m) - log_sum;
    } else {
      for (int64_t k = 0; k < n; ++k) {
        const T e = exp_of(xc[k * inner] - m);
        yc[k * inner] = e;
        sum += static_cast<double>(e);
      }
      const T scale = static_cast<T>(1.0 / sum);
      for (int64_t k = 0; k < n; ++k) yc[k * inner] *= scale;
    }
  }
}

// --- backward ----------------------------------------------------------------

// The row's one reduction: Σ dy (log_softmax) or <dy, y> (softmax).
template <typename T>
__device__ inline double backward_term(T y, T dy, bool take_log) {
  return take_log ? static_cast<double>(dy) : static_cast<double>(dy) * static_cast<double>(y);
}

// The elementwise pass: log_softmax dx = dy - e^y Σ dy; softmax dx = y (dy - <dy, y>).
template <typename T>
__device__ void write_grad_row(const T* yr, const T* dyr, T* dxr, int64_t n, int first, int count,
                               double reduced, bool take_log) {
  const T total = static_cast<T>(reduced);
  if (take_log) {
    for (int64_t k = first; k < n; k += count) dxr[k] = dyr[k] - exp_of(yr[k]) * total;
  } else {
    for (int64_t k = first; k < n; k += count) dxr[k] = yr[k] * (dyr[k] - total);
  }
}

template <typename T>
__global__ void backward_rows_warp(const T* y, const T* dy, int64_t rows, int64_t n,
                                   bool take_log, T* dx) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / kWarpSize; r < rows;
       r += step) {
    const T* yr = y + r * n;
    const T* dyr = dy + r * n;
    double acc = 0;
    for (int64_t k = lane; k < n; k += kWarpSize) acc += backward_term(yr[k], dyr[k], take_log);
    acc = warp_sum(acc);
    write_grad_row(yr, dyr, dx + r * n, n, lane, kWarpSize, acc, take_log);
  }
}

template <typename T>
__global__ void backward_rows_block(const T* y, const T* dy, int64_t rows, int64_t n,
                                    bool take_log, T* dx) {
  __shared__ double shared[kWarpSize + 1];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* yr = y + r * n;
    const T* dyr = dy + r * n;
    double acc = 0;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      acc += backward_term(yr[k], dyr[k], take_log);
    }
    acc = block_sum(acc, shared);
    write_grad_row(yr, dyr, dx + r * n, n, threadIdx.x, blockDim.x, acc, take_log);
  }
}

template <typename T>
__global__ void backward_columns(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner,
                                 bool take_log, T* dx) {
  const int64_t columns = outer * inner;
  for (int64_t col = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; col < columns;
       col += int64_t(gridDim.x) * blockDim.x) {
    const int64_t offset = (col / inner) * n * inner + col % inner;
    const T* yc = y + offset;
    const T* dyc = dy + offset;
    T* dxc = dx + offset;
    double acc = 0;
    for (int64_t k = 0; k < n; ++k) acc += backward_term(yc[k * inner], dyc[k * inner], take_log);
    const T total = static_cast<T>(acc);
    if (take_log) {
      for (int64_t k = 0; k < n; ++k) {
        dxc[k * inner] = dyc[k * inner] - exp_of(yc[k * inner]) * total;
      }
    } else {
      for (int64_t k = 0; k < n; ++k) dxc[k * inner] = yc[k * inner] * (dyc[k * inner] - total);
    }
  }
}

}  // namespace

// --- launchers ---------------------------------------------------------------

template <Device D, typename T>
void softmax_forward(const T* x, int64_t outer, int64_t n, int64_t inner, bool take_log, T* y) {
  if (outer == 0 || n == 0 || inner == 0) return;
  if (inner > 1) {
    forward_columns<<<grid_for(ceil_div(outer * inner, kColumnThreads)), kColumnThreads>>>(
        x, outer, n, inner, take_log, y);
    check_launch("softmax forward_columns");
  } else if (n <= kWarpRowLimit) {
    forward_rows_warp<<<grid_for(ceil_div(outer, kRowsPerBlock)), kRowsPerBlock * kWarpSize>>>(
        x, outer, n, take_log, y);
    check_launch("softmax forward_rows_warp");
  } else {
    forward_rows_block<<<grid_for(outer), kRowThreads>>>(x, outer, n, take_log, y);
    check_launch("softmax forward_rows_block");
  }
}

template <Device D, typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner,
                      bool take_log, T* dx) {
  if (outer == 0 || n == 0 || inner == 0) return;
  if (inner > 1) {
    backward_columns<<<grid_for(ceil_div(outer * inner, kColumnThreads)), kColumnThreads>>>(
        y, dy, outer, n, inner, take_log, dx);
    check_launch("softmax backward_columns");
  } else if (n <= kWarpRowLimit) {
    backward_rows_warp<<<grid_for(ceil_div(outer, kRowsPerBlock)), kRowsPerBlock * kWarpSize>>>(
        y, dy, outer, n, take_log, dx);
    check_launch("softmax backward_rows_warp");
  } else {
    backward_rows_block<<<grid_for(outer), kRowThreads>>>(y, dy, outer, n, take_log, dx);
    check_launch("softmax backward_rows_block");
  }
}

ATTN_INSTANTIATE_FLOATING(softmax_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(softmax_backward, Device::CUDA)

}  // namespace attn::kernels
