// Fused scaled dot-product attention on the GPU, the FlashAttention way (Dao
// et al. 2022, Algorithms 1 and 2): the twin of kernels/cpu/flash_attention.cpp,
// whose header explains the online softmax and the backward's formulas. This
// file is about how the work is laid out on the GPU. It is the plain,
// teaching version: correct for every shape, not tuned.
//
// Tiling. The composed path writes the (Tq, Tk) score matrix to global memory
// and reads it back; here it never leaves the chip. A block takes a tile of
// Br query rows and walks over the keys in tiles of Bc rows:
//
//     for each key tile (Bc keys):
//       the whole block copies k[tile] and v[tile] into shared memory
//       __syncthreads()
//       each query row of the block scores the Bc keys and updates its
//       running max m, running sum l and accumulator acc (online softmax)
//       __syncthreads()   (before the next tile overwrites shared memory)
//
// Each key and value is read from global memory once per block and used by
// all Br rows of the tile: that reuse, and never writing S, is the saving.
//
// Who does what. One warp owns one query row (Br = warps per block), and its
// 32 lanes play two parts in turn:
//   - lanes as keys: lane j computes the score of key j of the tile,
//     s_j = q . k_j * scale, from shared memory; the tile's max and sum of
//     e^(s_j - m_new) are warp reductions (__shfl_xor_sync), so Bc <= 32;
//   - lanes as dimensions: lane t keeps acc[d] for d = t, t + 32, t + 64,
//     t + 96 (D <= 128, four registers), and adds p_j v_j[d] for each key j,
//     p_j being broadcast from lane j with __shfl_sync.
// m and l are the same in every lane of the warp. After the last tile,
// out = acc / l and lse = m + log l, written by the warp's lanes.
//
// Shared memory (48 KB static per block): a streamed tile has Bc rows of
// kMaxHeadDim + 1 values (the +1 shifts each row by one bank, so the 32
// lanes reading "their" row at the same d hit 32 different banks); the rows
// a block owns are kMaxHeadDim wide. The largest kernels hold two streamed
// tiles and two owned tiles. For float, Bc = 32 and Br = 8:
//   (2 * 32 * 129 + 2 * 8 * 128) * 4 bytes = 41,216 bytes;
// for double, Bc = 16 and Br = 4 give the same 41,216 bytes. (Double with
// Bc = 32 would need 66 KB, past the static limit.)
//
// Backward, deterministic and without atomics. dq_i sums over keys and dk_j,
// dv_j sum over queries; letting one block add into another's rows would need
// atomics, whose order (and so whose rounding) changes from run to run. So
// the backward runs three kernels, each output row written by one warp:
//   1. delta_kernel: D_i = dO_i . O_i, one warp per query row;
//   2. dkdv_kernel: a block owns Br keys (a warp each) and streams query tiles
//      (lanes as queries): p = e^(s - lse_i), ds = p (dO_i . v_j - D_i),
//      dv_j += p dO_i, dk_j += ds q_i * scale;
//   3. dq_kernel: the forward's layout, a warp per query row streaming key
//      tiles: dq_i += ds_ij k_j * scale.
// Scores are computed twice (in 2 and 3), the price of having no atomics.
//
// Grouped heads (MQA, GQA: Hkv kv heads, Hkv dividing H). The forward and
// dq_kernel are laid out by query head as before; a block of query head h
// reads kv head h / (H / Hkv) in place. dkdv_kernel is laid out by kv head:
// a block owns Br keys of one kv head and streams the queries of every head
// of its group past them, so each dk_j, dv_j is still written by one warp,
// the group's sum taken in its registers (no atomics, the same bits every
// run). With Hkv = H every group has one head and nothing changes.
//
// Masks: row i sees keys [0, n_i) (the CPU file says why it is a prefix), so
// a key tile stops at n_i and a hidden key is never read; in dkdv_kernel a
// query that does not see key j is skipped. A row with n_i = 0 gets out 0,
// lse -inf and no gradient. Indices into q, k, v are int64: B*H*T*D may pass
// 2^31.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"
#include "kernels/error.h"
#include "kernels/flash_attention.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;
using cuda::device_free;
using cuda::device_malloc;

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxHeadDim = 128;
constexpr int kDimsPerLane = kMaxHeadDim / kWarp;  // acc registers per lane

