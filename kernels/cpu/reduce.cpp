// Reductions along one dim: sum, and max with its argmax.
//
// The input is seen as (outer, n, inner) and the middle dim is reduced:
//   sum:    out[o, i] = Σ_k x[o, k, i]
//   max:    out[o, i] = max_k x[o, k, i],  argmax[o, i] = the first k attaining it
//
// Two loop shapes cover every case:
// - inner == 1 (the last dim): each output walks one contiguous row.
// - inner > 1: the n terms of one output sit `inner` elements apart. Walking one
//   such column alone touches a new cache line per term, so we walk k in the
//   outer loop and a block of contiguous i in the inner loop, keeping one
//   accumulator per i. The inner loop is then unit-stride and vectorizes.
//
// Sums accumulate in double: once a float total is far larger than its terms,
// each add rounds away much of the term (adding 0.1f ten million times in a
// float gives 1087937, not 1000000), and the error grows with n. Max needs no
// accumulator.
//
// Determinism: every output element is produced by one thread, in a fixed
// order of k, so results do not depend on the number of threads. When a row
// is long, it is cut into chunks of a fixed size (not a per-thread share), the
// chunks are summed in parallel and the partial sums are added in chunk order.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/reduce.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Width of the block of contiguous i handled together when inner > 1: the
// accumulators (256 doubles = 2 KiB) stay in L1 next to the rows being read.
constexpr int64_t kColumnBlock = 256;

// Rows longer than this are summed in chunks of this size, so that a full
// reduction (outer = 1) still uses every core.
constexpr int64_t kSumChunk = 16384;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Σ x[0..n) in double. Four independent partial sums break the chain of
// dependent adds (a new add need not wait for the previous one) and let the
// compiler use vector adds; the order is still fixed, so the result is too.
template <typename T>
double sum_contiguous(const T* x, int64_t n) {
  double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    acc0 += static_cast<double>(x[k]);
    acc1 += static_cast<double>(x[k + 1]);
    acc2 += static_cast<double>(x[k + 2]);
    acc3 += static_cast<double>(x[k + 3]);
  }
  double total = (acc0 + acc1) + (acc2 + acc3);
  for (; k < n; ++k) total += static_cast<double>(x[k]);
  return total;
}

// inner == 1: x (rows, n), out (rows).
template <typename T>
void sum_rows(const T* x, int64_t rows, int64_t n, T* out) {
  if (n <= kSumChunk) {
    parallel_for(rows, n, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) out[r] = static_cast<T>(sum_contiguous(x + r * n, n));
    });
    return;
  }
  // Long rows: one work item per (row, chunk); partial (rows, chunks).
  const int64_t chunks = ceil_div(n, kSumChunk);
  std::vector<double> buffer(static_cast<size_t>(rows * chunks));
  double* partial = buffer.data();
  parallel_for(rows * chunks, kSumChunk, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / chunks;
      const int64_t start = (item % chunks) * kSumChunk;
      const int64_t length = std::min(kSumChunk, n - start);
      partial[item] = sum_contiguous(x + r * n + start, length);
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[r * chunks + c];
    out[r] = static_cast<T>(total);
  }
}

// inner > 1 with few (o, block of i) items but many k: a bias gradient, the
// sum of an (N, D) gradient over its N rows, is one item per 256 columns,
// so one core would do it all. The k of each item are cut into chunks of a
// size fixed by the shape (never by the thread count); each (o, block, chunk)
// sums its rows into its own partial sums, and the partials are added in
// chunk order.
template <typename T>
void sum_columns_chunked(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  const int64_t blocks = ceil_div(inner, kColumnBlock);
  const int64_t chunk = std::max<int64_t>(1, kSumChunk / std::min(inner, kColumnBlock));  // rows
  const int64_t chunks = ceil_div(n, chunk);
  std::vector<double> buffer(static_cast<size_t>(outer * chunks * inner));
  double* partial = buffer.data();  // (outer, chunks, inner)
  parallel_for(outer * blocks * chunks, chunk * kColumnBlock, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / (blocks * chunks);
      const int64_t block = item % (blocks * chunks) / chunks, c = item % chunks;
      const int64_t i0 = block * kColumnBlock, width = std::min(kColumnBlock, inner - i0);
      const int64_t k0 = c * chunk, k1 = std::min(n, k0 + chunk);
      double* acc = partial + (o * chunks + c) * inner + i0;
      std::fill(acc, acc + width, 0.0);
      for (int64_t k = k0; k < k1; ++k) {
        const T* row = x + (o * n + k) * inner + i0;
        for (int64_t i = 0; i < width; ++i) acc[i] += static_cast<double>(row[i]);
      }
    }
  });
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double total = 0;
      for (int64_t c = 0; c < chunks; ++c) total += partial[(o * chunks + c) * inner + i];
      out[o * inner + i] = static_cast<T>(total);
    }
  }
}

