// Attention over a paged key/value cache on the GPU: the twin of
// kernels/cpu/paged_attention.cpp (kernels/paged_attention.h says what the
// arguments are). The plain, teaching version, as flash_attention.cu's
// grouped_forward_kernel: correct for every shape and head size, not tuned.
//
// One thread per query row (b, h). It walks the row's positions j = 0..n-1,
// finds each key and value through the row's block table,
//
//   block = block_tables[b * max_blocks + j / block_size]
//   key_j = key_pool + ((block * Hkv + g) * block_size + j % block_size) * D
//
// and keeps the online softmax's running max m and sum l (flash_attention.cu
// explains them), with the accumulator in the output row itself.
//
// vLLM's kernel (csrc/attention/attention_kernels.cu) goes much further: a
// thread block per (row, head), a warp per key block, the query in shared
// memory, keys read as vectors; and for long contexts (v2) the positions are
// split over several blocks whose partial softmaxes are merged. The block
// table lookup, the one idea of the method, is the same as here.
//
// paged_cache_write: one thread per (row, kv head, dimension) copies one
// number of the new key and value to its slot (vLLM's reshape_and_cache).
#include <climits>
#include <cmath>
#include <cstdint>

#include "kernels/paged_attention.h"
#include "kernels/cuda/check.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }

template <typename T>
__global__ void paged_forward_kernel(int64_t B, int64_t H, int64_t Hkv, int64_t D,
                                     int64_t block_size, int64_t max_blocks, const T* q,
                                     const T* key_pool, const T* value_pool,
                                     const int64_t* block_tables, const int64_t* lengths, T scale,
                                     T* out) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (row >= B * H) return;
  const int64_t h = row % H, b = row / H;
  const int64_t g = h / (H / Hkv);  // the kv head of query head h
  const int64_t n = lengths[b] < 0 ? 0 : lengths[b];
  const int64_t* table = block_tables + b * max_blocks;
  const T* qi = q + row * D;
  T* o = out + row * D;
  for (int64_t d = 0; d < D; ++d) o[d] = T(0);
  T m = static_cast<T>(-INFINITY), l = T(0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t at = ((table[j / block_size] * Hkv + g) * block_size + j % block_size) * D;
    const T* kj = key_pool + at;
    const T* vj = value_pool + at;
    T s = T(0);
    for (int64_t d = 0; d < D; ++d) s += qi[d] * kj[d];
    s *= scale;
    const T m_new = s > m ? s : m;
    const T c = exp_of(m - m_new), p = exp_of(s - m_new);  // c = 0 on the first key
    l = l * c + p;
    for (int64_t d = 0; d < D; ++d) o[d] = o[d] * c + p * vj[d];
    m = m_new;
  }
  if (n > 0) {
    for (int64_t d = 0; d < D; ++d) o[d] /= l;
  }
}

template <typename T>
__global__ void paged_write_kernel(int64_t B, int64_t Hkv, int64_t D, int64_t block_size,
                                   const T* key, const T* value, const int64_t* slots,
                                   T* key_pool, T* value_pool) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * Hkv * D) return;
  const int64_t d = i % D, g = (i / D) % Hkv, b = i / (D * Hkv);
  const int64_t block = slots[b] / block_size, offset = slots[b] % block_size;
  const int64_t to = ((block * Hkv + g) * block_size + offset) * D + d;
  key_pool[to] = key[i];
  value_pool[to] = value[i];
}

// Blocks of `threads` for `items` threads, checked against the grid's limit.
unsigned blocks_for(int64_t items, int threads, const char* kernel) {
  const int64_t blocks = (items + threads - 1) / threads;
  ATTN_CHECK(blocks <= INT_MAX, kernel, ": ", items, " threads are too many for one grid");
  return static_cast<unsigned>(blocks);
}

}  // namespace

template <Device Dev, typename T>
void paged_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t D, int64_t block_size,
                             int64_t max_blocks, const T* q, const T* key_pool,
                             const T* value_pool, const int64_t* block_tables,
                             const int64_t* lengths, T scale, T* out) {
  if (B * H == 0) return;
  const int threads = 128;
  paged_forward_kernel<T><<<blocks_for(B * H, threads, "paged_attention_forward"), threads>>>(
      B, H, Hkv, D, block_size, max_blocks, q, key_pool, value_pool, block_tables, lengths, scale,
      out);
  check_launch("paged_attention paged_forward_kernel");
}

template <Device Dev, typename T>
void paged_cache_write(int64_t B, int64_t Hkv, int64_t D, int64_t block_size, const T* key,
                       const T* value, const int64_t* slots, T* key_pool, T* value_pool) {
  if (B * Hkv * D == 0) return;
  const int threads = 256;
  paged_write_kernel<T><<<blocks_for(B * Hkv * D, threads, "paged_cache_write"), threads>>>(
      B, Hkv, D, block_size, key, value, slots, key_pool, value_pool);
  check_launch("paged_attention paged_write_kernel");
}

ATTN_INSTANTIATE_FLOATING(paged_attention_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(paged_cache_write, Device::CUDA)

}  // namespace attn::kernels
