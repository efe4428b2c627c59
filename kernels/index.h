// Gathering rows by index and its deterministic backward: embedding lookup
// and index_select.
//
// Declared once, for every device D and element type T; the definitions are
// kernels/cpu/index.cpp and kernels/cuda/index.cu. index_select exists for
// float, double and int64_t; index_add for float and double.
#pragma once

#include <cstdint>

#include "kernels/bfloat16.h"
#include "kernels/dispatch.h"

namespace attn::kernels {

// Gathers along the middle dim: out[o, j, i] = src[o, index[j], i], src
// (outer, src_n, inner), index (index_n), out (outer, index_n, inner).
// Embedding lookup is the case outer = 1. Indices must be in [0, src_n); the
// caller checks.
template <Device D, typename T>
void index_select(const T* src, int64_t outer, int64_t src_n, int64_t inner, const int64_t* index,
                  int64_t index_n, T* out);

// The backward: dst[o, index[j], i] += grad[o, j, i], in order of j, so the
// result is deterministic. grad (outer, index_n, inner), dst (outer, dst_n,
// inner). Rows j with index[j] == skip_index are left out (the embedding's
// padding index; pass -1 for none). dst is not cleared.
template <Device D, typename T>
void index_add(const T* grad, int64_t outer, int64_t index_n, int64_t inner, const int64_t* index,
               int64_t skip_index, int64_t dst_n, T* dst);

}  // namespace attn::kernels
