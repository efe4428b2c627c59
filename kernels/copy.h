// Copies, fills and type conversions on raw buffers: what contiguous(),
// slicing assignments, zeros() and to(dtype) come down to.
//
// Each kernel is declared once, for every device D and element type T; the
// definitions are kernels/cpu/copy.cpp and kernels/cuda/copy.cu
// (kernels/dispatch.h says how an op picks one). Element types: float,
// double, int64_t and BFloat16 (kernels/bfloat16.h).
//
// "Strided" buffers come with one stride per dim of `shape`, in elements; a
// stride of 0 repeats the element (broadcasting). Contiguous buffers are
// row-major.
#pragma once

#include <cstdint>

#include "kernels/bfloat16.h"
#include "kernels/dispatch.h"

namespace attn::kernels {

// The largest number of dims a strided kernel accepts.
constexpr int kMaxDims = 8;

// Gathers a strided view into a contiguous buffer (what contiguous() does).
//   src: `shape` read through src_strides; dst: `shape`, contiguous.
template <Device D, typename T>
void copy_strided(int ndim, const int64_t* shape, const T* src, const int64_t* src_strides,
                  T* dst);

// The opposite: scatters a contiguous buffer into a strided view (dst[view] =
// src), or adds it (dst[view] += src) when accumulate is true.
template <Device D, typename T>
void copy_into_strided(int ndim, const int64_t* shape, const T* src, T* dst,
                       const int64_t* dst_strides, bool accumulate);

// out[i] = value for i in [0, n).
template <Device D, typename T>
void fill(int64_t n, T value, T* out);

// dst[i] = To(src[i]) for i in [0, n): float <-> double <-> int64 (truncating
// towards zero to int64) <-> bfloat16 (rounding to nearest even into bfloat16,
// through float from double and int64; exact out of it).
template <Device D, typename From, typename To>
void convert(int64_t n, const From* src, To* dst);

// The twelve (From, To) pairs of convert that exist, for the instantiation
// lines of kernels/cpu/copy.cpp and kernels/cuda/copy.cu.
#define ATTN_INSTANTIATE_CONVERT(device)          \
  ATTN_INSTANTIATE(convert, device, float, double)  \
  ATTN_INSTANTIATE(convert, device, double, float)  \
  ATTN_INSTANTIATE(convert, device, int64_t, float) \
  ATTN_INSTANTIATE(convert, device, int64_t, double) \
  ATTN_INSTANTIATE(convert, device, float, int64_t) \
  ATTN_INSTANTIATE(convert, device, double, int64_t) \
  ATTN_INSTANTIATE(convert, device, float, BFloat16) \
  ATTN_INSTANTIATE(convert, device, double, BFloat16) \
  ATTN_INSTANTIATE(convert, device, int64_t, BFloat16) \
  ATTN_INSTANTIATE(convert, device, BFloat16, float) \
  ATTN_INSTANTIATE(convert, device, BFloat16, double) \
  ATTN_INSTANTIATE(convert, device, BFloat16, int64_t)

}  // namespace attn::kernels
