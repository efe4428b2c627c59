// Micro-benchmarks of attn's CPU kernels, on Google Benchmark.
//
//   ./build/release/bench/bench_kernels                         everything (about 1 min on 2 cores)
//   ./build/release/bench/bench_kernels --benchmark_filter=Matmul
//   ATTN_NUM_THREADS=1 ./build/release/bench/bench_kernels --benchmark_filter=Softmax
//
// Three groups (bench/README.md has the figures of one machine):
//
// - Matmul: attn::matmul against a direct cblas_sgemm on raw buffers of the
//   same size, the OpenBLAS that attn calls underneath. The ratio of the two
//   is the cost of attn's op layer (checks, output allocation, autograd
//   bookkeeping) and of its own threading of GEMMs (OpenBLAS on one thread,
//   rows split over attn's pool); the *_Kernel variant calls
//   kernels::gemm<Device::CPU> into a preallocated buffer to tell the two apart. Reported in GFLOP/s
//   (2*M*N*K floating-point operations per product).
// - Row-wise ops (softmax, layer_norm, cross_entropy): memory-bound, so
//   reported in GB/s. The byte count is the *compulsory* traffic: each input
//   read once and each output written once, in float32 (4 bytes); per-row
//   statistics, gamma/beta and int64 targets are counted too where they
//   exist, although they are small. The kernels read their input two or three
//   times, from cache when a row fits, so this is a lower bound on the real
//   traffic and a fair figure to compare implementations by. Each op is timed
//   at the op level (Tensors in, a new Tensor out) and, where useful, as the
//   raw kernel on preallocated buffers: the difference is the op layer.
// - Interleave: a softmax on attn's thread pool followed by a GEMM, as in
//   attention, the GEMM either on OpenBLAS's own threads (two pools sharing
//   the cores) or on attn's pool (one pool); see the section below.
//
// All timings are wall-clock (UseRealTime): the kernels run on several
// threads, and the CPU time of the main thread alone would overstate the rates.
#include <cblas.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "attn.h"
#include "kernels/cross_entropy.h"
#include "kernels/layer_norm.h"
#include "kernels/matmul.h"
#include "kernels/softmax.h"

namespace {


namespace kernels = attn::kernels;
using attn::Device;

constexpr double kF = sizeof(float);  // bytes per element

std::vector<float> random_buffer(int64_t n, uint32_t seed = 1) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

// Reports the FLOP rate as a counter named GFLOP/s. Google Benchmark divides a
// rate counter by the elapsed seconds and appends "/s"; scaling the FLOP count
// by 1e-9 makes the value itself GFLOP/s, in the console ("GFLOP/s=191.6/s")
// and in --benchmark_format=json alike.
void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

// OpenBLAS with its own threads on every core for one benchmark, then back to
// the single thread that attn asks for (kernels/cpu/matmul.cpp).
struct OpenBlasOwnThreads {
  OpenBlasOwnThreads() {
    openblas_set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  }
  ~OpenBlasOwnThreads() { openblas_set_num_threads(1); }
  OpenBlasOwnThreads(const OpenBlasOwnThreads&) = delete;
  OpenBlasOwnThreads& operator=(const OpenBlasOwnThreads&) = delete;
};

// ---------------------------------------------------------------------------
// Matmul: square N x N x N, float32.

void BM_Matmul_Attn(benchmark::State& state) {
  const int64_t n = state.range(0);
  attn::Tensor a = attn::randn({n, n});
  attn::Tensor b = attn::randn({n, n});
  for (auto _ : state) {
    attn::Tensor c = attn::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr<float>());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * n * n * n);
}

// attn's gemm kernel on a preallocated output: no op layer, no allocation.
void BM_Matmul_AttnKernel(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> a = random_buffer(n * n, 1), b = random_buffer(n * n, 2), c(n * n);
  for (auto _ : state) {
    kernels::gemm<Device::CPU>(false, false, 1, n, n, n, 1.f, a.data(), n, 0, b.data(), n, 0, 0.f, c.data(), n, 0);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * n * n * n);
}

