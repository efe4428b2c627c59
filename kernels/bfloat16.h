// bfloat16: the 16-bit float of mixed-precision training, and its conversions.
//
// A float32 is 1 sign bit, 8 exponent bits and 23 mantissa bits. bfloat16
// ("brain float", from Google Brain's TPUs) keeps the sign and all 8 exponent
// bits and only the top 7 mantissa bits: it is the upper half of a float32.
// So it has float32's range (about 1e-38 to 3e38: no overflow where float32
// has none, unlike IEEE half precision), and about 2-3 significant decimal
// digits (a relative step of 2^-8 = 0.4%).
//
//   float32  1.0f = 0x3F80'0000   ->  bfloat16 0x3F80
//   float32  pi   = 0x4049'0FDB   ->  bfloat16 0x4049 (3.140625)
//
// Widening bfloat16 -> float32 is exact: append 16 zero bits. Narrowing
// float32 -> bfloat16 drops 16 bits and must round. We round to nearest, ties
// to even (IEEE's default, what PyTorch and CUDA's __float2bfloat16 do): add
// 0x7FFF plus the lowest kept bit, then cut. A NaN stays a NaN (rounding could
// otherwise carry its mantissa into the exponent and make it infinity): it is
// returned quiet, with its sign. Infinity and denormals need no special case:
// the same addition leaves infinity alone and rounds a denormal like any value.
//
// BFloat16 is the element type of a DType::BFloat16 tensor (kernels/dtype.h).
// It converts implicitly to and from float, as c10::BFloat16 does, so the
// generic copy, fill and convert kernels compile for it unchanged; arithmetic
// on it is float arithmetic on the widened values.
#pragma once

#include <cstdint>
#include <cstring>

// Functions that CUDA device code calls too (the cast kernels of kernels/cuda/).
#ifdef __CUDACC__
#define ATTN_HOST_DEVICE __host__ __device__
#else
#define ATTN_HOST_DEVICE
#endif

namespace attn {

// The 32 bits of a float and back, without undefined behaviour.
ATTN_HOST_DEVICE inline uint32_t float_to_bits(float value) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

ATTN_HOST_DEVICE inline float bits_to_float(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

// float32 -> the 16 bits of the nearest bfloat16 (ties to even; NaN -> quiet NaN).
ATTN_HOST_DEVICE inline uint16_t float_to_bfloat16_bits(float value) {
  const uint32_t bits = float_to_bits(value);
  if ((bits & 0x7FFF'FFFFu) > 0x7F80'0000u) {
    // NaN: keep the sign and set the quiet bit, so the result is a NaN whatever
    // mantissa bits the cut drops.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  const uint32_t lowest_kept = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lowest_kept) >> 16);
}

// The 16 bits of a bfloat16 -> float32, exactly.
ATTN_HOST_DEVICE inline float bfloat16_bits_to_float(uint16_t bits) {
  return bits_to_float(static_cast<uint32_t>(bits) << 16);
}

struct BFloat16 {
  uint16_t bits;  // the raw pattern: sign, 8 exponent bits, 7 mantissa bits

  BFloat16() = default;  // uninitialised, like float
  // Rounds to nearest even (implicit, as float -> double is).
  ATTN_HOST_DEVICE BFloat16(float value) : bits(float_to_bfloat16_bits(value)) {}  // NOLINT
  // Widens exactly.
  ATTN_HOST_DEVICE operator float() const { return bfloat16_bits_to_float(bits); }  // NOLINT

  // The value with these bits (BFloat16::from_bits(0x3F80) is 1.0).
  ATTN_HOST_DEVICE static BFloat16 from_bits(uint16_t raw) {
    BFloat16 out;
    out.bits = raw;
    return out;
  }

  // Accumulation (copy_into_strided's +=): in float, then rounded once.
  ATTN_HOST_DEVICE BFloat16& operator+=(float other) {
    *this = BFloat16(float(*this) + other);
    return *this;
  }
};

static_assert(sizeof(BFloat16) == 2, "a bfloat16 is two bytes");

}  // namespace attn
