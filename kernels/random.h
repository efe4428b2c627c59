// Random numbers on a device, the same on every device: what dropout draws
// its mask from (autograd/ops_nn.cpp).
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/random.cpp and kernels/cuda/random.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// out[i] = the uniform number in [0, 1) that Generator::uniform() draws as its
// (offset + i)-th number under `seed` (kernels/generator.h): element i depends
// on i alone, so the GPU fills the same numbers in parallel and a seed gives
// the same dropout mask on both devices. out: (n).
template <Device D, typename T>
void uniform(uint64_t seed, uint64_t offset, int64_t n, T* out);

}  // namespace attn::kernels