// The baseline: OpenBLAS itself, with its own threads on every core. (attn
// asks OpenBLAS for one thread and splits GEMMs over its own pool, see
// kernels/cpu/matmul.cpp; the baseline gets OpenBLAS's threads back for its
// run, then attn's setting is restored.)
void BM_Matmul_OpenBLAS(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  OpenBlasOwnThreads own_threads;
  std::vector<float> a = random_buffer(int64_t{n} * n, 1), b = random_buffer(int64_t{n} * n, 2),
                     c(size_t{static_cast<size_t>(n)} * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n,
                0.f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * n * n * n);
}

#define MATMUL_SIZES Arg(128)->Arg(256)->Arg(512)->Arg(1024)
BENCHMARK(BM_Matmul_Attn)->MATMUL_SIZES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Matmul_AttnKernel)->MATMUL_SIZES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Matmul_OpenBLAS)->MATMUL_SIZES->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------------------
// Batched matmul shaped like attention scores: (B*H, T, d) @ (B*H, d, T) with
// B*H = 64*4, T = 20, d = 32 (the tiny Transformer's batch, heads, length, head size).

constexpr int kBH = 64 * 4, kT = 20, kDh = 32;
constexpr double kBatchedFlops = 2.0 * kBH * kT * kT * kDh;

void BM_BatchedMatmul_Attn(benchmark::State& state) {
  attn::Tensor q = attn::randn({kBH, kT, kDh});
  attn::Tensor k = attn::randn({kBH, kDh, kT});
  for (auto _ : state) {
    attn::Tensor s = attn::matmul(q, k);
    benchmark::DoNotOptimize(s.data_ptr<float>());
    benchmark::ClobberMemory();
  }
  set_gflops(state, kBatchedFlops);
}

// The same as a loop of cblas_sgemm calls on raw buffers (what attn's kernel does).
void BM_BatchedMatmul_OpenBLAS(benchmark::State& state) {
  std::vector<float> q = random_buffer(kBH * kT * kDh, 1), k = random_buffer(kBH * kDh * kT, 2),
                     s(kBH * kT * kT);
  for (auto _ : state) {
    for (int b = 0; b < kBH; ++b) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kT, kT, kDh, 1.f,
                  q.data() + b * kT * kDh, kDh, k.data() + b * kDh * kT, kT, 0.f,
                  s.data() + b * kT * kT, kT);
    }
    benchmark::DoNotOptimize(s.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, kBatchedFlops);
}

// The same loop split over the cores with OpenMP: OpenBLAS runs a 20x20x32
// product on one thread (below its multithreading threshold), so the plain
// loop leaves the second core idle. attn's gemm splits a batch over its own
// pool the same way (kernels/cpu/matmul.cpp); this is the reference for it.
void BM_BatchedMatmul_OpenBLAS_OmpBatch(benchmark::State& state) {
  std::vector<float> q = random_buffer(kBH * kT * kDh, 1), k = random_buffer(kBH * kDh * kT, 2),
                     s(kBH * kT * kT);
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < kBH; ++b) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kT, kT, kDh, 1.f,
                  q.data() + b * kT * kDh, kDh, k.data() + b * kDh * kT, kT, 0.f,
                  s.data() + b * kT * kT, kT);
    }
    benchmark::DoNotOptimize(s.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, kBatchedFlops);
}

BENCHMARK(BM_BatchedMatmul_Attn)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_BatchedMatmul_OpenBLAS)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_BatchedMatmul_OpenBLAS_OmpBatch)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------------------
// Softmax over the last dim of (rows, cols). Bytes: x read + y written.

void softmax_bytes(benchmark::State& state, int64_t rows, int64_t cols) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * rows * cols * kF);
}

void BM_Softmax_Op(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  attn::Tensor x = attn::randn({rows, cols});
  for (auto _ : state) {
    attn::Tensor y = attn::softmax(x, -1);
    benchmark::DoNotOptimize(y.data_ptr<float>());
    benchmark::ClobberMemory();
  }
  softmax_bytes(state, rows, cols);
}

