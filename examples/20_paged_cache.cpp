// Chapter 20, the paged KV cache (docs/20-paged-kv-cache.md): vLLM's
// PagedAttention (Kwon et al. 2023) for beam search.
//
//   ./build/release/examples/example_20_paged_cache
//
// The self-attention keys and values live in fixed-size blocks from one pool
// (nn/kv_block_pool.h); each hypothesis has a block table saying which
// (nn/paged_kv_cache.h); attention finds each position through the table
// (kernels/paged_attention.h). Beam search's reorder copies no keys: the new
// rows take their parents' tables and the blocks' reference counts go up; a
// shared block is copied only when a row writes into it (copy-on-write).
// 1. By hand: one sentence, 4 beams, blocks of 4 positions, one layer-set.
//    The block tables and reference counts after each step, the copies made,
//    and the blocks in use against 4 unshared copies.
// 2. The kernel: attention over keys scattered into shuffled blocks equals
//    the composed attention over the same keys kept contiguous (float64, GQA).
// 3. A tiny Transformer (GQA, rotary positions), beam 4 over a batch: the same
//    tokens and scores with either cache, the peak blocks against the unshared
//    ones, and every block back in the pool at the end.
// Returns 1 if a check fails.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "nn/kv_block_pool.h"
#include "nn/paged_attention.h"
#include "nn/paged_kv_cache.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn/transformer.h"
#include "tensor/grad_mode.h"
#include "train/decode/beam_search.h"