// Tile sizes by element type; see the shared-memory sums above.
template <typename T>
struct Tiles {
  // Rows a block owns, one per warp: query rows (forward, dQ) or keys (dK, dV).
  static constexpr int kOwned = 32 / sizeof(T);  // float 8, double 4
  // Rows streamed through shared memory, one per lane when scoring.
  static constexpr int kStreamed = 128 / sizeof(T);  // float 32, double 16
  static constexpr int kThreads = kOwned * kWarp;
  static constexpr size_t kSharedBytes =
      (2 * kStreamed * (kMaxHeadDim + 1) + 2 * kOwned * kMaxHeadDim) * sizeof(T);
  static_assert(kStreamed <= kWarp, "a streamed tile has one row per lane");
  static_assert(kSharedBytes <= 48 * 1024, "past the 48 KB of static shared memory");
};

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }
__device__ inline float log_of(float x) { return logf(x); }
__device__ inline double log_of(double x) { return log(x); }

template <typename T>
__device__ inline T minus_infinity() {
  return static_cast<T>(-INFINITY);
}

// Sum and max over the 32 lanes of a warp; every lane gets the result. All 32
// lanes must call them (the branches around them are uniform per warp).
template <typename T>
__device__ T warp_sum(T x) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(kFullMask, x, offset);
  return x;
}
template <typename T>
__device__ T warp_max(T x) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const T other = __shfl_xor_sync(kFullMask, x, offset);
    x = other > x ? other : x;
  }
  return x;
}

// The shapes and masks, passed by value to every kernel.
struct Problem {
  int64_t H, Hkv, Tq, Tk;  // query heads, kv heads (Hkv divides H)
  int D;
  const int64_t* key_lengths;  // (B) on the device, or null
  bool causal;

  // Keys of batch b that are not padding: key_lengths[b] clamped to [0, Tk].
  __device__ int64_t keys_of_batch(int64_t b) const {
    if (!key_lengths) return Tk;
    const int64_t n = key_lengths[b];
    return n < 0 ? 0 : (n > Tk ? Tk : n);
  }
  // The kv head that query head bh = b * H + h reads: b * Hkv + h / (H / Hkv).
  __device__ int64_t kv_head_of(int64_t bh) const {
    return (bh / H) * Hkv + (bh % H) / (H / Hkv);
  }
  // Query i sees keys [0, n_i).
  __device__ int64_t keys_of_row(int64_t batch_keys, int64_t i) const {
    int64_t n = batch_keys;
    if (causal) {
      const int64_t last_seen = i + (Tk - Tq);
      n = last_seen + 1 < n ? last_seen + 1 : n;
    }
    return n < 0 ? 0 : n;
  }
};

// How many of the Bc keys starting at j0 a row with n visible keys sees.
__device__ inline int keys_in_tile(int64_t n, int64_t j0, int tile) {
  const int64_t left = n - j0;
  return left <= 0 ? 0 : (left < tile ? static_cast<int>(left) : tile);
}

// Copies rows [first, first + rows) of x (row length D) into a shared tile,
// zeros where a row is past `end`.
template <typename T, int kRowStride>
__device__ void load_tile(T (*tile)[kRowStride], const T* x, int64_t first, int rows, int64_t end,
                          int D) {
  for (int e = threadIdx.x; e < rows * D; e += blockDim.x) {
    const int r = e / D, d = e % D;
    tile[r][d] = first + r < end ? x[(first + r) * D + d] : T(0);
  }
}

// --- forward -----------------------------------------------------------------

