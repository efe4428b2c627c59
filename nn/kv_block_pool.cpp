// The block pool of nn/kv_block_pool.h: a free list and reference counts over
// the blocks of one pool tensor per layer-set.
#include "nn/kv_block_pool.h"

#include <algorithm>

#include "kernels/error.h"
#include "tensor/creation.h"

namespace attn::nn {

KVBlockPool::KVBlockPool(int64_t sets, int64_t kv_heads, int64_t head_dim, int64_t block_size,
                         DType dtype, Device device, int64_t capacity)
    : sets_(sets), kv_heads_(kv_heads), head_dim_(head_dim), block_size_(block_size),
      dtype_(dtype), device_(device) {
  ATTN_CHECK(sets >= 1 && kv_heads >= 1 && head_dim >= 1, "KVBlockPool: sets ", sets,
             ", kv heads ", kv_heads, " and head size ", head_dim, " must all be at least 1");
  ATTN_CHECK(block_size >= 1, "KVBlockPool: block_size must be at least 1, got ", block_size);
  ATTN_CHECK(capacity >= 0, "KVBlockPool: capacity must not be negative, got ", capacity);
  ATTN_CHECK(is_floating(dtype), "KVBlockPool: keys and values are floating, got ",
             dtype_name(dtype));
  keys_.resize(static_cast<size_t>(sets));
  values_.resize(static_cast<size_t>(sets));
  for (int64_t s = 0; s < sets; ++s) {
    const Shape shape{capacity, kv_heads, block_size, head_dim};
    keys_[s] = zeros(shape, TensorOptions(dtype).device(device));
    values_[s] = zeros(shape, TensorOptions(dtype).device(device));
  }
  refcounts_.assign(static_cast<size_t>(capacity), 0);
  // Highest id first, so that allocate() hands out 0, 1, 2, ... on a fresh pool.
  for (int64_t b = capacity - 1; b >= 0; --b) free_.push_back(b);
}

void KVBlockPool::grow() {
  const int64_t old = capacity(), now = std::max<int64_t>(2 * old, 1);
  for (int64_t s = 0; s < sets_; ++s) {
    for (Tensor* pool : {&keys_[s], &values_[s]}) {
      Tensor bigger = zeros({now, kv_heads_, block_size_, head_dim_},
                            TensorOptions(dtype_).device(device_));
      if (old > 0) bigger.narrow(0, 0, old).copy_(*pool);  // ids stay valid
      *pool = bigger;
    }
  }
  refcounts_.resize(static_cast<size_t>(now), 0);
  for (int64_t b = now - 1; b >= old; --b) free_.push_back(b);
}

int64_t KVBlockPool::allocate() {
  if (free_.empty()) grow();
  const int64_t block = free_.back();
  free_.pop_back();
  refcounts_[block] = 1;
  peak_in_use_ = std::max(peak_in_use_, ++in_use_);
  return block;
}

void KVBlockPool::check_block(const char* op, int64_t block) const {
  ATTN_CHECK(block >= 0 && block < capacity(), "KVBlockPool::", op, ": block ", block,
             " is outside the pool (", capacity(), " blocks)");
  ATTN_CHECK(refcounts_[block] > 0, "KVBlockPool::", op, ": block ", block,
             " is free (reference count 0): a block table points at a block it gave back");
}

void KVBlockPool::retain(int64_t block) {
  check_block("retain", block);
  ++refcounts_[block];
}

void KVBlockPool::release(int64_t block) {
  check_block("release", block);
  if (--refcounts_[block] == 0) {
    free_.push_back(block);
    --in_use_;
  }
}

int64_t KVBlockPool::refcount(int64_t block) const {
  ATTN_CHECK(block >= 0 && block < capacity(), "KVBlockPool::refcount: block ", block,
             " is outside the pool (", capacity(), " blocks)");
  return refcounts_[block];
}

void KVBlockPool::copy_block(int64_t from, int64_t to) {
  check_block("copy_block", from);
  check_block("copy_block", to);
  for (int64_t s = 0; s < sets_; ++s) {
    keys_[s].narrow(0, to, 1).copy_(keys_[s].narrow(0, from, 1));      // (1, Hkv, P, Dh)
    values_[s].narrow(0, to, 1).copy_(values_[s].narrow(0, from, 1));
  }
}

Tensor& KVBlockPool::keys(int64_t set) {
  ATTN_CHECK(set >= 0 && set < sets_, "KVBlockPool::keys: layer-set ", set, " of ", sets_);
  return keys_[set];
}

Tensor& KVBlockPool::values(int64_t set) {
  ATTN_CHECK(set >= 0 && set < sets_, "KVBlockPool::values: layer-set ", set, " of ", sets_);
  return values_[set];
}

int64_t KVBlockPool::block_bytes() const {
  return 2 * sets_ * kv_heads_ * block_size_ * head_dim_ *
         static_cast<int64_t>(element_size(dtype_));
}

bool KVBlockPool::fits(int64_t sets, int64_t kv_heads, int64_t head_dim, int64_t block_size,
                       DType dtype, Device device) const {
  return sets == sets_ && kv_heads == kv_heads_ && head_dim == head_dim_ &&
         block_size == block_size_ && dtype == dtype_ && device == device_;
}

}  // namespace attn::nn
