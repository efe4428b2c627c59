// exp, log, tanh and sigmoid for the float kernels: polynomials that the
// compiler can vectorise, and tanh_of for scalar loops.
//
// glibc's expf, logf and tanhf are scalar calls: a loop that calls them runs
// one element at a time, and profiles showed expf at 2-5% of a training step
// (softmax and cross-entropy were bound by it). The *_poly functions below use
// only +, −, ×, ÷, comparisons and bit moves, with no call and no table, so a
// plain loop over an array of them becomes SIMD code (4 floats at a time with
// SSE2, 8 with AVX2). They are meant to be called from such loops, which live
// in kernels/cpu/vec_math.cpp (exp_array, ...) and are compiled there with the
// flags that let GCC vectorise them; kernels call those array functions. They
// follow Cephes (S. L. Moshier, "Methods and Programs for Mathematical
// Functions", 1989): reduce the argument to a small interval, evaluate a
// polynomial there, and undo the reduction exactly.
//
// Error bounds, in units in the last place of the float nearest the true
// value (std::exp, std::log, std::tanh in double), measured over dense sweeps
// and enforced by tests/kernels/test_vec_math.cpp:
//   exp_poly      ≤ 1 ulp measured (test: 1.5), denormal results included
//   log_poly      ≤ 0.8 ulp measured (test: 1.5), denormal inputs included
//   tanh_poly     ≤ 1.3 ulp measured (test: 2)
//   sigmoid_poly  ≤ 2.4 ulp measured (test: 3)
// (1 ulp = 2^-23 relative at most.) glibc's own functions are within 1 ulp;
// the difference is far below the noise of float32 training. Special values
// are exact: e^-inf = 0, e^inf = inf, log 0 = −inf, log of a negative = NaN,
// tanh ±inf = ±1, NaN in gives NaN out.
//
// Alone in a scalar loop (one that does not vectorise), a polynomial is no
// faster than glibc: the compiler turns its selects into branches. So tanh_of,
// used per element by the RNN cells, stays the double-precision formula below;
// loops that can be written over arrays should call tanh_array instead.
//
// The double kernels keep std:: functions: they serve gradient checks and
// golden values, where the last bits matter.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace attn::kernels::cpu {

namespace fast_math_detail {

// A float's bits and back; memcpy is how C++17 says it without undefined
// behaviour, and compiles to nothing (or one register move in SIMD code).
inline uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
inline float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// 2^n for a normal exponent, −126 ≤ n ≤ 127: the exponent field is n + 127.
inline float pow2(int32_t n) { return float_of(static_cast<uint32_t>(n + 127) << 23); }

}  // namespace fast_math_detail

// --- exp ---------------------------------------------------------------------
//
// e^x = 2^n · e^r with n = round(x / ln 2) and r = x − n ln 2, |r| ≤ ln2 / 2.
// - n is rounded by adding 1.5 · 2^23: at that magnitude a float has no
//   fraction bits, so the addition itself rounds to an integer, and the low
//   bits of the sum's representation are n (no float→int conversion, whose
//   behaviour on NaN would be undefined).
// - r is computed in two steps (Cody and Waite): ln 2 = C1 + C2 with C1 having
//   only 9 significant bits, so n · C1 is exact and x − n · C1 loses nothing.
// - e^r = 1 + r + r² p(r), p of degree 5 (Cephes expf's coefficients).
// - x is first clamped to [−104, 89]: e^89 overflows to inf and e^-104 rounds
//   to 0, as they should; NaN passes the clamp (comparisons with NaN are false)
//   and stays NaN. So n ∈ [−150, 129], which does not fit a float's exponent:
//   the scaling multiplies by 2^(n/2) and then by 2^(n − n/2), each a normal
//   number, so results that overflow become inf and results below 2^-126
//   become correctly scaled denormals, each with one rounding.
inline float exp_poly(float x) {
  using namespace fast_math_detail;
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  constexpr float kRound = 12582912.0f;  // 1.5 · 2^23
  const float shifted = x * 1.44269504088896341f + kRound;  // x / ln 2, rounded
  const float n = shifted - kRound;
  const int32_t ni = static_cast<int32_t>(bits_of(shifted) - bits_of(kRound));
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // x − n (C1 + C2)
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;  // e^r
  const int32_t n1 = ni / 2;
  return er * pow2(n1) * pow2(ni - n1);
}