// Grid: one block per (b*h, tile of Br query rows), flattened in x.
template <typename T>
__global__ void __launch_bounds__(Tiles<T>::kThreads)
    forward_kernel(Problem p, const T* q, const T* k, const T* v, T scale, T* out, T* lse) {
  constexpr int Br = Tiles<T>::kOwned, Bc = Tiles<T>::kStreamed;
  __shared__ T q_rows[Br][kMaxHeadDim];
  __shared__ T k_tile[Bc][kMaxHeadDim + 1];
  __shared__ T v_tile[Bc][kMaxHeadDim];

  const int D = p.D;
  const int64_t query_tiles = (p.Tq + Br - 1) / Br;
  const int64_t bh = blockIdx.x / query_tiles;
  const int64_t first_row = (blockIdx.x % query_tiles) * Br;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t i = first_row + warp;  // this warp's query row
  const bool active = i < p.Tq;
  const int64_t batch_keys = p.keys_of_batch(bh / p.H);
  const int64_t n = active ? p.keys_of_row(batch_keys, i) : 0;
  // The last row of the tile sees the most keys; the block loads that many.
  const int64_t last_row = (first_row + Br < p.Tq ? first_row + Br : p.Tq) - 1;
  const int64_t tile_keys = p.keys_of_row(batch_keys, last_row);

  const int64_t kv = p.kv_head_of(bh);  // the kv head this query head reads
  const T* kh = k + kv * p.Tk * D;
  const T* vh = v + kv * p.Tk * D;
  const int64_t row = bh * p.Tq + i;  // index of this row in (B*H, Tq)
  if (active) {
    for (int d = lane; d < D; d += kWarp) q_rows[warp][d] = q[row * D + d];
  }

  T m = minus_infinity<T>(), l = 0;
  T acc[kDimsPerLane];
#pragma unroll
  for (int u = 0; u < kDimsPerLane; ++u) acc[u] = 0;

  for (int64_t j0 = 0; j0 < tile_keys; j0 += Bc) {  // the same bounds in every thread
    __syncthreads();  // the previous tile is no longer read (and q_rows is written)
    load_tile(k_tile, kh, j0, Bc, tile_keys, D);
    load_tile(v_tile, vh, j0, Bc, tile_keys, D);
    __syncthreads();
    const int count = keys_in_tile(n, j0, Bc);  // uniform in the warp
    if (count == 0) continue;
    // Lanes as keys: the score of key j0 + lane.
    T s = minus_infinity<T>();
    if (lane < count) {
      T dot = 0;
      for (int d = 0; d < D; ++d) dot += q_rows[warp][d] * k_tile[lane][d];
      s = dot * scale;
    }
    const T tile_max = warp_max(s);
    const T m_new = tile_max > m ? tile_max : m;
    const T correction = exp_of(m - m_new);  // 0 on the first tile: e^-inf
    const T prob = lane < count ? exp_of(s - m_new) : T(0);
    l = l * correction + warp_sum(prob);
    // Lanes as dimensions: acc = correction * acc + sum_j p_j v_j.
#pragma unroll
    for (int u = 0; u < kDimsPerLane; ++u) acc[u] *= correction;
    for (int j = 0; j < count; ++j) {
      const T pj = __shfl_sync(kFullMask, prob, j);
#pragma unroll
      for (int u = 0; u < kDimsPerLane; ++u) {
        const int d = lane + u * kWarp;
        if (d < D) acc[u] += pj * v_tile[j][d];
      }
    }
    m = m_new;
  }

  if (!active) return;  // after the last __syncthreads
#pragma unroll
  for (int u = 0; u < kDimsPerLane; ++u) {
    const int d = lane + u * kWarp;
    if (d < D) out[row * D + d] = n > 0 ? acc[u] / l : T(0);
  }
  if (lane == 0) lse[row] = n > 0 ? m + log_of(l) : minus_infinity<T>();
}

// --- backward ----------------------------------------------------------------

// delta (B*H*Tq) = rowsum(dO * O), one warp per row in a grid-stride loop.
template <typename T>
__global__ void delta_kernel(int64_t rows, int D, const T* out, const T* dout, T* delta) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_in_grid = int64_t(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; r < rows;
       r += warps_in_grid) {
    T sum = 0;
    for (int d = lane; d < D; d += kWarp) sum += dout[r * D + d] * out[r * D + d];
    sum = warp_sum(sum);
    if (lane == 0) delta[r] = sum;
  }
}

