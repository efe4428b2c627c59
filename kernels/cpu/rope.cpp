// The CPU definition of kernels/rope.h: rotary position embedding, each pair
// of dimensions (2i, 2i+1) of a row at position p turned by +-p theta_i.
//
// Every row of every head at position p is turned by the same angles, so the
// cosines and sines are computed once per call as a (length, D/2) table, in
// double (p theta_i reaches thousands of radians for long sentences, where a
// float angle would already be off in its fourth digit), and shared by all
// rows. Each (row, position) belongs to one thread and is computed in a fixed
// order: the bits do not depend on the number of threads.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/rope.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {

template <Device Dev, typename T>
void rope_rotate(int64_t rows, int64_t length, int64_t D, int64_t offset, double base, bool inverse,
                 const T* x, T* y) {
  const int64_t pairs = D / 2;
  if (rows <= 0 || length <= 0 || pairs <= 0) return;
  // cos and sin of a = +-p theta_i for p = offset + t: (length, D/2) each.
  const double sign = inverse ? -1.0 : 1.0;
  std::vector<double> cosines(static_cast<size_t>(length * pairs)),
      sines(static_cast<size_t>(length * pairs));
  for (int64_t i = 0; i < pairs; ++i) {
    // theta_i = base^(-2i / D), the frequencies of the sinusoidal table.
    const double theta = std::pow(base, -static_cast<double>(2 * i) / static_cast<double>(D));
    for (int64_t t = 0; t < length; ++t) {
      const double angle = sign * static_cast<double>(offset + t) * theta;
      cosines[static_cast<size_t>(t * pairs + i)] = std::cos(angle);
      sines[static_cast<size_t>(t * pairs + i)] = std::sin(angle);
    }
  }
  // One item is one (row, position): D numbers in, D out.
  cpu::parallel_for(rows * length, D * 3, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item % length;
      const double* c = cosines.data() + t * pairs;
      const double* s = sines.data() + t * pairs;
      const T* in = x + item * D;
      T* out = y + item * D;
      for (int64_t i = 0; i < pairs; ++i) {
        const double a = static_cast<double>(in[2 * i]), b = static_cast<double>(in[2 * i + 1]);
        out[2 * i] = static_cast<T>(a * c[i] - b * s[i]);
        out[2 * i + 1] = static_cast<T>(a * s[i] + b * c[i]);
      }
    }
  });
}

ATTN_INSTANTIATE_FLOATING(rope_rotate, Device::CPU)

}  // namespace attn::kernels
