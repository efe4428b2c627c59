// Element-wise kernels: unary maps, binary ops with broadcasting, comparisons,
// and where().
//
// Each op is written once as a tiny function object (AddOp, ExpOp, ...); the
// public entry point switches on the op code *outside* the loop and runs a loop
// specialised for that function object, so the loop body has no branch or call
// per element and the compiler can vectorize it.
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/cpu/vec_math.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// --- the unary ops ---
struct NegOp { template <typename T> T operator()(T x) const { return -x; } };
struct SqrtOp { template <typename T> T operator()(T x) const { return std::sqrt(x); } };
struct AbsOp { template <typename T> T operator()(T x) const { return std::abs(x); } };
struct ReluOp { template <typename T> T operator()(T x) const { return x > T(0) ? x : T(0); } };

// --- the binary ops ---
struct AddOp { template <typename T> T operator()(T a, T b) const { return a + b; } };
struct SubOp { template <typename T> T operator()(T a, T b) const { return a - b; } };
struct MulOp { template <typename T> T operator()(T a, T b) const { return a * b; } };
struct DivOp { template <typename T> T operator()(T a, T b) const { return a / b; } };
struct PowOp { template <typename T> T operator()(T a, T b) const { return std::pow(a, b); } };
struct MaximumOp { template <typename T> T operator()(T a, T b) const { return a > b ? a : b; } };

template <typename T, typename Op>
void unary_loop(int64_t n, const T* x, T* out, Op op) {
  parallel_for(n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = op(x[i]);
  });
}

// exp, log, tanh and sigmoid run over arrays (kernels/cpu/vec_math.h):
// vectorised polynomials for float, std:: functions for double.
template <typename T>
void array_loop(int64_t n, const T* x, T* out, void (*fn)(const T*, T*, int64_t)) {
  parallel_for(n, 8, [&](int64_t begin, int64_t end) { fn(x + begin, out + begin, end - begin); });
}

// out[i] = op(a[i * sa], b[i * sb]) for i in [0, n): one innermost row.
// The three common layouts get loops without stride multiplications, which
// the compiler vectorizes: both inputs walk with the output (same shape, or
// the last dims of a row vector (D) added to (N, D)), or one input is a
// single value over the row (a scalar, or a column (N, 1) broadcast over D).
template <typename T, typename Op>
void binary_row(int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* out, Op op) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const T vb = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], vb);
  } else if (sa == 0 && sb == 1) {
    const T va = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(va, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
  }
}

// Operand 0 is the contiguous output, 1 and 2 the inputs.
template <typename T, typename Op>
void binary_loop(int ndim, const int64_t* shape, const T* a, const int64_t* a_strides, const T* b,
                 const int64_t* b_strides, T* out, Op op) {
  int64_t out_strides[kMaxDims];
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    out_strides[d] = stride;
    stride *= shape[d];
  }
  const int64_t* strides[3] = {out_strides, a_strides, b_strides};
  StridedLoop loop(ndim, shape, 3, strides);
  const int64_t n = loop.inner_size();
  const int64_t sa = loop.inner_stride(1), sb = loop.inner_stride(2);
  if (loop.ndim == 1) {
    // Everything merged into one row (same-shape contiguous operands, a
    // scalar operand, a gradient added into a parameter's gradient): there
    // are no rows to share out, so the row itself is cut into chunks. Each
    // element is computed alone, so the chunks change no bits.
    parallel_for(n, 1, [&](int64_t begin, int64_t end) {
      binary_row(end - begin, a + begin * sa, sa, b + begin * sb, sb, out + begin, op);
    });
    return;
  }
  for_each_row(loop, [&](int64_t, const int64_t* offsets) {
    binary_row(n, a + offsets[1], sa, b + offsets[2], sb, out + offsets[0], op);
  });
}

template <typename T, typename Op>
void scalar_loop(int64_t n, const T* x, T scalar, T* out, Op op) {
  parallel_for(n, 4, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = op(x[i], scalar);
  });
}

}  // namespace

template <Device D, typename T>
void unary(UnaryOp op, int64_t n, const T* x, T* out) {
  switch (op) {
    case UnaryOp::Neg:
      return unary_loop(n, x, out, NegOp{});
    case UnaryOp::Exp:
      return array_loop<T>(n, x, out, exp_array);
    case UnaryOp::Log:
      return array_loop<T>(n, x, out, log_array);
    case UnaryOp::Sqrt:
      return unary_loop(n, x, out, SqrtOp{});
    case UnaryOp::Tanh:
      return array_loop<T>(n, x, out, tanh_array);
    case UnaryOp::Sigmoid:
      return array_loop<T>(n, x, out, sigmoid_array);
    case UnaryOp::Relu:
      return unary_loop(n, x, out, ReluOp{});
    case UnaryOp::Abs:
      return unary_loop(n, x, out, AbsOp{});
  }
}

template <Device D, typename T>
void binary(BinaryOp op, int ndim, const int64_t* shape, const T* a, const int64_t* as, const T* b,
            const int64_t* bs, T* out) {
  switch (op) {
    case BinaryOp::Add: return binary_loop(ndim, shape, a, as, b, bs, out, AddOp{});
    case BinaryOp::Sub: return binary_loop(ndim, shape, a, as, b, bs, out, SubOp{});
    case BinaryOp::Mul: return binary_loop(ndim, shape, a, as, b, bs, out, MulOp{});
    case BinaryOp::Div: return binary_loop(ndim, shape, a, as, b, bs, out, DivOp{});
    case BinaryOp::Pow: return binary_loop(ndim, shape, a, as, b, bs, out, PowOp{});
    case BinaryOp::Maximum: return binary_loop(ndim, shape, a, as, b, bs, out, MaximumOp{});
  }
}

