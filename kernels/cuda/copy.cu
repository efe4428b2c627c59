// Copy kernels on the GPU: gather a strided view into a contiguous buffer,
// scatter a contiguous buffer into a strided view (or add it there), fill, and
// convert between dtypes. The twin of kernels/cpu/copy.cpp.
//
// All of them are one thread per element in a grid-stride loop, like
// elementwise.cu; a copy has no arithmetic, so these kernels only move memory
// and their speed is the speed of the loads and stores. The dims are merged
// first with the CPU's StridedLoop (kernels/cpu/strided_loop.h), so copying a
// contiguous tensor costs no index arithmetic beyond i itself.
//
// The one kernel with a trap is the scatter, copy_into_strided. When the
// destination has a stride of 0 (an expanded view: the backward of expand adds
// every row of the gradient into one row), several source elements land on
// the same destination element. One thread per source element would then
// race: with plain stores the winner is whoever comes last; with atomicAdd the
// sum is right but its rounding depends on the order the threads happen to
// run, so two runs could differ. The CPU runs such views serially, so each
// destination element receives its source elements in increasing flat order.
// We give the GPU the same order: the dims are split into "target" dims (the
// ones with a nonzero destination stride) and "repeat" dims (stride 0); one
// thread owns one destination element, walks its repeat dims in row-major
// order, and adds (or, without accumulate, overwrites) in that order. The
// result is bit-identical to the CPU's, and a view without 0 strides simply
// has no repeat dims: one iteration per thread, one plain copy.
//
// Views whose nonzero strides overlap (two different indices with the same
// address) cannot be made by attn's view ops and are not supported, here or
// on the CPU.
#include <cuda_runtime.h>

#include "kernels/copy.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/cuda/check.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
  return static_cast<unsigned>(blocks);
}

#define ATTN_GRID_STRIDE_LOOP(i, n)                                           \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

void contiguous_strides_of(int ndim, const int64_t* shape, int64_t* strides, int64_t* numel) {
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= shape[d];
  }
  *numel = stride;
}

// --- copy_strided: dst[i] = src[offset of flat index i] ---
struct GatherLayout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t src_strides[kMaxDims];
};

template <typename T>
__global__ void copy_strided_kernel(GatherLayout layout, int64_t n, const T* src, T* dst) {
  ATTN_GRID_STRIDE_LOOP(i, n) {
    int64_t rest = i, offset = 0;
    for (int d = layout.ndim - 1; d > 0; --d) {
      offset += (rest % layout.shape[d]) * layout.src_strides[d];
      rest /= layout.shape[d];
    }
    offset += rest * layout.src_strides[0];  // dim 0: what is left is its index
    dst[i] = src[offset];
  }
}

// --- copy_into_strided: dst[view] = src or dst[view] += src ---
// The merged dims split in two (see the header): target dims, where the
// destination moves, and repeat dims, where it stays put (stride 0).
struct ScatterLayout {
  int target_ndim;
  int64_t target_shape[kMaxDims];
  int64_t target_dst_strides[kMaxDims];
  int64_t target_src_strides[kMaxDims];
  int repeat_ndim;
  int64_t repeat_shape[kMaxDims];
  int64_t repeat_src_strides[kMaxDims];
};

// Thread t owns destination element t (in the row-major order of the target
// dims) and applies its `repeats` source elements in increasing flat order,
// the CPU's serial order.
template <typename T>
__global__ void copy_into_strided_kernel(ScatterLayout layout, int64_t targets, int64_t repeats,
                                         const T* src, T* dst, bool accumulate) {
  ATTN_GRID_STRIDE_LOOP(t, targets) {
    int64_t rest = t, dst_offset = 0, src_offset = 0;
    for (int d = layout.target_ndim - 1; d >= 0; --d) {
      const int64_t index = rest % layout.target_shape[d];
      rest /= layout.target_shape[d];
      dst_offset += index * layout.target_dst_strides[d];
      src_offset += index * layout.target_src_strides[d];
    }
    T value = accumulate ? dst[dst_offset] : T(0);
    for (int64_t r = 0; r < repeats; ++r) {
      int64_t r_rest = r, offset = src_offset;
      for (int d = layout.repeat_ndim - 1; d >= 0; --d) {
        offset += (r_rest % layout.repeat_shape[d]) * layout.repeat_src_strides[d];
        r_rest /= layout.repeat_shape[d];
      }
      // Without accumulate the last write wins, as in the CPU's serial loop.
      value = accumulate ? T(value + src[offset]) : src[offset];  // T(): a bfloat16 sum rounds
    }
    dst[dst_offset] = value;
  }
}

