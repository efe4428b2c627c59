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
  for_each_row(loop, [&](int64_t, const int64_t* offsets) {
    T* o = out + offsets[0];
    const T* pa = a + offsets[1];
    const T* pb = b + offsets[2];
    // The three common layouts get loops without stride multiplications.
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = op(pa[i], pb[i]);
    } else if (sa == 1 && sb == 0) {
      const T vb = pb[0];
      for (int64_t i = 0; i < n; ++i) o[i] = op(pa[i], vb);
    } else if (sa == 0 && sb == 1) {
      const T va = pa[0];
      for (int64_t i = 0; i < n; ++i) o[i] = op(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i] = op(pa[i * sa], pb[i * sb]);
    }
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
  for_each_row(loop, [&](int64_t, const int64_t* offsets) {
    T* o = out + offsets[0];
    const int64_t* pc = cond + offsets[1];
    const T* pa = a + offsets[2];
    const T* pb = b + offsets[3];
    for (int64_t i = 0; i < n; ++i) o[i] = pc[i * sc] != 0 ? pa[i * sa] : pb[i * sb];
  });
}

// The CPU definitions of kernels/elementwise.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(unary, Device::CPU)
ATTN_INSTANTIATE_FLOATING(binary, Device::CPU)
ATTN_INSTANTIATE_FLOATING(binary_scalar, Device::CPU)
ATTN_INSTANTIATE_ALL_TYPES(compare_scalar, Device::CPU)
ATTN_INSTANTIATE_FLOATING(where, Device::CPU)

}  // namespace attn::kernels
