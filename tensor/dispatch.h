// Choosing the kernel for a tensor's dtype and device at run time.
//
// Kernels are templates over the device and the element type (kernels/dispatch.h).
// An op calls
//   dispatch_floating(x.dtype(), x.device(), "softmax", [&](auto zero, auto device) {
//     using T = decltype(zero);
//     kernels::softmax_forward<device>(x.data_ptr<T>(), ...);
//   });
// and the body is compiled once per (element type, device), with T standing
// for the element type and `device` for the device (a compile-time constant
// that converts to Device). In a build without CUDA only the CPU bodies are
// compiled. This is the one generic trick in attn (libtorch's AT_DISPATCH
// does the same); the forms without a device are for code that touches host
// memory only.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/bfloat16.h"
#include "kernels/dispatch.h"
#include "kernels/dtype.h"
#include "kernels/error.h"

namespace attn {

template <typename Body>
void dispatch_floating(DType dtype, const char* op, const Body& body) {
  switch (dtype) {
    case DType::Float32: body(float(0)); return;
    case DType::Float64: body(double(0)); return;
    case DType::Int64: break;
    case DType::BFloat16:
      // bfloat16 is stored, cast and multiplied (matmul); everything else is
      // computed in float32: cast the tensor up first, as mixed precision does.
      throw Error(std::string(op) +
                  ": expected a float32 or float64 tensor, got bfloat16 (bfloat16 supports "
                  "copies, to(dtype) and matmul; cast up with .to(kFloat32) for this op)");
  }
  throw Error(std::string(op) + ": expected a floating-point tensor (float32 or float64), got " +
              dtype_name(dtype));
}

template <typename Body>
void dispatch_all(DType dtype, const Body& body) {
  switch (dtype) {
    case DType::Float32: body(float(0)); return;
    case DType::Float64: body(double(0)); return;
    case DType::Int64: body(int64_t(0)); return;
    case DType::BFloat16: body(BFloat16(0.0f)); return;
  }
}

// body(T(0), device) for float and double.
template <typename Body>
void dispatch_floating(DType dtype, Device device, const char* op, const Body& body) {
  kernels::dispatch_device(device, op, [&](auto on) {
    dispatch_floating(dtype, op, [&](auto zero) { body(zero, on); });
  });
}

// body(T(0), device) for float, double, int64_t and BFloat16 (copies, fills,
// casts, index_select and comparisons: the kernels that move elements).
template <typename Body>
void dispatch_all(DType dtype, Device device, const Body& body) {
  kernels::dispatch_device(device, "dispatch_all", [&](auto on) {
    dispatch_all(dtype, [&](auto zero) { body(zero, on); });
  });
}

}  // namespace attn
