// The block pool of a paged key/value cache (Kwon et al. 2023, "Efficient
// Memory Management for Large Language Model Serving with PagedAttention",
// section 4; vLLM's vllm/v1/core/block_pool.py): memory for keys and values
// handed out in fixed-size blocks, with a free list and reference counts.
//
// A block is block_size (P) consecutive positions of one sequence, with the
// keys and values of every layer-set of the decoder at those positions: one
// block id names the same place in every layer-set's pool tensor, as in vLLM,
// where one block table per sequence serves every layer. A layer-set is the
// layers that share one set of keys and values: every decoder layer, or with
// Cross-Layer Attention (nn/transformer.h, cla_factor N) each group of N.
//
//   keys(s), values(s)   (num_blocks, Hkv, P, Dh)   for layer-set s = 0..sets-1
//
// The pool does the bookkeeping only; which block holds which positions of
// which hypothesis is the block table's business (nn/paged_kv_cache.h):
//   allocate()   takes a block off the free list, reference count 1;
//   retain(b)    one more block table points at b (a beam forked);
//   release(b)   one fewer; at 0 the block goes back to the free list, its
//                numbers left as they are (the next owner overwrites them).
// A block shared by several tables (count > 1) must not be written: the
// cache copies it first (copy_block, copy-on-write).
//
// vLLM sizes its pool once, from the GPU memory left after the weights, and
// refuses (or preempts) a sequence when the free list is empty. Ours starts
// small and doubles its tensors when the free list runs out, copying the
// blocks in use once, as the contiguous cache's buffers grow (block ids stay
// valid across the growth): a teaching model decodes whatever it is asked.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace attn::nn {

class KVBlockPool {
 public:
  // sets: layer-sets (>= 1); kv_heads Hkv, head_dim Dh, block_size P (>= 1);
  // the pool tensors' dtype and device; capacity: blocks allocated at first.
  KVBlockPool(int64_t sets, int64_t kv_heads, int64_t head_dim, int64_t block_size, DType dtype,
              Device device, int64_t capacity = 16);

  // A free block with reference count 1; grows the pool when none is free.
  int64_t allocate();
  // One more reference to a block in use.
  void retain(int64_t block);
  // One reference fewer; at 0 the block is free again.
  void release(int64_t block);
  // The references to a block (0 when free).
  int64_t refcount(int64_t block) const;
  // Copies block `from` to block `to` in every layer-set, keys and values.
  void copy_block(int64_t from, int64_t to);

  // (capacity, Hkv, P, Dh): the keys / values of layer-set `set`.
  Tensor& keys(int64_t set);
  Tensor& values(int64_t set);

  int64_t in_use() const { return in_use_; }            // blocks with a reference
  int64_t peak_in_use() const { return peak_in_use_; }  // the most at once, ever
  int64_t capacity() const { return static_cast<int64_t>(refcounts_.size()); }
  int64_t sets() const { return sets_; }
  int64_t kv_heads() const { return kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t block_size() const { return block_size_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  // The bytes of one block: 2 (K, V) * sets * Hkv * P * Dh * sizeof(dtype).
  int64_t block_bytes() const;
  // True when a decode of this shape can use this pool.
  bool fits(int64_t sets, int64_t kv_heads, int64_t head_dim, int64_t block_size, DType dtype,
            Device device) const;

 private:
  // Doubles the capacity (at least one block): bigger tensors, old blocks copied.
  void grow();
  void check_block(const char* op, int64_t block) const;

  int64_t sets_, kv_heads_, head_dim_, block_size_;
  DType dtype_;
  Device device_;
  std::vector<Tensor> keys_, values_;  // per layer-set, (capacity, Hkv, P, Dh)
  std::vector<int64_t> refcounts_;     // (capacity)
  std::vector<int64_t> free_;          // free block ids; the next is free_.back()
  int64_t in_use_ = 0, peak_in_use_ = 0;
};

}  // namespace attn::nn