void BM_Softmax_Kernel(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::vector<float> x = random_buffer(rows * cols), y(rows * cols);
  for (auto _ : state) {
    kernels::softmax_forward<Device::CPU>(x.data(), rows, cols, 1, false, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  softmax_bytes(state, rows, cols);
}

// Softmax along dim 0 of (cols, rows), i.e. a strided reduction (inner = rows):
// the other code path of the kernel, same byte count.
void BM_Softmax_Kernel_Dim0(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::vector<float> x = random_buffer(rows * cols), y(rows * cols);
  for (auto _ : state) {
    kernels::softmax_forward<Device::CPU>(x.data(), 1, cols, rows, false, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  softmax_bytes(state, rows, cols);
}

// 4096 x 512: a generic large softmax (8 MB in, 8 MB out).
// 64*4*20 x 20: attention probabilities of the tiny Transformer (B*H*T rows of T).
// 64*20 x 8000: the output softmax over an 8000-word vocabulary (41 MB in).
#define SOFTMAX_SHAPES Args({4096, 512})->Args({64 * 4 * 20, 20})->Args({64 * 20, 8000})
BENCHMARK(BM_Softmax_Op)->SOFTMAX_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Softmax_Kernel)->SOFTMAX_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Softmax_Kernel_Dim0)->Args({4096, 512})->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------------------
// layer_norm over the last dim of (rows, cols), with gamma and beta.
// Forward bytes: x read + y written (2 rows*cols) + gamma, beta read (2 cols)
//   + mean, rstd written (2 rows).
// Forward+backward bytes: the forward's, plus dy read, x read, dx written
//   (3 rows*cols), mean, rstd read (2 rows), dgamma, dbeta written (2 cols).

int64_t ln_forward_bytes(int64_t rows, int64_t cols) {
  return static_cast<int64_t>((2 * rows * cols + 2 * cols + 2 * rows) * kF);
}
int64_t ln_backward_bytes(int64_t rows, int64_t cols) {
  return static_cast<int64_t>((3 * rows * cols + 2 * cols + 2 * rows) * kF);
}

void BM_LayerNorm_Op(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  attn::Tensor x = attn::randn({rows, cols});
  attn::Tensor gamma = attn::ones({cols}), beta = attn::zeros({cols});
  for (auto _ : state) {
    attn::Tensor y = attn::layer_norm(x, gamma, beta);
    benchmark::DoNotOptimize(y.data_ptr<float>());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * ln_forward_bytes(rows, cols));
}

void BM_LayerNorm_Kernel(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::vector<float> x = random_buffer(rows * cols), y(rows * cols), mean(rows), rstd(rows);
  std::vector<float> gamma(cols, 1.f), beta(cols, 0.f);
  for (auto _ : state) {
    kernels::layer_norm_forward<Device::CPU>(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, y.data(),
                            mean.data(), rstd.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * ln_forward_bytes(rows, cols));
}

// Forward and backward through autograd: x, gamma, beta all require grad, as
// in a training step. The gradients are dropped each iteration (set to none)
// so that nothing accumulates.
void BM_LayerNorm_OpFwdBwd(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  attn::Tensor x = attn::randn({rows, cols}).requires_grad_();
  attn::Tensor gamma = attn::ones({cols}).requires_grad_();
  attn::Tensor beta = attn::zeros({cols}).requires_grad_();
  attn::Tensor dy = attn::randn({rows, cols});
  for (auto _ : state) {
    attn::Tensor y = attn::layer_norm(x, gamma, beta);
    y.backward(dy);
    benchmark::DoNotOptimize(x.grad().data_ptr<float>());
    x.zero_grad();
    gamma.zero_grad();
    beta.zero_grad();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          (ln_forward_bytes(rows, cols) + ln_backward_bytes(rows, cols)));
}

void BM_LayerNorm_KernelFwdBwd(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::vector<float> x = random_buffer(rows * cols, 1), dy = random_buffer(rows * cols, 2);
  std::vector<float> y(rows * cols), dx(rows * cols), mean(rows), rstd(rows);
  std::vector<float> gamma(cols, 1.f), beta(cols, 0.f), dgamma(cols), dbeta(cols);
  for (auto _ : state) {
    kernels::layer_norm_forward<Device::CPU>(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, y.data(),
                            mean.data(), rstd.data());
    kernels::layer_norm_backward<Device::CPU>(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), rows,
                             cols, dx.data(), dgamma.data(), dbeta.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          (ln_forward_bytes(rows, cols) + ln_backward_bytes(rows, cols)));
}

// 64*20 x 128: the tiny Transformer (batch 64, length 20, d_model 128).
// 128*32 x 256: the small one (batch 128, length 32, d_model 256).
// 4096 x 1024: a wide layer, 16 MB in.
#define LN_SHAPES Args({64 * 20, 128})->Args({128 * 32, 256})->Args({4096, 1024})
BENCHMARK(BM_LayerNorm_Op)->LN_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LayerNorm_Kernel)->LN_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LayerNorm_OpFwdBwd)->LN_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LayerNorm_KernelFwdBwd)->LN_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------------------
// cross_entropy of logits (rows, classes) against int64 targets, mean reduction.
// Forward bytes: logits read (rows*classes) + targets read (8 bytes a row)
//   + per-row loss and lse written (2 rows).
// Forward+backward adds: logits read again, dlogits written (2 rows*classes),
//   targets, lse, row_grad read.

