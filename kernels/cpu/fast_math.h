// tanh for the float kernels, shared by elementwise.cpp and rnn_cells.cpp.
//
// glibc's tanhf goes through expm1f and took over a third of a GRU forward
// pass (and a fifth of an RNNsearch training step, in attention's tanh); exp
// in double precision is several times faster, and with it
//   tanh(x) = 1 − 2 / (e^{2x} + 1)
// is exact to float precision (measured: within 7e-8 relative of tanh in
// double over [-20, 20]). Near 0 the subtraction cancels, so there
// tanh(x) = x − x³/3, whose next term (2x⁵/15) is below float's resolution
// for |x| < 1e-4. e^{2x} overflowing to inf for large x gives 1 − 0 = 1,
// as it should. The double kernels keep std::tanh: they serve gradient
// checks and golden values, where the last bits matter.
#pragma once

#include <cmath>

namespace attn::kernels::cpu {

inline float tanh_of(float x) {
  const double xd = x;
  if (std::fabs(xd) < 1e-4) return static_cast<float>(xd - xd * xd * xd / 3.0);
  return static_cast<float>(1.0 - 2.0 / (std::exp(2.0 * xd) + 1.0));
}
inline double tanh_of(double x) { return std::tanh(x); }

}  // namespace attn::kernels::cpu
