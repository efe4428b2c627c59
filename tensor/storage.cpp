#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "kernels/cuda.h"

namespace attn {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device == Device::CUDA) {
    data_ = kernels::cuda::device_malloc(nbytes);
    return;
  }
  // aligned_alloc wants a size that is a multiple of the alignment.
  size_t rounded = (nbytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded > 0 ? rounded : 64);
  if (!data_) throw std::bad_alloc();
}

Storage::~Storage() {
  if (device_ == Device::CUDA) {
    kernels::cuda::device_free(data_);
  } else {
    std::free(data_);
  }
}

}  // namespace attn
