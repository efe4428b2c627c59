// Reductions on the GPU: sum and max (with argmax) along one dim, the backward
// of max, and the sum of squares behind gradient clipping. The twin of
// kernels/cpu/reduce.cpp, with the same (outer, n, inner) view of the input:
//   sum:  out[o, i] = Σ_k x[o, k, i]
//   max:  out[o, i] = max_k x[o, k, i],  argmax[o, i] = the first k attaining it
//
// Two shapes of kernel, chosen by where the reduced terms sit in memory:
//
// - inner > 1 (or short rows): one thread per output (o, i) walks k in order.
//   Neighbouring threads own neighbouring i, so at every step of k a warp
//   reads 32 neighbouring elements: coalesced, with no cooperation needed.
//   This is the CPU's loop, run by one thread per column.
//
// - inner == 1, a long contiguous row per output: a whole block (256 threads)
//   shares one row. Thread t sums elements t, t + 256, t + 512, ... (again
//   coalesced), then the block combines its 256 partial sums as a tree:
//     1. within each warp of 32, five __shfl_down_sync steps (registers only,
//        no shared memory and no barrier) leave the warp's total in lane 0;
//     2. the 8 warp totals go through shared memory, and warp 0 combines
//        them with the same shuffles.
//   Rows longer than kRowChunk are cut into chunks of that fixed size, one
//   block per (row, chunk), and a second small kernel adds each row's chunk
//   sums in chunk order; so a full reduction (outer = 1) still fills the GPU.
//
// Sums accumulate in double, as on the CPU (a float running total drifts with
// n). The GPU adds in a different order than the CPU, so a sum differs from
// the CPU's by rounding in double, far below float's resolution. Every order
// here is fixed by the sizes alone (no atomics), so a result repeats bit for
// bit from run to run.
//
// Max follows the CPU's tie and NaN rule exactly (see `replaces` below): the
// first index of the maximum, or the first NaN if there is one. The block
// version keeps that by combining (value, index) pairs with a rule that
// prefers NaN, then the larger value, then the smaller index.
//
// sum_of_squares leaves its double in device memory (its last kernel writes
// it there), so clipping can add the norms of many parameters and read them
// back once, instead of waiting for the GPU after every parameter.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/reduce.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;
using cuda::device_free;
using cuda::device_malloc;

constexpr int kThreads = 256;  // per block; a multiple of the warp size, 32
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullWarp = 0xffffffffu;

// Rows up to this long are summed by one thread each (the column kernel):
// a block per row would leave most of its threads idle.
constexpr int64_t kShortRow = 64;
// Rows longer than this are summed in chunks of this size, one block each.
constexpr int64_t kRowChunk = 16384;

unsigned blocks_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
  return static_cast<unsigned>(blocks);
}

// A block per item: at most 65535 blocks, each looping over items.
unsigned blocks_for_items(int64_t items) {
  return static_cast<unsigned>(items < 65535 ? items : 65535);
}

#define ATTN_GRID_STRIDE_LOOP(i, n)                                           \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// --- block-wide sum of one double per thread ---
__device__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(kFullWarp, v, offset);
  return v;  // the warp's total, in lane 0
}

// The block's total, valid in thread 0. Every thread of the block must call
// it. The final barrier lets the block call it again (for its next item)
// without overwriting warp_totals while warp 0 still reads them.
__device__ double block_sum(double v) {
  __shared__ double warp_totals[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  v = 0;
  if (warp == 0) {
    if (lane < kWarps) v = warp_totals[lane];
    v = warp_sum(v);
  }
  __syncthreads();
  return v;
}

// --- sum ---
// One thread per output (o, i), k in order: x (outer, n, inner), out (outer, inner).
template <typename T>
__global__ void sum_columns_kernel(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  ATTN_GRID_STRIDE_LOOP(item, outer * inner) {
    const int64_t o = item / inner, i = item % inner;
    const T* column = x + o * n * inner + i;
    double acc = 0;
    for (int64_t k = 0; k < n; ++k) acc += static_cast<double>(column[k * inner]);
    out[item] = static_cast<T>(acc);
  }
}

// One block per (row, chunk) of x (rows, n). With one chunk per row the block
// writes the row's sum to out; otherwise its chunk's sum to partial (rows, chunks).
template <typename T>
__global__ void sum_rows_kernel(const T* x, int64_t rows, int64_t n, int64_t chunks,
                                double* partial, T* out) {
  for (int64_t item = blockIdx.x; item < rows * chunks; item += gridDim.x) {
    const int64_t row = item / chunks;
    const int64_t start = (item % chunks) * kRowChunk;
    const int64_t end = start + kRowChunk < n ? start + kRowChunk : n;
    const T* x_row = x + row * n;
    double acc = 0;
    for (int64_t k = start + threadIdx.x; k < end; k += blockDim.x) {
      acc += static_cast<double>(x_row[k]);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
      if (chunks == 1) {
        out[row] = static_cast<T>(acc);
      } else {
        partial[item] = acc;
      }
    }
  }
}

// out[r] = Σ_c partial[r, c], in chunk order.
template <typename T>
__global__ void sum_partials_kernel(const double* partial, int64_t rows, int64_t chunks, T* out) {
  ATTN_GRID_STRIDE_LOOP(row, rows) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[row * chunks + c];
    out[row] = static_cast<T>(total);
  }
}

