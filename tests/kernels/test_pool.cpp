// Tests for the thread pool behind parallel_for (kernels/cpu/parallel.cpp):
// every item is run exactly once over many back-to-back calls, with the
// workers spinning between calls or sleeping, on as many threads as cores or
// more; and a training step's results are the same bits whether the workers
// spin or not (spinning changes when a worker starts, never what it computes).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include <attn/attn.h>

#include "kernels/cpu/parallel.h"

namespace {

namespace cpu = attn::kernels::cpu;
using attn::Tensor;

// Puts the pool's threads and spin time back as they were.
class Pool : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = cpu::num_threads();
    spin_us_ = cpu::pool_spin_us();
  }
  void TearDown() override {
    cpu::set_num_threads(threads_);
    cpu::set_pool_spin_us(spin_us_);
  }
  int threads_ = 1, spin_us_ = 0;
};

// Many small parallel_for calls back to back, as in a training step: each
// item must be visited exactly once, and every chunk must be the one
// parallel_for's fixed split gives.
void check_back_to_back_calls(int calls) {
  const int64_t n = 1000;
  std::vector<std::atomic<int>> visits(n);
  const int threads = cpu::num_threads();
  const int64_t chunk = (n + threads - 1) / threads;
  std::atomic<int> bad_chunks{0};
  for (int call = 0; call < calls; ++call) {
    cpu::parallel_for(n, cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
      if (begin % chunk != 0 || (end != n && end - begin != chunk)) bad_chunks.fetch_add(1);
      for (int64_t i = begin; i < end; ++i) visits[i].fetch_add(1, std::memory_order_relaxed);
    });
  }
  EXPECT_EQ(bad_chunks.load(), 0);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[i].load(), calls) << "item " << i;
}

TEST_F(Pool, EveryItemOnceWithSpinningOnAndOff) {
  for (int threads : {2, 3, 7}) {  // 7: more threads than cores here, so no spinning
    for (int spin_us : {0, 50, 2000}) {
      SCOPED_TRACE(::testing::Message() << threads << " threads, spin " << spin_us << " us");
      cpu::set_num_threads(threads);
      cpu::set_pool_spin_us(spin_us);
      check_back_to_back_calls(2000);
    }
  }
}

TEST_F(Pool, SpinTimeCanChangeWhileTheWorkersWait) {
  cpu::set_num_threads(2);
  for (int round = 0; round < 50; ++round) {
    cpu::set_pool_spin_us(round % 2 == 0 ? 0 : 100);
    check_back_to_back_calls(20);
  }
}

TEST_F(Pool, NestedCallsRunSerially) {
  cpu::set_num_threads(2);
  cpu::set_pool_spin_us(50);
  std::atomic<int64_t> total{0};
  cpu::parallel_for(4, cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
    EXPECT_TRUE(cpu::in_parallel_region());
    for (int64_t i = begin; i < end; ++i) {
      cpu::parallel_for(100, cpu::kParallelGrain, [&](int64_t b, int64_t e) { total += e - b; });
    }
  });
  EXPECT_FALSE(cpu::in_parallel_region());
  EXPECT_EQ(total.load(), 400);
}

// A few steps of a small model's training: the loss and the parameters after
// them, as bytes.
std::vector<float> train_a_little() {
  attn::Generator g(11);
  Tensor w1 = (attn::randn({256, 512}, {}, &g) * 0.05).requires_grad_();
  Tensor w2 = (attn::randn({512, 64}, {}, &g) * 0.05).requires_grad_();
  std::vector<float> out;
  for (int step = 0; step < 3; ++step) {
    Tensor x = attn::randn({128, 256}, {}, &g);
    Tensor h = attn::tanh(attn::matmul(x, w1));
    Tensor loss = attn::softmax(attn::matmul(h, w2), -1).pow(2.0).mean();
    loss.backward();
    out.push_back(static_cast<float>(loss.item()));
    attn::NoGradGuard no_grad;
    w1 = (w1 - w1.grad() * 0.5).requires_grad_();  // plain SGD, new leaves
    w2 = (w2 - w2.grad() * 0.5).requires_grad_();
  }
  for (const Tensor& w : {w1, w2}) {
    std::vector<float> v = w.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST_F(Pool, TrainingBitsDoNotDependOnSpinning) {
  cpu::set_num_threads(2);
  cpu::set_pool_spin_us(0);
  const std::vector<float> sleeping = train_a_little();
  cpu::set_pool_spin_us(50);
  const std::vector<float> spinning = train_a_little();
  cpu::set_pool_spin_us(5000);
  const std::vector<float> spinning_long = train_a_little();
  cpu::set_num_threads(1);
  const std::vector<float> one_thread = train_a_little();
  ASSERT_EQ(sleeping.size(), spinning.size());
  EXPECT_TRUE(sleeping == spinning);
  EXPECT_TRUE(sleeping == spinning_long);
  EXPECT_TRUE(sleeping == one_thread);
}

}  // namespace
