// A paged key/value cache for decoding (Kwon et al. 2023, "Efficient Memory
// Management for Large Language Model Serving with PagedAttention", the vLLM
// paper; vllm/v1/core/kv_cache_manager.py): the keys and values of each
// hypothesis live in fixed-size blocks from a shared pool
// (nn/kv_block_pool.h), and a block table per hypothesis says which.
//
// The contiguous cache (nn/transformer_layers.h) gives every row of the batch
// its own (Hkv, capacity, Dh) buffer per layer. Beam search then pays twice:
// each reorder copies every kept row's whole cache (index_select), and the K
// beams of a sentence hold K copies of the prefix they share. Here a row is
// a list of block ids:
//
//   block_tables[b] = [7, 2, 9]     positions 0..P-1 in block 7, P..2P-1 in
//                                   block 2, 2P.. (the part filled so far) in 9
//
// and reorder() copies no keys at all: the new row b takes its parent's list
// and every block in it gains a reference (the pool's refcount). Beams that
// descend from one parent share its blocks, so a common prefix is stored once.
// A shared block is read-only. The blocks of a prefix are full and never
// written again; only the last, partly filled block is written, at the next
// step, and when it is shared the row writing first gets a copy of its own
// (copy-on-write: allocate, copy, drop one reference), the others go on
// sharing it, and the last one to write finds it no longer shared and writes
// in place. A block no table points at goes back to the pool's free list.
//
// Each step (nn/transformer.cpp, Transformer::step):
//   append_position()       every row gets room for position t (a new block
//                           every P positions, or a copy of a shared last
//                           block); t = length() - 1 afterwards;
//   write(set, k, v)        layer-set `set` stores the new position's keys
//                           and values, (B, Hkv, 1, Dh), in those slots;
//   attend(set, q)          one query per row and head over positions 0..t
//                           (nn/paged_attention.h, the kernel).
// The cross-attention keys and values are not paged: they are fixed, one
// (Hkv, S, Dh) per sentence, and stay contiguous in TransformerDecoderLayerCache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/kv_block_pool.h"
#include "tensor/tensor.h"

namespace attn::nn {

// Which cache a Transformer decodes with (Transformer::set_kv_cache; the
// flags --kv-cache and --kv-block-size of `attn translate` and `attn eval`).
struct KVCacheOptions {
  std::string kind = "contiguous";  // "contiguous" (one buffer per row) or "paged"
  int64_t block_size = 16;          // P, positions per block (paged; vLLM's default 16)

  static constexpr int64_t kMaxBlockSize = 4096;
  // Throws unless kind is one of the two and 1 <= block_size <= kMaxBlockSize,
  // naming the flag and the value.
  void check() const;
  bool paged() const { return kind == "paged"; }
};

class PagedKVCache {
 public:
  // rows: B, the hypotheses decoded together; the pool is shared with the
  // model (and with any other cache of the same model) and outlives this.
  PagedKVCache(std::shared_ptr<KVBlockPool> pool, int64_t rows);
  // Every block of every table goes back to the pool.
  ~PagedKVCache();
  PagedKVCache(const PagedKVCache&) = delete;
  PagedKVCache& operator=(const PagedKVCache&) = delete;

  // Makes room for position t = length() in every row, then length() = t + 1.
  void append_position();
  // key, value (B, Hkv, 1, Dh) or (B, Hkv, Dh): layer-set `set`'s new
  // position, written to the slots append_position() prepared.
  void write(int64_t set, const Tensor& key, const Tensor& value);
  // query (B, H, 1, Dh), turned with rope -> (B, H, Dh): attention of each
  // row over its positions 0..length()-1 in layer-set `set`.
  Tensor attend(int64_t set, const Tensor& query) const;
  // New row i continues old row indices[i] (beam search): tables are copied
  // and their blocks retained, then the old tables' blocks released. No key moves.
  void reorder(const std::vector<int64_t>& indices);

  int64_t rows() const { return static_cast<int64_t>(tables_.size()); }
  int64_t length() const { return length_; }  // positions held by every row
  const std::vector<std::vector<int64_t>>& block_tables() const { return tables_; }
  KVBlockPool& pool() { return *pool_; }
  const KVBlockPool& pool() const { return *pool_; }

  // Distinct blocks the tables point at now (shared ones counted once).
  int64_t blocks_in_use() const;
  // The blocks the rows would hold with no sharing: rows * ceil(length / P).
  int64_t unshared_blocks() const;
  // The most of each seen after any append_position() of this cache.
  int64_t peak_blocks() const { return peak_blocks_; }
  int64_t peak_unshared_blocks() const { return peak_unshared_; }
  // Copy-on-write copies made so far (one per row that wrote into a shared block).
  int64_t copies() const { return copies_; }

 private:
  std::shared_ptr<KVBlockPool> pool_;
  std::vector<std::vector<int64_t>> tables_;  // (B) lists of block ids
  int64_t length_ = 0;
  int64_t peak_blocks_ = 0, peak_unshared_ = 0, copies_ = 0;
  // Built by append_position() on the pool's device, for this step's layers:
  Tensor slots_;         // (B) int64: block * P + offset of position t
  Tensor device_tables_; // (B, M) int64, M = ceil(length / P)
  Tensor lengths_;       // (B) int64, all length()
};

}  // namespace attn::nn
