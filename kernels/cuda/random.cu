// Uniform random numbers on the GPU, the same numbers as on the CPU.
// The twin of kernels/cpu/random.cpp.
//
// attn::Generator (kernels/generator.h) is counter-based: its i-th number is
// hash(seed, i), a pure function with no state carried from one number to
// the next. That is what makes this kernel trivial: thread i computes
//   out[i] = uniform(hash(seed, offset + i))
// on its own, in parallel with every other thread, and gets exactly what the
// CPU's Generator draws as its (offset + i)-th number. A sequential generator
// (a Mersenne Twister, say) would force the GPU either to run one thread or
// to use a different stream of numbers; then dropout under a given seed would
// differ between the devices, and a CPU test could not check a GPU run.
//
// hash() is marked ATTN_HOST_DEVICE, so nvcc compiles the very same function
// for the GPU. The conversion to [0, 1) is Generator::uniform()'s: the top 53
// bits of the hash, times 2^-53, in double (exact: 53 bits fit a double's
// significand), then cast to the output type. The result is bit-identical to
// the CPU's, which tests/kernels/test_cuda_elementwise.cpp checks.
//
// A caller that draws n numbers this way moves the generator's offset on by n
// (Generator::set_state), so the next draw, on either device, continues the
// same stream.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/generator.h"
#include "kernels/random.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kThreads = 256;

template <typename T>
__global__ void uniform_kernel(uint64_t seed, uint64_t offset, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    // Counters wrap modulo 2^64, as the CPU's offset_++ does.
    const uint64_t bits = Generator::hash(seed, offset + static_cast<uint64_t>(i));
    const double u = static_cast<double>(bits >> 11) * 0x1.0p-53;  // Generator::uniform()
    out[i] = static_cast<T>(u);
  }
}

// kernels/cpu/random.cpp's dropout, one thread per element.
template <typename T>
__global__ void dropout_kernel(uint64_t seed, uint64_t offset, int64_t n, T p, T scale, const T* x,
                               T* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t bits = Generator::hash(seed, offset + static_cast<uint64_t>(i));
    const T u = static_cast<T>(static_cast<double>(bits >> 11) * 0x1.0p-53);
    out[i] = x[i] * (u > p ? scale : T(0));
  }
}

int64_t grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return blocks > 65535 ? 65535 : blocks;  // the grid-stride loop covers the rest
}

}  // namespace

template <Device D, typename T>
void uniform(uint64_t seed, uint64_t offset, int64_t n, T* out) {
  if (n == 0) return;
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
  uniform_kernel<T><<<static_cast<unsigned>(blocks), kThreads>>>(seed, offset, n, out);
  check_launch("uniform_kernel");
}

template <Device D, typename T>
void dropout(uint64_t seed, uint64_t offset, int64_t n, T p, T scale, const T* x, T* out) {
  if (n == 0) return;
  dropout_kernel<T><<<static_cast<unsigned>(grid_for(n)), kThreads>>>(seed, offset, n, p, scale,
                                                                      x, out);
  check_launch("dropout_kernel");
}

ATTN_INSTANTIATE_FLOATING(uniform, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(dropout, Device::CUDA)

}  // namespace attn::kernels