template <Device D, typename T>
void binary_scalar(BinaryOp op, int64_t n, const T* x, T s, T* out) {
  switch (op) {
    case BinaryOp::Add: return scalar_loop(n, x, s, out, AddOp{});
    case BinaryOp::Sub: return scalar_loop(n, x, s, out, SubOp{});
    case BinaryOp::Mul: return scalar_loop(n, x, s, out, MulOp{});
    case BinaryOp::Div: return scalar_loop(n, x, s, out, DivOp{});
    case BinaryOp::Pow:
      // x^2 is by far the most common power (squares in norms and variances);
      // x*x is exact and much cheaper than std::pow.
      if (s == T(2)) return scalar_loop(n, x, s, out, [](T v, T) { return v * v; });
      return scalar_loop(n, x, s, out, PowOp{});
    case BinaryOp::Maximum: return scalar_loop(n, x, s, out, MaximumOp{});
  }
}

template <Device D, typename T>
void compare_scalar(CompareOp op, int64_t n, const T* x, T s, T* out) {
  switch (op) {
    case CompareOp::Eq: return scalar_loop(n, x, s, out, [](T a, T b) { return T(a == b); });
    case CompareOp::Ne: return scalar_loop(n, x, s, out, [](T a, T b) { return T(a != b); });
    case CompareOp::Lt: return scalar_loop(n, x, s, out, [](T a, T b) { return T(a < b); });
    case CompareOp::Le: return scalar_loop(n, x, s, out, [](T a, T b) { return T(a <= b); });
    case CompareOp::Gt: return scalar_loop(n, x, s, out, [](T a, T b) { return T(a > b); });
    case CompareOp::Ge: return scalar_loop(n, x, s, out, [](T a, T b) { return T(a >= b); });
  }
}

namespace {

// out[i] = c[i * sc] != 0 ? a[i * sa] : b[i * sb] over one innermost row.
// masked_fill(x, mask, value) is where(mask, value, x): a full-row mask, one
// fill value and x (sc = 1, sa = 0, sb = 1); its backward picks the gradient
// or a zero the other way round. Those get loops without multiplications.
// Both sides are loaded before the choice: a load under the condition would
// be a branch per element (mispredicted on a random mask) where two loads
// and a select vectorize.
template <typename T>
void where_row(int64_t n, const int64_t* c, int64_t sc, const T* a, int64_t sa, const T* b,
               int64_t sb, T* out) {
  if (sc == 1 && sa == 0 && sb == 1) {
    const T va = a[0];
    for (int64_t i = 0; i < n; ++i) {
      const T vb = b[i];
      out[i] = c[i] != 0 ? va : vb;
    }
  } else if (sc == 1 && sa == 1 && sb == 0) {
    const T vb = b[0];
    for (int64_t i = 0; i < n; ++i) {
      const T va = a[i];
      out[i] = c[i] != 0 ? va : vb;
    }
  } else if (sc == 1 && sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) {
      const T va = a[i], vb = b[i];
      out[i] = c[i] != 0 ? va : vb;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = c[i * sc] != 0 ? a[i * sa] : b[i * sb];
  }
}

// relu_backward over [0, n): a function of its own so that the pointers are
// plain arguments, which the compiler keeps in registers (inside a lambda
// they are read through the closure after every store). The gradient is
// loaded unconditionally, as in where_row.
template <typename T>
void relu_backward_range(int64_t n, const T* y, const T* grad, T* out) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    out[i] = y[i] > T(0) ? g : T(0);
  }
}

}  // namespace

template <Device D, typename T>
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cs, const T* a,
           const int64_t* as, const T* b, const int64_t* bs, T* out) {
  int64_t out_strides[kMaxDims];
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    out_strides[d] = stride;
    stride *= shape[d];
  }
  const int64_t* strides[4] = {out_strides, cs, as, bs};
  StridedLoop loop(ndim, shape, 4, strides);
  const int64_t n = loop.inner_size();
  const int64_t sc = loop.inner_stride(1), sa = loop.inner_stride(2), sb = loop.inner_stride(3);
  if (loop.ndim == 1) {  // one merged row: chunks of it, as binary_loop does
    parallel_for(n, 1, [&](int64_t begin, int64_t end) {
      where_row(end - begin, cond + begin * sc, sc, a + begin * sa, sa, b + begin * sb, sb,
                out + begin);
    });
    return;
  }
  for_each_row(loop, [&](int64_t, const int64_t* offsets) {
    where_row(n, cond + offsets[1], sc, a + offsets[2], sa, b + offsets[3], sb, out + offsets[0]);
  });
}

// dL/dx of y = relu(x), from y: the gradient where y > 0, else 0. y > 0
// exactly where x > 0, so the output (which the next layer keeps anyway)
// serves instead of x or a saved mask.
template <Device D, typename T>
void relu_backward(int64_t n, const T* y, const T* grad, T* out) {
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    relu_backward_range(end - begin, y + begin, grad + begin, out + begin);
  });
}

// The CPU definitions of kernels/elementwise.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(unary, Device::CPU)
ATTN_INSTANTIATE_FLOATING(binary, Device::CPU)
ATTN_INSTANTIATE_FLOATING(binary_scalar, Device::CPU)
ATTN_INSTANTIATE_ALL_TYPES(compare_scalar, Device::CPU)
ATTN_INSTANTIATE(compare_scalar, Device::CPU, BFloat16)  // compares the widened values
ATTN_INSTANTIATE_FLOATING(where, Device::CPU)
ATTN_INSTANTIATE_FLOATING(relu_backward, Device::CPU)

}  // namespace attn::kernels