// inner > 1: one work item per (o, block of i).
template <typename T>
void sum_columns(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  const int64_t blocks = ceil_div(inner, kColumnBlock);
  // Fewer items than a small machine has cores, and enough rows to share:
  // chunk the rows (the choice depends on the shape alone).
  if (outer * blocks < 4 && n * std::min(inner, kColumnBlock) >= 2 * kSumChunk) {
    sum_columns_chunked(x, outer, n, inner, out);
    return;
  }
  parallel_for(outer * blocks, n * kColumnBlock, [&](int64_t begin, int64_t end) {
    double acc[kColumnBlock];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / blocks;
      const int64_t i0 = (item % blocks) * kColumnBlock;
      const int64_t width = std::min(kColumnBlock, inner - i0);
      const T* base = x + o * n * inner + i0;
      std::fill(acc, acc + width, 0.0);
      for (int64_t k = 0; k < n; ++k) {
        const T* row = base + k * inner;
        for (int64_t i = 0; i < width; ++i) acc[i] += static_cast<double>(row[i]);
      }
      T* dst = out + o * inner + i0;
      for (int64_t i = 0; i < width; ++i) dst[i] = static_cast<T>(acc[i]);
    }
  });
}

// Whether candidate v replaces the current best. `v > best` alone would keep
// the first maximum on ties (a later equal value does not replace it) but
// would skip NaN. Like PyTorch, a NaN wins and then stays: `!(v <= best)` is
// true for v > best and for a NaN v, and `best == best` is false once best is NaN.
template <typename T>
bool replaces(T v, T best) {
  return !(v <= best) && best == best;
}

}  // namespace

template <Device D, typename T>
void sum_reduce(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  if (inner == 1) {
    sum_rows(x, outer, n, out);
  } else {
    sum_columns(x, outer, n, inner, out);
  }
}

template <Device D, typename T>
void max_reduce(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, int64_t* argmax) {
  if (n == 0) return;  // max over an empty dim has no value; the caller rejects it.
  if (inner == 1) {
    parallel_for(outer, n, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = x + r * n;
        T best = row[0];
        int64_t best_k = 0;
        for (int64_t k = 1; k < n; ++k) {
          if (replaces(row[k], best)) {
            best = row[k];
            best_k = k;
          }
        }
        out[r] = best;
        argmax[r] = best_k;
      }
    });
    return;
  }
  // inner > 1: keep the running max and argmax of a block of columns in the
  // output itself, starting from k = 0.
  const int64_t blocks = ceil_div(inner, kColumnBlock);
  parallel_for(outer * blocks, n * kColumnBlock, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / blocks;
      const int64_t i0 = (item % blocks) * kColumnBlock;
      const int64_t width = std::min(kColumnBlock, inner - i0);
      const T* base = x + o * n * inner + i0;
      T* best = out + o * inner + i0;
      int64_t* best_k = argmax + o * inner + i0;
      for (int64_t i = 0; i < width; ++i) {
        best[i] = base[i];
        best_k[i] = 0;
      }
      for (int64_t k = 1; k < n; ++k) {
        const T* row = base + k * inner;
        for (int64_t i = 0; i < width; ++i) {
          if (replaces(row[i], best[i])) {
            best[i] = row[i];
            best_k[i] = k;
          }
        }
      }
    }
  });
}

// dx (outer, n, inner) is zero except dx[o, argmax[o, i], i] = grad[o, i]. Each
// work item is one o: it clears its own (n, inner) slab, then writes the inner
// picked elements, so no two items touch the same memory.
template <Device D, typename T>
void max_reduce_backward(const T* grad, const int64_t* argmax, int64_t outer, int64_t n,
                         int64_t inner, T* dx) {
  if (n == 0) return;  // dx is empty (and max over an empty dim left no argmax)
  parallel_for(outer, n * inner, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      T* slab = dx + o * n * inner;
      std::fill(slab, slab + n * inner, T(0));
      for (int64_t i = 0; i < inner; ++i) {
        slab[argmax[o * inner + i] * inner + i] = grad[o * inner + i];
      }
    }
  });
}

// Σ x[i]^2 in double, in chunks of a fixed size summed in chunk order, so the
// result does not depend on the number of threads (as sum_rows above).
template <Device D, typename T>
void sum_of_squares(int64_t n, const T* x, double* out) {
  if (n == 0) {
    *out = 0.0;
    return;
  }
  const int64_t chunks = ceil_div(n, kSumChunk);
  std::vector<double> partial(static_cast<size_t>(chunks));
  parallel_for(chunks, kSumChunk, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const T* chunk = x + c * kSumChunk;
      const int64_t length = std::min(kSumChunk, n - c * kSumChunk);
      double acc0 = 0, acc1 = 0;  // two chains of adds instead of one
      int64_t k = 0;
      for (; k + 2 <= length; k += 2) {
        const double a = static_cast<double>(chunk[k]), b = static_cast<double>(chunk[k + 1]);
        acc0 += a * a;
        acc1 += b * b;
      }
      double total = acc0 + acc1;
      for (; k < length; ++k) total += static_cast<double>(chunk[k]) * static_cast<double>(chunk[k]);
      partial[static_cast<size_t>(c)] = total;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  *out = total;
}

// The CPU definitions of kernels/reduce.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(sum_reduce, Device::CPU)
ATTN_INSTANTIATE_FLOATING(max_reduce, Device::CPU)
ATTN_INSTANTIATE_FLOATING(max_reduce_backward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(sum_of_squares, Device::CPU)

}  // namespace attn::kernels
