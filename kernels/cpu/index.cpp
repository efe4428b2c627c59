// Gather along the middle dim, and its backward, a scatter-add.
//
// With src seen as (outer, src_n, inner):
//   index_select:  out[o, j, i]         = src[o, index[j], i]
//   index_add:     dst[o, index[j], i] += grad[o, j, i]      (j in increasing order)
// The second is the gradient of the first: each out element was a copy of one
// src element, so its gradient flows back to that element, and a src row
// picked several times (a token that occurs twice in a batch) receives the sum.
// An embedding lookup is the case outer = 1: index holds the token ids and
// each picked "row" is one embedding vector of `inner` values.
//
// index_select moves whole rows of `inner` contiguous values, and each output
// row has one writer, so it splits over (o, j) freely.
//
// index_add is where naive threading goes wrong: two j with the same index
// write the same dst row, and splitting over j would make them race (and the
// order of float adds, hence the result, would depend on timing). Instead each
// thread owns a range of dst rows, scans all of index, and applies only the
// adds that land in its range, in increasing j. Every dst element then sees
// exactly the serial sequence of adds, so the result is bit-identical to a
// one-thread loop. Scanning the index once per thread is cheap next to the
// `inner`-wide adds.
#include <algorithm>
#include <cstdint>

#include "kernels/index.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

}  // namespace

template <Device D, typename T>
void index_select(const T* src, int64_t outer, int64_t src_n, int64_t inner, const int64_t* index,
                  int64_t index_n, T* out) {
  // One work item per output row (o, j): a copy of `inner` contiguous values.
  parallel_for(outer * index_n, inner, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / index_n;
      const int64_t j = item % index_n;
      const T* from = src + (o * src_n + index[j]) * inner;
      std::copy(from, from + inner, out + item * inner);
    }
  });
}

template <Device D, typename T>
void index_add(const T* grad, int64_t outer, int64_t index_n, int64_t inner, const int64_t* index,
               int64_t skip_index, int64_t dst_n, T* dst) {
  if (dst_n == 0) return;
  // Work items are dst rows; parallel_for only needs the total work to decide
  // whether to thread, so spread the adds over the dst rows for the estimate.
  const int64_t total = outer * index_n * inner + outer * index_n;
  const int64_t cost_per_row = std::max<int64_t>(1, total / dst_n);
  parallel_for(dst_n, cost_per_row, [&](int64_t begin, int64_t end) {
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < index_n; ++j) {
        const int64_t d = index[j];
        if (d < begin || d >= end || d == skip_index) continue;
        const T* from = grad + (o * index_n + j) * inner;
        T* to = dst + (o * dst_n + d) * inner;
        for (int64_t i = 0; i < inner; ++i) to[i] += from[i];
      }
    }
  });
}

// The CPU definitions of kernels/index.h, for the element types it names.
ATTN_INSTANTIATE_ALL_TYPES(index_select, Device::CPU)
ATTN_INSTANTIATE(index_select, Device::CPU, BFloat16)  // moves rows only
ATTN_INSTANTIATE_FLOATING(index_add, Device::CPU)

}  // namespace attn::kernels
