// The CUDA runtime as attn uses it: is a GPU there, device memory from a
// caching allocator, copies between host and device, and checks that report
// late. Defined in kernels/cuda/runtime.cu; in a build without CUDA
// (no toolkit, or -DATTN_CUDA=OFF) by kernels/cuda/runtime_unavailable.cpp,
// whose answers say so (is_available() is false, memory calls throw the
// error of kernels/dispatch.h), so code above this floor never needs an #ifdef.
//
// The kernels themselves are not here: each family's header (kernels/softmax.h,
// ...) declares them for every device at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attn::kernels::cuda {

// True when attn was built with CUDA and a GPU is usable. A machine with the
// toolkit but no GPU (or no driver) answers false; why_unavailable() says why,
// e.g. "CUDA driver version is insufficient for CUDA runtime version".
bool is_available();
std::string why_unavailable();
bool built_with_cuda();
// The GPU's name ("NVIDIA H200"), or "" when none.
std::string device_name();

// Memory:
// device_malloc takes from a caching allocator (runtime.cu): freed blocks are
// kept per size and handed out again, because cudaMalloc and cudaFree
// synchronise the device and cost tens of microseconds each.
void* device_malloc(size_t nbytes);
void device_free(void* ptr);
// Bytes held by the allocator: in use, and cached for reuse.
size_t allocated_bytes();
size_t cached_bytes();
// Gives the cached blocks back to CUDA.
void empty_cache();
void copy_host_to_device(void* dst, const void* src, size_t nbytes);
void copy_device_to_host(void* dst, const void* src, size_t nbytes);
void copy_device_to_device(void* dst, const void* src, size_t nbytes);
// Waits until every queued kernel has finished (benchmarks and timing only).
void synchronize();

// Checks that report late, so that a training step never waits for the GPU
// to validate its own inputs: counts, on the GPU, the ids[0..n) outside
// [0, limit) other than `allowed` (pass -1 for none), and returns at once. The
// next copy to the host (loss.item(), printing, .cpu()) or synchronize() looks
// at the count and throws attn::Error with `what` and the number found.
void check_ids_later(const int64_t* ids, int64_t n, int64_t limit, int64_t allowed,
                     const std::string& what);

}  // namespace attn::kernels::cuda
