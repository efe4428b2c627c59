// The paged key/value cache (nn/kv_block_pool.h, nn/paged_kv_cache.h,
// nn/paged_attention.h; vLLM's PagedAttention):
//   - the kernel equals the composed attention over the same keys, scattered
//     into shuffled blocks (float32 and float64; MHA, GQA, MQA; padding lengths);
//   - the pool: a free list and reference counts; growth keeps the blocks;
//   - copy-on-write copies exactly when a row writes into a shared block;
//   - beams share blocks: fewer in use than beams * ceil(t / block_size);
//   - a Transformer with the paged cache gives the same tokens AND scores as
//     the contiguous one, greedy and beam 4 (MHA, GQA, MQA, rope, CLA), and
//     every block is back in the pool at the end;
//   - cached steps equal forward() (recomputing), after a reorder too;
//   - bad options are refused, naming the flag and the value;
//   - on a machine with a GPU: the CUDA kernels against the CPU's, and a paged
//     beam search on the GPU against the contiguous one on the CPU.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "golden_fixture.h"
#include "kernels/cuda/runtime.h"
#include "nn/kv_block_pool.h"
#include "nn/paged_attention.h"
#include "nn/paged_kv_cache.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn/transformer.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"

namespace {

using attn::Tensor;
using attn_test::lengths_of;
using attn_test::max_diff;
using Batch = attn_test::TransformerBatch;  // B = 3, S = 5, T = 6
namespace nn = attn::nn;

constexpr int64_t kSourceVocab = 13, kTargetVocab = 11;

// D = 8, H = 4 (Dh = 2), F = 16, 1 encoder layer, `layers` decoder layers.
nn::TransformerOptions tiny(int64_t kv_heads, int64_t layers, int64_t factor = 1) {
  return nn::TransformerOptions(kSourceVocab, kTargetVocab)
      .set_d_model(8).set_num_heads(4).set_num_kv_heads(kv_heads).set_d_ff(16)
      .set_layers(1, layers).set_max_length(40).set_cla_factor(factor);
}

nn::KVCacheOptions paged(int64_t block_size) {
  nn::KVCacheOptions o;
  o.kind = "paged";
  o.block_size = block_size;
  return o;
}

// --- the kernel against the composed attention ----------------------------------------

// Keys and values (B, Hkv, T, Dh) scattered into a pool of blocks in a
// shuffled order; paged_attention over them must equal the composed
// attention with the same lengths as a padding mask.
void expect_kernel_equals_composed(attn::DType dtype, int64_t H, int64_t Hkv, int64_t P,
                                   double tolerance) {
  attn::manual_seed(71);
  const int64_t B = 3, T = 7, Dh = 5;
  const std::vector<int64_t> lengths{7, 3, 5};  // rows 1 and 2 padded
  Tensor q = attn::randn({B, H, 1, Dh}).to(dtype);
  Tensor k = attn::randn({B, Hkv, T, Dh}).to(dtype);
  Tensor v = attn::randn({B, Hkv, T, Dh}).to(dtype);
  const int64_t M = (T + P - 1) / P, N = B * M;
  // Block ids in a scrambled order, so that no row's blocks are adjacent.
  std::vector<int64_t> ids(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) ids[i] = (i * 5 + 3) % N;  // 5 and N = 3M coprime for these M
  std::sort(ids.begin(), ids.end());
  ASSERT_EQ(std::unique(ids.begin(), ids.end()), ids.end()) << "ids must be a permutation";
  for (int64_t i = 0; i < N; ++i) ids[i] = (i * 5 + 3) % N;
  Tensor key_pool = attn::zeros({N, Hkv, P, Dh}, dtype), value_pool = attn::zeros({N, Hkv, P, Dh}, dtype);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> slots;
    for (int64_t b = 0; b < B; ++b) slots.push_back(ids[b * M + t / P] * P + t % P);
    nn::paged_cache_write(key_pool, value_pool, k.select(2, t).contiguous(),
                          v.select(2, t).contiguous(), attn::from_vector(slots, {B}));
  }
  Tensor tables = attn::from_vector(ids, {B, M});
  Tensor out = nn::paged_attention(q.reshape({B, H, Dh}), key_pool, value_pool, tables,
                                   lengths_of(lengths));                            // (B, H, Dh)
  nn::AttentionOptions composed;
  composed.set_fused(false).set_need_weights(true);
  nn::AttentionResult want = nn::scaled_dot_product_attention(
      q, k, v, nn::AttentionMask::from_lengths(lengths_of(lengths)), composed);     // (B, H, 1, Dh)
  EXPECT_LT(max_diff(out, want.output.reshape({B, H, Dh})), tolerance)
      << attn::dtype_name(dtype) << " H=" << H << " Hkv=" << Hkv << " P=" << P;
}

