// Storage: the flat, reference-counted buffer that tensors view.
//
// Several tensors (a tensor, its transpose, a slice of it) can share one
// Storage; the buffer is freed when the last of them goes away.
#pragma once

#include <cstddef>
#include <memory>

#include "kernels/dtype.h"

namespace attn {

class Storage {
 public:
  // Allocates nbytes on `device` (uninitialised). CPU buffers are 64-byte
  // aligned so that vector loads never straddle a cache line at the start.
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
  Device device_ = Device::CPU;
};

}  // namespace attn
