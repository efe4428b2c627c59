// Storage and the caching CPU allocator under it.
//
// Why cache: a training step allocates the same few hundred tensors every
// step, many of them above glibc's mmap threshold (128 KiB to 32 MiB). Such a
// buffer is a fresh mmap, its pages are faulted in one by one on first touch
// and unmapped again on free, and the next step pays the same faults: about
// 8% of a decoding run's time went to page faults. Keeping freed buffers on a
// free list per size class and handing them out again makes the second step
// onwards fault-free.
//
// Size classes: a request is rounded up so that tensors of nearby sizes share
// a free list (a sequence one token longer reuses the same block). Up to
// 1 KiB the classes are the multiples of 64 bytes; above it there are four
// classes per power of two (2^k, 1.25 * 2^k, 1.5 * 2^k, 1.75 * 2^k), so a
// block is at most 25% larger than its request. Powers of two alone would
// waste up to half of each block, and the memory a learner's laptop has is
// a budget attn promises to keep (peak RSS below PyTorch's).
//
// What a cache costs: a block freed in one size class cannot serve another,
// so the footprint is the sum, over classes, of the most blocks of that class
// alive at once, rather than the most bytes alive at once. empty_cache()
// gives everything back; the counters show what is held.
#include "tensor/storage.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/runtime.h"

namespace attn {
namespace {

constexpr size_t kAlignment = 64;  // a cache line; aligned_alloc wants sizes in multiples of it

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

bool caching_from_environment() {
#ifdef ATTN_SANITIZE
  return false;  // exact-size mallocs, so that AddressSanitizer sees every overrun
#else
  const char* env = std::getenv("ATTN_CPU_ALLOCATOR");
  return !(env && std::string(env) == "malloc");
#endif
}

class CpuAllocator {
 public:
  // Returns a block of at least nbytes and sets *capacity to its true size and
  // *cached to whether it must go back through release_cached().
  void* allocate(size_t nbytes, size_t* capacity, bool* cached) {
    std::unique_lock<std::mutex> lock(mutex_);
    *cached = caching_;
    if (caching_) {
      *capacity = cpu_allocator_size_class(nbytes);
      auto found = free_lists_.find(*capacity);
      if (found != free_lists_.end() && !found->second.empty()) {
        void* block = found->second.back();  // the most recently freed: likely still in cache
        found->second.pop_back();
        stats_.bytes_cached -= static_cast<int64_t>(*capacity);
        stats_.hits += 1;
        add_in_use(*capacity);
        return block;
      }
    } else {
#ifdef ATTN_SANITIZE
      *capacity = nbytes > 0 ? nbytes : 1;
#else
      *capacity = round_up(nbytes > 0 ? nbytes : 1, kAlignment);
#endif
    }
    stats_.misses += 1;
    add_in_use(*capacity);
    lock.unlock();  // malloc may take a while (an mmap): not under our lock
#ifdef ATTN_SANITIZE
    void* block = std::malloc(*capacity);
#else
    void* block = std::aligned_alloc(kAlignment, *capacity);
#endif
    if (!block) {
      std::lock_guard<std::mutex> relock(mutex_);
      stats_.bytes_in_use -= static_cast<int64_t>(*capacity);
      throw std::bad_alloc();
    }
    return block;
  }

  void release(void* block, size_t capacity, bool cached) {
    std::unique_lock<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= static_cast<int64_t>(capacity);
    if (cached && caching_) {
      free_lists_[capacity].push_back(block);
      stats_.bytes_cached += static_cast<int64_t>(capacity);
      stats_.peak_bytes_reserved = std::max(stats_.peak_bytes_reserved, reserved());
      return;
    }
    lock.unlock();
    std::free(block);
  }

  void empty() {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [size, list] : free_lists_) blocks.insert(blocks.end(), list.begin(), list.end());
      free_lists_.clear();
      stats_.bytes_cached = 0;
    }
    for (void* block : blocks) std::free(block);
  }

  void set_caching(bool enabled) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      caching_ = enabled;
    }
    if (!enabled) empty();
  }

  bool caching() {
    std::lock_guard<std::mutex> lock(mutex_);
    return caching_;
  }

  CpuAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
    stats_.peak_bytes_reserved = reserved();
    stats_.hits = 0;
    stats_.misses = 0;
  }

 private:
  int64_t reserved() const { return stats_.bytes_in_use + stats_.bytes_cached; }

  void add_in_use(size_t capacity) {
    stats_.bytes_in_use += static_cast<int64_t>(capacity);
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    stats_.peak_bytes_reserved = std::max(stats_.peak_bytes_reserved, reserved());
  }

  std::mutex mutex_;  // Storages are made and freed on any thread (data loaders, the pool)
  bool caching_ = caching_from_environment();
  std::unordered_map<size_t, std::vector<void*>> free_lists_;  // size class -> freed blocks
  CpuAllocatorStats stats_;
};

// Never destroyed: tensors held in static variables are freed after main()
// returns, when a destroyed allocator would be a use after free.
CpuAllocator& cpu_allocator() {
  static CpuAllocator* instance = new CpuAllocator();
  return *instance;
}

}  // namespace

size_t cpu_allocator_size_class(size_t nbytes) {
  if (nbytes <= 1024) return nbytes == 0 ? kAlignment : round_up(nbytes, kAlignment);
  // 2^k < nbytes <= 2^(k+1): round up to a multiple of 2^k / 4, which gives
  // one of 1.25, 1.5, 1.75 or 2 times 2^k (k >= 10, so the step is >= 256).
  int k = 63 - __builtin_clzll(static_cast<unsigned long long>(nbytes - 1));
  size_t step = size_t{1} << (k - 2);
  return round_up(nbytes, step);
}

CpuAllocatorStats cpu_allocator_stats() { return cpu_allocator().stats(); }
void reset_cpu_allocator_peak() { cpu_allocator().reset_peak(); }
void empty_cache() { cpu_allocator().empty(); }
void set_cpu_allocator_caching(bool enabled) { cpu_allocator().set_caching(enabled); }
bool cpu_allocator_caching() { return cpu_allocator().caching(); }

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device == Device::CUDA) {
    data_ = kernels::cuda::device_malloc(nbytes);
    return;
  }
  data_ = cpu_allocator().allocate(nbytes, &capacity_, &cached_);
}

Storage::~Storage() {
  if (device_ == Device::CUDA) {
    kernels::cuda::device_free(data_);
  } else {
    cpu_allocator().release(data_, capacity_, cached_);
  }
}

}  // namespace attn
