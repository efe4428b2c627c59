// The block tables of nn/paged_kv_cache.h: appending, copy-on-write and
// reordering by reference counts.
#include "nn/paged_kv_cache.h"

#include <algorithm>

#include "kernels/error.h"
#include "nn/paged_attention.h"
#include "tensor/creation.h"

namespace attn::nn {

void KVCacheOptions::check() const {
  ATTN_CHECK(kind == "contiguous" || kind == "paged",
             "--kv-cache: expected contiguous or paged, got '", kind, "'");
  ATTN_CHECK(block_size >= 1 && block_size <= kMaxBlockSize, "--kv-block-size: expected 1 to ",
             kMaxBlockSize, " positions per block, got ", block_size);
}

PagedKVCache::PagedKVCache(std::shared_ptr<KVBlockPool> pool, int64_t rows)
    : pool_(std::move(pool)) {
  ATTN_CHECK(pool_ != nullptr, "PagedKVCache: no block pool");
  ATTN_CHECK(rows >= 0, "PagedKVCache: rows must not be negative, got ", rows);
  tables_.resize(static_cast<size_t>(rows));
}

PagedKVCache::~PagedKVCache() {
  for (const std::vector<int64_t>& table : tables_) {
    for (int64_t block : table) pool_->release(block);
  }
}

void PagedKVCache::append_position() {
  const int64_t P = pool_->block_size(), t = length_;
  std::vector<int64_t> slots(tables_.size());
  for (size_t b = 0; b < tables_.size(); ++b) {
    std::vector<int64_t>& table = tables_[b];
    if (t % P == 0) {
      table.push_back(pool_->allocate());  // the last block is full (or there is none): a new one
    } else if (pool_->refcount(table.back()) > 1) {
      // Copy-on-write: the last block is shared with other rows (beams of one
      // parent). This row gets its own copy to write into; the others keep
      // the original, which now has one reference fewer.
      const int64_t copy = pool_->allocate();
      pool_->copy_block(table.back(), copy);
      pool_->release(table.back());
      table.back() = copy;
      ++copies_;
    }
    slots[b] = table.back() * P + t % P;
  }
  length_ = t + 1;
  // The tables as one (B, M) tensor for the kernel; every row has M blocks,
  // since every row holds length_ positions.
  const int64_t B = rows(), M = (length_ + P - 1) / P;
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(B * M));
  for (const std::vector<int64_t>& table : tables_) flat.insert(flat.end(), table.begin(), table.end());
  const TensorOptions on = TensorOptions(kInt64).device(pool_->device());
  slots_ = from_vector(slots, {B}, on);
  device_tables_ = from_vector(flat, {B, M}, on);
  lengths_ = from_vector(std::vector<int64_t>(static_cast<size_t>(B), length_), {B}, on);
  peak_blocks_ = std::max(peak_blocks_, blocks_in_use());
  peak_unshared_ = std::max(peak_unshared_, unshared_blocks());
}

void PagedKVCache::write(int64_t set, const Tensor& key, const Tensor& value) {
  ATTN_CHECK(length_ > 0 && slots_.defined(), "PagedKVCache::write: call append_position() first");
  const int64_t B = rows(), Hkv = pool_->kv_heads(), Dh = pool_->head_dim();
  auto as_rows = [&](const Tensor& t, const char* name) {
    ATTN_CHECK(t.defined() && t.numel() == B * Hkv * Dh && t.size(0) == B,
               "PagedKVCache::write: ", name, " must be (", B, ", ", Hkv, ", 1, ", Dh, "), got ",
               t.defined() ? shape_str(t.shape()) : "undefined");
    return t.reshape({B, Hkv, Dh});
  };
  paged_cache_write(pool_->keys(set), pool_->values(set), as_rows(key, "key"),
                    as_rows(value, "value"), slots_);
}

Tensor PagedKVCache::attend(int64_t set, const Tensor& query) const {
  ATTN_CHECK(length_ > 0 && lengths_.defined(),
             "PagedKVCache::attend: the cache is empty; call append_position() and write() first");
  ATTN_CHECK(query.defined() && query.dim() == 4 && query.size(0) == rows() && query.size(2) == 1,
             "PagedKVCache::attend: query must be (", rows(), ", H, 1, Dh), got ",
             query.defined() ? shape_str(query.shape()) : "undefined");
  const Tensor q = query.reshape({query.size(0), query.size(1), query.size(3)});  // (B, H, Dh)
  return paged_attention(q, pool_->keys(set), pool_->values(set), device_tables_, lengths_);
}

void PagedKVCache::reorder(const std::vector<int64_t>& indices) {
  const int64_t B = rows();
  std::vector<std::vector<int64_t>> next(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    ATTN_CHECK(indices[i] >= 0 && indices[i] < B, "PagedKVCache::reorder: index ", indices[i],
               " (new row ", i, ") is outside the ", B, " rows");
    next[i] = tables_[indices[i]];
    for (int64_t block : next[i]) pool_->retain(block);  // first retain, so shared ones survive
  }
  for (const std::vector<int64_t>& table : tables_) {
    for (int64_t block : table) pool_->release(block);
  }
  tables_ = std::move(next);
  // The step tensors are rebuilt by the next append_position(); until then
  // none are valid for the new rows.
  slots_ = device_tables_ = lengths_ = Tensor();
}

int64_t PagedKVCache::blocks_in_use() const {
  std::vector<int64_t> all;
  for (const std::vector<int64_t>& table : tables_) all.insert(all.end(), table.begin(), table.end());
  std::sort(all.begin(), all.end());
  return static_cast<int64_t>(std::unique(all.begin(), all.end()) - all.begin());
}

int64_t PagedKVCache::unshared_blocks() const {
  const int64_t P = pool_->block_size();
  return rows() * ((length_ + P - 1) / P);
}

}  // namespace attn::nn