// Grid: one block per (b*hkv, tile of Br keys) of a kv head. A warp owns key
// j and streams the queries of every head of the kv head's group past it,
// lane r taking query i0 + r.
template <typename T>
__global__ void __launch_bounds__(Tiles<T>::kThreads)
    dkdv_kernel(Problem p, const T* q, const T* k, const T* v, const T* dout, const T* lse,
                const T* delta, T scale, T* dk, T* dv) {
  constexpr int Bk = Tiles<T>::kOwned, Bq = Tiles<T>::kStreamed;
  __shared__ T k_rows[Bk][kMaxHeadDim];
  __shared__ T v_rows[Bk][kMaxHeadDim];
  __shared__ T q_tile[Bq][kMaxHeadDim + 1];
  __shared__ T do_tile[Bq][kMaxHeadDim + 1];
  __shared__ T lse_tile[Bq];
  __shared__ T delta_tile[Bq];

  const int D = p.D;
  const int64_t key_tiles = (p.Tk + Bk - 1) / Bk;
  const int64_t bg = blockIdx.x / key_tiles;  // kv head b * Hkv + g
  const int64_t first_key = (blockIdx.x % key_tiles) * Bk;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t j = first_key + warp;  // this warp's key
  const bool active = j < p.Tk;
  const int64_t b = bg / p.Hkv, G = p.H / p.Hkv;
  const int64_t batch_keys = p.keys_of_batch(b);
  const int64_t key_row = bg * p.Tk + j;
  if (active) {
    for (int d = lane; d < D; d += kWarp) {
      k_rows[warp][d] = k[key_row * D + d];
      v_rows[warp][d] = v[key_row * D + d];
    }
  }
  // The queries that can see a key of this block: none if the block's first
  // key is padding; under the causal mask, none before first_key - (Tk - Tq).
  int64_t first_query = 0;
  if (p.causal && first_key - (p.Tk - p.Tq) > 0) first_query = first_key - (p.Tk - p.Tq);
  const int64_t query_end = first_key < batch_keys ? p.Tq : 0;

  T dk_acc[kDimsPerLane], dv_acc[kDimsPerLane];
#pragma unroll
  for (int u = 0; u < kDimsPerLane; ++u) dk_acc[u] = dv_acc[u] = 0;

  // The query heads g * G + m of the group, m = 0 .. G-1, one after the
  // other: their contributions add up in dk_acc and dv_acc.
  for (int64_t member = 0; member < G; ++member) {
    const int64_t bh = b * p.H + (bg % p.Hkv) * G + member;  // its query head
    const T* qh = q + bh * p.Tq * D;
    const T* doh = dout + bh * p.Tq * D;
    for (int64_t i0 = first_query; i0 < query_end; i0 += Bq) {  // uniform bounds
      __syncthreads();
      load_tile(q_tile, qh, i0, Bq, p.Tq, D);
      load_tile(do_tile, doh, i0, Bq, p.Tq, D);
      for (int r = threadIdx.x; r < Bq; r += blockDim.x) {
        const bool in_range = i0 + r < p.Tq;
        lse_tile[r] = in_range ? lse[bh * p.Tq + i0 + r] : T(0);
        delta_tile[r] = in_range ? delta[bh * p.Tq + i0 + r] : T(0);
      }
      __syncthreads();
      if (!active) continue;  // uniform in the warp; no barrier follows in this iteration
      // Lanes as queries: p and ds of (query i0 + lane, key j).
      const int64_t i = i0 + lane;
      const bool sees = lane < Bq && i < p.Tq && j < p.keys_of_row(batch_keys, i);
      T prob = 0, ds = 0;
      if (sees) {
        T s = 0, dp = 0;
        for (int d = 0; d < D; ++d) {
          s += q_tile[lane][d] * k_rows[warp][d];
          dp += do_tile[lane][d] * v_rows[warp][d];
        }
        prob = exp_of(s * scale - lse_tile[lane]);
        ds = prob * (dp - delta_tile[lane]);
      }
      // Lanes as dimensions; queries that do not see key j are skipped, so a
      // NaN in a row that has nothing to do with j cannot reach dk_j.
      const unsigned seen = __ballot_sync(kFullMask, sees);
      for (int r = 0; r < Bq; ++r) {
        const T pr = __shfl_sync(kFullMask, prob, r);
        const T dsr = __shfl_sync(kFullMask, ds, r);
        if (!((seen >> r) & 1u)) continue;
#pragma unroll
        for (int u = 0; u < kDimsPerLane; ++u) {
          const int d = lane + u * kWarp;
          if (d < D) {
            dv_acc[u] += pr * do_tile[r][d];
            dk_acc[u] += dsr * q_tile[r][d];
          }
        }
      }
    }
  }

  if (!active) return;
#pragma unroll
  for (int u = 0; u < kDimsPerLane; ++u) {
    const int d = lane + u * kWarp;
    if (d < D) {
      dk[key_row * D + d] = dk_acc[u] * scale;
      dv[key_row * D + d] = dv_acc[u];
    }
  }
}

