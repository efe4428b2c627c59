// The three steps of attention for one query row against keys and values
// read where they lie, shared by the decoding kernels: grouped_attention
// (kernels/cpu/flash_attention.cpp, a contiguous or strided KV cache) and
// paged_attention (kernels/cpu/paged_attention.cpp, a cache in blocks).
//
// For a query q and keys k_0..k_{n-1} with values v_0..v_{n-1}:
//   1. score_keys:          s_j = scale * q . k_j
//   2. exp_shifted:         p_j = e^(s_j - max_j s_j),  l = sum_j p_j
//   3. add_weighted_values: acc += sum_j p_j v_j
// and out = acc / l. A caller may hand the keys over in runs (a paged cache
// hands one block at a time): each key's score and each element of acc is
// computed by the same operations in the same order whatever the runs are,
// so the paged and the contiguous caches give the same bits, which beam
// search's tests ask for.
//
// Why these are functions of their own: decoding spends most of a step here
// once the GEMMs are fast (bench/README.md, "On the AVX2 EPYC, 2026-12-08:
// decoding"). A decoding step has
// one query row per head and reads every cached key and value once, so the
// work per byte is small and the loops must not waste it: the float versions
// score eight keys at once (eight running sums, one horizontal reduction for
// the eight), exponentiate with the vectorised polynomial of vec_math.h, and
// keep acc in registers while the values stream past. They are written with
// AVX2 and FMA intrinsics (attend_rows.cpp) and taken when the CPU has both;
// otherwise, and for double (gradient checks), the plain loops below run.
#pragma once

#include <cstdint>

#include "kernels/cpu/vec_math.h"

namespace attn::kernels::cpu {

// s_j = scale * q . k_j for j < count, with k_j = k + j * k_stride.
// q: (D), keys: count rows of D at stride k_stride, scores: (count).
void score_keys(const float* q, const float* k, int64_t k_stride, int64_t count, int64_t D,
                float scale, float* scores);
// acc_d += sum_j p_j v_j,d for j < count in order, with v_j = v + j * v_stride.
// p: (count), values: count rows of D at stride v_stride, acc: (D).
void add_weighted_values(const float* p, const float* v, int64_t v_stride, int64_t count,
                         int64_t D, float* acc);

// The plain loops: the double versions (gradient checks) and the float ones
// on a CPU without AVX2 and FMA.
//
// a . b (D) with 8 running sums, combined in a fixed order: one sum would
// add the D products in order, 8 independent ones the compiler keeps in a
// vector register, and the result is still a function of a and b alone.
template <typename T>
T dot_lanes(const T* a, const T* b, int64_t D) {
  T lane[kLanes] = {};
  int64_t d = 0;
  for (; d + kLanes <= D; d += kLanes) {
    for (int l = 0; l < kLanes; ++l) lane[l] += a[d + l] * b[d + l];
  }
  T s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  for (; d < D; ++d) s += a[d] * b[d];
  return s;
}

template <typename T>
void score_keys_plain(const T* q, const T* k, int64_t k_stride, int64_t count, int64_t D,
                      T scale, T* scores) {
  for (int64_t j = 0; j < count; ++j) scores[j] = scale * dot_lanes(q, k + j * k_stride, D);
}

template <typename T>
void add_weighted_values_plain(const T* p, const T* v, int64_t v_stride, int64_t count, int64_t D,
                               T* acc) {
  for (int64_t j = 0; j < count; ++j) {
    const T* vj = v + j * v_stride;
    for (int64_t d = 0; d < D; ++d) acc[d] += p[j] * vj[d];
  }
}

inline void score_keys(const double* q, const double* k, int64_t k_stride, int64_t count,
                       int64_t D, double scale, double* scores) {
  score_keys_plain(q, k, k_stride, count, D, scale, scores);
}

inline void add_weighted_values(const double* p, const double* v, int64_t v_stride,
                                int64_t count, int64_t D, double* acc) {
  add_weighted_values_plain(p, v, v_stride, count, D, acc);
}

// s_j = e^(s_j - max_k s_k) in place for j < n, and returns their sum (0 for
// n = 0). The shift by the largest score keeps exp from overflowing; the
// normalisation by the sum is the caller's (out = acc / sum), one division
// per output element instead of one per score.
template <typename T>
T exp_shifted(T* s, int64_t n) {
  if (n <= 0) return T(0);
  const T m = max_of(s, n);
  for (int64_t j = 0; j < n; ++j) s[j] -= m;
  exp_array(s, s, n);
  return static_cast<T>(sum_of(s, n));
}

}  // namespace attn::kernels::cpu
