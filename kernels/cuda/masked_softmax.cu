// Attention's weights in one pass on the GPU, the twin of
// kernels/cpu/masked_softmax.cpp (read that file and kernels/masked_softmax.h
// first: the formulas and the mask as a prefix of each row are there).
//
// One warp per row (a query): attention rows are short (Tk up to a few
// thousand), so 32 lanes walking every 32nd key and meeting through warp
// shuffles are enough, as in kernels/cuda/softmax.cu's warp kernel. Three
// reads of the row's visible prefix (max, sum, write) keep the code as plain
// as the CPU's; the scores are hot in L1/L2 by the second read. Sums in double,
// as on the CPU.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/masked_softmax.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kRowsPerBlock = 8;        // 8 warps of 32 = 256 threads a block
constexpr int64_t kMaxBlocks = 65535;   // grid-stride loops cover the rest

unsigned grid_for(int64_t rows) {
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }

template <typename T>
__device__ inline T warp_max(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const T other = __shfl_xor_sync(kFullMask, v, offset);
    v = other > v ? other : v;
  }
  return v;
}

__device__ inline double warp_sum(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

template <typename T>
__global__ void forward_kernel(const T* scores, int64_t rows, int64_t groups, int64_t tq,
                               int64_t tk, const int64_t* key_lengths, bool causal, T scale,
                               T* weights) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / kWarpSize; r < rows;
       r += step) {
    const int64_t b = r / (groups * tq), i = r % tq;
    int64_t n = key_lengths != nullptr ? key_lengths[b] : tk;
    if (causal && i + (tk - tq) + 1 < n) n = i + (tk - tq) + 1;
    if (n > tk) n = tk;
    if (n < 0) n = 0;
    const T* s = scores + r * tk;
    T* y = weights + r * tk;
    T m = -INFINITY;
    for (int64_t j = lane; j < n; j += kWarpSize) m = scale * s[j] > m ? scale * s[j] : m;
    m = warp_max(m);
    double sum = 0;
    for (int64_t j = lane; j < n; j += kWarpSize) sum += static_cast<double>(exp_of(scale * s[j] - m));
    sum = warp_sum(sum);
    const T inverse = n > 0 ? static_cast<T>(1.0 / sum) : T(0);
    for (int64_t j = lane; j < tk; j += kWarpSize) {
      y[j] = j < n ? exp_of(scale * s[j] - m) * inverse : T(0);
    }
  }
}

template <typename T>
__global__ void backward_kernel(const T* y, const T* dy, int64_t rows, int64_t tk, T scale,
                                T* dscores) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / kWarpSize; r < rows;
       r += step) {
    const T* yr = y + r * tk;
    const T* gr = dy + r * tk;
    double dot = 0;
    for (int64_t j = lane; j < tk; j += kWarpSize) dot += static_cast<double>(gr[j]) * yr[j];
    const T d = static_cast<T>(warp_sum(dot));
    for (int64_t j = lane; j < tk; j += kWarpSize) dscores[r * tk + j] = scale * yr[j] * (gr[j] - d);
  }
}

}  // namespace

template <Device D, typename T>
void masked_softmax_forward(const T* scores, int64_t batch, int64_t groups, int64_t tq, int64_t tk,
                            const int64_t* key_lengths, bool causal, T scale, T* weights) {
  const int64_t rows = batch * groups * tq;
  if (rows == 0 || tk == 0) return;
  forward_kernel<<<grid_for(rows), kRowsPerBlock * kWarpSize>>>(scores, rows, groups, tq, tk,
                                                                 key_lengths, causal, scale, weights);
  check_launch("masked_softmax forward");
}

template <Device D, typename T>
void masked_softmax_backward(const T* y, const T* dy, int64_t rows, int64_t tk, T scale, T* dscores) {
  if (rows == 0 || tk == 0) return;
  backward_kernel<<<grid_for(rows), kRowsPerBlock * kWarpSize>>>(y, dy, rows, tk, scale, dscores);
  check_launch("masked_softmax backward");
}

ATTN_INSTANTIATE_FLOATING(masked_softmax_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(masked_softmax_backward, Device::CUDA)

}  // namespace attn::kernels
