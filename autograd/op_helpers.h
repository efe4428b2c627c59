// Small helpers shared by the op files: broadcasting strides, reducing a
// gradient back to an input's shape, and the common argument checks.
#pragma once

#include "tensor/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace attn::autograd {

// Strides that read `t` as if it had `out_shape` (its shape broadcast to it):
// 0 for dims that are new or of size 1.
Shape broadcast_strides(const Tensor& t, const Shape& out_shape);

// The gradient of a broadcast: grad has the broadcast shape; sum it over the
// dims that broadcasting added or stretched, giving `shape` back.
//   d/dx of expand(x) is sum over the copies (docs/02-autograd.md, "Broadcasting").
Tensor sum_to(const Tensor& grad, const Shape& shape);

// Sizes around dim d of `shape`, the layout reductions and softmax see:
// outer = product of the sizes before d, n = shape[d], inner = product after d.
void split_around(const Shape& shape, int64_t d, int64_t& outer, int64_t& n, int64_t& inner);

// Throws unless t has at most kMaxDims dims (the limit of the strided kernels).
void check_max_dims(const char* op, const Tensor& t);

// A new contiguous tensor like `like` (same dtype and device) of `shape`.
Tensor empty_like_shape(const Tensor& like, const Shape& shape);

// Attention's key lengths checked and made ready for a kernel: int64 (B),
// each in [0, Tk], contiguous on `device`; undefined stays undefined. The
// errors name `op` and the tensor the lengths are for (`what`, `shape`).
Tensor checked_key_lengths(const char* op, const Tensor& key_lengths, int64_t B, int64_t Tk,
                           const char* what, const Shape& shape, Device device);

// Detached, with contiguous rows (a column slice of a weight keeps its row
// stride), as a GEMM operand with a leading dimension.
Tensor rows_of(const Tensor& t);

}  // namespace attn::autograd
