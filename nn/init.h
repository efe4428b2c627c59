// Initial values for parameters, as PyTorch draws them (torch.nn.init).
//
// Every function returns a new tensor drawn from `generator`, or from the
// default generator (seeded with attn::manual_seed) when it is null, so one
// seed fixes a whole model's starting point. The layers call these in their
// constructors before register_parameter, so nothing here touches autograd.
//
// Which rule each layer uses, and why, is written beside the layer
// (nn/layers.cpp, nn/gru.cpp, nn/lstm.cpp).
#pragma once

#include <cstdint>

#include "tensor/creation.h"
#include "kernels/generator.h"
#include "tensor/tensor.h"

namespace attn::nn::init {

// Uniform in [low, high).
Tensor uniform(const Shape& shape, double low, double high, DType dtype = kFloat32,
               Generator* generator = nullptr);

// Normal with the given mean and standard deviation.
Tensor normal(const Shape& shape, double mean = 0.0, double std = 1.0, DType dtype = kFloat32,
              Generator* generator = nullptr);

// He et al. 2015 ("Delving Deep into Rectifiers", sec. 2.2) in uniform form,
// for a weight (fan_out, fan_in): U(±gain · sqrt(3 / fan_in)) with
// gain = sqrt(2 / (1 + a²)). PyTorch's Linear uses a = sqrt(5), which makes
// the bound exactly 1 / sqrt(fan_in).
Tensor kaiming_uniform(const Shape& shape, double a = 0.0, DType dtype = kFloat32,
                       Generator* generator = nullptr);

// The fan-in of a weight: its number of columns (shape (out, in)), or 1 for a vector.
int64_t fan_in(const Shape& shape);

}  // namespace attn::nn::init
