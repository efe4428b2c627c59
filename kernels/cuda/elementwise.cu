// Element-wise kernels on the GPU: unary maps, binary ops with broadcasting,
// ops with a scalar, comparisons and where(). The twin of
// kernels/cpu/elementwise.cpp; read the two side by side.
//
// The shape of every kernel here is the same, and it is the first GPU pattern
// to learn: one thread per output element, in a grid-stride loop.
//
//   for (i = my global thread id; i < n; i += total threads in the grid)
//     out[i] = op(x[i]);
//
// Consecutive threads of a warp touch consecutive elements, so each warp's
// loads and stores are "coalesced" into a few wide memory transactions. The
// grid is capped (65535 blocks) and the loop covers whatever is left, so any n
// works with one launch, and n = 0 launches nothing.
//
// Broadcasting: each thread turns its flat output index into an N-d index and
// finds its operands through their strides (a stride of 0 re-reads the same
// element), exactly as the CPU does. Integer division is slow on a GPU, so
// before launching we merge the dims that can be walked as one, with the very
// StridedLoop the CPU uses (kernels/cpu/strided_loop.h). A contiguous tensor
// becomes one dim, and then a thread does no division at all. The shape and
// strides travel to the GPU by value, inside the kernel's arguments.
//
// Each op is a template argument, so the switch that picks it is resolved when
// the kernel is compiled: the loop body has no branch per element. The
// formulas mirror the CPU's (sigmoid's two branches, relu of NaN is 0, x^2 as
// x * x), so the two devices agree to the last bit or to a few ulps of the
// math library (expf, tanhf, powf), which tests/kernels/test_cuda_elementwise.cpp
// checks. One deliberate difference: the CPU computes float tanh through exp
// in double (a CPU speed trick, kernels/cpu/fast_math.h); here tanhf is fast
// and accurate to 2 ulps, so we use it.
#include <cuda_runtime.h>

#include "kernels/cpu/strided_loop.h"
#include "kernels/cuda/check.h"
#include "kernels/elementwise.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kThreads = 256;

// Blocks for n elements at kThreads per block, capped; 0 when n is 0.
unsigned blocks_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
  return static_cast<unsigned>(blocks);
}

// --- the math, one overload per type (float calls the f-suffixed function) ---
__device__ float exp_of(float x) { return expf(x); }
__device__ double exp_of(double x) { return exp(x); }
__device__ float log_of(float x) { return logf(x); }
__device__ double log_of(double x) { return log(x); }
__device__ float sqrt_of(float x) { return sqrtf(x); }
__device__ double sqrt_of(double x) { return sqrt(x); }
__device__ float tanh_of(float x) { return tanhf(x); }
__device__ double tanh_of(double x) { return tanh(x); }
__device__ float abs_of(float x) { return fabsf(x); }
__device__ double abs_of(double x) { return fabs(x); }
__device__ float pow_of(float a, float b) { return powf(a, b); }
__device__ double pow_of(double a, double b) { return pow(a, b); }

template <UnaryOp op, typename T>
__device__ T apply_unary(T x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return exp_of(x);
    case UnaryOp::Log: return log_of(x);
    case UnaryOp::Sqrt: return sqrt_of(x);
    case UnaryOp::Tanh: return tanh_of(x);
    case UnaryOp::Sigmoid: {
      // As on the CPU: only ever exponentiate a non-positive number, so e^-x
      // cannot overflow for very negative x.
      if (x >= T(0)) return T(1) / (T(1) + exp_of(-x));
      const T e = exp_of(x);
      return e / (T(1) + e);
    }
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Abs: return abs_of(x);
  }
  return T(0);
}

template <BinaryOp op, typename T>
__device__ T apply_binary(T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return pow_of(a, b);
    case BinaryOp::Maximum: return a > b ? a : b;
  }
  return T(0);
}

template <CompareOp op, typename T>
__device__ T apply_compare(T a, T b) {
  switch (op) {
    case CompareOp::Eq: return T(a == b);
    case CompareOp::Ne: return T(a != b);
    case CompareOp::Lt: return T(a < b);
    case CompareOp::Le: return T(a <= b);
    case CompareOp::Gt: return T(a > b);
    case CompareOp::Ge: return T(a >= b);
  }
  return T(0);
}

// --- broadcasting: the merged shape and the inputs' strides, by value ---
constexpr int kMaxInputs = 3;  // where() reads cond, a and b

struct Layout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxInputs][kMaxDims];  // [input][dim], in elements
};