TEST(PagedAttention, KernelEqualsComposedAttention) {
  for (int64_t P : {1, 2, 4, 16}) {
    expect_kernel_equals_composed(attn::kFloat64, 4, 4, P, 1e-12);  // MHA
    expect_kernel_equals_composed(attn::kFloat64, 4, 2, P, 1e-12);  // GQA
    expect_kernel_equals_composed(attn::kFloat64, 4, 1, P, 1e-12);  // MQA
    expect_kernel_equals_composed(attn::kFloat32, 4, 2, P, 1e-5);
    expect_kernel_equals_composed(attn::kFloat32, 6, 3, P, 1e-5);
  }
}

TEST(PagedAttention, RowOfLengthZeroIsZeroAndBadTablesAreRefused) {
  Tensor pool = attn::ones({2, 1, 2, 3}, attn::kFloat64);
  Tensor q = attn::ones({2, 2, 3}, attn::kFloat64);
  Tensor tables = attn::from_vector(std::vector<int64_t>{0, 1}, {2, 1});
  Tensor out = nn::paged_attention(q, pool, pool, tables, lengths_of({0, 2}));
  EXPECT_EQ(max_diff(out.select(0, 0), attn::zeros({2, 3}, attn::kFloat64)), 0.0);
  EXPECT_EQ(max_diff(out.select(0, 1), attn::ones({2, 3}, attn::kFloat64)), 0.0);
  try {
    nn::paged_attention(q, pool, pool, tables, lengths_of({3, 2}));
    FAIL() << "a length of 3 over one block of 2 must be refused";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("length 3"), std::string::npos) << e.what();
  }
  try {
    nn::paged_attention(q, pool, pool, attn::from_vector(std::vector<int64_t>{0, 2}, {2, 1}),
                        lengths_of({1, 1}));
    FAIL() << "block 2 of a pool of 2 must be refused";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("block 2, outside"), std::string::npos) << e.what();
  }
}

