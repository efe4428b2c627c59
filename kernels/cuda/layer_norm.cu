// Layer normalisation on the GPU, forward and backward, the twin of
// kernels/cpu/layer_norm.cpp (the formulas and their derivation are there).
//
// Two kinds of work, two shapes of kernel:
//
// Per row (the forward, and dx): a row needs its own statistics, sums over its
// cols elements, so one block owns one row. Its threads read the row side by
// side (coalesced), each keeps a partial sum, and the partial sums meet
// through warp shuffles and then shared memory (block_sum below). The block's
// size follows cols: rows are d_model wide (a few hundred to a few thousand),
// so a block of up to 512 threads gives every thread a handful of elements;
// a narrow row gets a smaller block (down to one warp) instead of idle threads.
// As on the CPU, sums are in double and the variance is a second pass over
// (x - μ)², which does not cancel when |μ| ≫ σ; the row sits in L1/L2 by then.
//
// Per column (dγ = Σ_rows dy ⊙ x̂ and dβ = Σ_rows dy): a sum DOWN the rows. One
// thread per column walking all rows would be deterministic but slow: a
// d_model of 512 is only 512 threads for a GPU that wants tens of thousands.
// So the rows are cut into chunks of kRowsPerChunk, and
//   pass 1: one thread per (chunk, column) sums its chunk's rows, in order,
//           into a scratch buffer of partial sums (chunks, cols);
//   pass 2: one thread per column sums its chunks, in order.
// Neighbouring threads own neighbouring columns, so every read is coalesced.
// There are no atomics, so the order of additions is fixed and the result is
// the same on every run: the determinism promise of design.md, kept on the GPU.
//
// Rounding: the GPU adds in a different order than the CPU (in double, so the
// float results agree to the last bit or one ulp), and nvcc fuses a * b + c
// into one FMA where the CPU rounds twice: tests allow 2e-6 relative in float
// for y and dγ/dβ, and 1e-5 for dx, whose terms cancel.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/layer_norm.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;
using cuda::device_free;
using cuda::device_malloc;

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxRowThreads = 512;    // the largest block for one row
constexpr int kColumnThreads = 256;    // the column passes
constexpr int64_t kRowsPerChunk = 64;  // rows summed by one thread in pass 1
constexpr int64_t kMaxBlocks = 65535;  // grid-stride loops cover the rest

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// Threads for one row of `cols`: cols rounded up to whole warps, at most 512.
int row_threads(int64_t cols) {
  const int64_t warps = ceil_div(cols, kWarpSize);
  if (warps < 1) return kWarpSize;
  if (warps * kWarpSize > kMaxRowThreads) return kMaxRowThreads;
  return static_cast<int>(warps * kWarpSize);
}

__device__ inline double warp_sum(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(kFullMask, v, offset);
  }
  return v;
}

// Σ of v over the block, returned to every thread. Each warp sums with
// shuffles, lane 0 leaves the warp's sum in shared[warp], warp 0 sums those
// and leaves the total in shared[32]. Every thread of the block must call it
// (it holds __syncthreads); blockDim.x must be a multiple of 32. The last
// __syncthreads lets the caller call it again at once with the same `shared`.
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

// Block b owns rows b, b + gridDim.x, ...; the loop condition is the same for
// every thread of the block, so all of them reach block_sum's __syncthreads.
template <typename T>
__global__ void forward_kernel(const T* x, const T* gamma, const T* beta, int64_t rows,
                               int64_t cols, T eps, T* y, T* mean, T* rstd) {
  __shared__ double shared[kWarpSize + 1];
  const double n = static_cast<double>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;

    double partial = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) partial += static_cast<double>(xr[c]);
    const double mu = block_sum(partial, shared) / n;

    partial = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double deviation = static_cast<double>(xr[c]) - mu;
      partial += deviation * deviation;
    }
    const double var = block_sum(partial, shared) / n;
    const double inv = 1.0 / sqrt(var + static_cast<double>(eps));

    // The backward reads the stored (rounded) mean and rstd, so y uses them too.
    const T m = static_cast<T>(mu);
    const T s = static_cast<T>(inv);
    if (threadIdx.x == 0) {
      mean[r] = m;
      rstd[r] = s;
    }
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      T value = (xr[c] - m) * s;
      if (gamma != nullptr) value = value * gamma[c];
      if (beta != nullptr) value = value + beta[c];
      yr[c] = value;
    }
  }
}

// --- backward: dx, a block per row -------------------------------------------

// dx = rstd · (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)), g = dy ⊙ γ (dy without γ).
template <typename T>
__global__ void input_grad_kernel(const T* dy, const T* x, const T* gamma, const T* mean,
                                  const T* rstd, int64_t rows, int64_t cols, T* dx) {
  __shared__ double shared[kWarpSize + 1];
  const double n = static_cast<double>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    const T m = mean[r];
    const T s = rstd[r];

    double partial_g = 0, partial_g_xhat = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const T g = gamma != nullptr ? dyr[c] * gamma[c] : dyr[c];
      const T xhat = (xr[c] - m) * s;
      partial_g += static_cast<double>(g);
      partial_g_xhat += static_cast<double>(g) * static_cast<double>(xhat);
    }
    const T mean_g = static_cast<T>(block_sum(partial_g, shared) / n);
    const T mean_g_xhat = static_cast<T>(block_sum(partial_g_xhat, shared) / n);

    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const T g = gamma != nullptr ? dyr[c] * gamma[c] : dyr[c];
      const T xhat = (xr[c] - m) * s;
      dxr[c] = s * (g - mean_g - xhat * mean_g_xhat);
    }
  }
}

