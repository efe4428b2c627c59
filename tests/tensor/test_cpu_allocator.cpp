// Tests for the caching CPU allocator under Storage (tensor/storage.cpp):
// size classes, reuse of freed blocks, the counters, the off switch,
// empty_cache(), and a smoke test of several threads allocating at once.
//
// Each test starts from an empty cache with caching on and puts the switch
// back as it found it, so the tests do not depend on their order (or on
// ATTN_CPU_ALLOCATOR in the environment).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include <attn/attn.h>

namespace {

using attn::Tensor;

class CpuAllocator : public ::testing::Test {
 protected:
  void SetUp() override {
    was_caching_ = attn::cpu_allocator_caching();
    attn::set_cpu_allocator_caching(true);
    attn::empty_cache();
    attn::reset_cpu_allocator_peak();
  }
  void TearDown() override {
    attn::empty_cache();
    attn::set_cpu_allocator_caching(was_caching_);
  }
  bool was_caching_ = true;
};

const void* address(const Tensor& t) { return t.data_ptr<float>(); }

TEST(CpuAllocatorSizeClass, RoundsUpByAtMostAQuarter) {
  EXPECT_EQ(attn::cpu_allocator_size_class(0), 64u);
  EXPECT_EQ(attn::cpu_allocator_size_class(1), 64u);
  EXPECT_EQ(attn::cpu_allocator_size_class(64), 64u);
  EXPECT_EQ(attn::cpu_allocator_size_class(65), 128u);
  EXPECT_EQ(attn::cpu_allocator_size_class(1024), 1024u);
  EXPECT_EQ(attn::cpu_allocator_size_class(1025), 1280u);
  EXPECT_EQ(attn::cpu_allocator_size_class(1281), 1536u);
  EXPECT_EQ(attn::cpu_allocator_size_class(2048), 2048u);
  EXPECT_EQ(attn::cpu_allocator_size_class(2049), 2560u);
  EXPECT_EQ(attn::cpu_allocator_size_class(size_t{3} << 20), size_t{3} << 20);
  EXPECT_EQ(attn::cpu_allocator_size_class((size_t{3} << 20) + 1), size_t{7} << 19);
  size_t previous = 0;
  for (size_t n = 1; n < (size_t{1} << 22); n = n * 9 / 8 + 1) {
    size_t c = attn::cpu_allocator_size_class(n);
    EXPECT_GE(c, n);
    EXPECT_EQ(c % 64, 0u) << n;
    EXPECT_GE(c, previous) << n;  // monotone
    if (n > 1024) {
      EXPECT_LE(c, n + n / 4) << n;
    }
    EXPECT_EQ(attn::cpu_allocator_size_class(c), c) << n;  // a class is its own class
    previous = c;
  }
}

TEST_F(CpuAllocator, FreedBlockIsReusedForTheSameSizeClass) {
  const void* first;
  {
    Tensor a = attn::empty({1000});  // 4000 bytes: class 4096
    first = address(a);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  }
  attn::CpuAllocatorStats before = attn::cpu_allocator_stats();
  EXPECT_EQ(before.bytes_cached, 4096);
  Tensor b = attn::empty({1001});  // 4004 bytes: the same class
  EXPECT_EQ(address(b), first);
  attn::CpuAllocatorStats after = attn::cpu_allocator_stats();
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.bytes_cached, 0);
}

TEST_F(CpuAllocator, DifferentClassesDoNotShareBlocks) {
  const void* small_block;
  {
    Tensor small = attn::empty({1000});  // 4096
    small_block = address(small);
  }
  Tensor large = attn::empty({2000});  // 8000 bytes: class 8192
  EXPECT_NE(address(large), small_block);
  EXPECT_EQ(attn::cpu_allocator_stats().hits, 0);
  // And what a reused block holds is the new tensor's, whatever it held before.
  Tensor filled = attn::full({1000}, 3.0);
  EXPECT_EQ(address(filled), small_block);
  for (float v : filled.to_vector<float>()) ASSERT_EQ(v, 3.0f);
}

TEST_F(CpuAllocator, CountersFollowAllocationsAndFrees) {
  attn::CpuAllocatorStats start = attn::cpu_allocator_stats();
  {
    Tensor a = attn::empty({1000});    // 4096 bytes held
    Tensor b = attn::empty({100000});  // 400000 bytes: class 2^18 * 1.75 = 458752
    attn::CpuAllocatorStats live = attn::cpu_allocator_stats();
    EXPECT_EQ(live.bytes_in_use - start.bytes_in_use, 4096 + 458752);
    EXPECT_EQ(live.misses - start.misses, 2);
    EXPECT_GE(live.peak_bytes_in_use, live.bytes_in_use);
  }
  attn::CpuAllocatorStats freed = attn::cpu_allocator_stats();
  EXPECT_EQ(freed.bytes_in_use, start.bytes_in_use);
  EXPECT_EQ(freed.bytes_cached, 4096 + 458752);
  EXPECT_GE(freed.peak_bytes_in_use, start.bytes_in_use + 4096 + 458752);
  EXPECT_GE(freed.peak_bytes_reserved, freed.bytes_in_use + freed.bytes_cached);

  attn::reset_cpu_allocator_peak();
  attn::CpuAllocatorStats reset = attn::cpu_allocator_stats();
  EXPECT_EQ(reset.peak_bytes_in_use, reset.bytes_in_use);
  EXPECT_EQ(reset.hits, 0);
  EXPECT_EQ(reset.misses, 0);
}

