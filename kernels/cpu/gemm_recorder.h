// Which GEMMs a piece of work runs, for the benchmark's "GEMM-bound floor".
//
// A training step is mostly matrix products; everything else (softmax, layer
// norm, dropout, the optimizer, the framework's own bookkeeping) is overhead
// on top of them. To say how close a step comes to the best it could do,
// bench/train_step.cpp --gemm-floor records every GEMM of one step here, then
// times each recorded shape alone on OpenBLAS: the sum is the time the step
// would take if it did nothing but its GEMMs (bench/README.md, "The GEMM-bound
// floor"). Recording costs one relaxed atomic load per GEMM when it is off.
#pragma once

#include <cstdint>
#include <vector>

namespace attn::kernels::cpu {

// One call of kernels::gemm, as the caller made it (before the batch is
// folded into one taller GEMM): op(A) (M, K) @ op(B) (K, N), `batch` times,
// B shared by the whole batch when shared_b (stride 0).
struct GemmCall {
  bool trans_a = false, trans_b = false, shared_b = false;
  int64_t batch = 1, M = 0, N = 0, K = 0;
  bool is_double = false;
};

// Starts recording (clears what an earlier recording kept).
void start_recording_gemms();
// Stops recording and returns the calls made since start, in order.
std::vector<GemmCall> stop_recording_gemms();
// Called by kernels/cpu/matmul.cpp on every GEMM; does nothing unless recording.
void record_gemm(const GemmCall& call);

}  // namespace attn::kernels::cpu
