// Random numbers on a device, the same on every device: uniform draws, and
// dropout (autograd/ops_nn.cpp), which draws its mask from them.
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

// Inverted dropout in one pass, with the mask drawn on the fly:
//   out[i] = x[i] * (keep_i ? scale : 0),   keep_i = T(u_i) > p,
// u_i being what uniform() above writes as out[i] under the same (seed, offset).
// The mask is never stored: it is a pure function of (seed, offset + i), so
// the backward pass calls this very kernel on the gradient (x = dL/dy) to
// apply the same mask again. x, out: (n); out may be x.
template <Device D, typename T>
void dropout(uint64_t seed, uint64_t offset, int64_t n, T p, T scale, const T* x, T* out);

}  // namespace attn::kernels