// The CUDA kernels against the CPU's on the same pool (skipped without a GPU).
TEST(PagedAttention, CudaEqualsCpu) {
  if (!attn::kernels::cuda::is_available()) {
    GTEST_SKIP() << "no usable GPU: " << attn::kernels::cuda::why_unavailable();
  }
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    attn::manual_seed(74);
    const int64_t B = 3, H = 6, Hkv = 2, Dh = 12, P = 4, M = 3, N = 12;
    Tensor key_pool = attn::zeros({N, Hkv, P, Dh}, dtype), value_pool = attn::zeros({N, Hkv, P, Dh}, dtype);
    Tensor gpu_keys = key_pool.to(attn::kCUDA), gpu_values = value_pool.to(attn::kCUDA);
    Tensor k = attn::randn({B, Hkv, Dh}).to(dtype), v = attn::randn({B, Hkv, Dh}).to(dtype);
    Tensor slots = attn::from_vector(std::vector<int64_t>{5, 40, 17}, {B});
    nn::paged_cache_write(key_pool, value_pool, k, v, slots);
    nn::paged_cache_write(gpu_keys, gpu_values, k.to(attn::kCUDA), v.to(attn::kCUDA),
                          slots.to(attn::kCUDA));
    EXPECT_EQ(max_diff(gpu_keys.cpu(), key_pool), 0.0);
    EXPECT_EQ(max_diff(gpu_values.cpu(), value_pool), 0.0);
    key_pool = attn::randn({N, Hkv, P, Dh}).to(dtype);
    value_pool = attn::randn({N, Hkv, P, Dh}).to(dtype);
    Tensor q = attn::randn({B, H, Dh}).to(dtype);
    Tensor tables = attn::from_vector(std::vector<int64_t>{3, 7, 1, 3, 0, 11, 9, 2, 4}, {B, M});
    Tensor lengths = lengths_of({12, 5, 1});
    Tensor cpu = nn::paged_attention(q, key_pool, value_pool, tables, lengths);
    Tensor gpu = nn::paged_attention(q.to(attn::kCUDA), key_pool.to(attn::kCUDA),
                                     value_pool.to(attn::kCUDA), tables.to(attn::kCUDA),
                                     lengths.to(attn::kCUDA));
    EXPECT_LT(max_diff(gpu.cpu(), cpu), dtype == attn::kFloat64 ? 1e-12 : 1e-5)
        << attn::dtype_name(dtype);
  }
  // A paged beam search on the GPU: the contiguous CPU search's tokens.
  attn::manual_seed(75);
  nn::Transformer model(tiny(2, 3, 2).set_positions("rope"));
  model.to(attn::kFloat64);  // no near-tie between candidates turns on the last bits
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  attn::decode::BeamSearchOptions beam;
  beam.beam_size = 4;
  beam.need_attention = false;
  beam.max_length = 20;
  auto on_cpu = attn::decode::beam_search(model, batch.source, batch.lengths, beam);
  model.to(attn::kCUDA);
  model.set_kv_cache(paged(4));
  auto on_gpu = attn::decode::beam_search(model, batch.source.to(attn::kCUDA),
                                          batch.lengths.to(attn::kCUDA), beam);
  for (size_t b = 0; b < on_cpu.nbest.size(); ++b) {
    EXPECT_EQ(on_gpu.nbest[b][0].tokens, on_cpu.nbest[b][0].tokens);
    EXPECT_NEAR(on_gpu.nbest[b][0].score, on_cpu.nbest[b][0].score, 1e-9);
  }
  EXPECT_EQ(model.kv_block_pool()->in_use(), 0);
}

// --- the pool -------------------------------------------------------------------------

TEST(KVBlockPool, FreeListAndReferenceCounts) {
  nn::KVBlockPool pool(2, 1, 2, 4, attn::kFloat32, attn::kCPU, 2);
  EXPECT_EQ(pool.block_bytes(), 2 * 2 * 1 * 4 * 2 * 4);
  const int64_t a = pool.allocate(), b = pool.allocate();
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(pool.in_use(), 2);
  pool.keys(1).narrow(0, a, 1).fill_(3.0);
  const int64_t c = pool.allocate();  // the free list is empty: the pool doubles
  EXPECT_EQ(pool.capacity(), 4);
  EXPECT_EQ(c, 2);
  EXPECT_EQ(pool.keys(1).narrow(0, a, 1).sum().item<float>(), 3.0f * 8) << "growth keeps blocks";
  pool.retain(b);
  EXPECT_EQ(pool.refcount(b), 2);
  pool.release(b);
  EXPECT_EQ(pool.in_use(), 3) << "one reference left: still in use";
  pool.release(b);
  EXPECT_EQ(pool.refcount(b), 0);
  EXPECT_EQ(pool.in_use(), 2);
  EXPECT_EQ(pool.allocate(), b) << "a freed block is the next one handed out";
  EXPECT_EQ(pool.peak_in_use(), 3);
  EXPECT_THROW(pool.release(7), attn::Error);
  pool.release(a);
  EXPECT_THROW(pool.release(a), attn::Error) << "releasing a free block";
}

// --- copy-on-write and sharing ------------------------------------------------------------