TEST_F(CpuAllocator, EmptyCacheReturnsCachedBlocksAndKeepsLiveOnes) {
  Tensor live = attn::full({5000}, 2.0);
  { Tensor dead = attn::empty({300000}); }
  EXPECT_GT(attn::cpu_allocator_stats().bytes_cached, 0);
  attn::empty_cache();
  attn::CpuAllocatorStats s = attn::cpu_allocator_stats();
  EXPECT_EQ(s.bytes_cached, 0);
  EXPECT_GE(s.bytes_in_use, 20480);
  for (float v : live.to_vector<float>()) ASSERT_EQ(v, 2.0f);
  { Tensor again = attn::empty({300000}); }  // a miss now
  EXPECT_EQ(attn::cpu_allocator_stats().hits, 0);
}

TEST_F(CpuAllocator, OffSwitchFreesEveryBlock) {
  { Tensor a = attn::empty({1000}); }
  attn::set_cpu_allocator_caching(false);
  EXPECT_FALSE(attn::cpu_allocator_caching());
  EXPECT_EQ(attn::cpu_allocator_stats().bytes_cached, 0);  // switching off empties the cache
  attn::CpuAllocatorStats before = attn::cpu_allocator_stats();
  for (int i = 0; i < 5; ++i) {
    Tensor t = attn::full({1000}, static_cast<double>(i));
    EXPECT_EQ(t.to_vector<float>()[999], static_cast<float>(i));
  }
  attn::CpuAllocatorStats after = attn::cpu_allocator_stats();
  EXPECT_EQ(after.bytes_cached, 0);
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses + 5);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

TEST_F(CpuAllocator, BlocksCrossingTheSwitchGoWhereTheyBelong) {
  // Made while caching, freed after switching off: back to the OS.
  Tensor cached_block = attn::empty({1000});
  attn::set_cpu_allocator_caching(false);
  cached_block = Tensor();
  EXPECT_EQ(attn::cpu_allocator_stats().bytes_cached, 0);
  // Made without caching (its size only rounded to 64 bytes), freed with
  // caching on: not cached either, or a later request of its class would get
  // a block too small.
  Tensor plain_block = attn::empty({1001});
  attn::set_cpu_allocator_caching(true);
  plain_block = Tensor();
  EXPECT_EQ(attn::cpu_allocator_stats().bytes_cached, 0);
}

TEST_F(CpuAllocator, ATrainingStepReusesItsMemory) {
  // The same computation twice: the second round allocates nothing new.
  attn::Generator g(7);
  Tensor w = attn::randn({64, 64}, {}, &g).requires_grad_();
  auto step = [&] {
    Tensor x = attn::randn({32, 64}, {}, &g);
    Tensor loss = attn::tanh(attn::matmul(x, w)).sum();
    loss.backward();
    w.zero_grad();
  };
  step();
  step();
  attn::reset_cpu_allocator_peak();
  step();
  attn::CpuAllocatorStats s = attn::cpu_allocator_stats();
  EXPECT_GT(s.hits, 0);
  EXPECT_EQ(s.misses, 0);
}

TEST_F(CpuAllocator, GrowingSizesDoNotPileUpInTheCache) {
  // As a decoder whose sequences grow: each tensor a little larger than the
  // last, one alive at a time. Every block lands in a new size class, never
  // to be asked for again; the cache must give the old ones back.
  int64_t total_freed = 0;
  int64_t elements = 1 << 20;  // 4 MiB of floats, growing by a quarter each time
  for (int i = 0; i < 20; ++i) {
    { Tensor t = attn::empty({elements}); }
    total_freed += static_cast<int64_t>(attn::cpu_allocator_size_class(elements * 4));
    elements += elements / 4;
  }
  attn::CpuAllocatorStats s = attn::cpu_allocator_stats();
  EXPECT_GT(s.evictions, 0);
  // Bounded by 1.5 times the most in use (kCacheLimit in tensor/storage.cpp),
  // the largest tensor alone: far below the 1.56 GB freed in all.
  EXPECT_LT(s.bytes_cached, total_freed / 4);
  EXPECT_EQ(s.hits, 0);
}

TEST_F(CpuAllocator, ThreadsAllocatingAtOnceSmokeTest) {
  const int64_t in_use_before = attn::cpu_allocator_stats().bytes_in_use;
  auto worker = [](uint32_t seed, bool* ok) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int64_t> size(1, 50000);
    std::vector<Tensor> held;
    for (int i = 0; i < 400; ++i) {
      float value = static_cast<float>(seed * 1000 + i);
      Tensor t = attn::full({size(gen)}, value);
      std::vector<float> v = t.to_vector<float>();
      if (v.front() != value || v.back() != value) *ok = false;
      held.push_back(t);
      if (held.size() > 8) held.erase(held.begin() + static_cast<int64_t>(gen() % held.size()));
    }
  };
  std::vector<std::thread> threads;
  bool ok[4] = {true, true, true, true};
  for (uint32_t t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1, &ok[t]);
  for (auto& t : threads) t.join();
  for (bool o : ok) EXPECT_TRUE(o);
  attn::CpuAllocatorStats s = attn::cpu_allocator_stats();
  EXPECT_EQ(s.bytes_in_use, in_use_before);
  EXPECT_GT(s.hits, 0);
}

}  // namespace