int64_t ce_forward_bytes(int64_t rows, int64_t classes) {
  return static_cast<int64_t>((rows * classes + 2 * rows) * kF + rows * 8);
}
int64_t ce_backward_bytes(int64_t rows, int64_t classes) {
  return static_cast<int64_t>((2 * rows * classes + 2 * rows) * kF + rows * 8);
}

void BM_CrossEntropy_Op(benchmark::State& state) {
  const int64_t rows = state.range(0), classes = state.range(1);
  attn::Tensor logits = attn::randn({rows, classes});
  attn::Tensor target = attn::randint(0, classes, {rows});
  for (auto _ : state) {
    attn::Tensor loss = attn::cross_entropy(logits, target);
    benchmark::DoNotOptimize(loss.data_ptr<float>());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          ce_forward_bytes(rows, classes));
}

void BM_CrossEntropy_Kernel(benchmark::State& state) {
  const int64_t rows = state.range(0), classes = state.range(1);
  std::vector<float> logits = random_buffer(rows * classes), loss(rows), lse(rows);
  std::vector<int64_t> target(rows);
  for (int64_t r = 0; r < rows; ++r) target[r] = (r * 7919) % classes;
  for (auto _ : state) {
    kernels::cross_entropy_forward<Device::CPU>(logits.data(), target.data(), rows, classes, -100, 0.f,
                               loss.data(), lse.data());
    benchmark::DoNotOptimize(loss.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          ce_forward_bytes(rows, classes));
}

void BM_CrossEntropy_OpFwdBwd(benchmark::State& state) {
  const int64_t rows = state.range(0), classes = state.range(1);
  attn::Tensor logits = attn::randn({rows, classes}).requires_grad_();
  attn::Tensor target = attn::randint(0, classes, {rows});
  for (auto _ : state) {
    attn::Tensor loss = attn::cross_entropy(logits, target);
    loss.backward();
    benchmark::DoNotOptimize(logits.grad().data_ptr<float>());
    logits.zero_grad();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          (ce_forward_bytes(rows, classes) + ce_backward_bytes(rows, classes)));
}

void BM_CrossEntropy_KernelFwdBwd(benchmark::State& state) {
  const int64_t rows = state.range(0), classes = state.range(1);
  std::vector<float> logits = random_buffer(rows * classes), loss(rows), lse(rows);
  std::vector<float> dlogits(rows * classes), row_grad(rows, 1.f / static_cast<float>(rows));
  std::vector<int64_t> target(rows);
  for (int64_t r = 0; r < rows; ++r) target[r] = (r * 7919) % classes;
  for (auto _ : state) {
    kernels::cross_entropy_forward<Device::CPU>(logits.data(), target.data(), rows, classes, -100, 0.f,
                               loss.data(), lse.data());
    kernels::cross_entropy_backward<Device::CPU>(logits.data(), target.data(), lse.data(), row_grad.data(), rows,
                                classes, -100, 0.f, dlogits.data());
    benchmark::DoNotOptimize(dlogits.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          (ce_forward_bytes(rows, classes) + ce_backward_bytes(rows, classes)));
}

// 64*20 x 72: the tiny task (vocabulary 64 + specials).
// 64*20 x 8000: an 8000-word vocabulary (41 MB of logits).
#define CE_SHAPES Args({64 * 20, 72})->Args({64 * 20, 8000})
BENCHMARK(BM_CrossEntropy_Op)->CE_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_CrossEntropy_Kernel)->CE_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_CrossEntropy_OpFwdBwd)->CE_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_CrossEntropy_KernelFwdBwd)->CE_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------------------
// Interleave: a softmax (attn's pool, kernels/cpu/parallel.h) then a GEMM, both
// on N x N, back to back as in attention. The GEMM is either
// - "OpenBLAS": cblas_sgemm with OpenBLAS's own threads on every core, i.e. two
//   thread pools taking turns on the same cores (the first design of attn,
//   whose kernels used OpenMP; bench/README.md, "Threads"), or
// - "AttnGemm": kernels::gemm<Device::CPU>, OpenBLAS on one thread and the rows split
//   over attn's pool, i.e. one pool for everything (attn today).
// Besides the total, each pair reports the average time of its two phases
// ("softmax_us", "gemm_us"), to compare with the same calls timed alone
// (BM_Interleave_Alone_*, same shapes, same process). Two pools that fight
// show as phases slower interleaved than alone.