// Writes position t of every row: key = value = 100 * row + t.
void write_position(nn::PagedKVCache& cache, const std::vector<double>& rows_tag) {
  cache.append_position();
  const int64_t B = cache.rows(), t = cache.length() - 1;
  std::vector<double> values;
  for (int64_t b = 0; b < B; ++b) values.push_back(rows_tag[b] + t);
  Tensor k = attn::from_vector(values, {B, 1, 1, 1});
  cache.write(0, k, k);
}

// The number row b holds at position j, read through its table.
double held(nn::PagedKVCache& cache, int64_t b, int64_t j) {
  const int64_t P = cache.pool().block_size();
  const int64_t block = cache.block_tables()[b][j / P];
  return cache.pool().keys(0).select(0, block).select(0, 0).select(0, j % P).select(0, 0).item<double>();
}

TEST(PagedKVCache, CopyOnWriteCopiesExactlyWhenASharedBlockIsWritten) {
  auto pool = std::make_shared<nn::KVBlockPool>(1, 1, 1, 4, attn::kFloat64, attn::kCPU);
  {
    nn::PagedKVCache cache(pool, 2);
    write_position(cache, {0, 100});
    write_position(cache, {0, 100});          // positions 0, 1: one block each
    EXPECT_EQ(cache.blocks_in_use(), 2);
    EXPECT_EQ(cache.copies(), 0);
    cache.reorder({0, 0, 0});                 // three beams from row 0
    EXPECT_EQ(cache.blocks_in_use(), 1) << "the beams share their parent's block";
    EXPECT_EQ(pool->in_use(), 1) << "row 1's block went back to the free list";
    EXPECT_EQ(pool->refcount(cache.block_tables()[0][0]), 3);
    write_position(cache, {1000, 2000, 3000});  // position 2 into the shared, partial block
    EXPECT_EQ(cache.copies(), 2) << "the first two writers copy; the last one writes in place";
    EXPECT_EQ(cache.blocks_in_use(), 3);
    for (int64_t b = 0; b < 3; ++b) {
      EXPECT_EQ(held(cache, b, 0), 0.0);     // the shared prefix, kept by every copy
      EXPECT_EQ(held(cache, b, 1), 1.0);
      EXPECT_EQ(held(cache, b, 2), 1000.0 * (b + 1) + 2);  // each row's own position 2
    }
    write_position(cache, {0, 0, 0});        // position 3: every block is its row's own
    EXPECT_EQ(cache.copies(), 2) << "no copy when nothing is shared";
    cache.reorder({2, 2});                   // the blocks are full now
    write_position(cache, {0, 0});           // position 4: a new block each, no copy
    EXPECT_EQ(cache.copies(), 2) << "a full shared block is never written, never copied";
    EXPECT_EQ(cache.block_tables()[0][0], cache.block_tables()[1][0]);
    EXPECT_NE(cache.block_tables()[0][1], cache.block_tables()[1][1]);
    EXPECT_EQ(cache.blocks_in_use(), 3);
    EXPECT_EQ(cache.unshared_blocks(), 4);
  }
  EXPECT_EQ(pool->in_use(), 0) << "the cache gives every block back when it goes";
}

TEST(PagedKVCache, BeamsShareTheBlocksOfTheirPrefix) {
  // Four beams that all descend from row 0 after 9 positions, block size 2:
  // unshared they would hold 4 * ceil(10 / 2) = 20 blocks.
  auto pool = std::make_shared<nn::KVBlockPool>(1, 1, 1, 2, attn::kFloat64, attn::kCPU);
  nn::PagedKVCache cache(pool, 1);
  for (int64_t t = 0; t < 9; ++t) write_position(cache, {0});
  cache.reorder({0, 0, 0, 0});
  write_position(cache, {0, 10, 20, 30});
  const int64_t t = cache.length(), P = 2;
  EXPECT_EQ(cache.unshared_blocks(), 4 * ((t + P - 1) / P));
  EXPECT_LT(cache.blocks_in_use(), 4 * ((t + P - 1) / P));
  EXPECT_EQ(cache.blocks_in_use(), 4 + 4) << "the 4 full prefix blocks once, a last block per beam";
  EXPECT_EQ(cache.peak_blocks(), 8);
}

