// One parameter's Adam, AdamW or SGD update on the GPU, the twin of
// kernels/cpu/optimizer.cpp (the formulas and their sources are there).
//
// Every element of a parameter updates independently of the others, so the
// kernel is one thread per element in a grid-stride loop: read p, g and the
// moments once, do the arithmetic in registers, write p and the moments
// once. The scalars (already rounded to T on the host, exactly as the CPU
// kernel rounds them) travel to the GPU by value in a small struct.
//
// The same arithmetic, to the last bit. nvcc, by default, fuses a * b + c
// into one fused multiply-add, which rounds once where the CPU code rounds
// twice; over thousands of steps the two would drift apart by more than
// rounding. So the update is spelled with the round-to-nearest intrinsics
// (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn and their double twins), which
// nvcc never fuses or approximates whatever the compile flags: every
// operation rounds as IEEE arithmetic on the CPU does, in the CPU's order.
// On an x86 CPU (no FMA in its baseline instruction set) the results agree
// bit for bit; the tests still allow a few ulps for CPUs that do fuse.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/optimizer.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // the grid-stride loop covers the rest

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// IEEE operations, each rounded once, never fused.
__device__ inline float add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double add(double a, double b) { return __dadd_rn(a, b); }
__device__ inline float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float div(float a, float b) { return __fdiv_rn(a, b); }
__device__ inline double div(double a, double b) { return __ddiv_rn(a, b); }
__device__ inline float square_root(float a) { return __fsqrt_rn(a); }
__device__ inline double square_root(double a) { return __dsqrt_rn(a); }

// --- Adam and AdamW ----------------------------------------------------------

// AdamStep's scalars rounded to T, as kernels/cpu/optimizer.cpp rounds them.
template <typename T>
struct AdamScalars {
  T neg_step_size, bias_correction2_sqrt, beta1, beta2, one_minus_beta1, one_minus_beta2, eps,
      weight_decay, shrink;
  bool decoupled, coupled_decay;
};

template <typename T>
AdamScalars<T> adam_scalars(const AdamStep& s) {
  AdamScalars<T> k;
  k.neg_step_size = static_cast<T>(s.neg_step_size);
  k.bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
  k.beta1 = static_cast<T>(s.beta1);
  k.beta2 = static_cast<T>(s.beta2);
  k.one_minus_beta1 = static_cast<T>(1.0 - s.beta1);
  k.one_minus_beta2 = static_cast<T>(1.0 - s.beta2);
  k.eps = static_cast<T>(s.eps);
  k.weight_decay = static_cast<T>(s.weight_decay);
  k.shrink = static_cast<T>(s.shrink);
  k.decoupled = s.decoupled;
  k.coupled_decay = !s.decoupled && s.weight_decay != 0;
  return k;
}

template <typename T>
__global__ void adam_kernel(int64_t n, T* p, const T* g_in, T* m, T* v, AdamScalars<T> k) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    T param = p[i];
    T g = g_in[i];
    if (k.coupled_decay) g = add(g, mul(k.weight_decay, param));  // Adam: L2 through the gradient
    if (k.decoupled) param = mul(param, k.shrink);                // AdamW: shrink the weight
    const T m_new = add(mul(m[i], k.beta1), mul(k.one_minus_beta1, g));
    const T v_new = add(mul(v[i], k.beta2), mul(mul(k.one_minus_beta2, g), g));
    const T denom = add(div(square_root(v_new), k.bias_correction2_sqrt), k.eps);
    p[i] = add(param, div(mul(k.neg_step_size, m_new), denom));
    m[i] = m_new;
    v[i] = v_new;
  }
}

// --- SGD ---------------------------------------------------------------------

template <typename T>
struct SgdScalars {
  T weight_decay, momentum, keep, neg_lr;  // keep = 1 − dampening
  bool decay, use_momentum, nesterov, first;
};

template <typename T>
SgdScalars<T> sgd_scalars(const SgdStep& s) {
  SgdScalars<T> k;
  k.weight_decay = static_cast<T>(s.weight_decay);
  k.momentum = static_cast<T>(s.momentum);
  k.keep = static_cast<T>(1.0 - s.dampening);
  k.neg_lr = static_cast<T>(-s.lr);
  k.decay = s.weight_decay != 0;
  k.use_momentum = s.momentum != 0;
  k.nesterov = s.nesterov;
  k.first = s.first;
  return k;
}

// buf is read and written only when use_momentum (it may be null otherwise).
template <typename T>
__global__ void sgd_kernel(int64_t n, T* p, const T* g, T* buf, SgdScalars<T> k) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const T param = p[i];
    T d = g[i];
    if (k.decay) d = add(d, mul(k.weight_decay, param));
    if (k.use_momentum) {
      const T b = k.first ? d : add(mul(buf[i], k.momentum), mul(k.keep, d));
      buf[i] = b;
      d = k.nesterov ? add(d, mul(k.momentum, b)) : b;
    }
    p[i] = add(param, mul(k.neg_lr, d));
  }
}

}  // namespace

// --- launchers ---------------------------------------------------------------

template <Device D, typename T>
void adam_step(int64_t n, T* p, const T* g, T* m, T* v, const AdamStep& s) {
  if (n == 0) return;
  adam_kernel<<<grid_for(n), kThreads>>>(n, p, g, m, v, adam_scalars<T>(s));
  check_launch("adam_kernel");
}

template <Device D, typename T>
void sgd_step(int64_t n, T* p, const T* g, T* buf, const SgdStep& s) {
  if (n == 0) return;
  sgd_kernel<<<grid_for(n), kThreads>>>(n, p, g, buf, sgd_scalars<T>(s));
  check_launch("sgd_kernel");
}

ATTN_INSTANTIATE_FLOATING(adam_step, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(sgd_step, Device::CUDA)

}  // namespace attn::kernels
