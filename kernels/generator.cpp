#include "kernels/generator.h"

#include <cmath>

namespace attn {

double Generator::normal() {
  // Box-Muller: two independent uniforms give a standard normal. 1 - u keeps
  // the argument of log in (0, 1], so log never sees 0.
  double u1 = 1.0 - uniform();
  double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace attn
