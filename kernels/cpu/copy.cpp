// Copy kernels: gather a strided view into a contiguous buffer, scatter a
// contiguous buffer into a strided view, fill, and convert between dtypes.
//
// contiguous(), concat, the backward of a slice and the backward of expand all
// come down to these loops.
#include "kernels/copy.h"
#include "kernels/cpu/strided_loop.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

void contiguous_strides_of(int ndim, const int64_t* shape, int64_t* strides) {
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= shape[d];
  }
}

}  // namespace

template <Device D, typename T>
void copy_strided(int ndim, const int64_t* shape, const T* src, const int64_t* src_strides,
                  T* dst) {
  int64_t dst_strides[kMaxDims];
  contiguous_strides_of(ndim, shape, dst_strides);
  const int64_t* strides[2] = {dst_strides, src_strides};
  StridedLoop loop(ndim, shape, 2, strides);
  const int64_t n = loop.inner_size();
  const int64_t s = loop.inner_stride(1);
  for_each_row(loop, [&](int64_t, const int64_t* offsets) {
    T* d = dst + offsets[0];
    const T* p = src + offsets[1];
    if (s == 1) {
      for (int64_t i = 0; i < n; ++i) d[i] = p[i];
    } else {
      for (int64_t i = 0; i < n; ++i) d[i] = p[i * s];
    }
  });
}

template <Device D, typename T>
void copy_into_strided(int ndim, const int64_t* shape, const T* src, T* dst,
                       const int64_t* dst_strides, bool accumulate) {
  int64_t src_strides[kMaxDims];
  contiguous_strides_of(ndim, shape, src_strides);
  const int64_t* strides[2] = {dst_strides, src_strides};
  StridedLoop loop(ndim, shape, 2, strides);
  const int64_t n = loop.inner_size();
  const int64_t s = loop.inner_stride(0);
  // A destination with a 0 stride (an expanded view) would have several rows
  // writing one element: run those serially so the sum is deterministic.
  bool overlapping = false;
  for (int d = 0; d < loop.ndim; ++d) {
    if (loop.strides[0][d] == 0 && loop.shape[d] > 1) overlapping = true;
  }
  auto row = [&](int64_t, const int64_t* offsets) {
    T* d = dst + offsets[0];
    const T* p = src + offsets[1];
    if (accumulate) {
      for (int64_t i = 0; i < n; ++i) d[i * s] += p[i];
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * s] = p[i];
    }
  };
  if (overlapping) {
    int64_t offsets[2];
    for (int64_t r = 0; r < loop.rows(); ++r) {
      offsets[0] = loop.row_offset(r, 0);
      offsets[1] = loop.row_offset(r, 1);
      row(r, offsets);
    }
  } else {
    for_each_row(loop, row);
  }
}

template <Device D, typename T>
void fill(int64_t n, T value, T* out) {
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = value;
  });
}

template <Device D, typename From, typename To>
void convert(int64_t n, const From* src, To* dst) {
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<To>(src[i]);
  });
}

// The CPU definitions of kernels/copy.h, for the element types it names.
ATTN_INSTANTIATE_ALL_TYPES(copy_strided, Device::CPU)
ATTN_INSTANTIATE_ALL_TYPES(copy_into_strided, Device::CPU)
ATTN_INSTANTIATE_ALL_TYPES(fill, Device::CPU)
ATTN_INSTANTIATE_CONVERT(Device::CPU)
// bfloat16 tensors are copied and filled like any other (kernels/bfloat16.h).
ATTN_INSTANTIATE(copy_strided, Device::CPU, BFloat16)
ATTN_INSTANTIATE(copy_into_strided, Device::CPU, BFloat16)
ATTN_INSTANTIATE(fill, Device::CPU, BFloat16)

}  // namespace attn::kernels
