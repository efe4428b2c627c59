// parallel_for: split a range of independent work items over the cores.
//
// Kernels use this for their outer loop when the work is large enough to pay
// for waking a second thread. Each item is computed by exactly one thread and
// no item depends on how the range was split, so results are bit-identical
// whatever the number of threads (the determinism promise of design.md).
//
// The threads come from a small pool of our own (kernels/cpu/parallel.cpp)
// whose idle workers sleep on a condition variable after a short, bounded
// spin (pool_spin_us). We tried OpenMP first: its idle threads
// spin, and on a 2-core machine that is doing anything else a training step
// ran 3 to 5 times slower (bench/README.md, "Threads").
#pragma once

#include <cstdint>
#include <functional>

namespace attn::kernels::cpu {

// Below this many scalar operations in total, one thread is faster: waking a
// sleeping worker costs a few microseconds.
constexpr int64_t kParallelGrain = 1 << 17;

// Threads parallel_for may use (the calling thread included). Defaults to the
// number of cores, or the ATTN_NUM_THREADS environment variable when set.
int num_threads();
void set_num_threads(int threads);

// Runs task(t) for t in [0, tasks) on the pool, the caller taking t = 0, and
// returns when all are done. tasks <= num_threads().
void run_on_pool(int tasks, const std::function<void(int)>& task);

// How long an idle worker (and the caller waiting for the workers) spins
// before it sleeps, in microseconds; 0 means sleep at once. Defaults to 200
// (a bounded spin won 10-40% of a tiny step on a quiet 2-core machine and lost
// on a busy one: kernels/cpu/parallel.cpp has the figures), or the
// ATTN_POOL_SPIN_US environment variable when set. Only
// the timing depends on it, never the results.
int pool_spin_us();
void set_pool_spin_us(int microseconds);

// True inside a task of run_on_pool: nested parallel_for calls run serially.
bool in_parallel_region();

// Calls body(begin, end) on disjoint chunks covering [0, n). `cost_per_item`
// is a rough count of operations per item, used only to decide whether to
// use more than one thread.
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, const Body& body) {
  if (n <= 0) return;
  int threads = num_threads();
  if (threads > n) threads = static_cast<int>(n);
  if (threads <= 1 || n * cost_per_item < kParallelGrain || in_parallel_region()) {
    body(0, n);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
  run_on_pool(threads, [&](int t) {
    int64_t begin = t * chunk;
    int64_t end = begin + chunk < n ? begin + chunk : n;
    if (begin < end) body(begin, end);
  });
}

}  // namespace attn::kernels::cpu
