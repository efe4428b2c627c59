// Rotary position embedding (RoPE; Su et al. 2021, "RoFormer: Enhanced
// Transformer with Rotary Position Embedding", section 3.2): the vector of a
// query or key at position p is cut into pairs of dimensions, and pair i is
// turned by the angle p * theta_i, theta_i = base^(-2i / D) (base = 10000 in
// the paper, the frequencies of the sinusoidal table of section 3.5 of
// "Attention Is All You Need"):
//
//     [y_2i    ]   [cos(p theta_i)  -sin(p theta_i)] [x_2i    ]
//     [y_2i+1  ] = [sin(p theta_i)   cos(p theta_i)] [x_2i+1  ]     (RoFormer eq. 34)
//
// Layout: the pairs are neighbours (2i, 2i+1), as the paper writes R^d_{Theta,m}
// (eq. 15) and as our sinusoidal table interleaves sin and cos. GPT-NeoX and
// the Hugging Face LLaMA code pair dimension i with i + D/2 instead
// ("rotate_half"); the two are the same rotation up to a fixed permutation of
// each head's dimensions, which q_proj and k_proj learn just as well, but
// weights trained with one layout do not load into the other.
//
// The same kernel undoes a rotation: turning by -p theta_i is the transpose,
// and so the inverse, of turning by p theta_i. The op's backward is exactly
// that (autograd/ops_rope.cpp).
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/rope.cpp and kernels/cuda/rope.cu. The op is
// attn::rope (autograd/ops_rope.cpp).
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// x and y: (rows, length, D), contiguous, D even; may be the same buffer. Row r,
// position t (0 <= t < length) is at position p = offset + t and is turned by
// +p theta_i (inverse = false) or -p theta_i (inverse = true) in each pair i:
//   y_2i   = x_2i cos(a) - x_2i+1 sin(a)
//   y_2i+1 = x_2i sin(a) + x_2i+1 cos(a),   a = +-p theta_i, theta_i = base^(-2i/D).
// The angles, their sines and cosines and the products are taken in double and
// rounded to T once, on either device.
template <Device Dev, typename T>
void rope_rotate(int64_t rows, int64_t length, int64_t D, int64_t offset, double base, bool inverse,
                 const T* x, T* y);

}  // namespace attn::kernels
