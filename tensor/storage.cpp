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
// alive at once, rather than the most bytes alive at once; and a run whose
// sizes keep changing (a decoder's growing sequences) would hoard every size
// it has outgrown. So the cache is bounded: what it holds plus what is in use
// stays under kCacheLimit times the most ever in use, the blocks freed
// longest ago going back first. empty_cache() gives everything back; the
// counters (cpu_allocator_stats) show what is held.
//
// The limit on one allocation (max_allocation_bytes): a size read from a flag
// or a file can ask for terabytes. Such a request is refused by name here,
// before the OS is asked: mmap might even grant it (Linux overcommits) and
// the first touch of its pages would then wake the OOM killer, or it fails
// and the caller sees only std::bad_alloc. The default is the machine's
// physical memory, because a bigger tensor could never be filled without
// swapping; a request under the limit that the system still refuses gets the
// cache emptied and one more try, then an attn::Error with the bytes.
#include "tensor/storage.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <limits>
#include <list>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/runtime.h"
#include "kernels/error.h"

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define ATTN_HAVE_MMAP 1
#endif

namespace attn {
namespace {

constexpr size_t kAlignment = 64;  // a cache line; aligned_alloc wants sizes in multiples of it

// The cache may hold blocks until the memory held in all (in use + cached)
// reaches this many times the most ever in use at once; then the blocks
// freed longest ago go back to the OS (see evict_over_limit). Measured on the
// tiny and small configurations of bench_train_step and bench_decode: at 1.5
// no training step misses the cache once warm, and decoding, whose sizes grow
// every step, holds 28% less than with malloc (138 against 192 MB peak RSS);
// at 1.25 Luong's step missed 136 times, and without a limit decoding held
// 509 MB. The price of 1.5: the decoder's many small sizes push the
// encoder's large blocks out between two calls, and each encoder pass faults
// them in again (268k page faults for bench_decode --cached-only, 8% of its
// profile). A limit of 2 cut that to 85k faults but raised bench_decode's
// peak RSS (small Transformer: 498 to 657 MB, 0.81x PyTorch 1.13's, over
// issue 14's 0.7x), so the limit stays at 1.5.
constexpr double kCacheLimit = 1.5;

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Where the cache's blocks come from. Large blocks are mapped from the OS
// directly, so that a block the cache evicts goes back to the OS at once.
// Through malloc it might not: after the first large free glibc raises its
// mmap threshold (up to 32 MiB), serves later large requests from its heap,
// and keeps what is freed there; decoding then held 60% more memory than the
// cache itself. Small blocks (under 256 KiB) come from malloc as before.
constexpr size_t kMapThreshold = size_t{256} << 10;

void* os_allocate(size_t size) {
#ifdef ATTN_HAVE_MMAP
  if (size >= kMapThreshold) {  // page-aligned, so 64-byte aligned too
    void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return block == MAP_FAILED ? nullptr : block;
  }
#endif
  return std::aligned_alloc(kAlignment, size);
}

void os_free(void* block, size_t size) {
#ifdef ATTN_HAVE_MMAP
  if (size >= kMapThreshold) {
    munmap(block, size);
    return;
  }
#endif
  std::free(block);
}

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
  // *cached to whether it goes back to the cache when freed.
  void* allocate(size_t nbytes, size_t* capacity, bool* cached) {
    std::vector<Block> evicted;
    std::unique_lock<std::mutex> lock(mutex_);
    *cached = caching_;
    if (caching_) {
      *capacity = cpu_allocator_size_class(nbytes);
      auto found = free_lists_.find(*capacity);
      if (found != free_lists_.end() && !found->second.empty()) {
        // The most recently freed block of the class: likely still in the CPU's caches.
        auto entry = found->second.back();
        found->second.pop_back();
        void* block = entry->data;
        by_age_.erase(entry);
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
    evict_over_limit(&evicted);
    lock.unlock();  // malloc and free may take a while (an mmap): not under our lock
    for (const Block& old : evicted) os_free(old.data, old.size);
#ifdef ATTN_SANITIZE
    void* block = *cached ? os_allocate(*capacity) : std::malloc(*capacity);
#else
    void* block = *cached ? os_allocate(*capacity) : std::aligned_alloc(kAlignment, *capacity);
#endif
    if (!block) {
      std::lock_guard<std::mutex> relock(mutex_);
      stats_.bytes_in_use -= static_cast<int64_t>(*capacity);
      throw std::bad_alloc();
    }
    return block;
  }

  void release(void* block, size_t capacity, bool cached) {
    std::vector<Block> evicted;
    std::unique_lock<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= static_cast<int64_t>(capacity);
    if (!cached || !caching_) {
      lock.unlock();
      if (cached) {
        os_free(block, capacity);  // made by the cache, which is now off
      } else {
        std::free(block);
      }
      return;
    }
    by_age_.push_back(Block{block, capacity});
    free_lists_[capacity].push_back(std::prev(by_age_.end()));
    stats_.bytes_cached += static_cast<int64_t>(capacity);
    evict_over_limit(&evicted);
    stats_.peak_bytes_reserved = std::max(stats_.peak_bytes_reserved, reserved());
    lock.unlock();
    for (const Block& old : evicted) os_free(old.data, old.size);
  }

  void empty() {
    std::list<Block> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(by_age_);
      free_lists_.clear();
      stats_.bytes_cached = 0;
    }
    for (const Block& b : blocks) os_free(b.data, b.size);
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
    stats_.evictions = 0;
  }

 private:
  struct Block {
    void* data;
    size_t size;
  };

  int64_t reserved() const { return stats_.bytes_in_use + stats_.bytes_cached; }

  void add_in_use(size_t capacity) {
    stats_.bytes_in_use += static_cast<int64_t>(capacity);
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    most_in_use_ = std::max(most_in_use_, stats_.bytes_in_use);
  }

  // Keeps what we hold (in use + cached) within kCacheLimit times the most
  // that was ever in use at once, by handing the blocks freed longest ago
  // to `evicted` (the caller frees them once the lock is released). A step
  // that repeats the one before finds every block it needs and never gets
  // here; a run whose sizes drift (a decoder's growing sequences) stops
  // hoarding the sizes it has outgrown.
  void evict_over_limit(std::vector<Block>* evicted) {
    const auto limit = static_cast<int64_t>(kCacheLimit * static_cast<double>(most_in_use_));
    while (stats_.bytes_cached > 0 && reserved() > limit) {
      const Block oldest = by_age_.front();
      // The oldest block of all is the oldest of its class, first in its list.
      auto& list = free_lists_[oldest.size];
      list.pop_front();
      by_age_.pop_front();
      stats_.bytes_cached -= static_cast<int64_t>(oldest.size);
      stats_.evictions += 1;
      evicted->push_back(oldest);
    }
  }

  std::mutex mutex_;  // Storages are made and freed on any thread (data loaders, the pool)
  bool caching_ = caching_from_environment();
  // Every cached block, oldest freed first, and per size class the same
  // blocks, again oldest first (a hit takes the newest, from the back).
  std::list<Block> by_age_;
  std::unordered_map<size_t, std::deque<std::list<Block>::iterator>> free_lists_;
  int64_t most_in_use_ = 0;  // the all-time peak of bytes in use (reset_peak leaves it)
  CpuAllocatorStats stats_;
};

// Never destroyed: tensors held in static variables are freed after main()
// returns, when a destroyed allocator would be a use after free.
CpuAllocator& cpu_allocator() {
  static CpuAllocator* instance = new CpuAllocator();
  return *instance;
}

// --- the limit on one allocation ---

enum class LimitSource { PhysicalMemory, Environment, Program };

struct LimitSetting {
  size_t bytes;
  LimitSource source;
};

constexpr const char* kLimitVariable = "ATTN_MAX_ALLOC_BYTES";

size_t physical_memory_bytes() {
#ifdef ATTN_HAVE_MMAP
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) return static_cast<size_t>(pages) * static_cast<size_t>(page_size);
#endif
  return std::numeric_limits<size_t>::max();  // unknown: no limit beyond what the OS says
}

// "8000000000", "8G", "512m": a positive number of bytes, with an optional
// binary suffix K, M, G or T (a trailing "B" or "iB" is allowed: 8GiB).
size_t parse_byte_count(const std::string& text) {
  auto refuse = [&] {
    throw Error(detail::join_message(kLimitVariable, ": expected a positive number of bytes ",
                                     "such as 8000000000 or 8G (suffixes K, M, G, T), got '",
                                     text, "'"));
  };
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (__builtin_mul_overflow(value, uint64_t{10}, &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(text[i] - '0'), &value)) {
      refuse();
    }
    ++i;
  }
  if (i == 0) refuse();
  int shift = 0;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: refuse();
    }
    std::string rest = text.substr(i + 1);
    if (!(rest.empty() || rest == "B" || rest == "b" || rest == "iB" || rest == "ib")) refuse();
  }
  if (value == 0 || value > (std::numeric_limits<uint64_t>::max() >> shift)) refuse();
  return static_cast<size_t>(value << shift);
}

