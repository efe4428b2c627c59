// GEMM three ways: the steps from the first kernel anyone writes towards
// cuBLAS, for the course (docs/13-attention-on-the-gpu.md). attn itself multiplies through
// cuBLAS (matmul.cu); these exist to be read, tested against it
// (tests/kernels/test_cuda_gemm.cpp) and timed beside it (bench/gpu_kernels.cpp).
//
// All three compute C (M, N) = A (M, K) @ B (K, N), float, row-major,
// contiguous, for any M, N, K: a tile that hangs over the edge of a matrix
// loads zeros there (they add nothing to a dot product) and stores nothing.
//
// The whole story is memory traffic per FLOP. One multiply-add (2 FLOPs) needs
// one element of A and one of B. An H200 does about 67 TFLOP/s of fp32 (CUDA
// cores, no tensor cores) but reads its HBM at about 4.8 TB/s, so to keep the
// arithmetic busy each byte fetched from memory must feed about
// 67 / 4.8 = 14 FLOPs. Each step below raises that ratio (the "arithmetic
// intensity") by reusing what it has already fetched, from a faster place:
//
//   memory          roughly      holds
//   HBM (global)    4.8 TB/s     the matrices
//   L2 / L1 cache   more         whatever happened to be read lately
//   shared memory   ~30 TB/s     what a block put there on purpose (up to 228 KB/SM)
//   registers       fastest      what one thread holds (255 floats at most)
//
// 1. gemm_naive: one thread per element of C, a dot product of a row of A and a
//    column of B read straight from global memory: 8 bytes per 2 FLOPs, an
//    intensity of 0.25 FLOP/byte, 50x below what the card needs. The threads
//    of a warp take neighbouring columns of C, so at each k they read one
//    element of A (the same for all 32: one transaction, broadcast) and 32
//    neighbouring elements of B (one coalesced transaction); the caches catch
//    much of the reuse between neighbouring threads, but not enough.
//
// 2. gemm_tiled: a block of 32x32 threads computes a 32x32 tile of C. For each
//    32-wide slice of K it copies a 32x32 tile of A and one of B into shared
//    memory (each thread one element of each), waits for the whole block, then
//    every thread does its 32 multiply-adds from shared memory. Every float
//    read from global memory now feeds 32 multiply-adds instead of one:
//    2*32^3 FLOPs per 2*32*32*4 bytes = 8 FLOP/byte. The bottleneck moves to
//    shared memory, which each multiply-add still reads twice.
//
// 3. gemm_register_tiled: a block of 256 threads computes a 128x128 tile of C,
//    each thread an 8x8 patch of it held in 64 registers. For each 8-wide
//    slice of K (BK = 8) the block stages a 128x8 tile of A and an 8x128 tile
//    of B in shared memory; then, for each of the 8 k, a thread loads 8 values
//    of A's column and 8 of B's row into registers and does all 8x8 = 64
//    multiply-adds between them (an outer product). Global traffic:
//    2*128*128*8 FLOPs per 2*128*8*4 bytes = 32 FLOP/byte, past the card's
//    14. Shared traffic: 16 loads per 64 multiply-adds, a quarter load per
//    multiply-add where gemm_tiled had two. A's tile is stored transposed,
//    As[k][m], so that the 8 values a thread wants for one k lie side by side,
//    as B's already do.
//
// What cuBLAS adds beyond step 3 (and SGEMM_CUDA shows one at a time):
// 128-bit vector loads, double buffering so the next tile loads while this
// one is multiplied, warp-level tiling, and layouts free of shared-memory bank
// conflicts (this kernel's transposed store into As and its reads of Bs, 8
// floats apart across a warp, both collide on banks).
//
// Measured by bench/gpu_kernels.cpp on an H200 (nvcc 13.0, 4096^3, mean of
// several runs): naive 3.0 TFLOP/s, tiled 9.2, register-tiled 29.0, cuBLAS
// 51.4 (fp32, no TF32): each step about 3x the one before.
//
// All three add the same products in the same order (k = 0, 1, ..., one fused
// multiply-add at a time from 0, the zero padding adding +0), so they give
// bit-identical results: tiling changes where the operands come from, not the
// arithmetic. The test checks that too.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/gemm_teaching.h"