namespace {

namespace nn = attn::nn;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

// "beam 0: [0 4] beam 1: [0 5] ..." and the reference count of each block in use.
void print_tables(const char* when, nn::PagedKVCache& cache) {
  std::printf("  %-30s", when);
  std::vector<int64_t> seen;
  for (int64_t b = 0; b < cache.rows(); ++b) {
    std::printf(" beam %lld: [", static_cast<long long>(b));
    const std::vector<int64_t>& table = cache.block_tables()[b];
    for (size_t i = 0; i < table.size(); ++i) {
      std::printf(i ? " %lld" : "%lld", static_cast<long long>(table[i]));
      seen.push_back(table[i]);
    }
    std::printf("]");
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  std::printf("\n  %-30s  refcounts:", "");
  for (int64_t block : seen) {
    std::printf(" %lld:%lld", static_cast<long long>(block),
                static_cast<long long>(cache.pool().refcount(block)));
  }
  std::printf("   (%lld blocks in use, %lld unshared, %lld copies so far)\n",
              static_cast<long long>(cache.blocks_in_use()),
              static_cast<long long>(cache.unshared_blocks()),
              static_cast<long long>(cache.copies()));
}

// Position t of every row: a key and value of one head of one number, 10 * row + t.
void step(nn::PagedKVCache& cache) {
  cache.append_position();
  const int64_t B = cache.rows(), t = cache.length() - 1;
  std::vector<double> values;
  for (int64_t b = 0; b < B; ++b) values.push_back(10.0 * b + t);
  Tensor k = attn::from_vector(values, {B, 1, 1, 1});
  cache.write(0, k, k);
}

// --- 1. by hand -----------------------------------------------------------------------

void by_hand() {
  section("1. four beams of one sentence, blocks of 4 positions");
  auto pool = std::make_shared<nn::KVBlockPool>(1, 1, 1, 4, attn::kFloat64, attn::kCPU);
  {
    nn::PagedKVCache cache(pool, 1);
    for (int i = 0; i < 5; ++i) step(cache);  // the prefix: positions 0..4
    print_tables("one hypothesis, t = 5:", cache);
    cache.reorder({0, 0, 0, 0});  // beam search: four beams continue it
    print_tables("reorder {0, 0, 0, 0}:", cache);
    check(cache.blocks_in_use() == 2 && pool->refcount(cache.block_tables()[0][1]) == 4,
          "the four beams point at the same 2 blocks, each with reference count 4; no key copied");
    step(cache);  // position 5 into the shared, partly filled block 1
    print_tables("step, t = 6:", cache);
    check(cache.copies() == 3,
          "position 5 goes into the shared last block: beams 0-2 copy it first "
          "(copy-on-write), beam 3 finds it no longer shared and writes in place");
    cache.reorder({0, 0, 2, 3});  // beam 1 dies, beam 0 forks
    print_tables("reorder {0, 0, 2, 3}:", cache);
    step(cache);
    step(cache);  // positions 6, 7: block 1 of each row full
    step(cache);  // position 8: a fresh block each, nothing copied
    print_tables("three steps, t = 9:", cache);
    check(cache.copies() == 4, "one more copy: beams 0 and 1 shared a partial block once more");
    check(cache.blocks_in_use() < cache.unshared_blocks(),
          "blocks in use " + std::to_string(cache.blocks_in_use()) + " < " +
              std::to_string(cache.unshared_blocks()) + " for 4 unshared copies (4 x ceil(9 / 4))");
  }
  check(pool->in_use() == 0, "the cache gone, every block is back on the free list");
}

// --- 2. the kernel --------------------------------------------------------------------

void kernel() {
  section("2. the kernel: attention through block tables = attention over contiguous keys");
  attn::manual_seed(20);
  const int64_t B = 2, H = 4, Hkv = 2, T = 7, Dh = 8, P = 3, M = (T + P - 1) / P;
  Tensor q = attn::randn({B, H, 1, Dh}).to(attn::kFloat64);
  Tensor k = attn::randn({B, Hkv, T, Dh}).to(attn::kFloat64);
  Tensor v = attn::randn({B, Hkv, T, Dh}).to(attn::kFloat64);
  const std::vector<int64_t> ids{4, 0, 5, 2, 1, 3};  // row 0: blocks 4 0 5, row 1: 2 1 3
  Tensor key_pool = attn::zeros({B * M, Hkv, P, Dh}, attn::kFloat64);
  Tensor value_pool = attn::zeros({B * M, Hkv, P, Dh}, attn::kFloat64);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> slots{ids[t / P] * P + t % P, ids[M + t / P] * P + t % P};
    nn::paged_cache_write(key_pool, value_pool, k.select(2, t).contiguous(),
                          v.select(2, t).contiguous(), attn::from_vector(slots, {B}));
  }
  const std::vector<int64_t> lengths{7, 4};
  Tensor lengths_tensor = attn::from_vector(lengths, {B});
  Tensor paged = nn::paged_attention(q.reshape({B, H, Dh}), key_pool, value_pool,
                                     attn::from_vector(ids, {B, M}), lengths_tensor);
  nn::AttentionOptions composed;
  composed.set_fused(false);
  Tensor want = nn::scaled_dot_product_attention(q, k, v,
                                                 nn::AttentionMask::from_lengths(lengths_tensor),
                                                 composed).output.reshape({B, H, Dh});
  const double diff = largest_difference(paged, want);
  std::printf("  B = 2, H = 4, Hkv = 2, 7 positions in blocks of 3, lengths {7, 4}: "
              "largest difference %.2e\n", diff);
  check(diff < 1e-12, "paged attention equals the composed attention with the padding mask (float64)");
}

// --- 3. a tiny Transformer ------------------------------------------------------------

void transformer() {
  section("3. a tiny Transformer (GQA, rope), beam 4: contiguous against paged");
  attn::manual_seed(21);
  nn::Transformer model(nn::TransformerOptions(13, 11).set_d_model(16).set_num_heads(4)
                            .set_num_kv_heads(2).set_d_ff(32).set_layers(1, 2)
                            .set_positions("rope").set_max_length(32));
  model.eval();
  attn::NoGradGuard no_grad;
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0}, {2, 5});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3}, {2});
  attn::decode::BeamSearchOptions beam;
  beam.beam_size = 4;
  beam.n_best = 4;
  beam.max_length = 24;
  beam.need_attention = false;
  auto contiguous = attn::decode::beam_search(model, source, lengths, beam);
  nn::KVCacheOptions paged;
  paged.kind = "paged";
  paged.block_size = 4;
  model.set_kv_cache(paged);
  auto with_pages = attn::decode::beam_search(model, source, lengths, beam);
  bool same = true;
  for (size_t b = 0; b < contiguous.nbest.size(); ++b) {
    for (size_t n = 0; n < contiguous.nbest[b].size(); ++n) {
      same = same && with_pages.nbest[b][n].tokens == contiguous.nbest[b][n].tokens &&
             with_pages.nbest[b][n].score == contiguous.nbest[b][n].score;
    }
  }
  check(same, "the same 4-best tokens and the same scores (to the bit) with either cache");
  const nn::KVCacheBytes& peak = with_pages.peak_cache;
  std::printf("  peak: %lld blocks x %lld bytes = %lld bytes; unshared %lld blocks = %lld bytes; "
              "contiguous %lld bytes\n",
              static_cast<long long>(peak.blocks), static_cast<long long>(peak.block_bytes),
              static_cast<long long>(peak.blocks * peak.block_bytes),
              static_cast<long long>(peak.unshared_blocks),
              static_cast<long long>(peak.unshared_blocks * peak.block_bytes),
              static_cast<long long>(peak.contiguous_self_attention));
  check(peak.blocks < peak.unshared_blocks, "the beams shared blocks: fewer than 4 unshared copies");
  check(model.kv_block_pool()->in_use() == 0, "every block back in the pool after the search");
}

}  // namespace

int main() {
  by_hand();
  kernel();
  transformer();
  std::printf("\n%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
