// GPU memory and the question "is there a GPU?".
//
// On a machine with the CUDA toolkit but no GPU, cudaGetDeviceCount returns an
// error ("CUDA driver version is insufficient for CUDA runtime version" or "no
// CUDA-capable device is detected") rather than a count of zero. Any error there
// means "no GPU" (design.md, Devices), and tests skip with that message.
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda.h"
#include "kernels/cuda/check.h"

namespace attn::kernels::cuda {
namespace {

// Asked once: the answer cannot change while the process runs.
struct Availability {
  bool available = false;
  std::string why;
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
    }
  }
};

const Availability& availability() {
  static const Availability answer;
  return answer;
}

}  // namespace

bool built_with_cuda() { return true; }
bool is_available() { return availability().available; }
std::string why_unavailable() { return availability().available ? "" : availability().why; }

void* device_malloc(size_t nbytes) {
  ATTN_CHECK(is_available(), "CUDA is not available: ", why_unavailable());
  void* ptr = nullptr;
  check_cuda(cudaMalloc(&ptr, nbytes > 0 ? nbytes : 1), "cudaMalloc");
  return ptr;
}

void device_free(void* ptr) {
  // Never throws: called from destructors.
  if (ptr) cudaFree(ptr);
}

void copy_host_to_device(void* dst, const void* src, size_t nbytes) {
  check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice), "copy to cuda");
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes) {
  check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost), "copy to cpu");
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes) {
  check_cuda(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice), "copy on cuda");
}

}  // namespace attn::kernels::cuda
