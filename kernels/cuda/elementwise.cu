// Element-wise binary ops on the GPU, the twin of kernels/cpu/elementwise.cpp.
//
// One thread per output element, in a grid-stride loop (a grid of any size
// covers any n). Each thread turns its flat index into an N-d index to find its
// operands through their strides, so broadcasting costs nothing extra, just as
// on the CPU. The strides travel to the GPU by value inside a small struct.
#include <cuda_runtime.h>

#include "kernels/cuda.h"
#include "kernels/cuda/check.h"

namespace attn::kernels::cuda {
namespace {

struct BinaryArgs {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t a_strides[kMaxDims];
  int64_t b_strides[kMaxDims];
};

__device__ float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return powf(a, b);
    case BinaryOp::Maximum: return a > b ? a : b;
  }
  return 0.0f;
}

// The op is a template argument so the switch above folds away at compile time.
template <BinaryOp op>
__global__ void binary_kernel(BinaryArgs args, int64_t n, const float* a, const float* b,
                              float* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, offset_a = 0, offset_b = 0;
    for (int d = args.ndim - 1; d >= 0; --d) {
      int64_t index = rest % args.shape[d];
      rest /= args.shape[d];
      offset_a += index * args.a_strides[d];
      offset_b += index * args.b_strides[d];
    }
    out[i] = apply(op, a[offset_a], b[offset_b]);
  }
}

template <BinaryOp op>
void launch(const BinaryArgs& args, int64_t n, const float* a, const float* b, float* out) {
  const int threads = 256;
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
  if (blocks == 0) return;
  binary_kernel<op><<<static_cast<unsigned>(blocks), threads>>>(args, n, a, b, out);
  check_launch("binary_kernel");
}

}  // namespace

void binary(BinaryOp op, int ndim, const int64_t* shape, const float* a, const int64_t* a_strides,
            const float* b, const int64_t* b_strides, float* out) {
  BinaryArgs args{};
  args.ndim = ndim;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) {
    args.shape[d] = shape[d];
    args.a_strides[d] = a_strides[d];
    args.b_strides[d] = b_strides[d];
    n *= shape[d];
  }
  switch (op) {
    case BinaryOp::Add: return launch<BinaryOp::Add>(args, n, a, b, out);
    case BinaryOp::Sub: return launch<BinaryOp::Sub>(args, n, a, b, out);
    case BinaryOp::Mul: return launch<BinaryOp::Mul>(args, n, a, b, out);
    case BinaryOp::Div: return launch<BinaryOp::Div>(args, n, a, b, out);
    case BinaryOp::Pow: return launch<BinaryOp::Pow>(args, n, a, b, out);
    case BinaryOp::Maximum: return launch<BinaryOp::Maximum>(args, n, a, b, out);
  }
}

}  // namespace attn::kernels::cuda
