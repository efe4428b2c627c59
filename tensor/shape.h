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

// Product of the sizes (1 for a scalar, whose shape is []). Throws naming
// `op` and the shape when a size is negative or the product does not fit an
// int64_t: a wrapped count would make a small buffer that kernels then
// overrun.
int64_t shape_numel(const Shape& shape, const char* op = "numel");

// Row-major strides of a contiguous tensor: [12, 4, 1] for [2, 3, 4]. Throws
// naming `op` when a stride does not fit an int64_t (a size-0 dim counts as 1
// here, so [0, 2^40, 2^40] is refused although it holds no element).
Shape contiguous_strides(const Shape& shape, const char* op = "contiguous_strides");

// --- checked size arithmetic ---
// Sizes come from users: a flag, a model file's metadata. Every product or
// sum of sizes, strides, offsets and byte counts that the tensor layer forms
// goes through these two, which throw attn::Error naming `op`, the shape the
// numbers belong to and both operands, instead of wrapping around. They run
// once per tensor or view made, never per element, so they cost nothing a
// kernel would notice. (__builtin_*_overflow: GCC and Clang, one instruction
// plus a branch.)
[[noreturn]] void throw_size_overflow(const char* op, int64_t a, const char* sign, int64_t b,
                                      const Shape& shape);

inline int64_t checked_mul(int64_t a, int64_t b, const char* op, const Shape& shape) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) throw_size_overflow(op, a, " * ", b, shape);
  return product;
}

inline int64_t checked_add(int64_t a, int64_t b, const char* op, const Shape& shape) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) throw_size_overflow(op, a, " + ", b, shape);
  return sum;
}

// Wraps a possibly negative dim (-1 is the last) into [0, ndim); throws naming
// `op` when it is out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// The shape two operands broadcast to, NumPy rules: align from the right; each
// pair of sizes must be equal or one of them 1. Throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace attn
