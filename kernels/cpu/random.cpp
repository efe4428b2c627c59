// Uniform random numbers: out[i] = the (offset + i)-th number of the stream
// that attn::Generator(seed) draws with uniform().
//
// The Generator is counter-based (kernels/generator.h): its k-th number is
// hash(seed, k), with no state carried between numbers. So element i is
// computed from i alone. That lets this loop split over the cores freely, and
// lets the GPU twin (kernels/cuda/random.cu) compute every element in its own
// thread and still produce these very numbers, bit for bit.
//
// The caller (attn::rand) moves the generator's offset on by n, so the next
// draw continues the stream.
#include <cstdint>

#include "kernels/random.h"
#include "kernels/cpu/parallel.h"
#include "kernels/generator.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

}  // namespace

template <Device D, typename T>
void uniform(uint64_t seed, uint64_t offset, int64_t n, T* out) {
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      // Generator::uniform(): the top 53 bits of the hash, times 2^-53.
      const uint64_t bits = Generator::hash(seed, offset + static_cast<uint64_t>(i));
      out[i] = static_cast<T>(static_cast<double>(bits >> 11) * 0x1.0p-53);
    }
  });
}

// The CPU definitions of kernels/random.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(uniform, Device::CPU)

}  // namespace attn::kernels
