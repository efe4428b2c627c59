// The packed linear layer of kernels/packed_linear.h on the CPU.
//
// One block of y at a time: 6 rows of x times one panel of 16 outputs, over
// all K. On a CPU with AVX2 and FMA the 6 x 16 sums live in 12 registers for
// the whole k loop; each k loads the panel's 16 weights (two vectors), and
// for each of the 6 rows broadcasts x[r][k] and does two multiply-adds. That
// is 12 multiply-adds for 8 loads, which keeps both FMA units of a core busy
// (the same 6 x 16 shape as OpenBLAS's Haswell/Zen sgemm kernel). The bias is
// where the sums start, so it costs no pass over y, and y is written once.
//
// The order of the blocks is for the caches: the rows of x are taken in
// chunks of about 384 KB (they stay in L2 while every panel passes), and the
// panels in groups of about 128 KB (a group stays in L1/L2 while the chunk's
// rows pass). At decoding sizes (M = 256 rows, K = 256) x is one chunk and
// is read from L2 for every group; W streams through once.
//
// Rows past the last multiple of 6 and outputs past the last multiple of 16
// go through the same arithmetic: the rows are copied into a zero-padded
// block of 6, the panel is zero-padded already, and only the real part of
// the block is stored. So every row is computed the same way wherever it
// sits in the batch.
//
// The library is built for x86-64's baseline (SSE2); tile_avx2 is compiled
// for AVX2 and FMA alone (the `target` attribute) and called only when the
// CPU has both, as in kernels/cpu/attend_rows.cpp. double, and float on a
// CPU without them, take tile_plain: the same blocks and the same k order,
// with a multiply and an add where AVX2 has one fused multiply-add.
#include "kernels/packed_linear.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/parallel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ATTN_PACKED_AVX2 1
#endif

namespace attn::kernels {
namespace {

using cpu::parallel_for;

constexpr int64_t kPanel = kPackedLinearPanel;  // outputs per panel
constexpr int64_t kRows = 6;                    // rows of x per block
constexpr int64_t kChunkBytes = 384 * 1024;     // rows of x per task, in bytes
constexpr int64_t kGroupBytes = 128 * 1024;     // panels per task, in bytes

// out (6, 16) with row stride ld_out = bias + x (6, K) @ panel (K, 16).
template <typename T>
void tile_plain(const T* x, int64_t K, const T* panel, const T* bias16, T* out, int64_t ld_out) {
  T acc[kRows][kPanel];
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t j = 0; j < kPanel; ++j) acc[r][j] = bias16[j];
  }
  for (int64_t k = 0; k < K; ++k) {
    const T* w = panel + k * kPanel;
    for (int64_t r = 0; r < kRows; ++r) {
      const T a = x[r * K + k];
      for (int64_t j = 0; j < kPanel; ++j) acc[r][j] += a * w[j];
    }
  }
  for (int64_t r = 0; r < kRows; ++r) {
    std::memcpy(out + r * ld_out, acc[r], sizeof(T) * kPanel);
  }
}

#ifdef ATTN_PACKED_AVX2

bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

// One row of the block: (c0, c1), its 16 sums, += x_k * (w0, w1).
__attribute__((target("avx2,fma"), always_inline)) inline void add_row(const float* x_k, __m256 w0,
                                                                       __m256 w1, __m256& c0,
                                                                       __m256& c1) {
  const __m256 a = _mm256_broadcast_ss(x_k);
  c0 = _mm256_fmadd_ps(a, w0, c0);
  c1 = _mm256_fmadd_ps(a, w1, c1);
}

// out (6, 16) with row stride ld_out = bias + x (6, K) @ panel (K, 16). The
// twelve accumulators are named one by one (add_row is inlined onto them): an
// array of __m256 indexed in a loop would be kept in memory by the compiler.
__attribute__((target("avx2,fma"))) void tile_avx2(const float* x, int64_t K, const float* panel,
                                                    const float* bias16, float* out,
                                                    int64_t ld_out) {
  const __m256 b0 = _mm256_loadu_ps(bias16), b1 = _mm256_loadu_ps(bias16 + 8);
  __m256 c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1;
  __m256 c30 = b0, c31 = b1, c40 = b0, c41 = b1, c50 = b0, c51 = b1;
  for (int64_t k = 0; k < K; ++k) {
    const __m256 w0 = _mm256_loadu_ps(panel + k * kPanel);
    const __m256 w1 = _mm256_loadu_ps(panel + k * kPanel + 8);
    add_row(x + k, w0, w1, c00, c01);
    add_row(x + K + k, w0, w1, c10, c11);
    add_row(x + 2 * K + k, w0, w1, c20, c21);
    add_row(x + 3 * K + k, w0, w1, c30, c31);
    add_row(x + 4 * K + k, w0, w1, c40, c41);
    add_row(x + 5 * K + k, w0, w1, c50, c51);
  }
  const __m256 rows[kRows][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                 {c30, c31}, {c40, c41}, {c50, c51}};
  for (int64_t r = 0; r < kRows; ++r) {
    _mm256_storeu_ps(out + r * ld_out, rows[r][0]);
    _mm256_storeu_ps(out + r * ld_out + 8, rows[r][1]);
  }
}

