#include "tensor/creation.h"

#include <cmath>

#include "kernels/copy.h"
#include "kernels/random.h"
#include "tensor/dispatch.h"

namespace attn {

namespace {

// Normal draws and ranges are made on the CPU and copied over when another
// device was asked for: one code path, identical values on every device (they
// are rare: initialisation). Filled and uniform tensors, which a training step
// makes, are made on their device by a kernel, with the same values.
Tensor finish(Tensor cpu_tensor, const TensorOptions& options) {
  Tensor out = options.device_ == kCPU ? cpu_tensor : cpu_tensor.to(options.device_);
  if (options.requires_grad_) out.requires_grad_(true);
  return out;
}

TensorOptions on_cpu(TensorOptions options) {
  options.device_ = kCPU;
  options.requires_grad_ = false;
  return options;
}

// full, zeros and ones, each naming itself in errors.
Tensor filled(const char* op, const Shape& shape, double value, TensorOptions options) {
  TensorOptions here = options;
  here.requires_grad_ = false;
  Tensor out = Tensor::empty(shape, here, op);
  dispatch_all(out.dtype(), out.device(), [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::fill<device>(out.numel(), static_cast<T>(value), out.data_ptr<T>());
  });
  return finish(out, options);
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) { return Tensor::empty(shape, options); }

Tensor full(const Shape& shape, double value, TensorOptions options) {
  return filled("full", shape, value, options);
}
Tensor zeros(const Shape& shape, TensorOptions options) {
  return filled("zeros", shape, 0.0, options);
}
Tensor ones(const Shape& shape, TensorOptions options) { return filled("ones", shape, 1.0, options); }

Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), TensorOptions(t.dtype()).device(t.device()));
}
Tensor ones_like(const Tensor& t) {
  return ones(t.shape(), TensorOptions(t.dtype()).device(t.device()));
}

Tensor arange(double start, double end, double step, TensorOptions options) {
  ATTN_CHECK(step != 0, "arange: step must be nonzero");
  double count = std::ceil((end - start) / step);
  // A count beyond int64 (or NaN, from an infinite bound) would be undefined
  // to convert; anything this large is refused by Tensor::empty anyway.
  ATTN_CHECK(std::isfinite(count) && count < 9.2e18, "arange: [", start, ", ", end, ") in steps of ",
             step, " has ", count, " elements, more than a tensor can hold");
  int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor out = Tensor::empty({n}, on_cpu(options), "arange");
  dispatch_all(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* data = out.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(start + i * step);
  });
  return finish(out, options);
}

Tensor arange(int64_t end, TensorOptions options) {
  return arange(0.0, static_cast<double>(end), 1.0, options);
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* generator) {
  Generator& gen = generator ? *generator : default_generator();
  Tensor out = Tensor::empty(shape, on_cpu(options), "randn");
  const int64_t n = out.numel();
  dispatch_floating(out.dtype(), "randn", [&](auto zero) {
    using T = decltype(zero);
    T* data = out.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(gen.normal());
  });
  return finish(out, options);
}

Tensor rand(const Shape& shape, TensorOptions options, Generator* generator) {
  Generator& gen = generator ? *generator : default_generator();
  TensorOptions here = options;
  here.requires_grad_ = false;
  Tensor out = Tensor::empty(shape, here, "rand");
  // Element i is the generator's (offset + i)-th number, computed from i alone
  // (kernels uniform), so the GPU fills the same values as the CPU would draw.
  const uint64_t offset = gen.offset();
  gen.set_state(gen.seed(), offset + static_cast<uint64_t>(out.numel()));
  dispatch_floating(out.dtype(), out.device(), "rand", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::uniform<device>(gen.seed(), offset, out.numel(), out.data_ptr<T>());
  });
  return finish(out, options);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* generator) {
  ATTN_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Generator& gen = generator ? *generator : default_generator();
  Tensor out = Tensor::empty(shape, kInt64, "randint");
  int64_t* data = out.data_ptr<int64_t>();
  uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);  // no signed overflow
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) data[i] = low + static_cast<int64_t>(gen.below(range));
  return out;
}

namespace {

template <typename T>
Tensor from_values(const std::vector<T>& values, const Shape& shape, TensorOptions options,
                   DType natural) {
  const int64_t numel = shape_numel(shape, "from_vector");
  ATTN_CHECK(static_cast<int64_t>(values.size()) == numel, "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape), " (", numel, " elements)");
  Tensor natural_tensor = Tensor::empty(shape, natural, "from_vector");
  std::copy(values.begin(), values.end(), natural_tensor.data_ptr<T>());
  Tensor typed = options.dtype_ == natural ? natural_tensor : natural_tensor.to(options.dtype_);
  return finish(typed, options);
}

}  // namespace

Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions options) {
  return from_values(values, shape, options, kFloat32);
}
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  return from_values(values, shape, options, kFloat64);
}
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape,
                   TensorOptions options) {
  return from_values(values, shape, options, kInt64);
}

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

}  // namespace attn
