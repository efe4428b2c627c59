// kernels/cuda.h for a build without CUDA: every entry point says so.
//
// Compiled instead of kernels/cuda/*.cu when the toolkit is missing or
// -DATTN_CUDA=OFF, so that the rest of attn links and asks is_available()
// instead of sprinkling #ifdefs.
#include <string>

#include "kernels/cuda.h"
#include "tensor/error.h"

namespace attn::kernels::cuda {
namespace {

[[noreturn]] void unavailable(const char* what) {
  throw Error(std::string(what) +
              ": attn was built without CUDA (reconfigure with the CUDA toolkit installed and "
              "-DATTN_CUDA=ON)");
}

}  // namespace

bool built_with_cuda() { return false; }
bool is_available() { return false; }
std::string why_unavailable() { return "attn was built without CUDA"; }

void* device_malloc(size_t) { unavailable("device_malloc"); }
void device_free(void*) {}
void copy_host_to_device(void*, const void*, size_t) { unavailable("copy to cuda"); }
void copy_device_to_host(void*, const void*, size_t) { unavailable("copy to cpu"); }
void copy_device_to_device(void*, const void*, size_t) { unavailable("copy on cuda"); }

void binary(BinaryOp, int, const int64_t*, const float*, const int64_t*, const float*,
            const int64_t*, float*) {
  unavailable("binary");
}

}  // namespace attn::kernels::cuda
