// Element-wise kernels: unary and binary ops with broadcasting, scalar
// variants, comparisons and where().
//
// Each kernel is declared once, for every device D and element type T; the
// definitions are kernels/cpu/elementwise.cpp and kernels/cuda/elementwise.cu.
// Element types: float and double; compare_scalar also int64_t.
#pragma once

#include <cstdint>

#include "kernels/copy.h"
#include "kernels/dispatch.h"

namespace attn::kernels {

enum class UnaryOp { Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Relu, Abs };
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum };
// Comparisons give 1 or 0 in the input's type.
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };

// out[i] = op(x[i]) over n contiguous elements.
template <Device D, typename T>
void unary(UnaryOp op, int64_t n, const T* x, T* out);

// out = op(a, b) with a and b read through strides (0 = broadcast), out
// contiguous of `shape` (ndim <= kMaxDims).
template <Device D, typename T>
void binary(BinaryOp op, int ndim, const int64_t* shape, const T* a, const int64_t* a_strides,
            const T* b, const int64_t* b_strides, T* out);

// out[i] = op(x[i], scalar) over n contiguous elements (x + 2, x * 0.5, x ^ 3, ...).
template <Device D, typename T>
void binary_scalar(BinaryOp op, int64_t n, const T* x, T scalar, T* out);

// out[i] = (x[i] op scalar) ? 1 : 0, in x's type.
template <Device D, typename T>
void compare_scalar(CompareOp op, int64_t n, const T* x, T scalar, T* out);

// out = cond != 0 ? a : b, all three read through strides, out contiguous.
template <Device D, typename T>
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cond_strides,
           const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides, T* out);

// The backward of relu from its output: out[i] = y[i] > 0 ? grad[i] : 0 over
// n contiguous elements.
template <Device D, typename T>
void relu_backward(int64_t n, const T* y, const T* grad, T* out);

}  // namespace attn::kernels
