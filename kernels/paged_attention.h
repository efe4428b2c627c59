// Attention over a paged key/value cache (Kwon et al. 2023, "Efficient Memory
// Management for Large Language Model Serving with PagedAttention", the
// vLLM paper, section 4.1), and the write that fills it. nn/paged_kv_cache.h
// keeps the cache; docs/20-paged-kv-cache.md walks through both.
//
// A contiguous cache keeps the keys of row b at positions 0..t-1 side by side,
// (B, Hkv, capacity, D). A paged cache cuts them into blocks of block_size
// positions and keeps the blocks in one pool, (num_blocks, Hkv, block_size, D),
// wherever the allocator found room; row b's block table says where:
//
//   position j of row b  lives in  block  block_tables[b][j / block_size],
//                                  slot   j % block_size of that block.
//
// So two rows (two beams of one sentence) may point at the same physical
// block: the keys of their common prefix are stored once.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/paged_attention.cpp and kernels/cuda/paged_attention.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// One decoding step of attention, one query per row, over the row's blocks:
//   q (B, H, D) contiguous: the row's query heads (already turned with rope);
//   key_pool, value_pool (num_blocks, Hkv, block_size, D) contiguous;
//   block_tables (B, max_blocks) int64: physical block of each logical block;
//   lengths (B) int64: row b attends over its positions 0 .. lengths[b] - 1,
//     which must fit its table: lengths[b] <= max_blocks * block_size (the
//     caller checks); a row of length 0 gets out 0, as the other kernels' fully
//     masked rows;
//   out (B, H, D): softmax(q k^T * scale) v per head, overwritten.
// Grouped heads (MHA when Hkv = H, MQA when Hkv = 1, GQA between; Hkv divides
// H): query head h reads kv head h / (H / Hkv), and each key of a kv head is
// read once for its whole group of H / Hkv query heads.
template <Device Dev, typename T>
void paged_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t D, int64_t block_size,
                             int64_t max_blocks, const T* q, const T* key_pool,
                             const T* value_pool, const int64_t* block_tables,
                             const int64_t* lengths, T scale, T* out);

// Writes one new position per row into the pool (vLLM's reshape_and_cache):
//   key, value (B, Hkv, D) contiguous: the new position's key and value;
//   slots (B) int64: slot = block * block_size + offset, where row b's new
//     position goes (the caller has made that block the row's own first,
//     copying it when it was shared: copy-on-write);
//   key_pool, value_pool (num_blocks, Hkv, block_size, D): position `offset`
//     of every kv head of that block is overwritten.
template <Device Dev, typename T>
void paged_cache_write(int64_t B, int64_t Hkv, int64_t D, int64_t block_size, const T* key,
                       const T* value, const int64_t* slots, T* key_pool, T* value_pool);

}  // namespace attn::kernels