// --- fill and convert ---
template <typename T>
__global__ void fill_kernel(int64_t n, T value, T* out) {
  ATTN_GRID_STRIDE_LOOP(i, n) { out[i] = value; }
}

// static_cast as on the CPU: float -> int64 truncates toward zero (the GPU's
// cvt.rzi), int64 -> float rounds to nearest. Values outside int64's range
// (and NaN) are undefined in C++; the two devices may disagree there.
template <typename From, typename To>
__global__ void convert_kernel(int64_t n, const From* src, To* dst) {
  ATTN_GRID_STRIDE_LOOP(i, n) { dst[i] = static_cast<To>(src[i]); }
}

#undef ATTN_GRID_STRIDE_LOOP

}  // namespace

template <Device D, typename T>
void copy_strided(int ndim, const int64_t* shape, const T* src, const int64_t* src_strides,
                  T* dst) {
  int64_t dst_strides[kMaxDims];
  int64_t n = 0;
  contiguous_strides_of(ndim, shape, dst_strides, &n);
  if (n == 0) return;
  // Operand 0, the contiguous destination, keeps flat index i meaning the same
  // element before and after the merge.
  const int64_t* strides[2] = {dst_strides, src_strides};
  const cpu::StridedLoop loop(ndim, shape, 2, strides);
  GatherLayout layout{};
  layout.ndim = loop.ndim;
  for (int d = 0; d < loop.ndim; ++d) {
    layout.shape[d] = loop.shape[d];
    layout.src_strides[d] = loop.strides[1][d];
  }
  copy_strided_kernel<T><<<blocks_for(n), kThreads>>>(layout, n, src, dst);
  check_launch("copy_strided_kernel");
}

template <Device D, typename T>
void copy_into_strided(int ndim, const int64_t* shape, const T* src, T* dst,
                       const int64_t* dst_strides, bool accumulate) {
  int64_t src_strides[kMaxDims];
  int64_t n = 0;
  contiguous_strides_of(ndim, shape, src_strides, &n);
  if (n == 0) return;
  const int64_t* strides[2] = {dst_strides, src_strides};
  const cpu::StridedLoop loop(ndim, shape, 2, strides);

  ScatterLayout layout{};
  int64_t targets = 1, repeats = 1;
  for (int d = 0; d < loop.ndim; ++d) {
    if (loop.strides[0][d] == 0) {
      layout.repeat_shape[layout.repeat_ndim] = loop.shape[d];
      layout.repeat_src_strides[layout.repeat_ndim] = loop.strides[1][d];
      ++layout.repeat_ndim;
      repeats *= loop.shape[d];
    } else {
      layout.target_shape[layout.target_ndim] = loop.shape[d];
      layout.target_dst_strides[layout.target_ndim] = loop.strides[0][d];
      layout.target_src_strides[layout.target_ndim] = loop.strides[1][d];
      ++layout.target_ndim;
      targets *= loop.shape[d];
    }
  }
  copy_into_strided_kernel<T>
      <<<blocks_for(targets), kThreads>>>(layout, targets, repeats, src, dst, accumulate);
  check_launch("copy_into_strided_kernel");
}

template <Device D, typename T>
void fill(int64_t n, T value, T* out) {
  if (n == 0) return;
  fill_kernel<T><<<blocks_for(n), kThreads>>>(n, value, out);
  check_launch("fill_kernel");
}

template <Device D, typename From, typename To>
void convert(int64_t n, const From* src, To* dst) {
  if (n == 0) return;
  convert_kernel<From, To><<<blocks_for(n), kThreads>>>(n, src, dst);
  check_launch("convert_kernel");
}

ATTN_INSTANTIATE_ALL_TYPES(copy_strided, Device::CUDA)
ATTN_INSTANTIATE_ALL_TYPES(copy_into_strided, Device::CUDA)
ATTN_INSTANTIATE_ALL_TYPES(fill, Device::CUDA)
ATTN_INSTANTIATE_CONVERT(Device::CUDA)
// bfloat16 tensors are copied and filled like any other (kernels/bfloat16.h).
ATTN_INSTANTIATE(copy_strided, Device::CUDA, BFloat16)
ATTN_INSTANTIATE(copy_into_strided, Device::CUDA, BFloat16)
ATTN_INSTANTIATE(fill, Device::CUDA, BFloat16)

}  // namespace attn::kernels
