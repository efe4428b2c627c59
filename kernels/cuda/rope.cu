// Rotary position embedding on the GPU, the twin of kernels/cpu/rope.cpp (the
// formulas and the choice of interleaved pairs are in kernels/rope.h).
//
// One thread per pair (row, position, i): it reads x_2i and x_2i+1, computes
// its angle (offset + t) * theta_i in double, and writes the turned pair. No
// table: the GPU's sincos is cheap next to the memory traffic, and computing
// in double as the CPU does keeps the two devices within a rounding of each
// other. Neighbouring threads read neighbouring pairs, so the loads coalesce.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/rope.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // a grid-stride loop covers the rest

template <typename T>
__global__ void rope_kernel(int64_t total_pairs, int64_t length, int64_t pairs, int64_t offset,
                            double base, double sign, const T* x, T* y) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total_pairs;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e % pairs;                // the pair within the row
    const int64_t t = (e / pairs) % length;     // the position within the sequence
    // theta_i = base^(-2i / D), D = 2 * pairs, as the CPU computes it.
    const double theta = pow(base, -static_cast<double>(2 * i) / static_cast<double>(2 * pairs));
    const double angle = sign * static_cast<double>(offset + t) * theta;
    double s, c;
    sincos(angle, &s, &c);
    const double a = static_cast<double>(x[2 * e]), b = static_cast<double>(x[2 * e + 1]);
    y[2 * e] = static_cast<T>(a * c - b * s);
    y[2 * e + 1] = static_cast<T>(a * s + b * c);
  }
}

}  // namespace

template <Device Dev, typename T>
void rope_rotate(int64_t rows, int64_t length, int64_t D, int64_t offset, double base, bool inverse,
                 const T* x, T* y) {
  const int64_t pairs = D / 2;
  const int64_t total_pairs = rows * length * pairs;
  if (total_pairs <= 0) return;
  int64_t blocks = (total_pairs + kThreads - 1) / kThreads;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  rope_kernel<T><<<static_cast<unsigned>(blocks), kThreads>>>(
      total_pairs, length, pairs, offset, base, inverse ? -1.0 : 1.0, x, y);
  check_launch("rope kernel");
}

ATTN_INSTANTIATE_FLOATING(rope_rotate, Device::CUDA)

}  // namespace attn::kernels