// Merges the dims of `shape` the way the CPU does; input k reads through
// input_strides[k]. The contiguous output takes part (operand 0) so that a
// merge never breaks the output's flat order: flat index i of the merged
// shape is flat index i of the original one.
Layout make_layout(int ndim, const int64_t* shape, int inputs,
                   const int64_t* const* input_strides, int64_t* numel) {
  int64_t out_strides[kMaxDims];
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    out_strides[d] = stride;
    stride *= shape[d];
  }
  *numel = stride;
  const int64_t* all_strides[4] = {out_strides, nullptr, nullptr, nullptr};
  for (int k = 0; k < inputs; ++k) all_strides[k + 1] = input_strides[k];
  cpu::StridedLoop loop(ndim, shape, inputs + 1, all_strides);

  Layout layout{};
  layout.ndim = loop.ndim;
  for (int d = 0; d < loop.ndim; ++d) {
    layout.shape[d] = loop.shape[d];
    for (int k = 0; k < inputs; ++k) layout.strides[k][d] = loop.strides[k + 1][d];
  }
  return layout;
}

// Where flat output element i lives in each of the first `inputs` inputs.
// Dim 0 needs no division: what is left of i after the inner dims is its index.
template <int inputs>
__device__ void locate(const Layout& layout, int64_t i, int64_t* offsets) {
  for (int k = 0; k < inputs; ++k) offsets[k] = 0;
  int64_t rest = i;
  for (int d = layout.ndim - 1; d > 0; --d) {
    const int64_t index = rest % layout.shape[d];
    rest /= layout.shape[d];
    for (int k = 0; k < inputs; ++k) offsets[k] += index * layout.strides[k][d];
  }
  for (int k = 0; k < inputs; ++k) offsets[k] += rest * layout.strides[k][0];
}

// --- the kernels ---
// Every kernel's loop: i runs over [0, n) with the whole grid's stride.
#define ATTN_GRID_STRIDE_LOOP(i, n)                                           \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

template <UnaryOp op, typename T>
__global__ void unary_kernel(int64_t n, const T* x, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) { out[i] = apply_unary<op>(x[i]); }
}

template <BinaryOp op, typename T>
__global__ void binary_kernel(Layout layout, int64_t n, const T* a, const T* b, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) {
    int64_t offsets[2];
    locate<2>(layout, i, offsets);
    out[i] = apply_binary<op>(a[offsets[0]], b[offsets[1]]);
  }
}

// x^2 has its own kernel, as on the CPU: x * x is exact and cheaper than pow.
template <typename T>
__global__ void square_kernel(int64_t n, const T* x, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) { out[i] = x[i] * x[i]; }
}

template <BinaryOp op, typename T>
__global__ void binary_scalar_kernel(int64_t n, const T* x, T scalar, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) { out[i] = apply_binary<op>(x[i], scalar); }
}

template <CompareOp op, typename T>
__global__ void compare_scalar_kernel(int64_t n, const T* x, T scalar, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) { out[i] = apply_compare<op>(x[i], scalar); }
}

template <typename T>
__global__ void where_kernel(Layout layout, int64_t n, const int64_t* cond, const T* a, const T* b,
                             T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) {
    int64_t offsets[3];
    locate<3>(layout, i, offsets);
    out[i] = cond[offsets[0]] != 0 ? a[offsets[1]] : b[offsets[2]];
  }
}

// kernels/cpu/elementwise.cpp's relu_backward: the gradient where y > 0.
template <typename T>
__global__ void relu_backward_kernel(int64_t n, const T* y, const T* grad, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) { out[i] = y[i] > T(0) ? grad[i] : T(0); }
}

#undef ATTN_GRID_STRIDE_LOOP

// --- launchers: the switch on the op code runs once, on the host ---
template <UnaryOp op, typename T>
void launch_unary(int64_t n, const T* x, T* out) {
  unary_kernel<op, T><<<blocks_for(n), kThreads>>>(n, x, out);
  check_launch("unary_kernel");
}

template <BinaryOp op, typename T>
void launch_binary(const Layout& layout, int64_t n, const T* a, const T* b, T* out) {
  binary_kernel<op, T><<<blocks_for(n), kThreads>>>(layout, n, a, b, out);
  check_launch("binary_kernel");
}

template <BinaryOp op, typename T>
void launch_binary_scalar(int64_t n, const T* x, T scalar, T* out) {
  binary_scalar_kernel<op, T><<<blocks_for(n), kThreads>>>(n, x, scalar, out);
  check_launch("binary_scalar_kernel");
}

template <CompareOp op, typename T>
void launch_compare(int64_t n, const T* x, T scalar, T* out) {
  compare_scalar_kernel<op, T><<<blocks_for(n), kThreads>>>(n, x, scalar, out);
  check_launch("compare_scalar_kernel");
}

}  // namespace