// Grid: as the forward's. A warp owns query row i and streams the key tiles.
template <typename T>
__global__ void __launch_bounds__(Tiles<T>::kThreads)
    dq_kernel(Problem p, const T* q, const T* k, const T* v, const T* dout, const T* lse,
              const T* delta, T scale, T* dq) {
  constexpr int Br = Tiles<T>::kOwned, Bc = Tiles<T>::kStreamed;
  __shared__ T q_rows[Br][kMaxHeadDim];
  __shared__ T do_rows[Br][kMaxHeadDim];
  __shared__ T k_tile[Bc][kMaxHeadDim + 1];
  __shared__ T v_tile[Bc][kMaxHeadDim + 1];

  const int D = p.D;
  const int64_t query_tiles = (p.Tq + Br - 1) / Br;
  const int64_t bh = blockIdx.x / query_tiles;
  const int64_t first_row = (blockIdx.x % query_tiles) * Br;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t i = first_row + warp;
  const bool active = i < p.Tq;
  const int64_t batch_keys = p.keys_of_batch(bh / p.H);
  const int64_t n = active ? p.keys_of_row(batch_keys, i) : 0;
  const int64_t last_row = (first_row + Br < p.Tq ? first_row + Br : p.Tq) - 1;
  const int64_t tile_keys = p.keys_of_row(batch_keys, last_row);

  const int64_t kv = p.kv_head_of(bh);
  const T* kh = k + kv * p.Tk * D;
  const T* vh = v + kv * p.Tk * D;
  const int64_t row = bh * p.Tq + i;
  T row_lse = 0, row_delta = 0;  // read only when the row sees a key (lse finite)
  if (n > 0) {
    for (int d = lane; d < D; d += kWarp) {
      q_rows[warp][d] = q[row * D + d];
      do_rows[warp][d] = dout[row * D + d];
    }
    row_lse = lse[row];
    row_delta = delta[row];
  }
  T acc[kDimsPerLane];
#pragma unroll
  for (int u = 0; u < kDimsPerLane; ++u) acc[u] = 0;

  for (int64_t j0 = 0; j0 < tile_keys; j0 += Bc) {
    __syncthreads();
    load_tile(k_tile, kh, j0, Bc, tile_keys, D);
    load_tile(v_tile, vh, j0, Bc, tile_keys, D);
    __syncthreads();
    const int count = keys_in_tile(n, j0, Bc);
    if (count == 0) continue;
    // Lanes as keys: ds of (query i, key j0 + lane).
    T ds = 0;
    if (lane < count) {
      T s = 0, dp = 0;
      for (int d = 0; d < D; ++d) {
        s += q_rows[warp][d] * k_tile[lane][d];
        dp += do_rows[warp][d] * v_tile[lane][d];
      }
      ds = exp_of(s * scale - row_lse) * (dp - row_delta);
    }
    // Lanes as dimensions: dq += ds_j k_j.
    for (int jj = 0; jj < count; ++jj) {
      const T dsj = __shfl_sync(kFullMask, ds, jj);
#pragma unroll
      for (int u = 0; u < kDimsPerLane; ++u) {
        const int d = lane + u * kWarp;
        if (d < D) acc[u] += dsj * k_tile[jj][d];
      }
    }
  }

  if (!active) return;
#pragma unroll
  for (int u = 0; u < kDimsPerLane; ++u) {
    const int d = lane + u * kWarp;
    if (d < D) dq[row * D + d] = acc[u] * scale;
  }
}