// --- the Transformer with the paged cache -----------------------------------------------

// Greedy and beam 4 with the contiguous and the paged cache: the same tokens
// and the same scores (the kernel does the contiguous kernel's arithmetic in
// its order, so the numbers are the same bits).
void expect_paged_decoding_equals_contiguous(const nn::TransformerOptions& options, int64_t P) {
  attn::manual_seed(72);
  nn::Transformer model(options);
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  const std::string where = model.describe() + ", block size " + std::to_string(P);
  attn::decode::BeamSearchOptions beam;
  beam.beam_size = 4;
  beam.n_best = 4;
  beam.need_attention = false;
  beam.max_length = 20;
  attn::decode::DecodeResult greedy_contiguous =
      attn::decode::greedy_decode(model, batch.source, batch.lengths, 12, false);
  attn::decode::BeamSearchResult contiguous =
      attn::decode::beam_search(model, batch.source, batch.lengths, beam);
  model.set_kv_cache(paged(P));
  attn::decode::DecodeResult greedy_paged =
      attn::decode::greedy_decode(model, batch.source, batch.lengths, 12, false);
  EXPECT_EQ(greedy_paged.tokens, greedy_contiguous.tokens) << where;
  ASSERT_NE(model.kv_block_pool(), nullptr);
  EXPECT_EQ(model.kv_block_pool()->in_use(), 0) << where << ": greedy freed every block";
  attn::decode::BeamSearchResult with_pages =
      attn::decode::beam_search(model, batch.source, batch.lengths, beam);
  EXPECT_EQ(model.kv_block_pool()->in_use(), 0) << where << ": beam search freed every block";
  EXPECT_GT(model.kv_block_pool()->peak_in_use(), 0);
  ASSERT_EQ(with_pages.nbest.size(), contiguous.nbest.size());
  for (size_t b = 0; b < contiguous.nbest.size(); ++b) {
    ASSERT_EQ(with_pages.nbest[b].size(), contiguous.nbest[b].size()) << where;
    for (size_t n = 0; n < contiguous.nbest[b].size(); ++n) {
      EXPECT_EQ(with_pages.nbest[b][n].tokens, contiguous.nbest[b][n].tokens) << where;
      EXPECT_EQ(with_pages.nbest[b][n].score, contiguous.nbest[b][n].score) << where;
      EXPECT_EQ(with_pages.nbest[b][n].step_scores, contiguous.nbest[b][n].step_scores) << where;
    }
  }
  // The beams shared blocks: at the peak fewer than 4 unshared copies.
  EXPECT_GT(with_pages.peak_cache.blocks, 0) << where;
  EXPECT_LT(with_pages.peak_cache.blocks, with_pages.peak_cache.unshared_blocks) << where;
  // Its own largest, at least the contiguous run's reading at its largest total
  // (the formula itself is checked step by step in CachedStepsEqualRecomputing).
  EXPECT_GE(with_pages.peak_cache.contiguous_self_attention,
            contiguous.peak_cache.self_attention) << where;
  EXPECT_EQ(with_pages.peak_cache.cross_attention, contiguous.peak_cache.cross_attention) << where;
  model.set_kv_cache(nn::KVCacheOptions());
}

TEST(PagedKVCache, SameTokensAndScoresAsTheContiguousCache) {
  expect_paged_decoding_equals_contiguous(tiny(4, 2), 2);                            // MHA
  expect_paged_decoding_equals_contiguous(tiny(2, 2), 3);                            // GQA
  expect_paged_decoding_equals_contiguous(tiny(1, 2).set_positions("rope"), 2);      // MQA + rope
  expect_paged_decoding_equals_contiguous(tiny(2, 3, 2).set_positions("rope"), 4);   // CLA2 + GQA
  expect_paged_decoding_equals_contiguous(tiny(4, 2).set_pre_ln(true), 1);           // P = 1
}