// --- backward: dγ and dβ, two passes down the columns ------------------------

// Pass 1: thread (chunk, c) sums rows [chunk * kRowsPerChunk, + kRowsPerChunk)
// of column c, in order, into partial_gamma[chunk, c] and partial_beta[chunk, c].
template <typename T>
__global__ void column_partials_kernel(const T* dy, const T* x, const T* mean, const T* rstd,
                                       int64_t rows, int64_t cols, int64_t chunks,
                                       double* partial_gamma, double* partial_beta) {
  const int64_t total = chunks * cols;
  for (int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; item < total;
       item += int64_t(gridDim.x) * blockDim.x) {
    const int64_t chunk = item / cols;
    const int64_t c = item % cols;
    const int64_t begin = chunk * kRowsPerChunk;
    const int64_t end = begin + kRowsPerChunk < rows ? begin + kRowsPerChunk : rows;
    double acc_gamma = 0, acc_beta = 0;
    for (int64_t r = begin; r < end; ++r) {
      const T d = dy[r * cols + c];
      const T xhat = (x[r * cols + c] - mean[r]) * rstd[r];
      acc_gamma += static_cast<double>(d) * static_cast<double>(xhat);
      acc_beta += static_cast<double>(d);
    }
    partial_gamma[item] = acc_gamma;
    partial_beta[item] = acc_beta;
  }
}

// Pass 2: thread c adds its column's chunks 0, 1, ..., in order.
template <typename T>
__global__ void column_totals_kernel(const double* partial_gamma, const double* partial_beta,
                                     int64_t chunks, int64_t cols, T* dgamma, T* dbeta) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols;
       c += int64_t(gridDim.x) * blockDim.x) {
    double acc_gamma = 0, acc_beta = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      acc_gamma += partial_gamma[chunk * cols + c];
      acc_beta += partial_beta[chunk * cols + c];
    }
    if (dgamma != nullptr) dgamma[c] = static_cast<T>(acc_gamma);
    if (dbeta != nullptr) dbeta[c] = static_cast<T>(acc_beta);
  }
}

// --- launchers ---------------------------------------------------------------

template <typename T>
void affine_grads(const T* dy, const T* x, const T* mean, const T* rstd, int64_t rows,
                  int64_t cols, T* dgamma, T* dbeta) {
  // rows == 0 still writes zeros, as the CPU does.
  const int64_t chunks = ceil_div(rows, kRowsPerChunk);
  // The scratch buffer comes from the caching allocator; freeing it right
  // after queueing pass 2 is safe, as anything that reuses it is queued later
  // on the same (default) stream (runtime.cu).
  const size_t partial_count = static_cast<size_t>(chunks * cols);
  double* scratch = static_cast<double*>(device_malloc(2 * partial_count * sizeof(double)));
  double* partial_gamma = scratch;
  double* partial_beta = scratch + partial_count;
  if (chunks > 0) {
    column_partials_kernel<<<grid_for(ceil_div(chunks * cols, kColumnThreads)), kColumnThreads>>>(
        dy, x, mean, rstd, rows, cols, chunks, partial_gamma, partial_beta);
    check_launch("layer_norm column_partials_kernel");
  }
  column_totals_kernel<<<grid_for(ceil_div(cols, kColumnThreads)), kColumnThreads>>>(
      partial_gamma, partial_beta, chunks, cols, dgamma, dbeta);
  device_free(scratch);
  check_launch("layer_norm column_totals_kernel");
}

}  // namespace

template <Device D, typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, int64_t rows, int64_t cols,
                        T eps, T* y, T* mean, T* rstd) {
  if (rows == 0) return;
  forward_kernel<<<grid_for(rows), row_threads(cols)>>>(x, gamma, beta, rows, cols, eps, y, mean,
                                                        rstd);
  check_launch("layer_norm forward_kernel");
}

template <Device D, typename T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                         int64_t rows, int64_t cols, T* dx, T* dgamma, T* dbeta) {
  if (cols == 0) return;
  if (rows > 0) {
    input_grad_kernel<<<grid_for(rows), row_threads(cols)>>>(dy, x, gamma, mean, rstd, rows, cols,
                                                             dx);
    check_launch("layer_norm input_grad_kernel");
  }
  if (dgamma != nullptr || dbeta != nullptr) {
    affine_grads(dy, x, mean, rstd, rows, cols, dgamma, dbeta);
  }
}

ATTN_INSTANTIATE_FLOATING(layer_norm_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(layer_norm_backward, Device::CUDA)

}  // namespace attn::kernels