// --- launches ----------------------------------------------------------------

Problem make_problem(const char* op, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                     const int64_t* key_lengths, bool causal) {
  ATTN_CHECK(D <= kMaxHeadDim, op, ": head dim D = ", D, " is larger than ", kMaxHeadDim,
             ", the most the CUDA kernel supports");
  ATTN_CHECK(Hkv > 0 && H % Hkv == 0, op, ": kv heads Hkv = ", Hkv,
             " must divide the query heads H = ", H);
  return Problem{H, Hkv, Tq, Tk, static_cast<int>(D), key_lengths, causal};
}

// Blocks for `rows` split in tiles of `tile`, for each of B*H heads.
unsigned grid_size(const char* op, int64_t BH, int64_t rows, int tile) {
  const int64_t blocks = BH * ((rows + tile - 1) / tile);
  ATTN_CHECK(blocks <= INT_MAX, op, ": ", blocks, " blocks is more than a grid holds");
  return static_cast<unsigned>(blocks);
}

// The delta buffer, taken from the caching allocator and given back even when
// a launch throws. Freeing right after queueing the kernels is safe: all work
// is on one stream, so whoever gets the block next runs after them.
struct Scratch {
  void* ptr;
  explicit Scratch(size_t nbytes) : ptr(device_malloc(nbytes)) {}
  ~Scratch() { device_free(ptr); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// --- grouped inference attention ---------------------------------------------

// The twin of the CPU's grouped_attention_forward (its comment says what it
// is for), in the plainest form: one thread per query row (b, h, i), reading
// kv head h / (H / Hkv) through the strides and keeping the online softmax's
// running max and sum in T, with the accumulator in the output row itself.
// Correct for every shape and head size; not tuned (decoding on the GPU is
// bounded by the projections, not by this).
template <typename T>
__global__ void grouped_forward_kernel(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk,
                                       int64_t D, const T* q, AttentionStrides qs, const T* k,
                                       AttentionStrides ks, const T* v, AttentionStrides vs,
                                       const int64_t* key_lengths, bool causal, T scale, T* out,
                                       AttentionStrides os) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (row >= B * H * Tq) return;
  const int64_t i = row % Tq, h = (row / Tq) % H, b = row / (Tq * H);
  const int64_t g = h / (H / Hkv);
  int64_t n = Tk;
  if (key_lengths) n = key_lengths[b] < 0 ? 0 : (key_lengths[b] > Tk ? Tk : key_lengths[b]);
  if (causal && i + (Tk - Tq) + 1 < n) n = i + (Tk - Tq) + 1;
  if (n < 0) n = 0;
  const T* qi = q + b * qs.batch + h * qs.head + i * qs.position;
  const T* kb = k + b * ks.batch + g * ks.head;
  const T* vb = v + b * vs.batch + g * vs.head;
  T* o = out + b * os.batch + h * os.head + i * os.position;
  for (int64_t d = 0; d < D; ++d) o[d] = T(0);
  T m = minus_infinity<T>(), l = T(0);
  for (int64_t j = 0; j < n; ++j) {
    const T* kj = kb + j * ks.position;
    const T* vj = vb + j * vs.position;
    T s = T(0);
    for (int64_t d = 0; d < D; ++d) s += qi[d] * kj[d];
    s *= scale;
    const T m_new = s > m ? s : m;
    const T c = exp_of(m - m_new), p = exp_of(s - m_new);  // c = 0 on the first key
    l = l * c + p;
    for (int64_t d = 0; d < D; ++d) o[d] = o[d] * c + p * vj[d];
    m = m_new;
  }
  if (n > 0) {
    for (int64_t d = 0; d < D; ++d) o[d] /= l;
  }
}

}  // namespace