namespace attn::kernels::cuda {
namespace {

// --- 1. naive ------------------------------------------------------------------

// A block of 32 x 8 threads: threadIdx.x walks along a row of C (so a warp
// reads neighbouring elements of B and writes neighbouring elements of C),
// threadIdx.y picks the row.
constexpr int kNaiveX = 32, kNaiveY = 8;

__global__ void gemm_naive_kernel(int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                                  float* C) {
  const int64_t row = blockIdx.y * int64_t(kNaiveY) + threadIdx.y;
  const int64_t col = blockIdx.x * int64_t(kNaiveX) + threadIdx.x;
  if (row >= M || col >= N) return;  // no __syncthreads below: leaving early is safe
  float sum = 0.0f;
  for (int64_t k = 0; k < K; ++k) sum += A[row * K + k] * B[k * N + col];
  C[row * N + col] = sum;
}

// --- 2. shared-memory tiles ----------------------------------------------------

constexpr int kTile = 32;  // a 32 x 32 block of threads, 1024, the most a block may have

__global__ void gemm_tiled_kernel(int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                                  float* C) {
  __shared__ float As[kTile][kTile];  // As[r][k]: A's rows of this block, k0 .. k0 + 31
  __shared__ float Bs[kTile][kTile];  // Bs[k][c]: B's rows k0 .. k0 + 31, this block's columns
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row = blockIdx.y * int64_t(kTile) + ty;
  const int64_t col = blockIdx.x * int64_t(kTile) + tx;
  float sum = 0.0f;
  // Every thread runs every iteration (even those past the edge of C), since
  // all must reach both __syncthreads.
  for (int64_t k0 = 0; k0 < K; k0 += kTile) {
    // Each thread fetches one element of each tile; a warp (fixed ty, tx
    // 0..31) reads 32 neighbouring floats of a row of A and of a row of B.
    As[ty][tx] = row < M && k0 + tx < K ? A[row * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = k0 + ty < K && col < N ? B[(k0 + ty) * N + col] : 0.0f;
    __syncthreads();  // the tiles are complete
    // As[ty][k] is one address for the whole warp (a broadcast); Bs[k][tx]
    // is 32 neighbouring words, one per bank: no conflicts.
#pragma unroll
    for (int k = 0; k < kTile; ++k) sum += As[ty][k] * Bs[k][tx];
    __syncthreads();  // everyone is done with the tiles before they are overwritten
  }
  if (row < M && col < N) C[row * N + col] = sum;
}

// --- 3. register tiles -----------------------------------------------------------

constexpr int kBM = 128, kBN = 128, kBK = 8;  // the block's tile of C, and the K slice
constexpr int kTM = 8, kTN = 8;               // each thread's patch of C
constexpr int kThreadCols = kBN / kTN;        // 16 threads across the tile
constexpr int kThreads = (kBM / kTM) * kThreadCols;  // 256 threads per block
static_assert((kBM * kBK) % kThreads == 0 && (kBK * kBN) % kThreads == 0,
              "each thread loads the same number of elements of each tile");

__global__ void __launch_bounds__(kThreads)
    gemm_register_tiled_kernel(int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                               float* C) {
  __shared__ float As[kBK][kBM];  // transposed: As[k][r] = A[block_row + r, k0 + k]
  __shared__ float Bs[kBK][kBN];  // Bs[k][c] = B[k0 + k, block_col + c]
  const int tid = threadIdx.x;
  const int patch_row = (tid / kThreadCols) * kTM;  // this thread's rows of the tile
  const int patch_col = (tid % kThreadCols) * kTN;  // and its columns
  const int64_t block_row = blockIdx.y * int64_t(kBM);
  const int64_t block_col = blockIdx.x * int64_t(kBN);

  float acc[kTM][kTN] = {};  // the 8x8 patch of C, in registers (every index is a constant)
  float a[kTM], b[kTN];

  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
    // A's 128x8 tile, 4 elements per thread. Neighbouring threads read
    // neighbouring k of one row (8 floats), then the next row.
#pragma unroll
    for (int load = 0; load < kBM * kBK / kThreads; ++load) {
      const int i = tid + load * kThreads;
      const int r = i / kBK, k = i % kBK;
      const int64_t global_row = block_row + r, global_k = k0 + k;
      As[k][r] = global_row < M && global_k < K ? A[global_row * K + global_k] : 0.0f;
    }
    // B's 8x128 tile, 4 elements per thread, whole rows of 128 floats at a time.
#pragma unroll
    for (int load = 0; load < kBK * kBN / kThreads; ++load) {
      const int i = tid + load * kThreads;
      const int k = i / kBN, c = i % kBN;
      const int64_t global_k = k0 + k, global_col = block_col + c;
      Bs[k][c] = global_k < K && global_col < N ? B[global_k * N + global_col] : 0.0f;
    }
    __syncthreads();  // the tiles are complete

#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      // 16 loads from shared memory...
#pragma unroll
      for (int i = 0; i < kTM; ++i) a[i] = As[k][patch_row + i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) b[j] = Bs[k][patch_col + j];
      // ...feed 64 multiply-adds, all from registers.
#pragma unroll
      for (int i = 0; i < kTM; ++i) {
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();  // everyone is done with the tiles before they are overwritten
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int64_t row = block_row + patch_row + i;
    if (row >= M) break;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int64_t col = block_col + patch_col + j;
      if (col < N) C[row * N + col] = acc[i][j];
    }
  }
}

// Blocks needed to cover `size` with tiles of `tile`, checked against the
// grid's limit on its y dimension (65535; x may go to 2^31 - 1).
unsigned blocks_for(int64_t size, int64_t tile, int64_t limit, const char* what) {
  const int64_t blocks = (size + tile - 1) / tile;
  ATTN_CHECK(blocks <= limit, what, ": ", size, " needs ", blocks,
             " blocks, more than the grid allows (", limit, ")");
  return static_cast<unsigned>(blocks);
}

void check_sizes(int64_t M, int64_t N, int64_t K, const char* what) {
  ATTN_CHECK(M >= 0 && N >= 0 && K >= 0, what, ": negative size (M ", M, ", N ", N, ", K ", K,
             ")");
}

constexpr int64_t kMaxGridX = 2147483647, kMaxGridY = 65535;

}  // namespace

void gemm_naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  check_sizes(M, N, K, "gemm_naive");
  if (M == 0 || N == 0) return;
  const dim3 block(kNaiveX, kNaiveY);
  const dim3 grid(blocks_for(N, kNaiveX, kMaxGridX, "gemm_naive N"),
                  blocks_for(M, kNaiveY, kMaxGridY, "gemm_naive M"));
  gemm_naive_kernel<<<grid, block>>>(M, N, K, A, B, C);
  check_launch("gemm_naive_kernel");
}

void gemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  check_sizes(M, N, K, "gemm_tiled");
  if (M == 0 || N == 0) return;
  const dim3 block(kTile, kTile);
  const dim3 grid(blocks_for(N, kTile, kMaxGridX, "gemm_tiled N"),
                  blocks_for(M, kTile, kMaxGridY, "gemm_tiled M"));
  gemm_tiled_kernel<<<grid, block>>>(M, N, K, A, B, C);
  check_launch("gemm_tiled_kernel");
}

void gemm_register_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                         float* C) {
  check_sizes(M, N, K, "gemm_register_tiled");
  if (M == 0 || N == 0) return;
  const dim3 grid(blocks_for(N, kBN, kMaxGridX, "gemm_register_tiled N"),
                  blocks_for(M, kBM, kMaxGridY, "gemm_register_tiled M"));
  gemm_register_tiled_kernel<<<grid, kThreads>>>(M, N, K, A, B, C);
  check_launch("gemm_register_tiled_kernel");
}

}  // namespace attn::kernels::cuda
