// Making tensors: zeros, ones, full, arange, random, and from C++ vectors.
// Names and defaults as in libtorch (float32 on the CPU unless told otherwise).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/generator.h"
#include "tensor/tensor.h"

namespace attn {

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);

// [start, start + step, ...) up to end (exclusive), like torch::arange.
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = kInt64);
Tensor arange(int64_t end, TensorOptions options = kInt64);

// Standard normal / uniform in [0, 1) / uniform integers in [low, high), drawn
// from `generator` (the default generator when null).
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* generator = nullptr);
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* generator = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* generator = nullptr);

// A tensor holding `values` (row-major) with the given shape; the dtype follows
// the vector's element type unless options say otherwise.
//   auto x = attn::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions options = kFloat32);
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options = kFloat64);
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, TensorOptions options = kInt64);

// A 0-dim tensor holding one value.
Tensor scalar_tensor(double value, TensorOptions options = {});

}  // namespace attn
