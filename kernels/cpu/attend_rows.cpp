// The float versions of kernels/cpu/attend_rows.h: AVX2 + FMA intrinsics where
// the CPU has them, plain loops where it does not.
//
// The library is built for x86-64's baseline (SSE2), so that one binary runs
// on every x86-64 machine; the two AVX2 functions below are compiled for
// AVX2 and FMA alone (the `target` attribute) and called only after the CPU
// said it has both. A machine always takes the same path, so its results do
// not change from run to run; two machines, one with AVX2 and one without,
// may differ in the last bits (an FMA rounds once where a multiply and an add
// round twice).
//
// What the AVX2 versions do differently from the loops of attend_rows.h:
// - score_keys takes eight keys at a time. Each key gets its own register of
//   eight running sums over d (one FMA per eight numbers), and the eight
//   registers are reduced together at the end: three rounds of horizontal
//   adds turn eight registers into one register of eight scores. Reducing one
//   key at a time would cost a chain of shuffles per key, longer than the dot
//   product itself at D = 32 or 64.
// - add_weighted_values keeps 32 numbers of acc in four registers while the
//   values stream past, instead of loading and storing acc for every value.
// Both read each key and value once, in order, which is what the hardware
// prefetcher follows.
#include "kernels/cpu/attend_rows.h"

#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ATTN_ATTEND_AVX2 1
#endif

namespace attn::kernels::cpu {
namespace {

#ifdef ATTN_ATTEND_AVX2

// The sums of eight registers, one per key: lane j of the result is the sum
// of the eight lanes of a[j]. Every key's eight lanes are added in the same
// tree, whichever of the eight slots it is in.
__attribute__((target("avx2,fma"))) inline __m256 sum_each(const __m256 a[8]) {
  // hadd(x, y) = x0+x1, x2+x3, y0+y1, y2+y3 | x4+x5, x6+x7, y4+y5, y6+y7
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]);
  const __m256 s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 s67 = _mm256_hadd_ps(a[6], a[7]);
  // Per 128-bit half: the quarter sums of keys 0-3 and of keys 4-7.
  const __m256 s0123 = _mm256_hadd_ps(s01, s23);
  const __m256 s4567 = _mm256_hadd_ps(s45, s67);
  // Low halves hold lanes 0-3 of each key, high halves lanes 4-7: add them.
  const __m256 low = _mm256_permute2f128_ps(s0123, s4567, 0x20);
  const __m256 high = _mm256_permute2f128_ps(s0123, s4567, 0x31);
  return _mm256_add_ps(low, high);
}

__attribute__((target("avx2,fma"))) void score_keys_avx2(const float* q, const float* k,
                                                         int64_t k_stride, int64_t count,
                                                         int64_t D, float scale, float* scores) {
  const int64_t D8 = D / 8 * 8;
  const __m256 scale8 = _mm256_set1_ps(scale);
  for (int64_t j0 = 0; j0 < count; j0 += 8) {
    // Eight keys; past the last one, the last key again (its scores are dropped).
    const float* key[8];
    for (int jj = 0; jj < 8; ++jj) key[jj] = k + std::min<int64_t>(j0 + jj, count - 1) * k_stride;
    __m256 a[8];
    for (int jj = 0; jj < 8; ++jj) a[jj] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D8; d += 8) {
      const __m256 qd = _mm256_loadu_ps(q + d);
      for (int jj = 0; jj < 8; ++jj) a[jj] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(key[jj] + d), a[jj]);
    }
    __m256 s = sum_each(a);
    if (D8 < D) {  // the last D % 8 numbers of each key
      alignas(32) float tail[8];
      for (int jj = 0; jj < 8; ++jj) {
        float t = 0;
        for (int64_t d = D8; d < D; ++d) t += q[d] * key[jj][d];
        tail[jj] = t;
      }
      s = _mm256_add_ps(s, _mm256_load_ps(tail));
    }
    s = _mm256_mul_ps(s, scale8);
    if (j0 + 8 <= count) {
      _mm256_storeu_ps(scores + j0, s);
    } else {
      alignas(32) float last[8];
      _mm256_store_ps(last, s);
      std::copy(last, last + (count - j0), scores + j0);
    }
  }
}

__attribute__((target("avx2,fma"))) void add_weighted_values_avx2(const float* p, const float* v,
                                                                  int64_t v_stride, int64_t count,
                                                                  int64_t D, float* acc) {
  int64_t d0 = 0;
  for (; d0 + 32 <= D; d0 += 32) {  // 32 numbers of acc in four registers
    __m256 a0 = _mm256_loadu_ps(acc + d0), a1 = _mm256_loadu_ps(acc + d0 + 8);
    __m256 a2 = _mm256_loadu_ps(acc + d0 + 16), a3 = _mm256_loadu_ps(acc + d0 + 24);
    for (int64_t j = 0; j < count; ++j) {
      const float* vj = v + j * v_stride + d0;
      const __m256 pj = _mm256_set1_ps(p[j]);
      a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
      a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
      a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
      a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
    }
    _mm256_storeu_ps(acc + d0, a0);
    _mm256_storeu_ps(acc + d0 + 8, a1);
    _mm256_storeu_ps(acc + d0 + 16, a2);
    _mm256_storeu_ps(acc + d0 + 24, a3);
  }
  for (; d0 + 8 <= D; d0 += 8) {  // then eight at a time
    __m256 a = _mm256_loadu_ps(acc + d0);
    for (int64_t j = 0; j < count; ++j) {
      a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * v_stride + d0), a);
    }
    _mm256_storeu_ps(acc + d0, a);
  }
  for (; d0 < D; ++d0) {  // and the last D % 8 one by one, with the same FMA
    float a = acc[d0];
    for (int64_t j = 0; j < count; ++j) a = std::fma(p[j], v[j * v_stride + d0], a);
    acc[d0] = a;
  }
}

bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

#endif  // ATTN_ATTEND_AVX2

}  // namespace

void score_keys(const float* q, const float* k, int64_t k_stride, int64_t count, int64_t D,
                float scale, float* scores) {
  if (count <= 0) return;
#ifdef ATTN_ATTEND_AVX2
  if (has_avx2_fma()) return score_keys_avx2(q, k, k_stride, count, D, scale, scores);
#endif
  score_keys_plain(q, k, k_stride, count, D, scale, scores);
}

void add_weighted_values(const float* p, const float* v, int64_t v_stride, int64_t count,
                         int64_t D, float* acc) {
  if (count <= 0) return;
#ifdef ATTN_ATTEND_AVX2
  if (has_avx2_fma()) return add_weighted_values_avx2(p, v, v_stride, count, D, acc);
#endif
  add_weighted_values_plain(p, v, v_stride, count, D, acc);
}

}  // namespace attn::kernels::cpu
