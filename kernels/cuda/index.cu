// Gather along the middle dim, and its backward, a scatter-add, on the GPU.
// The twin of kernels/cpu/index.cpp. With src seen as (outer, src_n, inner):
//   index_select:  out[o, j, i]         = src[o, index[j], i]
//   index_add:     dst[o, index[j], i] += grad[o, j, i]      (j in increasing order)
//
// index_select is a pure copy: one thread per output element, each output
// written once. Neighbouring threads take neighbouring i, so a warp reads 32
// neighbouring values of one picked row (an embedding vector) and writes 32
// neighbouring outputs: coalesced on both sides.
//
// index_add is where a GPU port usually reaches for atomicAdd: one thread per
// grad element, each adding into dst[o, index[j], i]. That gives the right
// sum, but when a row is picked twice (a token that occurs twice in a batch)
// the two adds happen in whatever order the hardware runs them, and float
// addition is not associative: the embedding's gradient would change in its
// last bits from run to run. attn promises that a seed repeats a training run
// bit for bit (docs/README.md, "Determinism"), so we trade some parallelism
// for order instead:
//
//   one thread per (o, i) column walks j = 0, 1, 2, ... in order.
//
// Every dst element then receives its adds in increasing j, exactly the
// CPU's serial order, so the result is bit-identical to the CPU's (and to
// itself). Threads still cover outer * inner columns (an embedding of width
// 512 gives 512 threads per outer row, side by side in memory, so each step j
// is one coalesced read of grad and one of dst); what we give up is
// parallelism over j, which each thread walks alone. For the sizes of this
// course that is a fine trade; a faster deterministic version would first
// sort the indices and give each distinct row its own threads.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/index.h"

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

// out (outer, index_n, inner): element `item` is (o, j, i).
template <typename T>
__global__ void index_select_kernel(const T* src, int64_t outer, int64_t src_n, int64_t inner,
                                    const int64_t* index, int64_t index_n, T* out) {
  ATTN_GRID_STRIDE_LOOP(item, outer * index_n * inner) {
    const int64_t i = item % inner;
    const int64_t row = item / inner;  // o * index_n + j
    const int64_t j = row % index_n;
    const int64_t o = row / index_n;
    // On the GPU the caller's range check reports late (check_ids_later), so a
    // bad index must not read outside src meanwhile: it gives 0 here.
    const int64_t id = index[j];
    out[item] = id >= 0 && id < src_n ? src[(o * src_n + id) * inner + i] : T(0);
  }
}

// Thread (o, i) adds grad[o, j, i] into dst[o, index[j], i] for j in order.
// Rows whose index is skip_index (the padding id) are left out; so are
// indices outside [0, dst_n), which the CPU's loop never applies either.
template <typename T>
__global__ void index_add_kernel(const T* grad, int64_t outer, int64_t index_n, int64_t inner,
                                 const int64_t* index, int64_t skip_index, int64_t dst_n, T* dst) {
  ATTN_GRID_STRIDE_LOOP(item, outer * inner) {
    const int64_t o = item / inner;
    const int64_t i = item % inner;
    const T* from = grad + o * index_n * inner + i;  // grad[o, 0, i]
    T* to = dst + o * dst_n * inner + i;             // dst[o, 0, i]
    for (int64_t j = 0; j < index_n; ++j) {
      const int64_t d = index[j];  // the same j for the whole warp: one broadcast read
      if (d == skip_index || d < 0 || d >= dst_n) continue;
      to[d * inner] += from[j * inner];
    }
  }
}

#undef ATTN_GRID_STRIDE_LOOP

}  // namespace

template <Device D, typename T>
void index_select(const T* src, int64_t outer, int64_t src_n, int64_t inner, const int64_t* index,
                  int64_t index_n, T* out) {
  // Indices must be in [0, src_n); the caller checks (on the GPU, late).
  const int64_t total = outer * index_n * inner;
  if (total == 0) return;
  index_select_kernel<T>
      <<<blocks_for(total), kThreads>>>(src, outer, src_n, inner, index, index_n, out);
  check_launch("index_select_kernel");
}

template <Device D, typename T>
void index_add(const T* grad, int64_t outer, int64_t index_n, int64_t inner, const int64_t* index,
               int64_t skip_index, int64_t dst_n, T* dst) {
  if (dst_n == 0 || index_n == 0 || outer * inner == 0) return;
  index_add_kernel<T><<<blocks_for(outer * inner), kThreads>>>(grad, outer, index_n, inner, index,
                                                               skip_index, dst_n, dst);
  check_launch("index_add_kernel");
}

ATTN_INSTANTIATE_ALL_TYPES(index_select, Device::CUDA)
ATTN_INSTANTIATE(index_select, Device::CUDA, BFloat16)  // moves rows only
ATTN_INSTANTIATE_FLOATING(index_add, Device::CUDA)

}  // namespace attn::kernels