// --- max ---
// The CPU's rule (kernels/cpu/reduce.cpp): v replaces the running best when it
// is larger, or when it is NaN and best is not. Scanning k in order, this keeps
// the first maximum and the first NaN.
template <typename T>
__device__ bool replaces(T v, T best) {
  return !(v <= best) && best == best;
}

// For combining two scans over different k: whether (v, k) beats (best, best_k).
// NaN beats a number; otherwise the larger value wins; on a tie (or two NaN)
// the smaller index. This picks exactly what one scan in order would.
template <typename T>
__device__ bool beats(T v, int64_t k, T best, int64_t best_k) {
  const bool v_nan = v != v, best_nan = best != best;
  if (v_nan != best_nan) return v_nan;
  if (!v_nan && v != best) return v > best;
  return k < best_k;
}

// One thread per output (o, i), k in order, exactly the CPU's loop.
template <typename T>
__global__ void max_columns_kernel(const T* x, int64_t outer, int64_t n, int64_t inner, T* out,
                                   int64_t* argmax) {
  ATTN_GRID_STRIDE_LOOP(item, outer * inner) {
    const int64_t o = item / inner, i = item % inner;
    const T* column = x + o * n * inner + i;
    T best = column[0];
    int64_t best_k = 0;
    for (int64_t k = 1; k < n; ++k) {
      const T v = column[k * inner];
      if (replaces(v, best)) {
        best = v;
        best_k = k;
      }
    }
    out[item] = best;
    argmax[item] = best_k;
  }
}

// One block per row of x (rows, n): each thread scans its k in order, then the
// (value, index) pairs are combined with `beats`, by warp shuffles and then
// across the warps through shared memory.
template <typename T>
__global__ void max_rows_kernel(const T* x, int64_t rows, int64_t n, T* out, int64_t* argmax) {
  __shared__ T warp_best[kWarps];
  __shared__ int64_t warp_best_k[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x_row = x + row * n;
    // A thread with no element holds (-inf, n): any real element beats it.
    T best = -INFINITY;
    int64_t best_k = n;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      if (best_k == n || replaces(x_row[k], best)) {
        best = x_row[k];
        best_k = k;
      }
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      const T v = __shfl_down_sync(kFullWarp, best, offset);
      const int64_t k = __shfl_down_sync(kFullWarp, best_k, offset);
      if (beats(v, k, best, best_k)) {
        best = v;
        best_k = k;
      }
    }
    if (lane == 0) {
      warp_best[warp] = best;
      warp_best_k[warp] = best_k;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kWarps; ++w) {
        if (beats(warp_best[w], warp_best_k[w], best, best_k)) {
          best = warp_best[w];
          best_k = warp_best_k[w];
        }
      }
      out[row] = best;
      argmax[row] = best_k;
    }
    __syncthreads();  // before the next row overwrites warp_best
  }
}

// --- the backward of max ---
// One thread per dx element (o, k, i): the gradient where k was the argmax,
// 0 elsewhere. Writing every element (zeros included) needs no separate fill.
template <typename T>
__global__ void max_backward_kernel(const T* grad, const int64_t* argmax, int64_t outer, int64_t n,
                                    int64_t inner, T* dx) {
  ATTN_GRID_STRIDE_LOOP(item, outer * n * inner) {
    const int64_t i = item % inner;
    const int64_t k = (item / inner) % n;
    const int64_t o = item / (inner * n);
    const int64_t out_index = o * inner + i;
    dx[item] = argmax[out_index] == k ? grad[out_index] : T(0);
  }
}

