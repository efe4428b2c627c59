// Tests for the vectorised float math of kernels/cpu/vec_math.h and the
// polynomials of kernels/cpu/fast_math.h behind it.
//
// Accuracy: each array function against the same function in double, over a
// dense sweep of float bit patterns (every 509th float of the range, both
// signs: a few million values, denormals included), with the error measured
// in ulps of the correctly rounded float result. The bounds are those stated
// in fast_math.h. Special values (±0, ±inf, NaN, overflow, underflow) are
// checked exactly. Consistency: the array functions must give the bits of the
// scalar polynomial for every element, whatever the array's offset and length
// (the vector loop, its remainder and the SSE2 and AVX2 versions all compute
// the same IEEE operations), which is what makes the kernels that split rows
// over threads independent of the number of threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/vec_math.h"

namespace attn_test {
namespace {

namespace cpu = attn::kernels::cpu;

constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();
constexpr float kDenormMin = std::numeric_limits<float>::denorm_min();

float float_from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
uint32_t bits_from_float(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// The spacing of floats around the float nearest v: 2^-149 in the denormals.
double ulp_at(double v) {
  v = std::fabs(v);
  if (v < std::numeric_limits<float>::min()) return kDenormMin;
  int e;
  std::frexp(v, &e);  // v = f · 2^e, f ∈ [0.5, 1)
  return std::ldexp(1.0, e - 24);
}

// Every `stride`-th float with bits in [lo, hi], with its negative when `both_signs`.
std::vector<float> sweep(uint32_t lo, uint32_t hi, bool both_signs, uint32_t stride = 509) {
  std::vector<float> x;
  for (uint64_t b = lo; b <= hi; b += stride) {
    x.push_back(float_from_bits(static_cast<uint32_t>(b)));
    if (both_signs) x.push_back(-x.back());
  }
  x.push_back(float_from_bits(hi));
  return x;
}

using ArrayFn = void (*)(const float*, float*, int64_t);  // picks the float overload
using RefFn = std::function<double(double)>;

// The largest error of f over x, in ulps of the reference rounded to float.
// Where the rounded reference is not finite (overflow), f must give it exactly.
double max_ulp_error(const ArrayFn& f, const RefFn& ref, const std::vector<float>& x,
                     float* worst_x) {
  std::vector<float> y(x.size());
  f(x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = ref(static_cast<double>(x[i]));
    if (!std::isfinite(static_cast<float>(r))) {
      EXPECT_EQ(y[i], static_cast<float>(r)) << "x = " << x[i];
      continue;
    }
    const double err = std::fabs(static_cast<double>(y[i]) - r) / ulp_at(r);
    if (!(err <= worst)) {  // also catches a NaN error
      worst = std::isnan(err) ? kInfF : err;
      *worst_x = x[i];
    }
  }
  return worst;
}

double sigmoid_ref(double v) { return v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v)); }

// Bit patterns: 104.0f = 0x42d00000, 20.0f = 0x41a00000, FLT_MAX = 0x7f7fffff.
TEST(VecMath, ExpWithinOneAndAHalfUlp) {
  float at = 0;
  const double err = max_ulp_error(cpu::exp_array, [](double v) { return std::exp(v); },
                                   sweep(0, 0x42d00000u, true), &at);
  EXPECT_LE(err, 1.5) << "worst at x = " << at;
}

TEST(VecMath, LogWithinOneAndAHalfUlp) {
  float at = 0;
  const double err = max_ulp_error(cpu::log_array, [](double v) { return std::log(v); },
                                   sweep(1, 0x7f7fffffu, false), &at);
  EXPECT_LE(err, 1.5) << "worst at x = " << at;
}

TEST(VecMath, TanhWithinTwoUlp) {
  float at = 0;
  const double err = max_ulp_error(cpu::tanh_array, [](double v) { return std::tanh(v); },
                                   sweep(0, 0x41a00000u, true), &at);
  EXPECT_LE(err, 2.0) << "worst at x = " << at;
}

TEST(VecMath, SigmoidWithinThreeUlp) {
  float at = 0;
  const double err =
      max_ulp_error(cpu::sigmoid_array, sigmoid_ref, sweep(0, 0x42d00000u, true), &at);
  EXPECT_LE(err, 3.0) << "worst at x = " << at;
}

// Runs f on the single value x.
float at(const ArrayFn& f, float x) {
  float y;
  f(&x, &y, 1);
  return y;
}

TEST(VecMath, ExpSpecialValues) {
  EXPECT_EQ(at(cpu::exp_array, 0.0f), 1.0f);
  EXPECT_EQ(at(cpu::exp_array, -0.0f), 1.0f);
  EXPECT_EQ(at(cpu::exp_array, -kInfF), 0.0f);
  EXPECT_EQ(at(cpu::exp_array, kInfF), kInfF);
  EXPECT_TRUE(std::isnan(at(cpu::exp_array, kNaNF)));
  EXPECT_TRUE(std::isnan(at(cpu::exp_array, -kNaNF)));
  // Overflow: e^88.72 is just below FLT_MAX, e^88.73 above it.
  EXPECT_TRUE(std::isfinite(at(cpu::exp_array, 88.72f)));
  EXPECT_EQ(at(cpu::exp_array, 88.73f), kInfF);
  EXPECT_EQ(at(cpu::exp_array, 1000.0f), kInfF);
  // Underflow: denormals below e^-87.34 = 2^-126, then 0 below about −103.97.
  const float d = at(cpu::exp_array, -95.0f);
  EXPECT_GT(d, 0.0f);
  EXPECT_LT(d, std::numeric_limits<float>::min());
  EXPECT_NEAR(d, std::exp(-95.0), kDenormMin);
  EXPECT_EQ(at(cpu::exp_array, -104.0f), 0.0f);
  EXPECT_EQ(at(cpu::exp_array, -1000.0f), 0.0f);
  EXPECT_EQ(at(cpu::exp_array, -std::numeric_limits<float>::max()), 0.0f);
  EXPECT_EQ(at(cpu::exp_array, std::numeric_limits<float>::max()), kInfF);
}

TEST(VecMath, LogSpecialValues) {
  EXPECT_EQ(at(cpu::log_array, 1.0f), 0.0f);
  EXPECT_EQ(at(cpu::log_array, 0.0f), -kInfF);
  EXPECT_EQ(at(cpu::log_array, -0.0f), -kInfF);
  EXPECT_EQ(at(cpu::log_array, kInfF), kInfF);
  EXPECT_TRUE(std::isnan(at(cpu::log_array, -1.0f)));
  EXPECT_TRUE(std::isnan(at(cpu::log_array, -kInfF)));
  EXPECT_TRUE(std::isnan(at(cpu::log_array, -kDenormMin)));
  EXPECT_TRUE(std::isnan(at(cpu::log_array, kNaNF)));
  EXPECT_NEAR(at(cpu::log_array, kDenormMin), std::log(static_cast<double>(kDenormMin)), 1e-5);
  EXPECT_NEAR(at(cpu::log_array, std::numeric_limits<float>::max()), 88.7228391, 1e-5);
}

TEST(VecMath, TanhAndSigmoidSpecialValues) {
  EXPECT_EQ(at(cpu::tanh_array, 0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(at(cpu::tanh_array, -0.0f)));  // tanh(−0) = −0
  EXPECT_EQ(at(cpu::tanh_array, kInfF), 1.0f);
  EXPECT_EQ(at(cpu::tanh_array, -kInfF), -1.0f);
  EXPECT_EQ(at(cpu::tanh_array, 50.0f), 1.0f);
  EXPECT_TRUE(std::isnan(at(cpu::tanh_array, kNaNF)));
  // Near 0, no cancellation: tanh x = x to float precision.
  EXPECT_EQ(at(cpu::tanh_array, 1e-20f), 1e-20f);
  EXPECT_EQ(at(cpu::tanh_array, -kDenormMin), -kDenormMin);

  EXPECT_EQ(at(cpu::sigmoid_array, 0.0f), 0.5f);
  EXPECT_EQ(at(cpu::sigmoid_array, kInfF), 1.0f);
  EXPECT_EQ(at(cpu::sigmoid_array, -kInfF), 0.0f);
  EXPECT_EQ(at(cpu::sigmoid_array, 200.0f), 1.0f);
  EXPECT_EQ(at(cpu::sigmoid_array, -200.0f), 0.0f);
  EXPECT_TRUE(std::isnan(at(cpu::sigmoid_array, kNaNF)));
  // Very negative x: a small result, with its relative precision (no 1 − 1).
  EXPECT_NEAR(at(cpu::sigmoid_array, -30.0f) / std::exp(-30.0), 1.0, 3e-7);
}

// The array functions equal the scalar polynomials bit for bit, at every offset
// and length (so in the vector loop and in its scalar remainder alike), in place too.
TEST(VecMath, ArraysMatchScalarPolynomialsAtEveryOffsetAndLength) {
  std::mt19937 gen(14);
  std::normal_distribution<float> normal(0.0f, 8.0f);
  std::vector<float> x(300);
  for (float& v : x) v = normal(gen);
  x[5] = kInfF, x[17] = -kInfF, x[33] = kNaNF, x[64] = 0.0f, x[65] = -0.0f, x[100] = -100.0f;
  struct Case { ArrayFn array; float (*scalar)(float); bool positive; };
  const Case cases[] = {{cpu::exp_array, cpu::exp_poly, false},
                        {cpu::log_array, cpu::log_poly, true},
                        {cpu::tanh_array, cpu::tanh_poly, false},
                        {cpu::sigmoid_array, cpu::sigmoid_poly, false}};
  for (const Case& c : cases) {
    std::vector<float> in = x;
    if (c.positive) {
      for (float& v : in) v = std::fabs(v);
    }
    for (int64_t offset : {0, 1, 3, 7}) {
      for (int64_t n : {0, 1, 5, 8, 15, 16, 17, 33, 250}) {
        std::vector<float> y(in.size(), 42.0f);
        c.array(in.data() + offset, y.data() + offset, n);
        std::vector<float> inplace = in;
        c.array(inplace.data() + offset, inplace.data() + offset, n);
        for (int64_t i = 0; i < n; ++i) {
          const uint32_t expected = bits_from_float(c.scalar(in[offset + i]));
          ASSERT_EQ(bits_from_float(y[offset + i]), expected) << "offset " << offset << " n " << n;
          ASSERT_EQ(bits_from_float(inplace[offset + i]), expected);
        }
        if (offset > 0) {
          EXPECT_EQ(y[offset - 1], 42.0f);  // nothing written outside
        }
        EXPECT_EQ(y[offset + n], 42.0f);
      }
    }
  }
}

// The double overloads are std:: functions, exactly.
TEST(VecMath, DoubleArraysAreStd) {
  const std::vector<double> x = {-800.0, -3.5, -1e-9, 0.0, 0.25, 2.0, 700.0};
  std::vector<double> y(x.size());
  cpu::exp_array(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], std::exp(x[i]));
  cpu::tanh_array(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], std::tanh(x[i]));
  cpu::sigmoid_array(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], sigmoid_ref(x[i]), 1e-16);
}

// max_of and sum_of against plain loops, for lengths around the lane count.
TEST(VecMath, RowMaxAndSum) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> uniform(-5.0f, 5.0f);
  for (int64_t n : {1, 2, 7, 8, 9, 16, 31, 1000}) {
    std::vector<float> x(n);
    for (float& v : x) v = uniform(gen);
    float m = x[0];
    double s = 0;
    for (float v : x) {
      m = v > m ? v : m;
      s += v;
    }
    EXPECT_EQ(cpu::max_of(x.data(), n), m) << n;
    EXPECT_NEAR(cpu::sum_of(x.data(), n), s, 1e-12 * n) << n;
  }
  const std::vector<float> masked = {-kInfF, -kInfF, 2.0f, -kInfF, -kInfF, -kInfF, -kInfF, -kInfF, -kInfF};
  EXPECT_EQ(cpu::max_of(masked.data(), 9), 2.0f);
}

}  // namespace
}  // namespace attn_test
