// Attention over a paged key/value cache on the CPU (kernels/paged_attention.h
// says what the arguments are; nn/paged_kv_cache.h keeps the cache). The twin
// of kernels/cuda/paged_attention.cu and the reference it is tested against.
//
// It is kernels/cpu/flash_attention.cpp's grouped_attention_forward for one
// query per row, with one change: where that kernel finds key j of row b at
// k + b * batch_stride + j * position_stride, this one asks the row's block
// table first,
//
//   block  = block_tables[b * max_blocks + j / block_size]
//   key_j  = key_pool + ((block * Hkv + g) * block_size + j % block_size) * D
//
// so the keys of a row may lie anywhere in the pool, and two rows may share
// them. Within a block the positions are consecutive rows, so the row is
// handed to kernels/cpu/attend_rows.h one block (one run) at a time; that
// file's functions give the same bits for any split into runs: a step over
// the paged cache gives the bits of a step over the contiguous one,
// which is what lets the tests ask beam search for the same scores exactly.
//
// Grouped heads: a task is one (row b, kv head g); a block of keys is read
// from memory once and scored against the G = H / Hkv query heads of the
// group one after the other (from cache after the first), and so are the
// values.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/paged_attention.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/attend_rows.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and attend_rows.h

// Rough cost of one exp in scalar operations, for parallel_for's decision.
constexpr int64_t kExpCost = 16;

// Where position j of a row lives: the row's table (max_blocks entries) maps
// its logical block j / block_size to a physical block of the pool, in which
// kv head g's positions are block_size rows of D numbers.
template <typename T>
const T* position_in_pool(const T* pool, const int64_t* table, int64_t j, int64_t g,
                          int64_t Hkv, int64_t D, int64_t block_size) {
  const int64_t block = table[j / block_size];
  return pool + ((block * Hkv + g) * block_size + j % block_size) * D;
}

}  // namespace

template <Device Dev, typename T>
void paged_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t D, int64_t block_size,
                             int64_t max_blocks, const T* q, const T* key_pool,
                             const T* value_pool, const int64_t* block_tables,
                             const int64_t* lengths, T scale, T* out) {
  const int64_t G = H / Hkv;  // query heads per kv head
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) longest = std::max(longest, lengths[b]);
  parallel_for(B * Hkv, G * longest * (D * 4 + kExpCost), [&](int64_t begin, int64_t end) {
    // Per thread: the scores of the G heads (G, longest), their sums (G) and
    // the weighted sums of the values (G, D).
    std::vector<T> scores(static_cast<size_t>(G * std::max<int64_t>(longest, 1)));
    std::vector<T> acc(static_cast<size_t>(G * D)), sums(static_cast<size_t>(G));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / Hkv, g = task % Hkv;
      const int64_t n = std::max<int64_t>(lengths[b], 0);
      const int64_t* table = block_tables + b * max_blocks;
      const T* q0 = q + (b * H + g * G) * D;  // the group's G query heads, (G, D)
      // The row's positions come block by block: within a block, position j
      // is a run of rows of D at stride D (kernels/cpu/attend_rows.h takes
      // runs, with the bits of one long run).
      for (int64_t j0 = 0; j0 < n; j0 += block_size) {
        const int64_t count = std::min(block_size, n - j0);
        const T* k0 = position_in_pool(key_pool, table, j0, g, Hkv, D, block_size);
        for (int64_t r = 0; r < G; ++r) {
          score_keys(q0 + r * D, k0, D, count, D, scale, scores.data() + r * longest + j0);
        }
      }
      // p_rj = e^(s_rj - max_j s_rj), in place, and their sum.
      for (int64_t r = 0; r < G; ++r) sums[r] = exp_shifted(scores.data() + r * longest, n);
      // acc_r = sum_j p_rj v_j, block by block.
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t j0 = 0; j0 < n; j0 += block_size) {
        const int64_t count = std::min(block_size, n - j0);
        const T* v0 = position_in_pool(value_pool, table, j0, g, Hkv, D, block_size);
        for (int64_t r = 0; r < G; ++r) {
          add_weighted_values(scores.data() + r * longest + j0, v0, D, count, D,
                              acc.data() + r * D);
        }
      }
      // out = acc / l; a row with no positions gets 0.
      for (int64_t r = 0; r < G; ++r) {
        T* o = out + (b * H + g * G + r) * D;
        for (int64_t d = 0; d < D; ++d) o[d] = n == 0 ? T(0) : acc[r * D + d] / sums[r];
      }
    }
  });
}

template <Device Dev, typename T>
void paged_cache_write(int64_t B, int64_t Hkv, int64_t D, int64_t block_size, const T* key,
                       const T* value, const int64_t* slots, T* key_pool, T* value_pool) {
  for (int64_t b = 0; b < B; ++b) {
    const int64_t block = slots[b] / block_size, offset = slots[b] % block_size;
    for (int64_t g = 0; g < Hkv; ++g) {
      const int64_t to = ((block * Hkv + g) * block_size + offset) * D;
      const int64_t from = (b * Hkv + g) * D;
      std::copy(key + from, key + from + D, key_pool + to);
      std::copy(value + from, value + from + D, value_pool + to);
    }
  }
}

// The CPU definitions of kernels/paged_attention.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(paged_attention_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(paged_cache_write, Device::CPU)

}  // namespace attn::kernels
