// GPU memory, and the question "is there a GPU?".
//
// On a machine with the CUDA toolkit but no GPU, cudaGetDeviceCount returns an
// error ("CUDA driver version is insufficient for CUDA runtime version" or "no
// CUDA-capable device is detected") rather than a count of zero. Any error there
// means "no GPU" (design.md, Devices), and tests skip with that message.
//
// The caching allocator. cudaMalloc and cudaFree are slow (tens of
// microseconds) and cudaFree waits for the whole device to go idle, which
// would put a host synchronisation inside every training step: a step frees
// and allocates thousands of activations. So freed blocks are not given back;
// they wait in a free list keyed by their (rounded) size, and the next request
// of that size takes one. After the first step, a training loop's sizes repeat
// and no more cudaMalloc happens. This is PyTorch's CUDACachingAllocator idea
// without its block splitting: sizes are rounded up to a multiple of 512 bytes
// (small) or to a sixteenth of the next power of two (large), so the lists
// stay few.
//
// All work goes to the default stream, in order, so a block freed on the host
// while a queued kernel still reads it is safe to reuse: the next kernel to
// write it is queued after the reader.
//
// Checks that report late. An op that validates its ids (embedding,
// cross_entropy, index_select) cannot read GPU ids without making the host wait
// for everything queued before it. So on the GPU it queues a kernel that counts
// the bad ids into a counter of its own (check_ids_later) and goes on; the next
// copy to the host, which waits anyway, reads the counters and throws the first
// failure's message. The error arrives a little later than on the CPU, with
// the op's name and what was wrong, but never silently.
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace attn::kernels::cuda {
namespace {

// Asked once: the answer cannot change while the process runs.
struct Availability {
  bool available = false;
  std::string why;
  std::string name;
  Availability() {
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      why = cudaGetErrorString(status);
      cudaGetLastError();  // clear the sticky error so later calls are not confused
    } else if (count == 0) {
      why = "no CUDA device found";
    } else {
      available = true;
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) name = prop.name;
    }
  }
};

const Availability& availability() {
  static const Availability answer;
  return answer;
}

// The size a request is served with: small requests to 512 bytes, large ones
// to a sixteenth of their power of two (a 1.1 MB request gets a 1.125 MB
// block), so a block is at most 6.25% larger than asked.
size_t rounded_size(size_t nbytes) {
  if (nbytes <= (size_t(1) << 20)) return (nbytes + 511) / 512 * 512;
  size_t power = 1;
  while (power < nbytes) power <<= 1;
  size_t step = power / 16;
  return (nbytes + step - 1) / step * step;
}

struct Allocator {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;      // size -> block, waiting for reuse
  std::unordered_map<void*, size_t> live_sizes;  // block in use -> its size
  size_t in_use = 0, cached = 0;

  // Frees every cached block; the caller holds the mutex.
  void release_cached() {
    for (auto& [size, ptr] : free_blocks) cudaFree(ptr);
    free_blocks.clear();
    cached = 0;
  }
};

// The checks that report late (check_ids_later): each holds a counter on the
// GPU and the message to throw if it is not zero.
struct LateCheck {
  unsigned long long* count;  // on the GPU
  std::string what;
};

struct LateChecks {
  std::mutex mutex;
  std::vector<LateCheck> pending;
};

LateChecks& late_checks() {
  static LateChecks* instance = new LateChecks();  // never destroyed, as the allocator
  return *instance;
}

__global__ void count_bad_ids(const int64_t* ids, int64_t n, int64_t limit, int64_t allowed,
                              unsigned long long* count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t id = ids[i];
    // An integer atomic: the count is exact whatever the order.
    if (id != allowed && (id < 0 || id >= limit)) atomicAdd(count, 1ull);
  }
}

