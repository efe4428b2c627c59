// Element types and devices: the two tags every tensor carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "kernels/bfloat16.h"

namespace attn {

// float32 is the default for training; float64 exists on the CPU so that
// gradient checks by finite differences are accurate; int64 holds token ids,
// indices and masks (nonzero = true). bfloat16 (kernels/bfloat16.h) is the
// 16-bit float of mixed precision: tensors of it can be made, copied, cast,
// printed, saved and multiplied (matmul, float accumulation); the other ops
// take float32 or float64 and refuse it by name (tensor/dispatch.h).
enum class DType { Float32, Float64, Int64, BFloat16 };

constexpr DType kFloat32 = DType::Float32;
constexpr DType kFloat64 = DType::Float64;
constexpr DType kInt64 = DType::Int64;
constexpr DType kBFloat16 = DType::BFloat16;

inline size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::BFloat16: return 2;
  }
  return 8;
}

inline bool is_floating(DType dtype) { return dtype != DType::Int64; }

inline const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::BFloat16: return "bfloat16";
  }
  return "?";
}

inline std::ostream& operator<<(std::ostream& out, DType dtype) {
  return out << dtype_name(dtype);
}

enum class Device { CPU, CUDA };

constexpr Device kCPU = Device::CPU;
constexpr Device kCUDA = Device::CUDA;

inline const char* device_name(Device device) {
  return device == Device::CPU ? "cpu" : "cuda";
}

inline std::ostream& operator<<(std::ostream& out, Device device) {
  return out << device_name(device);
}

}  // namespace attn