// Step by step over the paged cache equals forward() on the whole target,
// from the start and after a beam-search style reorder (float64).
void expect_paged_steps_equal_forward(const nn::TransformerOptions& options, bool reorder) {
  attn::manual_seed(73);
  nn::Transformer model(options);
  model.to(attn::kFloat64);
  model.eval();
  model.set_kv_cache(paged(2));
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor source = batch.source, lengths = batch.lengths, target = batch.target;
  auto state = model.start(source, lengths);
  if (reorder) {
    Tensor index = attn::from_vector(std::vector<int64_t>{2, 2, 0}, {3});
    model.step(*state, target.select(1, 0));
    model.step(*state, target.select(1, 1));
    model.step(*state, target.select(1, 2));  // position 2 starts block 1: shared, then written
    state->reorder(index);
    source = attn::index_select(source, 0, index);
    lengths = attn::index_select(lengths, 0, index);
    target = attn::index_select(target, 0, index);
  }
  auto& s = dynamic_cast<nn::TransformerState&>(*state);
  ASSERT_NE(s.paged, nullptr);
  Tensor logits = model.forward(source, lengths, target);  // (B, T, V)
  const std::string where = model.describe();
  for (int64_t t = reorder ? 3 : 0; t < target.size(1); ++t) {
    Tensor step = model.step(*state, target.select(1, t));                        // (B, V)
    EXPECT_LT(max_diff(step, logits.select(1, t)), 1e-12) << where << " t=" << t;
  }
  EXPECT_EQ(s.layers[0].self_keys.defined(), false) << "no contiguous keys beside the blocks";
  if (reorder) {
    EXPECT_GT(s.paged->copies(), 0) << "rows 0 and 1 shared a partial block";
  }
  const nn::KVCacheBytes bytes = s.cache_bytes();
  EXPECT_EQ(bytes.self_attention, bytes.blocks * bytes.block_bytes);
  EXPECT_EQ(bytes.contiguous_self_attention,
            2 * ((options.decoder_layers + options.cla_factor - 1) / options.cla_factor) * 3 *
                (options.num_kv_heads) * 6 * 2 * 8);
}

TEST(PagedKVCache, CachedStepsEqualRecomputing) {
  expect_paged_steps_equal_forward(tiny(4, 2), false);
  expect_paged_steps_equal_forward(tiny(2, 2).set_positions("rope"), false);
  expect_paged_steps_equal_forward(tiny(1, 3, 2).set_positions("rope"), true);
  expect_paged_steps_equal_forward(tiny(2, 4, 2).set_pre_ln(true), true);
}

TEST(PagedKVCache, BadOptionsAreRefusedByName) {
  nn::Transformer model(tiny(2, 2));
  auto message = [&](const nn::KVCacheOptions& o) {
    try {
      model.set_kv_cache(o);
    } catch (const attn::Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  nn::KVCacheOptions kind;
  kind.kind = "pagd";
  EXPECT_NE(message(kind).find("--kv-cache: expected contiguous or paged, got 'pagd'"),
            std::string::npos) << message(kind);
  EXPECT_NE(message(paged(0)).find("--kv-block-size"), std::string::npos);
  EXPECT_NE(message(paged(0)).find("got 0"), std::string::npos);
  EXPECT_NE(message(paged(5000)).find("got 5000"), std::string::npos);
  EXPECT_EQ(message(paged(16)), "accepted");
  nn::Transformer low_rank(tiny(0, 2).set_kv_rank(1));
  try {
    low_rank.set_kv_cache(paged(16));
    FAIL() << "paged with Low-Rank KV must be refused";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-rank"), std::string::npos) << e.what();
  }
  nn::Transformer latent(tiny(0, 2).set_positions("rope").set_mla(4, 0, 2));
  try {
    latent.set_kv_cache(paged(16));
    FAIL() << "paged with MLA must be refused";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--mla-kv-latent"), std::string::npos) << e.what();
  }
}

}  // namespace