// Reads the counters of the pending checks (the caller has just waited for
// the GPU, so this costs a few tiny copies) and throws for the first that
// found anything. Every pending check is consumed either way.
void report_late_checks() {
  std::vector<LateCheck> checks;
  {
    std::lock_guard<std::mutex> lock(late_checks().mutex);
    if (late_checks().pending.empty()) return;
    checks.swap(late_checks().pending);
  }
  std::string failure;
  for (const LateCheck& check : checks) {
    unsigned long long found = 0;
    cudaMemcpy(&found, check.count, sizeof found, cudaMemcpyDeviceToHost);
    device_free(check.count);
    if (found > 0 && failure.empty()) {
      failure = check.what + " (" + std::to_string(found) +
                " of them; checked on the GPU, reported at the next copy to the host)";
    }
  }
  ATTN_CHECK(failure.empty(), failure);
}

Allocator& allocator() {
  // Never destroyed: blocks may still be freed by static tensors' destructors
  // after main returns, and the CUDA runtime may already be gone by then.
  static Allocator* instance = new Allocator();
  return *instance;
}

}  // namespace

bool built_with_cuda() { return true; }
bool is_available() { return availability().available; }
std::string why_unavailable() { return availability().available ? "" : availability().why; }
std::string device_name() { return availability().name; }

void* device_malloc(size_t nbytes) {
  ATTN_CHECK(is_available(), "CUDA is not available: ", why_unavailable());
  const size_t size = rounded_size(nbytes > 0 ? nbytes : 1);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  void* ptr = nullptr;
  auto hit = a.free_blocks.find(size);
  if (hit != a.free_blocks.end()) {
    ptr = hit->second;
    a.free_blocks.erase(hit);
    a.cached -= size;
  } else {
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      // Out of memory: give the cache back and try once more.
      cudaGetLastError();
      a.release_cached();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();  // an allocation failure is not sticky; clear it all the same
      throw ::attn::Error(::attn::detail::join_message(
          "cudaMalloc: could not allocate ", nbytes, " bytes (", size, " rounded up) on the GPU: ",
          cudaGetErrorString(status), " (attn already holds ", a.in_use, " bytes there)"));
    }
  }
  a.live_sizes[ptr] = size;
  a.in_use += size;
  return ptr;
}

void device_free(void* ptr) {
  // Never throws: called from destructors.
  if (!ptr) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto live = a.live_sizes.find(ptr);
  if (live == a.live_sizes.end()) return;  // not ours: nothing we can safely do
  a.in_use -= live->second;
  a.cached += live->second;
  a.free_blocks.emplace(live->second, ptr);
  a.live_sizes.erase(live);
}

size_t allocated_bytes() {
  std::lock_guard<std::mutex> lock(allocator().mutex);
  return allocator().in_use;
}

size_t cached_bytes() {
  std::lock_guard<std::mutex> lock(allocator().mutex);
  return allocator().cached;
}

void empty_cache() {
  if (!is_available()) return;
  std::lock_guard<std::mutex> lock(allocator().mutex);
  allocator().release_cached();
}

void copy_host_to_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice), "copy to cuda");
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  // cudaMemcpy to pageable host memory waits for the kernels queued before it,
  // so the host sees their results: this is where a number reaches the log,
  // and where the checks that report late are read.
  check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost), "copy to cpu");
  report_late_checks();
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  check_cuda(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, 0), "copy on cuda");
}

void synchronize() {
  if (!is_available()) return;
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  report_late_checks();
}

void check_ids_later(const int64_t* ids, int64_t n, int64_t limit, int64_t allowed,
                     const std::string& what) {
  if (n <= 0) return;
  auto* count = static_cast<unsigned long long*>(device_malloc(sizeof(unsigned long long)));
  check_cuda(cudaMemsetAsync(count, 0, sizeof(unsigned long long), 0), "check_ids_later");
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 1024);
  count_bad_ids<<<static_cast<unsigned>(blocks), threads>>>(ids, n, limit, allowed, count);
  check_launch("count_bad_ids");
  bool many = false;
  {
    std::lock_guard<std::mutex> lock(late_checks().mutex);
    late_checks().pending.push_back({count, what});
    many = late_checks().pending.size() > 4096;
  }
  // A loop that never reads a number back would pile checks up: look now.
  if (many) synchronize();
}

}  // namespace attn::kernels::cuda
