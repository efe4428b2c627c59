// Shapes and strides: the arithmetic that makes views free.
//
// A tensor is a flat buffer plus (shape, strides, offset). Element (i0, i1, ...)
// lives at offset + i0*strides[0] + i1*strides[1] + ... . Transposing swaps two
// strides; slicing moves the offset; broadcasting sets a stride to 0. None of
// these copy data.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace attn {

using Shape = std::vector<int64_t>;

// "[2, 3, 4]", the form every error message uses.
std::string shape_str(const Shape& shape);

// Product of the sizes (1 for a scalar, whose shape is []).
int64_t shape_numel(const Shape& shape);

// Row-major strides of a contiguous tensor: [12, 4, 1] for [2, 3, 4].
Shape contiguous_strides(const Shape& shape);

// Wraps a possibly negative dim (-1 is the last) into [0, ndim); throws naming
// `op` when it is out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// The shape two operands broadcast to, NumPy rules: align from the right; each
// pair of sizes must be equal or one of them 1. Throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace attn