// --- sum of squares ---
// Pass 1: block b sums the squares its threads visit in a grid-stride loop,
// into partial[b]. The grid size depends on n only, so the order is fixed.
template <typename T>
__global__ void squares_partial_kernel(int64_t n, const T* x, double* partial) {
  double acc = 0;
  ATTN_GRID_STRIDE_LOOP(i, n) {
    const double v = static_cast<double>(x[i]);
    acc += v * v;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Pass 2: one block adds the partial sums, in a fixed order, into *result.
// With count = 0 it writes 0, the sum of no squares.
__global__ void sum_partials_once_kernel(int64_t count, const double* partial, double* result) {
  double acc = 0;
  for (int64_t b = threadIdx.x; b < count; b += blockDim.x) acc += partial[b];
  acc = block_sum(acc);
  if (threadIdx.x == 0) *result = acc;
}

// Both passes are only queued: *out (device memory) holds the sum once they
// have run, and whoever copies it to the host waits for them then.
#undef ATTN_GRID_STRIDE_LOOP

}  // namespace

template <Device D, typename T>
void sum_reduce(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  if (outer * inner == 0) return;
  // n = 0 gives zeros, as on the CPU: the column kernel's sums are empty.
  if (inner > 1 || n <= kShortRow) {
    sum_columns_kernel<T><<<blocks_for(outer * inner), kThreads>>>(x, outer, n, inner, out);
    check_launch("sum_columns_kernel");
    return;
  }
  const int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
  if (chunks == 1) {
    sum_rows_kernel<T><<<blocks_for_items(outer), kThreads>>>(x, outer, n, 1, nullptr, out);
    check_launch("sum_rows_kernel");
    return;
  }
  // The scratch buffer is handed back right after the launches: the caching
  // allocator only reuses it for work queued later on the same stream.
  double* partial = static_cast<double*>(device_malloc(sizeof(double) * outer * chunks));
  sum_rows_kernel<T>
      <<<blocks_for_items(outer * chunks), kThreads>>>(x, outer, n, chunks, partial, out);
  check_launch("sum_rows_kernel");
  sum_partials_kernel<T><<<blocks_for(outer), kThreads>>>(partial, outer, chunks, out);
  check_launch("sum_partials_kernel");
  device_free(partial);
}

template <Device D, typename T>
void max_reduce(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, int64_t* argmax) {
  // max over an empty dim has no value; the caller rejects it.
  if (n == 0 || outer * inner == 0) return;
  if (inner > 1 || n <= kShortRow) {
    max_columns_kernel<T><<<blocks_for(outer * inner), kThreads>>>(x, outer, n, inner, out, argmax);
    check_launch("max_columns_kernel");
    return;
  }
  max_rows_kernel<T><<<blocks_for_items(outer), kThreads>>>(x, outer, n, out, argmax);
  check_launch("max_rows_kernel");
}

template <Device D, typename T>
void max_reduce_backward(const T* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, T* dx) {
  const int64_t total = outer * n * inner;
  if (total == 0) return;
  max_backward_kernel<T><<<blocks_for(total), kThreads>>>(grad, argmax, outer, n, inner, dx);
  check_launch("max_backward_kernel");
}

template <Device D, typename T>
void sum_of_squares(int64_t n, const T* x, double* out) {
  if (n == 0) {
    sum_partials_once_kernel<<<1, kThreads>>>(0, nullptr, out);
    check_launch("sum_partials_once_kernel");
    return;
  }
  // Enough blocks to fill an H200 (132 SMs) a few times over; the pass-2
  // block reads at most this many partials.
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 1024) blocks = 1024;
  double* partial = static_cast<double*>(device_malloc(sizeof(double) * blocks));
  squares_partial_kernel<T><<<static_cast<unsigned>(blocks), kThreads>>>(n, x, partial);
  check_launch("squares_partial_kernel");
  sum_partials_once_kernel<<<1, kThreads>>>(blocks, partial, out);
  check_launch("sum_partials_once_kernel");
  // Safe before the kernels run: the caching allocator hands this block out
  // again only to work queued later on the same (default) stream.
  device_free(partial);
}

ATTN_INSTANTIATE_FLOATING(sum_reduce, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(max_reduce, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(max_reduce_backward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(sum_of_squares, Device::CUDA)

}  // namespace attn::kernels
