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

// Generator::uniform()'s number for counter k, in type T: the top 53 bits of
// the hash, times 2^-53 (exact in double), then rounded to T.
template <typename T>
T uniform_at(uint64_t seed, uint64_t k) {
  const uint64_t bits = Generator::hash(seed, k);
  return static_cast<T>(static_cast<double>(bits >> 11) * 0x1.0p-53);
}

}  // namespace

template <Device D, typename T>
void uniform(uint64_t seed, uint64_t offset, int64_t n, T* out) {
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = uniform_at<T>(seed, offset + static_cast<uint64_t>(i));
    }
  });
}

// The smallest 64-bit hash that keeps an element: keep_i = T(u_i) > p with
// u_i = (bits_i >> 11) * 2^-53 holds exactly when bits_i >= the returned
// value (2^64 - 1 + 1, i.e. "never", is returned as 0 with never_keep set).
// k -> T(k * 2^-53) never decreases as k grows, so the k that keep form one
// range [K, 2^53), and a binary search over k finds K with the very
// comparison the reference makes (attn::rand(...) > p). Then the loop below
// compares integers, without converting each hash to double and to T.
template <typename T>
uint64_t keep_threshold(T p, bool& never_keep) {
  auto keeps = [p](uint64_t k) { return static_cast<T>(static_cast<double>(k) * 0x1.0p-53) > p; };
  const uint64_t top = (uint64_t(1) << 53) - 1;  // the largest k
  never_keep = !keeps(top);
  if (never_keep) return 0;
  uint64_t low = 0, high = top;  // invariant: keeps(high); K is in [low, high]
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    if (keeps(mid)) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  return high << 11;  // bits >> 11 >= K  <=>  bits >= K << 11
}

// The mask is the comparison `rand > p` that attn::dropout used to run as
// four separate ops (rand, gt, a dtype convert, two multiplies), each a pass
// over memory with a temporary of its own; here it is one pass and no
// temporary. Multiplying by 0 rather than writing 0 keeps the old bits,
// including NaN and the sign of zero: x * 0 is what `x * mask` gave, and
// 1 * scale is the very value the old mask held.
//
// The keep test is random, so a branch on it is mispredicted on a fraction
// of the elements, and that cost more than the hash itself: the mask value is
// looked up in a two-entry table indexed by the test, which compiles to a load
// and no branch. The threshold and the table are locals of the loop, so the
// compiler keeps them in registers rather than reloading them after every
// store to out (which might alias them, as far as it knows).
template <Device D, typename T>
void dropout(uint64_t seed, uint64_t offset, int64_t n, T p, T scale, const T* x, T* out) {
  bool never_keep = false;
  const uint64_t threshold = keep_threshold(p, never_keep);
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    const uint64_t lowest_kept = threshold;
    const T kept_value = never_keep ? T(0) : T(1) * scale;
    const T mask_value[2] = {T(0), kept_value};  // [dropped, kept]: what the old mask held
    for (int64_t i = begin; i < end; ++i) {
      const bool keep = Generator::hash(seed, offset + static_cast<uint64_t>(i)) >= lowest_kept;
      out[i] = x[i] * mask_value[keep];
    }
  });
}

// The CPU definitions of kernels/random.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(uniform, Device::CPU)
ATTN_INSTANTIATE_FLOATING(dropout, Device::CPU)

}  // namespace attn::kernels