template <Device D, typename T>
void unary(UnaryOp op, int64_t n, const T* x, T* out) {
  if (n == 0) return;
  switch (op) {
    case UnaryOp::Neg: return launch_unary<UnaryOp::Neg>(n, x, out);
    case UnaryOp::Exp: return launch_unary<UnaryOp::Exp>(n, x, out);
    case UnaryOp::Log: return launch_unary<UnaryOp::Log>(n, x, out);
    case UnaryOp::Sqrt: return launch_unary<UnaryOp::Sqrt>(n, x, out);
    case UnaryOp::Tanh: return launch_unary<UnaryOp::Tanh>(n, x, out);
    case UnaryOp::Sigmoid: return launch_unary<UnaryOp::Sigmoid>(n, x, out);
    case UnaryOp::Relu: return launch_unary<UnaryOp::Relu>(n, x, out);
    case UnaryOp::Abs: return launch_unary<UnaryOp::Abs>(n, x, out);
  }
}

template <Device D, typename T>
void binary(BinaryOp op, int ndim, const int64_t* shape, const T* a, const int64_t* a_strides,
            const T* b, const int64_t* b_strides, T* out) {
  const int64_t* strides[2] = {a_strides, b_strides};
  int64_t n = 0;
  const Layout layout = make_layout(ndim, shape, 2, strides, &n);
  if (n == 0) return;
  switch (op) {
    case BinaryOp::Add: return launch_binary<BinaryOp::Add>(layout, n, a, b, out);
    case BinaryOp::Sub: return launch_binary<BinaryOp::Sub>(layout, n, a, b, out);
    case BinaryOp::Mul: return launch_binary<BinaryOp::Mul>(layout, n, a, b, out);
    case BinaryOp::Div: return launch_binary<BinaryOp::Div>(layout, n, a, b, out);
    case BinaryOp::Pow: return launch_binary<BinaryOp::Pow>(layout, n, a, b, out);
    case BinaryOp::Maximum: return launch_binary<BinaryOp::Maximum>(layout, n, a, b, out);
  }
}

template <Device D, typename T>
void binary_scalar(BinaryOp op, int64_t n, const T* x, T s, T* out) {
  if (n == 0) return;
  switch (op) {
    case BinaryOp::Add: return launch_binary_scalar<BinaryOp::Add>(n, x, s, out);
    case BinaryOp::Sub: return launch_binary_scalar<BinaryOp::Sub>(n, x, s, out);
    case BinaryOp::Mul: return launch_binary_scalar<BinaryOp::Mul>(n, x, s, out);
    case BinaryOp::Div: return launch_binary_scalar<BinaryOp::Div>(n, x, s, out);
    case BinaryOp::Pow:
      if (s == T(2)) {
        square_kernel<T><<<blocks_for(n), kThreads>>>(n, x, out);
        check_launch("square_kernel");
        return;
      }
      return launch_binary_scalar<BinaryOp::Pow>(n, x, s, out);
    case BinaryOp::Maximum: return launch_binary_scalar<BinaryOp::Maximum>(n, x, s, out);
  }
}

template <Device D, typename T>
void compare_scalar(CompareOp op, int64_t n, const T* x, T s, T* out) {
  if (n == 0) return;
  switch (op) {
    case CompareOp::Eq: return launch_compare<CompareOp::Eq>(n, x, s, out);
    case CompareOp::Ne: return launch_compare<CompareOp::Ne>(n, x, s, out);
    case CompareOp::Lt: return launch_compare<CompareOp::Lt>(n, x, s, out);
    case CompareOp::Le: return launch_compare<CompareOp::Le>(n, x, s, out);
    case CompareOp::Gt: return launch_compare<CompareOp::Gt>(n, x, s, out);
    case CompareOp::Ge: return launch_compare<CompareOp::Ge>(n, x, s, out);
  }
}

template <Device D, typename T>
void where(int ndim, const int64_t* shape, const int64_t* cond, const int64_t* cond_strides,
           const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides, T* out) {
  const int64_t* strides[3] = {cond_strides, a_strides, b_strides};
  int64_t n = 0;
  const Layout layout = make_layout(ndim, shape, 3, strides, &n);
  if (n == 0) return;
  where_kernel<T><<<blocks_for(n), kThreads>>>(layout, n, cond, a, b, out);
  check_launch("where_kernel");
}

template <Device D, typename T>
void relu_backward(int64_t n, const T* y, const T* grad, T* out) {
  if (n == 0) return;
  relu_backward_kernel<T><<<blocks_for(n), kThreads>>>(n, y, grad, out);
  check_launch("relu_backward_kernel");
}

ATTN_INSTANTIATE_FLOATING(unary, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(binary, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(binary_scalar, Device::CUDA)
ATTN_INSTANTIATE_ALL_TYPES(compare_scalar, Device::CUDA)
ATTN_INSTANTIATE(compare_scalar, Device::CUDA, BFloat16)  // compares the widened values
ATTN_INSTANTIATE_FLOATING(where, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(relu_backward, Device::CUDA)

}  // namespace attn::kernels
