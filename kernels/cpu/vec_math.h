// Array math for the CPU kernels: exp, log, tanh and sigmoid over arrays, and
// the row max, sum and dot product that softmax and cross-entropy wrap
// around exp.
//
// The float versions evaluate the polynomials of kernels/cpu/fast_math.h in
// loops that the compiler vectorises (kernels/cpu/vec_math.cpp says how); the
// double versions call std:: functions one element at a time, since the double
// kernels serve gradient checks and golden values. Each element's result
// depends on that element alone, never on where the array starts or how long
// it is, so a kernel that splits an array over threads gets the same bits
// whatever the split.
//
// y may be x (in place). n may be 0.
#pragma once

#include <cmath>
#include <cstdint>

namespace attn::kernels::cpu {

// y_i = e^{x_i}, log x_i, tanh x_i, σ(x_i) = 1 / (1 + e^{-x_i}); x and y (n).
void exp_array(const float* x, float* y, int64_t n);
void log_array(const float* x, float* y, int64_t n);
void tanh_array(const float* x, float* y, int64_t n);
void sigmoid_array(const float* x, float* y, int64_t n);

inline void exp_array(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
inline void log_array(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
}
inline void tanh_array(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
// The two-branch form exponentiates only non-positive numbers (no overflow).
inline void sigmoid_array(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::exp(-std::fabs(x[i]));
    y[i] = (x[i] >= 0.0 ? 1.0 : e) / (1.0 + e);
  }
}

// --- reductions over one row -------------------------------------------------
//
// A running max or sum is a chain: each step waits for the previous one, and
// the compiler may not reorder it (float addition is not associative). Eight
// independent lanes, lane j taking elements j, j+8, j+16, ..., and combined
// in a fixed order at the end, let the loop run as SIMD code while the result
// stays a function of the row alone (not of threads or of the machine).
constexpr int kLanes = 8;

// max_k x_k of x (n), n ≥ 1. A NaN is skipped unless it is x_0, as with the
// plain loop `m = x_k > m ? x_k : m`; softmax then turns NaN inputs into NaN
// outputs through exp(NaN − m) anyway.
template <typename T>
T max_of(const T* x, int64_t n) {
  T lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = x[0];
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] = x[k + j] > lane[j] ? x[k + j] : lane[j];
  }
  T m = lane[0];
  for (int j = 1; j < kLanes; ++j) m = lane[j] > m ? lane[j] : m;
  for (; k < n; ++k) m = x[k] > m ? x[k] : m;
  return m;
}

// Σ_k x_k of x (n), accumulated in double so that long rows (a 50k vocabulary)
// keep float precision.
template <typename T>
double sum_of(const T* x, int64_t n) {
  double lane[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(x[k + j]);
  }
  double sum = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  for (; k < n; ++k) sum += static_cast<double>(x[k]);
  return sum;
}

// Σ_k a_k b_k of a and b (n), products and sum in double.
template <typename T>
double dot_of(const T* a, const T* b, int64_t n) {
  double lane[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      lane[j] += static_cast<double>(a[k + j]) * static_cast<double>(b[k + j]);
    }
  }
  double sum = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  for (; k < n; ++k) sum += static_cast<double>(a[k]) * static_cast<double>(b[k]);
  return sum;
}

}  // namespace attn::kernels::cpu
