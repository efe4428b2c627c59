// Walking strided views: the loop under every element-wise and copy kernel.
//
// An element-wise op over an N-d output reads each operand through its own
// strides (0 where it is broadcast). We walk the output one innermost row at a
// time: for row r we work out where the row starts in every operand, then the
// row itself is a simple 1-d loop with a fixed stride per operand, which the
// compiler can vectorize when those strides are 1.
//
// Before walking, adjacent dims that are laid out one after the other in every
// operand are merged ("coalesced"): a contiguous (64, 20, 128) tensor becomes one
// row of 163840 elements, so the common contiguous case costs one loop.
#pragma once

#include <cstdint>

#include "kernels/copy.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels::cpu {

// A shape and the strides of `operands` views over it, with mergeable dims merged.
struct StridedLoop {
  int ndim = 0;
  int operands = 0;
  int64_t shape[kMaxDims];
  int64_t strides[4][kMaxDims];  // [operand][dim]

  StridedLoop(int in_ndim, const int64_t* in_shape, int in_operands,
              const int64_t* const* in_strides) {
    operands = in_operands;
    // Drop size-1 dims: their stride never matters.
    for (int d = 0; d < in_ndim; ++d) {
      if (in_shape[d] == 1) continue;
      shape[ndim] = in_shape[d];
      for (int k = 0; k < operands; ++k) strides[k][ndim] = in_strides[k][d];
      ++ndim;
    }
    // Merge dim d into dim d+1 when, for every operand, stepping d once equals
    // stepping d+1 through its whole size.
    int merged = 0;
    for (int d = 0; d < ndim; ++d) {
      if (merged > 0) {
        bool can_merge = true;
        for (int k = 0; k < operands; ++k) {
          if (strides[k][merged - 1] != strides[k][d] * shape[d]) can_merge = false;
        }
        if (can_merge) {
          shape[merged - 1] *= shape[d];
          for (int k = 0; k < operands; ++k) strides[k][merged - 1] = strides[k][d];
          continue;
        }
      }
      shape[merged] = shape[d];
      for (int k = 0; k < operands; ++k) strides[k][merged] = strides[k][d];
      ++merged;
    }
    ndim = merged;
    if (ndim == 0) {  // a scalar, or all dims of size 1: one row of one element
      ndim = 1;
      shape[0] = 1;
      for (int k = 0; k < operands; ++k) strides[k][0] = 0;
    }
  }

  int64_t inner_size() const { return shape[ndim - 1]; }
  int64_t inner_stride(int operand) const { return strides[operand][ndim - 1]; }

  int64_t rows() const {
    int64_t n = 1;
    for (int d = 0; d < ndim - 1; ++d) n *= shape[d];
    return n;
  }

  // Offset (in elements) at which row `row` starts in operand k.
  int64_t row_offset(int64_t row, int operand) const {
    int64_t offset = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      int64_t i = row % shape[d];
      row /= shape[d];
      offset += i * strides[operand][d];
    }
    return offset;
  }
};

// Calls row_fn(row, offsets) for every innermost row, offsets[k] being where the
// row starts in operand k; rows are split over the cores when the work is large.
//
// Only the first row of a chunk is located with row_offset's divisions; the
// next rows step an odometer over the outer dims (add one stride, carry into
// the next dim at its end), because a division per dim per row cost more
// than the row itself when rows are short (a head's 32 floats when attention
// heads are split off or merged back).
template <typename RowFn>
void for_each_row(const StridedLoop& loop, const RowFn& row_fn) {
  parallel_for(loop.rows(), loop.inner_size(), [&](int64_t begin, int64_t end) {
    if (begin >= end) return;
    const int outer = loop.ndim - 1;  // dims 0 .. outer-1 index the rows
    int64_t index[kMaxDims];
    int64_t offsets[4];
    int64_t rest = begin;
    for (int d = outer - 1; d >= 0; --d) {
      index[d] = rest % loop.shape[d];
      rest /= loop.shape[d];
    }
    for (int k = 0; k < loop.operands; ++k) offsets[k] = loop.row_offset(begin, k);
    for (int64_t row = begin; row < end; ++row) {
      row_fn(row, offsets);
      for (int d = outer - 1; d >= 0; --d) {  // the odometer: next row
        if (++index[d] < loop.shape[d]) {
          for (int k = 0; k < loop.operands; ++k) offsets[k] += loop.strides[k][d];
          break;
        }
        index[d] = 0;
        for (int k = 0; k < loop.operands; ++k) {
          offsets[k] -= (loop.shape[d] - 1) * loop.strides[k][d];
        }
      }
    }
  });
}

}  // namespace attn::kernels::cpu
