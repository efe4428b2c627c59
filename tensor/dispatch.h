// Choosing the kernel overload for a tensor's dtype at run time.
//
// Kernels are overloaded on float and double. An op calls
//   dispatch_floating(x.dtype(), "softmax", [&](auto zero) {
//     using T = decltype(zero);
//     kernels::cpu::softmax_forward(x.data_ptr<T>(), ...);
//   });
// and the body is compiled once per type, with T standing for the element type.
// This is the one generic trick in attn (libtorch's AT_DISPATCH does the same).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/error.h"

namespace attn {

template <typename Body>
void dispatch_floating(DType dtype, const char* op, const Body& body) {
  switch (dtype) {
    case DType::Float32: body(float(0)); return;
    case DType::Float64: body(double(0)); return;
    case DType::Int64: break;
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
  }
}

}  // namespace attn
