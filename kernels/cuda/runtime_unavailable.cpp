// kernels/cuda/runtime.h in a build without CUDA: what there is to say
// without a GPU.
//
// Compiled instead of kernels/cuda/*.cu when the toolkit is missing or
// -DATTN_CUDA=OFF. The questions (is_available(), why_unavailable(), the
// allocator's byte counts) get their honest answers; anything that would need
// the GPU throws the one error of kernels/dispatch.h. The kernels need no such
// file: dispatch_device() never names a CUDA kernel in this build.
#include <string>

#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"

namespace attn::kernels::cuda {

bool built_with_cuda() { return false; }
bool is_available() { return false; }
std::string why_unavailable() { return "attn was built without CUDA"; }
std::string device_name() { return ""; }

void* device_malloc(size_t) { throw_built_without_cuda("device_malloc"); }
void device_free(void*) {}
size_t allocated_bytes() { return 0; }
size_t cached_bytes() { return 0; }
void empty_cache() {}
void copy_host_to_device(void*, const void*, size_t) {
  throw_built_without_cuda("copy_host_to_device");
}
void copy_device_to_host(void*, const void*, size_t) {
  throw_built_without_cuda("copy_device_to_host");
}
void copy_device_to_device(void*, const void*, size_t) {
  throw_built_without_cuda("copy_device_to_device");
}
void synchronize() {}
void check_ids_later(const int64_t*, int64_t, int64_t, int64_t, const std::string&) {
  throw_built_without_cuda("check_ids_later");
}

}  // namespace attn::kernels::cuda
