// The two tensor operations of a paged key/value cache: one decoding step of
// attention over a row's blocks, and the write of a new position into its
// slot. Thin checked wrappers around kernels/paged_attention.h (the CPU and
// CUDA definitions), for nn/paged_kv_cache.h and the tests; inference only
// (decoding builds no graph), so neither records a backward.
//
// Shapes: B rows (hypotheses), H query heads, Hkv kv heads (dividing H),
// Dh = head size, N blocks in the pool, M blocks per row's table, P =
// block_size positions per block.
#pragma once

#include "tensor/tensor.h"

namespace attn::nn {

// q (B, H, Dh) float/double: one query per row and head (turned, with rope);
// key_pool, value_pool (N, Hkv, P, Dh) contiguous, same dtype and device;
// block_tables (B, M) int64 and lengths (B) int64, on the same device: row b
// attends over its positions 0..lengths[b]-1, position j in block
// block_tables[b, j / P] at slot j % P; lengths[b] <= M * P.
// -> (B, H, Dh): softmax(q k^T / sqrt(Dh)) v, each kv head serving its group
// of H / Hkv query heads. Throws on any mismatch, naming the shapes, and on
// a block id outside the pool among a row's first ceil(lengths[b] / P).
Tensor paged_attention(const Tensor& q, const Tensor& key_pool, const Tensor& value_pool,
                       const Tensor& block_tables, const Tensor& lengths);

// key, value (B, Hkv, Dh): the new position of every row; slots (B) int64 on
// the pools' device, slot = block * P + offset: writes key[b] and value[b]
// into key_pool[block, :, offset, :] and value_pool[block, :, offset, :].
void paged_cache_write(Tensor& key_pool, Tensor& value_pool, const Tensor& key,
                       const Tensor& value, const Tensor& slots);

}  // namespace attn::nn
