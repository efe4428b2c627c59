// parallel_for: split a range of independent work items over the cores.
//
// Kernels use this for their outer loop when the work is large enough to pay
// for waking a second thread. Each item is computed by exactly one thread and
// no item depends on how the range was split, so results are bit-identical
// whatever the number of threads (the determinism promise of design.md).
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace attn::kernels::cpu {

// Below this many scalar operations in total, one thread is faster.
constexpr int64_t kParallelGrain = 32768;

// Calls body(begin, end) on disjoint chunks covering [0, n). `cost_per_item`
// is a rough count of operations per item, used only to decide whether to
// use more than one thread.
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, const Body& body) {
#ifdef _OPENMP
  if (n > 1 && n * cost_per_item >= kParallelGrain) {
#pragma omp parallel
    {
      int threads = omp_get_num_threads();
      int id = omp_get_thread_num();
      int64_t chunk = (n + threads - 1) / threads;
      int64_t begin = id * chunk;
      int64_t end = begin + chunk < n ? begin + chunk : n;
      if (begin < end) body(begin, end);
    }
    return;
  }
#endif
  (void)cost_per_item;
  if (n > 0) body(0, n);
}

}  // namespace attn::kernels::cpu

