#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "kernels/cuda/runtime.h"

namespace attn {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device == Device::CUDA) {
    data_ = kernels::cuda::device_malloc(nbytes);
    return;
  }
#ifdef ATTN_SANITIZE
  // Under AddressSanitizer, allocate the exact size so that reading one
  // element past the end is reported (rounding up would hide it).
  data_ = std::malloc(nbytes > 0 ? nbytes : 1);
#else
  // aligned_alloc wants a size that is a multiple of the alignment.
  size_t rounded = (nbytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded > 0 ? rounded : 64);
#endif
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
