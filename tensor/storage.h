// Storage: the flat, reference-counted buffer that tensors view.
//
// Several tensors (a tensor, its transpose, a slice of it) can share one
// Storage; the buffer is freed when the last of them goes away.
//
// CPU buffers come from a caching allocator (tensor/storage.cpp): a freed
// buffer goes on a free list for its size class and the next Storage of that
// class takes it back, so a training step that makes the same tensors as the
// step before reuses their memory instead of asking the OS for fresh pages.
// ATTN_CPU_ALLOCATOR=malloc (or set_cpu_allocator_caching(false)) turns the
// cache off, for debugging with valgrind or to compare; AddressSanitizer
// builds never cache (a cached buffer would hide a use after free).
//
// One CPU allocation may take at most max_allocation_bytes(): by default this
// machine's physical memory, or what ATTN_MAX_ALLOC_BYTES says (a number of
// bytes, or one with a K, M, G or T suffix for KiB, MiB, GiB, TiB: 8G). A
// larger request, say an embedding table from a mistyped --dim-emb, throws
// attn::Error naming the bytes and the limit before any memory is touched,
// rather than a nameless std::bad_alloc or a visit from the OOM killer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/dtype.h"

namespace attn {

class Storage {
 public:
  // Allocates nbytes on `device` (uninitialised: a reused CPU buffer holds
  // whatever its last tensor left). CPU buffers are 64-byte aligned so that
  // vector loads never straddle a cache line at the start. Throws attn::Error
  // naming the bytes when a CPU request is above max_allocation_bytes() or
  // the system cannot give the memory (Tensor::empty checks first, with the
  // tensor's shape in the message).
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // bytes actually allocated (nbytes_ rounded up to its size class)
  bool cached_ = false;  // from the cache: goes back to it when freed
  Device device_ = Device::CPU;
};

// What the CPU allocator holds, in bytes of whole size classes (a 1000-byte
// tensor holds a 1024-byte block). Counted whether or not caching is on.
struct CpuAllocatorStats {
  int64_t bytes_in_use = 0;       // held by live Storages
  int64_t bytes_cached = 0;       // freed, kept on the free lists for reuse
  int64_t peak_bytes_in_use = 0;  // highest bytes_in_use since start or reset_peak
  int64_t peak_bytes_reserved = 0;  // highest bytes_in_use + bytes_cached
  int64_t hits = 0;               // allocations served from a free list
  int64_t misses = 0;             // allocations that went to malloc
  int64_t evictions = 0;          // cached blocks given back to keep the cache in bounds
};

CpuAllocatorStats cpu_allocator_stats();

// Peaks start again from the present; hits and misses from zero.
void reset_cpu_allocator_peak();

// Returns every cached CPU buffer to the OS (live tensors are untouched).
void empty_cache();

// Turns the cache on or off (default on, unless ATTN_CPU_ALLOCATOR=malloc).
// Turning it off empties the cache; buffers allocated from the cache while it
// was on are freed to the OS when their tensors go.
void set_cpu_allocator_caching(bool enabled);
bool cpu_allocator_caching();

// The size class a request of nbytes is rounded up to (exposed for tests).
size_t cpu_allocator_size_class(size_t nbytes);

// The most bytes one CPU allocation may take (see the top of this file).
size_t max_allocation_bytes();
// Sets that limit; 0 goes back to the default (ATTN_MAX_ALLOC_BYTES, read
// again, else the physical memory). Throws attn::Error naming the variable
// and its value when ATTN_MAX_ALLOC_BYTES is not a number of bytes.
void set_max_allocation_bytes(size_t bytes);

// The message for a CPU request of nbytes above the limit: `what` (for
// example "randn: a float32 tensor of shape [20, 100000000000]"), the bytes
// it needs, the limit and where the limit came from.
std::string allocation_too_large_message(const std::string& what, size_t nbytes);

// "7.28 TiB", "512 bytes": a byte count a person can read.
std::string format_bytes(size_t bytes);

}  // namespace attn
