#include "nn/init.h"

#include <cmath>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"

namespace attn::nn::init {

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator* generator) {
  ATTN_CHECK(low <= high, "init::uniform: low ", low, " is above high ", high);
  NoGradGuard no_grad;  // a plain tensor, even when called inside a graph
  return rand(shape, dtype, generator) * (high - low) + low;
}

Tensor normal(const Shape& shape, double mean, double std, DType dtype, Generator* generator) {
  ATTN_CHECK(std >= 0.0, "init::normal: std must be >= 0, got ", std);
  NoGradGuard no_grad;
  return randn(shape, dtype, generator) * std + mean;
}

int64_t fan_in(const Shape& shape) {
  ATTN_CHECK(!shape.empty(), "init::fan_in: needs at least one dim, got a scalar shape");
  if (shape.size() == 1) return 1;
  int64_t fan = 1;
  for (size_t d = 1; d < shape.size(); ++d) fan *= shape[d];
  return fan;
}

Tensor kaiming_uniform(const Shape& shape, double a, DType dtype, Generator* generator) {
  const double fan = static_cast<double>(fan_in(shape));
  ATTN_CHECK(fan > 0, "init::kaiming_uniform: fan-in of ", shape_str(shape), " is 0");
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / fan);
  return uniform(shape, -bound, bound, dtype, generator);
}

}  // namespace attn::nn::init