using Clock = std::chrono::steady_clock;

enum class Gemm { OpenBLAS, Attn };

void interleave_gemm(Gemm which, int n, const float* a, const float* b, float* c) {
  if (which == Gemm::OpenBLAS) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
  } else {
    kernels::gemm<Device::CPU>(false, false, 1, n, n, n, 1.f, a, n, 0, b, n, 0, 0.f, c, n, 0);
  }
}

void interleave_pair(benchmark::State& state, Gemm which) {
  const int n = static_cast<int>(state.range(0));
  const int64_t nn = int64_t{n} * n;
  std::vector<float> a = random_buffer(nn, 1), b = random_buffer(nn, 2), c(nn), p(nn);
  double softmax_s = 0, gemm_s = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    kernels::softmax_forward<Device::CPU>(a.data(), n, n, 1, false, p.data());
    auto t1 = Clock::now();
    interleave_gemm(which, n, p.data(), b.data(), c.data());
    auto t2 = Clock::now();
    softmax_s += std::chrono::duration<double>(t1 - t0).count();
    gemm_s += std::chrono::duration<double>(t2 - t1).count();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["softmax_us"] =
      benchmark::Counter(softmax_s * 1e6, benchmark::Counter::kAvgIterations);
  state.counters["gemm_us"] = benchmark::Counter(gemm_s * 1e6, benchmark::Counter::kAvgIterations);
}

void interleave_gemm_alone(benchmark::State& state, Gemm which) {
  const int n = static_cast<int>(state.range(0));
  const int64_t nn = int64_t{n} * n;
  std::vector<float> p = random_buffer(nn, 1), b = random_buffer(nn, 2), c(nn);
  for (auto _ : state) {
    interleave_gemm(which, n, p.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
}

void BM_Interleave_Alone_Softmax(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int64_t nn = int64_t{n} * n;
  std::vector<float> a = random_buffer(nn, 1), p(nn);
  for (auto _ : state) {
    kernels::softmax_forward<Device::CPU>(a.data(), n, n, 1, false, p.data());
    benchmark::DoNotOptimize(p.data());
    benchmark::ClobberMemory();
  }
}
void BM_Interleave_Alone_OpenBLAS(benchmark::State& state) {
  OpenBlasOwnThreads own_threads;
  interleave_gemm_alone(state, Gemm::OpenBLAS);
}
void BM_Interleave_Alone_AttnGemm(benchmark::State& state) {
  interleave_gemm_alone(state, Gemm::Attn);
}
void BM_Interleave_SoftmaxOpenBLAS(benchmark::State& state) {
  OpenBlasOwnThreads own_threads;
  interleave_pair(state, Gemm::OpenBLAS);
}
void BM_Interleave_SoftmaxAttnGemm(benchmark::State& state) {
  interleave_pair(state, Gemm::Attn);
}

#define INTERLEAVE(fn) \
  BENCHMARK(fn)->Arg(128)->Arg(256)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime()
INTERLEAVE(BM_Interleave_Alone_Softmax);
INTERLEAVE(BM_Interleave_Alone_OpenBLAS);
INTERLEAVE(BM_Interleave_Alone_AttnGemm);
INTERLEAVE(BM_Interleave_SoftmaxOpenBLAS);
INTERLEAVE(BM_Interleave_SoftmaxAttnGemm);

}  // namespace