template <Device Dev, typename T>
void flash_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                             const T* q, const T* k, const T* v, const int64_t* key_lengths,
                             bool causal, T scale, T* out, T* lse) {
  const Problem p =
      make_problem("flash_attention_forward", H, Hkv, Tq, Tk, D, key_lengths, causal);
  if (B * H * Tq == 0) return;
  const unsigned blocks = grid_size("flash_attention_forward", B * H, Tq, Tiles<T>::kOwned);
  forward_kernel<T><<<blocks, Tiles<T>::kThreads>>>(p, q, k, v, scale, out, lse);
  check_launch("flash_attention forward_kernel");
}

template <Device Dev, typename T>
void flash_attention_backward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                              const T* q, const T* k, const T* v, const T* out, const T* dout,
                              const T* lse, const int64_t* key_lengths, bool causal, T scale,
                              T* dq, T* dk, T* dv) {
  const Problem p =
      make_problem("flash_attention_backward", H, Hkv, Tq, Tk, D, key_lengths, causal);
  if (B * H == 0) return;
  const int64_t rows = B * H * Tq;
  Scratch delta(static_cast<size_t>(rows) * sizeof(T));
  T* delta_ptr = static_cast<T*>(delta.ptr);
  if (rows > 0) {
    const int threads = 256, rows_per_block = threads / kWarp;
    int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    if (blocks > 65535) blocks = 65535;  // the grid-stride loop covers the rest
    delta_kernel<T><<<static_cast<unsigned>(blocks), threads>>>(rows, p.D, out, dout, delta_ptr);
    check_launch("flash_attention delta_kernel");
  }
  if (Tk > 0) {  // dk, dv: zero where no query sees the key, Tq = 0 included
    const unsigned blocks = grid_size("flash_attention_backward", B * Hkv, Tk, Tiles<T>::kOwned);
    dkdv_kernel<T><<<blocks, Tiles<T>::kThreads>>>(p, q, k, v, dout, lse, delta_ptr, scale, dk,
                                                   dv);
    check_launch("flash_attention dkdv_kernel");
  }
  if (Tq > 0) {  // dq: zero for rows that see no key, Tk = 0 included
    const unsigned blocks = grid_size("flash_attention_backward", B * H, Tq, Tiles<T>::kOwned);
    dq_kernel<T><<<blocks, Tiles<T>::kThreads>>>(p, q, k, v, dout, lse, delta_ptr, scale, dq);
    check_launch("flash_attention dq_kernel");
  }
}

template <Device Dev, typename T>
void grouped_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk,
                               int64_t D, const T* q, AttentionStrides q_strides, const T* k,
                               AttentionStrides k_strides, const T* v, AttentionStrides v_strides,
                               const int64_t* key_lengths, bool causal, T scale, T* out,
                               AttentionStrides out_strides) {
  const int64_t rows = B * H * Tq;
  if (rows == 0) return;
  const int threads = 128;
  const int64_t blocks = (rows + threads - 1) / threads;
  ATTN_CHECK(blocks <= INT_MAX, "grouped_attention_forward: ", rows, " query rows are too many");
  grouped_forward_kernel<T><<<static_cast<unsigned>(blocks), threads>>>(
      B, H, Hkv, Tq, Tk, D, q, q_strides, k, k_strides, v, v_strides, key_lengths, causal, scale,
      out, out_strides);
  check_launch("grouped_attention forward_kernel");
}

ATTN_INSTANTIATE_FLOATING(flash_attention_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(flash_attention_backward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(grouped_attention_forward, Device::CUDA)

}  // namespace attn::kernels
