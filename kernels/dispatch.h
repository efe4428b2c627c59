// How an op reaches a kernel: one declaration, a definition per device, and
// the choice made at run time from the tensor's device.
//
// Each kernel family has one header (kernels/softmax.h, kernels/matmul.h, ...)
// that declares each kernel once, as a template over the device and the
// element type:
//   template <Device D, typename T>
//   void softmax_forward(const T* x, int64_t outer, int64_t n, int64_t inner, bool log, T* y);
// kernels/cpu/softmax.cpp defines it for D = Device::CPU and kernels/cuda/softmax.cu
// for D = Device::CUDA, each instantiating its own device for its element
// types in the lines at the end of the file (ATTN_INSTANTIATE below). A
// specialization therefore has exactly one body in the program: the CPU file
// never instantiates the CUDA device, nor the other way round (the pattern
// CTranslate2 uses for its ops: one declaration, one CPU and one GPU file).
// Strictly, C++ asks every definition of a template to be the same tokens;
// here each device file writes its own body, and since no specialization is
// ever instantiated from two of them, g++, clang and nvcc link each to the
// body written for its device.
//
// The op picks the device at run time. dispatch_device() turns the tensor's
// device into a compile-time constant for the body it is given:
//   dispatch_device(x.device(), "softmax", [&](auto device) {
//     kernels::softmax_forward<device>(x_ptr, outer, n, inner, false, y_ptr);
//   });
// (`device` is a std::integral_constant<Device, D>: it converts to D where a
// template argument is expected.) In a build without CUDA the CUDA branch is
// never compiled, so no CUDA kernel is named, and asking for one is the one
// error below: the same message for every kernel, from this one place.
//
// Conventions of every kernel: it takes plain pointers and sizes and knows
// nothing of Tensor or autograd; the caller (autograd/ops_*.cpp) has already
// checked shapes, dtypes and devices. Outputs are contiguous unless a stride
// argument says otherwise. On the GPU, data pointers are device pointers, the
// shape and stride arrays host arrays, and a kernel returns as soon as its work
// is queued.
#pragma once

#include <string>
#include <type_traits>

#include "kernels/dtype.h"
#include "kernels/error.h"

namespace attn::kernels {

// True when this attn was compiled with its CUDA kernels (ATTN_WITH_CUDA, set
// by CMakeLists.txt and exported to programs built against attn).
constexpr bool kBuiltWithCuda =
#ifdef ATTN_WITH_CUDA
    true;
#else
    false;
#endif

// The error of every CUDA entry point in a build without CUDA, naming `what`.
[[noreturn]] inline void throw_built_without_cuda(const std::string& what) {
  throw Error(what +
              ": attn was built without CUDA (reconfigure with the CUDA toolkit installed and "
              "-DATTN_CUDA=ON)");
}

template <Device D>
using DeviceConstant = std::integral_constant<Device, D>;

// Calls body(DeviceConstant<D>()) for the D that `device` names at run time.
// `op` names the caller in the error of a build without CUDA.
template <typename Body>
void dispatch_device(Device device, const char* op, const Body& body) {
  if (device == Device::CPU) {
    body(DeviceConstant<Device::CPU>());
    return;
  }
#ifdef ATTN_WITH_CUDA
  (void)op;  // named only in the error of a build without CUDA
  body(DeviceConstant<Device::CUDA>());
#else
  throw_built_without_cuda(op);
#endif
}

}  // namespace attn::kernels

// At the end of kernels/cpu/x.cpp and kernels/cuda/x.cu: the definitions the
// header promises, for one device and one set of element types, e.g.
//   ATTN_INSTANTIATE(softmax_forward, Device::CPU, float)
//   ATTN_INSTANTIATE(convert, Device::CUDA, float, double)
// The signature comes from the header's declaration through decltype, so it
// is written in the header only.
#define ATTN_INSTANTIATE(kernel, device, ...) \
  template decltype(kernel<device, __VA_ARGS__>) kernel<device, __VA_ARGS__>;
// The common case: float and double.
#define ATTN_INSTANTIATE_FLOATING(kernel, device) \
  ATTN_INSTANTIATE(kernel, device, float)         \
  ATTN_INSTANTIATE(kernel, device, double)
// Kernels that also move ids and masks: float, double and int64_t.
#define ATTN_INSTANTIATE_ALL_TYPES(kernel, device) \
  ATTN_INSTANTIATE_FLOATING(kernel, device)        \
  ATTN_INSTANTIATE(kernel, device, int64_t)