#endif  // ATTN_PACKED_AVX2

// Six rows of x (row stride K) times one panel, into `out` (row stride
// ld_out). Fewer rows arrive here copied into a zero-padded block of six.
template <typename T>
void tile(const T* x, int64_t K, const T* panel, const T* bias16, T* out, int64_t ld_out) {
#ifdef ATTN_PACKED_AVX2
  if constexpr (std::is_same_v<T, float>) {
    if (has_avx2_fma()) return tile_avx2(x, K, panel, bias16, out, ld_out);
  }
#endif
  tile_plain(x, K, panel, bias16, out, ld_out);
}

// Rows [m0, m1) of y against panels [p0, p1): the work of one task.
template <typename T>
void run_task(const T* x, int64_t m0, int64_t m1, int64_t K, const T* packed, int64_t p0,
              int64_t p1, int64_t N, const T* bias, T* y) {
  std::vector<T> padded_rows;  // the last rows, when fewer than 6 are left
  T block[kRows * kPanel];     // a block whose outputs or rows run past y's
  // The bias of each of the task's panels, 16 numbers each, zero past N (or
  // everywhere, without a bias): made once, read by every block of rows.
  std::vector<T> panel_bias(static_cast<size_t>((p1 - p0) * kPanel), T(0));
  if (bias) std::copy(bias + p0 * kPanel, bias + std::min(N, p1 * kPanel), panel_bias.begin());
  for (int64_t m = m0; m < m1; m += kRows) {
    const int64_t rows = std::min(kRows, m1 - m);
    const T* xs = x + m * K;
    if (rows < kRows) {
      padded_rows.assign(static_cast<size_t>(kRows * K), T(0));
      std::copy(xs, xs + rows * K, padded_rows.begin());
      xs = padded_rows.data();
    }
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n0 = p * kPanel, cols = std::min(kPanel, N - n0);
      const T* bias16 = panel_bias.data() + (p - p0) * kPanel;
      const T* panel = packed + p * K * kPanel;
      if (rows == kRows && cols == kPanel) {
        tile(xs, K, panel, bias16, y + m * N + n0, N);
      } else {
        tile(xs, K, panel, bias16, block, kPanel);
        for (int64_t r = 0; r < rows; ++r) {
          std::memcpy(y + (m + r) * N + n0, block + r * kPanel, sizeof(T) * cols);
        }
      }
    }
  }
}

}  // namespace

template <Device D, typename T>
void pack_linear_weight(const T* w, int64_t N, int64_t K, T* packed) {
  const int64_t panels = (N + kPanel - 1) / kPanel;
  parallel_for(panels, K * kPanel, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      T* out = packed + p * K * kPanel;
      for (int64_t k = 0; k < K; ++k) {
        for (int64_t j = 0; j < kPanel; ++j) {
          const int64_t n = p * kPanel + j;
          out[k * kPanel + j] = n < N ? w[n * K + k] : T(0);
        }
      }
    }
  });
}

template <Device D, typename T>
void packed_linear(const T* x, int64_t M, int64_t K, const T* packed, int64_t N, const T* bias,
                   T* y) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // no products: every row is the bias
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) y[m * N + n] = bias ? bias[n] : T(0);
    }
    return;
  }
  const int64_t panels = (N + kPanel - 1) / kPanel;
  const int64_t row_bytes = K * static_cast<int64_t>(sizeof(T));
  int64_t chunk = std::max<int64_t>(kRows, kChunkBytes / row_bytes / kRows * kRows);
  int64_t group = std::max<int64_t>(1, kGroupBytes / (row_bytes * kPanel));
  // Enough tasks for every thread to get a few (a small model's whole
  // product can fit one chunk and one group): smaller groups first, as they
  // keep sharing x, then smaller chunks.
  const int64_t wanted = 4 * cpu::num_threads();
  auto count = [&] { return ((M + chunk - 1) / chunk) * ((panels + group - 1) / group); };
  while (count() < wanted && group > 1) group = (group + 1) / 2;
  while (count() < wanted && chunk > kRows) chunk = std::max(kRows, chunk / 2 / kRows * kRows);
  const int64_t chunks = (M + chunk - 1) / chunk, groups = (panels + group - 1) / group;
  // Task t: row chunk t / groups, panel group t % groups; neighbouring tasks
  // share their rows of x.
  parallel_for(chunks * groups, std::min(M, chunk) * group * kPanel * K,
               [&](int64_t begin, int64_t end) {
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t m0 = t / groups * chunk, p0 = t % groups * group;
                   run_task(x, m0, std::min(M, m0 + chunk), K, packed, p0,
                            std::min(panels, p0 + group), N, bias, y);
                 }
               });
}

ATTN_INSTANTIATE_FLOATING(pack_linear_weight, Device::CPU)
ATTN_INSTANTIATE_FLOATING(packed_linear, Device::CPU)

}  // namespace attn::kernels
