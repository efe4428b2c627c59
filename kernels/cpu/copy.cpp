// Copy kernels: gather a strided view into a contiguous buffer, scatter a
// contiguous buffer into a strided view, fill, and convert between dtypes.
//
// contiguous(), concat, the backward of a slice and the backward of expand all
// come down to these loops.
#include "kernels/cpu.h"
#include "kernels/cpu/strided_loop.h"

namespace attn::kernels::cpu {
namespace {

void contiguous_strides_of(int ndim, const int64_t* shape, int64_t* strides) {
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= shape[d];
  }
}

template <typename T>
void copy_strided_impl(int ndim, const int64_t* shape, const T* src, const int64_t* src_strides,
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

template <typename T>
void copy_into_strided_impl(int ndim, const int64_t* shape, const T* src, T* dst,
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

template <typename T>
void fill_impl(int64_t n, T value, T* out) {
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = value;
  });
}

template <typename From, typename To>
void convert_impl(int64_t n, const From* src, To* dst) {
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<To>(src[i]);
  });
}

}  // namespace

void copy_strided(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst) {
  copy_strided_impl(ndim, shape, src, src_strides, dst);
}
void copy_strided(int ndim, const int64_t* shape, const double* src, const int64_t* src_strides,
                  double* dst) {
  copy_strided_impl(ndim, shape, src, src_strides, dst);
}
void copy_strided(int ndim, const int64_t* shape, const int64_t* src,
                  const int64_t* src_strides, int64_t* dst) {
  copy_strided_impl(ndim, shape, src, src_strides, dst);
}

void copy_into_strided(int ndim, const int64_t* shape, const float* src, float* dst,
                       const int64_t* dst_strides, bool accumulate) {
  copy_into_strided_impl(ndim, shape, src, dst, dst_strides, accumulate);
}
void copy_into_strided(int ndim, const int64_t* shape, const double* src, double* dst,
                       const int64_t* dst_strides, bool accumulate) {
  copy_into_strided_impl(ndim, shape, src, dst, dst_strides, accumulate);
}
void copy_into_strided(int ndim, const int64_t* shape, const int64_t* src, int64_t* dst,
                       const int64_t* dst_strides, bool accumulate) {
  copy_into_strided_impl(ndim, shape, src, dst, dst_strides, accumulate);
}

void fill(int64_t n, float value, float* out) { fill_impl(n, value, out); }
void fill(int64_t n, double value, double* out) { fill_impl(n, value, out); }
void fill(int64_t n, int64_t value, int64_t* out) { fill_impl(n, value, out); }

void convert(int64_t n, const float* src, double* dst) { convert_impl(n, src, dst); }
void convert(int64_t n, const double* src, float* dst) { convert_impl(n, src, dst); }
void convert(int64_t n, const int64_t* src, float* dst) { convert_impl(n, src, dst); }
void convert(int64_t n, const int64_t* src, double* dst) { convert_impl(n, src, dst); }
void convert(int64_t n, const float* src, int64_t* dst) { convert_impl(n, src, dst); }
void convert(int64_t n, const double* src, int64_t* dst) { convert_impl(n, src, dst); }

}  // namespace attn::kernels::cpu