// --- log ---------------------------------------------------------------------
//
// x = 2^e · m with m ∈ [√½, √2), so log x = e ln 2 + log(1 + f), f = m − 1,
// |f| < 0.42, and log(1 + f) = f − f²/2 + f³ q(f), q of degree 8 (Cephes
// logf). e and m come from the bits: the exponent field, and the mantissa with
// the exponent of 0.5; m < √½ borrows one from e. A denormal x is first scaled
// by 2^23 so that its exponent field means something. e ln 2 is added in two
// pieces, as in exp_poly, the small one first.
inline float log_poly(float x) {
  using namespace fast_math_detail;
  const bool tiny = x < std::numeric_limits<float>::min();  // denormal, zero or negative
  const uint32_t b = bits_of(tiny ? x * 8388608.0f : x);     // × 2^23
  int32_t e = static_cast<int32_t>((b >> 23) & 0xffu) - 126 - (tiny ? 23 : 0);
  const float m = float_of((b & 0x007fffffu) | 0x3f000000u);  // ∈ [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  const float f = low ? m + m - 1.0f : m - 1.0f;
  const float z = f * f;
  float q = 7.0376836292e-2f;
  q = q * f - 1.1514610310e-1f;
  q = q * f + 1.1676998740e-1f;
  q = q * f - 1.2420140846e-1f;
  q = q * f + 1.4249322787e-1f;
  q = q * f - 1.6668057665e-1f;
  q = q * f + 2.0000714765e-1f;
  q = q * f - 2.4999993993e-1f;
  q = q * f + 3.3333331174e-1f;
  const float ef = static_cast<float>(e);
  const float tail = q * f * z + ef * -2.12194440e-4f - 0.5f * z;
  float y = (f + tail) + ef * 0.693359375f;
  // The special values, as selects so the loop stays branch-free.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  y = x == 0.0f ? -kInf : y;
  y = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : y;
  y = x == kInf ? kInf : y;
  y = x != x ? x : y;  // NaN
  return y;
}

// --- tanh --------------------------------------------------------------------
//
// For |x| ≥ 0.625: tanh|x| = 1 − 2 / (e^{2|x|} + 1). There e^{2|x|} ≥ 3.49, the
// subtracted term is at most 0.45 and the result at least 0.55, so exp's error
// is not magnified. For large |x|, e^{2|x|} overflows to inf and the result is
// exactly 1. Near 0 that subtraction would cancel (tanh x ≈ x but 1 − 2/(e+1)
// keeps only the absolute precision of 1), so for |x| < 0.625 an odd
// polynomial: tanh x = x + x³ p(x²), p of degree 4 (Cephes tanhf). Both are
// computed and one selected, which keeps the loop branch-free. The sign goes
// back on last, so tanh(−0) = −0.
inline float tanh_poly(float x) {
  const float a = std::fabs(x);
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float near_zero = a + a * z * p;
  const float far = 1.0f - 2.0f / (exp_poly(2.0f * a) + 1.0f);
  return std::copysign(a < 0.625f ? near_zero : far, x);
}

// tanh for one element in a scalar loop (the RNN cells, the additive score).
// glibc's tanhf goes through expm1f and took over a third of a GRU forward
// pass; exp in double is several times faster, and with it
//   tanh(x) = 1 − 2 / (e^{2x} + 1)
// is exact to float precision (measured: within 7e-8 relative of tanh in
// double over [-20, 20]). Near 0 the subtraction cancels, so there
// tanh(x) = x − x³/3, whose next term (2x⁵/15) is below float's resolution
// for |x| < 1e-4. e^{2x} overflowing to inf for large x gives 1 − 0 = 1.
inline float tanh_of(float x) {
  const double xd = x;
  if (std::fabs(xd) < 1e-4) return static_cast<float>(xd - xd * xd * xd / 3.0);
  return static_cast<float>(1.0 - 2.0 / (std::exp(2.0 * xd) + 1.0));
}
inline double tanh_of(double x) { return std::tanh(x); }

// --- sigmoid -----------------------------------------------------------------
//
// σ(x) = 1 / (1 + e^-x) overflows e^-x for very negative x and loses the
// relative precision of small results, so both signs exponentiate −|x|:
//   x ≥ 0:  σ(x) = 1 / (1 + e^-|x|)
//   x < 0:  σ(x) = e^-|x| / (1 + e^-|x|)      (multiply through by e^x)
// one exp and one division either way.
inline float sigmoid_poly(float x) {
  const float e = exp_poly(-std::fabs(x));  // ∈ [0, 1]
  return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

}  // namespace attn::kernels::cpu