LimitSetting default_limit() {
  const char* env = std::getenv(kLimitVariable);
  if (env && *env) return {parse_byte_count(env), LimitSource::Environment};
  return {physical_memory_bytes(), LimitSource::PhysicalMemory};
}

// Read on every CPU allocation: two atomics, no lock.
struct AllocationLimit {
  std::atomic<size_t> bytes;
  std::atomic<LimitSource> source;
  explicit AllocationLimit(LimitSetting setting) : bytes(setting.bytes), source(setting.source) {}
};

AllocationLimit& allocation_limit() {
  static AllocationLimit instance(default_limit());
  return instance;
}

}  // namespace

size_t max_allocation_bytes() { return allocation_limit().bytes.load(std::memory_order_relaxed); }

void set_max_allocation_bytes(size_t bytes) {
  const LimitSetting setting =
      bytes > 0 ? LimitSetting{bytes, LimitSource::Program} : default_limit();
  allocation_limit().bytes.store(setting.bytes);
  allocation_limit().source.store(setting.source);
}

std::string format_bytes(size_t bytes) {
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f %s", value, units[unit]);
  return text;
}

std::string allocation_too_large_message(const std::string& what, size_t nbytes) {
  const size_t limit = max_allocation_bytes();
  const char* source = "";
  switch (allocation_limit().source.load()) {
    case LimitSource::PhysicalMemory:
      source = "this machine's physical memory; ATTN_MAX_ALLOC_BYTES sets another limit";
      break;
    case LimitSource::Environment: source = "set by ATTN_MAX_ALLOC_BYTES"; break;
    case LimitSource::Program: source = "set by set_max_allocation_bytes"; break;
  }
  return detail::join_message(what, " would need ", nbytes, " bytes (", format_bytes(nbytes),
                              "), more than one allocation may take: ", limit, " bytes (",
                              format_bytes(limit), ", ", source, ")");
}

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
  // Byte counts are int64 everywhere above this floor; a larger size_t is a
  // wrapped negative number, not a request.
  ATTN_CHECK(nbytes <= static_cast<size_t>(std::numeric_limits<int64_t>::max()), "Storage: ",
             nbytes, " bytes on ", device_name(device), " is not a size (a negative number?)");
  if (device == Device::CUDA) {
    data_ = kernels::cuda::device_malloc(nbytes);
    return;
  }
  if (nbytes > max_allocation_bytes()) {
    throw Error(allocation_too_large_message("Storage: a CPU buffer", nbytes));
  }
  try {
    data_ = cpu_allocator().allocate(nbytes, &capacity_, &cached_);
  } catch (const std::bad_alloc&) {
    // Under the limit, yet refused (other processes hold the memory): give
    // the cache back and try once more, as the CUDA allocator does.
    empty_cache();
    try {
      data_ = cpu_allocator().allocate(nbytes, &capacity_, &cached_);
    } catch (const std::bad_alloc&) {
      const CpuAllocatorStats stats = cpu_allocator_stats();
      throw Error(detail::join_message(
          "Storage: the system refused ", nbytes, " bytes (", format_bytes(nbytes),
          ") of CPU memory: out of memory (attn's tensors hold ",
          format_bytes(static_cast<size_t>(stats.bytes_in_use)), ")"));
    }
  }
}

Storage::~Storage() {
  if (device_ == Device::CUDA) {
    kernels::cuda::device_free(data_);
  } else {
    cpu_allocator().release(data_, capacity_, cached_);
  }
}

}  // namespace attn
