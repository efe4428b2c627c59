// The checked wrappers of nn/paged_attention.h around kernels/paged_attention.h.
#include "nn/paged_attention.h"

#include <cmath>

#include "kernels/error.h"
#include "kernels/paged_attention.h"
#include "tensor/dispatch.h"
#include "tensor/grad_mode.h"

namespace attn::nn {
namespace {

std::string shape_of(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "undefined"; }

// The pools: (N, Hkv, P, Dh), contiguous, of the floating dtype and device of `like`.
void check_pools(const char* op, const Tensor& key_pool, const Tensor& value_pool,
                 const Tensor& like) {
  ATTN_CHECK(key_pool.defined() && value_pool.defined() && key_pool.dim() == 4 &&
                 key_pool.shape() == value_pool.shape(),
             op, ": key_pool and value_pool must both be (N, Hkv, P, Dh), got ",
             shape_of(key_pool), " and ", shape_of(value_pool));
  ATTN_CHECK(key_pool.is_contiguous() && value_pool.is_contiguous(), op,
             ": the pools must be contiguous, got key_pool ", shape_of(key_pool));
  ATTN_CHECK(key_pool.dtype() == like.dtype() && value_pool.dtype() == like.dtype() &&
                 key_pool.device() == like.device() && value_pool.device() == like.device(),
             op, ": the pools are ", dtype_name(key_pool.dtype()), " on ",
             device_name(key_pool.device()), ", the queries/keys ", dtype_name(like.dtype()), " on ",
             device_name(like.device()));
}

// An int64 (B) or (B, M) index tensor on `device`, contiguous.
void check_index(const char* op, const char* name, const Tensor& t, const Shape& shape,
                 Device device) {
  ATTN_CHECK(t.defined() && t.dtype() == kInt64 && t.shape() == shape, op, ": ", name,
             " must be int64 ", shape_str(shape), ", got ",
             t.defined() ? dtype_name(t.dtype()) : "", " ", shape_of(t));
  ATTN_CHECK(t.device() == device && t.is_contiguous(), op, ": ", name,
             " must be contiguous on ", device_name(device), ", got ", device_name(t.device()));
}

}  // namespace

Tensor paged_attention(const Tensor& q, const Tensor& key_pool, const Tensor& value_pool,
                       const Tensor& block_tables, const Tensor& lengths) {
  const char* op = "paged_attention";
  ATTN_CHECK(q.defined() && q.dim() == 3 && is_floating(q.dtype()), op,
             ": q must be floating (B, H, Dh), got ", shape_of(q));
  check_pools(op, key_pool, value_pool, q);
  const int64_t B = q.size(0), H = q.size(1), Dh = q.size(2);
  const int64_t Hkv = key_pool.size(1), P = key_pool.size(2);
  ATTN_CHECK(key_pool.size(3) == Dh && Hkv > 0 && H % Hkv == 0 && P > 0, op,
             ": q ", shape_of(q), " and pools ", shape_of(key_pool),
             " do not fit: the head sizes must agree and Hkv must divide H");
  ATTN_CHECK(block_tables.defined() && block_tables.dim() == 2 && block_tables.size(0) == B, op,
             ": block_tables must be (", B, ", M), got ", shape_of(block_tables));
  const int64_t M = block_tables.size(1);
  check_index(op, "block_tables", block_tables, {B, M}, q.device());
  check_index(op, "lengths", lengths, {B}, q.device());
  ATTN_CHECK(!(GradMode::is_enabled() && (q.requires_grad() || key_pool.requires_grad())), op,
             ": inference only (a decoding step), but an input requires grad");
  // A length past the table, or a block id outside the pool, would read
  // memory that is not the row's: checked on the host (B * M numbers).
  const Tensor host_lengths = lengths.cpu(), host_tables = block_tables.cpu();
  const int64_t* n = host_lengths.data_ptr<int64_t>();
  const int64_t* table = host_tables.data_ptr<int64_t>();
  const int64_t N = key_pool.size(0);
  for (int64_t b = 0; b < B; ++b) {
    ATTN_CHECK(n[b] >= 0 && n[b] <= M * P, op, ": row ", b, " has length ", n[b],
               ", but its table holds ", M, " blocks of ", P, " positions");
    for (int64_t i = 0; i < (n[b] + P - 1) / P; ++i) {
      ATTN_CHECK(table[b * M + i] >= 0 && table[b * M + i] < N, op, ": row ", b,
                 "'s logical block ", i, " maps to block ", table[b * M + i],
                 ", outside the pool's ", N, " blocks");
    }
  }
  const Tensor qc = q.contiguous();
  Tensor out = Tensor::empty({B, H, Dh}, q.options());
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh > 0 ? Dh : 1));
  dispatch_floating(q.dtype(), q.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::paged_attention_forward<device>(
        B, H, Hkv, Dh, P, M, qc.data_ptr<T>(), key_pool.data_ptr<T>(), value_pool.data_ptr<T>(),
        block_tables.data_ptr<int64_t>(), lengths.data_ptr<int64_t>(), static_cast<T>(scale),
        out.data_ptr<T>());
  });
  return out;                                                               // (B, H, Dh)
}

void paged_cache_write(Tensor& key_pool, Tensor& value_pool, const Tensor& key,
                       const Tensor& value, const Tensor& slots) {
  const char* op = "paged_cache_write";
  ATTN_CHECK(key.defined() && value.defined() && key.dim() == 3 && key.shape() == value.shape(),
             op, ": key and value must both be (B, Hkv, Dh), got ", shape_of(key), " and ",
             shape_of(value));
  check_pools(op, key_pool, value_pool, key);
  const int64_t B = key.size(0), Hkv = key.size(1), Dh = key.size(2);
  const int64_t N = key_pool.size(0), P = key_pool.size(2);
  ATTN_CHECK(key_pool.size(1) == Hkv && key_pool.size(3) == Dh, op, ": key ", shape_of(key),
             " does not fit the pool ", shape_of(key_pool));
  check_index(op, "slots", slots, {B}, key.device());
  const Tensor host_slots = slots.cpu();
  const int64_t* s = host_slots.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    ATTN_CHECK(s[b] >= 0 && s[b] < N * P, op, ": row ", b, "'s slot ", s[b],
               " is outside the pool's ", N, " blocks of ", P, " positions");
  }
  const Tensor kc = key.contiguous(), vc = value.contiguous();
  dispatch_floating(key.dtype(), key.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::paged_cache_write<device>(B, Hkv, Dh, P, kc.data_ptr<T>(), vc.data_ptr<T>(),
                                       slots.data_ptr<int64_t>(), key_pool.data_ptr<T>(),
                                       value_pool.data_ptr<T>());
  });
}

}  // namespace attn::nn
