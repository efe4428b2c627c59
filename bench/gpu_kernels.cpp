// The GPU's kernels, timed against the two ceilings that matter: the card's
// own copy bandwidth for the memory-bound kernels, and cuBLAS for GEMM.
//
//   build/release/bench/bench_gpu            (scripts/gpu-check runs it)
//   build/release/bench/bench_gpu --quick    (every size / 8: a smoke run)
//
// It prints one markdown table, ready for docs/13-attention-on-the-gpu.md:
//   - the card, and a device-to-device cudaMemcpy of 1 GiB: the most bytes per
//     second the memory moves, the ceiling for every memory-bound kernel;
//   - GEMM 4096^3 in fp32: the three teaching kernels (gemm_teaching.cu) and
//     cuBLAS, in TFLOP/s and as a share of cuBLAS;
//   - a batch of small GEMMs shaped like attention (B*H = 256, 64x64x64);
//   - softmax, layer norm and cross entropy forward, in GB/s and as a share
//     of the copy;
//   - flash attention forward against the composed path it replaces (Q K^T,
//     softmax, P V, with a mask for causal), B=8, H=8, T=1024, D=64.
//
// Plain timing, no Google Benchmark: CUDA events recorded on the default
// stream around a loop of runs, after warm-up runs, give the mean GPU time of
// one run. Where no GPU is usable it says why and exits 0, so scripts can run
// it anywhere.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/gemm_teaching.h"
#include "kernels/cuda/runtime.h"
#include "kernels/elementwise.h"
#include "kernels/error.h"
#include "kernels/flash_attention.h"
#include "kernels/layer_norm.h"
#include "kernels/matmul.h"
#include "kernels/random.h"
#include "kernels/softmax.h"

// CUDA events need the runtime's header, which a build with CUDA gives this
// program through libattn's link to cudart. Without it the timer falls back to
// the host clock around kernels::cuda::synchronize().
#if defined(ATTN_WITH_CUDA) && __has_include(<cuda_runtime.h>)
#include <cuda_runtime.h>
#define ATTN_BENCH_CUDA_EVENTS 1
#else
#include <chrono>
#endif

namespace {

using attn::Device;
namespace kernels = attn::kernels;
namespace cuda = attn::kernels::cuda;

// --- timing --------------------------------------------------------------------

#ifdef ATTN_BENCH_CUDA_EVENTS
void check(cudaError_t status, const char* what) {
  ATTN_CHECK(status == cudaSuccess, what, ": ", cudaGetErrorString(status));
}

// Milliseconds of GPU time taken by `runs` calls of work, measured between two
// events on the default stream, where every attn kernel runs.
double elapsed_ms(const std::function<void()>& work, int runs) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  check(cudaEventRecord(start, nullptr), "cudaEventRecord");
  for (int i = 0; i < runs; ++i) work();
  check(cudaEventRecord(stop, nullptr), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
}
#else
double elapsed_ms(const std::function<void()>& work, int runs) {
  cuda::synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) work();
  cuda::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}
#endif

// Mean milliseconds of one call of work: two warm-up calls (the first pays
// for cuBLAS's handle, lazy module loading, the allocator), one timed call to
// size the loop, then as many calls as fill about 200 ms (3 to 1000) timed
// together, so short kernels are timed over many runs and long ones not for
// minutes.
double mean_ms(const std::function<void()>& work) {
  work();
  work();
  const double estimate = elapsed_ms(work, 1);
  const int runs = static_cast<int>(std::clamp(200.0 / std::max(estimate, 1e-3), 3.0, 1000.0));
  return elapsed_ms(work, runs) / runs;
}

// --- device buffers ------------------------------------------------------------

// A device buffer of n elements, freed when it goes out of scope.
template <typename T>
struct Buffer {
  T* ptr = nullptr;
  explicit Buffer(int64_t n) : ptr(static_cast<T*>(cuda::device_malloc(sizeof(T) * n))) {}
  ~Buffer() { cuda::device_free(ptr); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// n uniform numbers in [0, 1) on the GPU; each buffer gets its own seed.
void fill_uniform(float* ptr, int64_t n) {
  static uint64_t seed = 1;
  kernels::uniform<Device::CUDA>(seed++, 0, n, ptr);
}

// --- the table -----------------------------------------------------------------

struct Row {
  std::string what, shape, time, rate, share;
};

std::vector<Row> rows;

std::string format(const char* spec, double value) {
  char text[64];
  std::snprintf(text, sizeof text, spec, value);
  return text;
}

// Runs one measurement; an attn::Error (a CUDA error, a failed launch, an
// allocation the card refuses) becomes that row's text, so one failing kernel
// does not hide the rest of the table.
void attempt(const std::string& what, const std::string& shape,
             const std::function<void()>& measure) {
  try {
    measure();
  } catch (const std::exception& e) {
    rows.push_back({what, shape, "failed", e.what(), ""});
  }
}

// How the rates are counted.
//   Memory-bound kernels: GB/s of compulsory traffic, each input byte read once
//   and each output byte written once (the least any kernel must move), over
//   the mean time; 1 GB = 1e9 bytes. The copy counts its bytes twice, read and
//   written, so "% of copy" is the share of what the memory can move.
//   GEMM: 2 M N K FLOPs per matrix (a multiply and an add per term), over the
//   mean time; TFLOP/s = 1e12 FLOP/s.
//   Attention: the two GEMMs of softmax(Q K^T) V, 4 B H T T D FLOPs; causal
//   counts half of that (the keys a query may see), for both the flash kernel
//   and the composed path, which computes and masks the full square anyway.
double gb_per_s(double bytes, double ms) { return bytes / (ms * 1e-3) / 1e9; }
double tflop_per_s(double flops, double ms) { return flops / (ms * 1e-3) / 1e12; }

// --- the measurements ----------------------------------------------------------

double copy_bandwidth(int64_t nbytes) {
  Buffer<char> src(nbytes), dst(nbytes);
  const double ms = mean_ms([&] { cuda::copy_device_to_device(dst.ptr, src.ptr, nbytes); });
  const double rate = gb_per_s(2.0 * nbytes, ms);
  rows.push_back({"device-to-device copy (ceiling)", format("%.0f MiB", nbytes / 1048576.0),
                  format("%.3f ms", ms), format("%.0f GB/s", rate), "100% of copy"});
  return rate;
}

void gemm_rows(int64_t n) {
  Buffer<float> A(n * n), B(n * n), C(n * n);
  fill_uniform(A.ptr, n * n);
  fill_uniform(B.ptr, n * n);
  const std::string shape = format("%.0f^3 fp32", static_cast<double>(n));
  const double flops = 2.0 * n * n * n;
  double cublas_ms = 0;
  attempt("gemm cuBLAS", shape, [&] {
    cublas_ms = mean_ms([&] {
      kernels::gemm<Device::CUDA>(false, false, 1, n, n, n, 1.0f, A.ptr, n, 0, B.ptr, n, 0, 0.0f,
                                  C.ptr, n, 0);
    });
  });
  struct Teaching {
    const char* name;
    void (*kernel)(int64_t, int64_t, int64_t, const float*, const float*, float*);
  };
  const Teaching kernels[] = {{"gemm naive", cuda::gemm_naive},
                              {"gemm tiled (32x32 shared)", cuda::gemm_tiled},
                              {"gemm register-tiled (8x8 per thread)", cuda::gemm_register_tiled}};
  for (const Teaching& t : kernels) {
    attempt(t.name, shape, [&] {
      const double ms = mean_ms([&] { t.kernel(n, n, n, A.ptr, B.ptr, C.ptr); });
      rows.push_back({t.name, shape, format("%.3f ms", ms),
                      format("%.2f TFLOP/s", tflop_per_s(flops, ms)),
                      cublas_ms > 0 ? format("%.0f%% of cuBLAS", 100.0 * cublas_ms / ms) : ""});
    });
  }
  if (cublas_ms > 0) {
    rows.push_back({"gemm cuBLAS (fp32, no TF32)", shape, format("%.3f ms", cublas_ms),
                    format("%.2f TFLOP/s", tflop_per_s(flops, cublas_ms)), "100% of cuBLAS"});
  }
}

// A batch of small products as multi-head attention makes them: one (T, D) @
// (D, T) per (batch, head), here 64x64x64.
void batched_gemm_row(int64_t batch, int64_t n) {
  Buffer<float> A(batch * n * n), B(batch * n * n), C(batch * n * n);
  fill_uniform(A.ptr, batch * n * n);
  fill_uniform(B.ptr, batch * n * n);
  const double ms = mean_ms([&] {
    kernels::gemm<Device::CUDA>(false, true, batch, n, n, n, 1.0f, A.ptr, n, n * n, B.ptr, n, n * n,
                                0.0f, C.ptr, n, n * n);
  });
  rows.push_back({"batched gemm cuBLAS (A B^T)",
                  format("%.0f", static_cast<double>(batch)) + " x " +
                      format("%.0f^3", static_cast<double>(n)),
                  format("%.4f ms", ms),
                  format("%.2f TFLOP/s", tflop_per_s(2.0 * batch * n * n * n, ms)), ""});
}

void memory_row(const std::string& what, const std::string& shape, double bytes, double copy_rate,
                const std::function<void()>& work) {
  const double ms = mean_ms(work);
  const double rate = gb_per_s(bytes, ms);
  rows.push_back({what, shape, format("%.3f ms", ms), format("%.0f GB/s", rate),
                  format("%.0f%% of copy", 100.0 * rate / copy_rate)});
}

std::string dims(int64_t a, int64_t b) {
  return format("%.0f", static_cast<double>(a)) + " x " + format("%.0f", static_cast<double>(b));
}

void softmax_row(int64_t r, int64_t c, double copy_rate) {
  Buffer<float> x(r * c), y(r * c);
  fill_uniform(x.ptr, r * c);
  // Read x, write y.
  memory_row("softmax_forward", dims(r, c), 2.0 * r * c * sizeof(float), copy_rate,
             [&] { kernels::softmax_forward<Device::CUDA>(x.ptr, r, c, 1, false, y.ptr); });
}

void layer_norm_row(int64_t r, int64_t c, double copy_rate) {
  Buffer<float> x(r * c), y(r * c), gamma(c), beta(c), mean(r), rstd(r);
  fill_uniform(x.ptr, r * c);
  fill_uniform(gamma.ptr, c);
  fill_uniform(beta.ptr, c);
  // Read x, gamma, beta; write y, mean, rstd.
  const double bytes = (2.0 * r * c + 2.0 * c + 2.0 * r) * sizeof(float);
  memory_row("layer_norm_forward", dims(r, c), bytes, copy_rate, [&] {
    kernels::layer_norm_forward<Device::CUDA>(x.ptr, gamma.ptr, beta.ptr, r, c, 1e-5f, y.ptr,
                                              mean.ptr, rstd.ptr);
  });
}

void cross_entropy_row(int64_t r, int64_t c, double copy_rate) {
  Buffer<float> logits(r * c), loss(r), lse(r);
  Buffer<int64_t> target(r);
  fill_uniform(logits.ptr, r * c);
  std::vector<int64_t> ids(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) ids[static_cast<size_t>(i)] = (i * 7919) % c;
  cuda::copy_host_to_device(target.ptr, ids.data(), sizeof(int64_t) * r);
  // Read logits and targets; write loss and lse. Nothing comes back to the
  // host, so the calls queue back to back like the other kernels.
  const double bytes = r * c * sizeof(float) + r * sizeof(int64_t) + 2.0 * r * sizeof(float);
  memory_row("cross_entropy_forward", dims(r, c), bytes, copy_rate, [&] {
    kernels::cross_entropy_forward<Device::CUDA>(logits.ptr, target.ptr, r, c, -100, 0.0f, loss.ptr,
                                                 lse.ptr);
  });
}

// Flash attention against the composed path, which stores the (T, T) scores
// of every head: S = scale Q K^T (cuBLAS), then for causal S + mask (-inf
// above the diagonal), softmax, O = P V (cuBLAS).
void attention_rows(int64_t B, int64_t H, int64_t T, int64_t D) {
  const int64_t n = B * H * T * D, heads = B * H;
  Buffer<float> q(n), k(n), v(n), out(n), lse(heads * T);
  Buffer<float> scores(heads * T * T), probs(heads * T * T), mask(T * T);
  fill_uniform(q.ptr, n);
  fill_uniform(k.ptr, n);
  fill_uniform(v.ptr, n);
  std::vector<float> causal_mask(static_cast<size_t>(T * T), 0.0f);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = i + 1; j < T; ++j)
      causal_mask[static_cast<size_t>(i * T + j)] = -std::numeric_limits<float>::infinity();
  cuda::copy_host_to_device(mask.ptr, causal_mask.data(), sizeof(float) * T * T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const std::string shape = "B=" + format("%.0f", double(B)) + " H=" + format("%.0f", double(H)) +
                            " T=" + format("%.0f", double(T)) + " D=" + format("%.0f", double(D));
  for (bool causal : {false, true}) {
    const double flops = 4.0 * B * H * T * T * D * (causal ? 0.5 : 1.0);
    const std::string suffix = causal ? ", causal" : "";
    double composed_ms = 0;
    attempt("attention composed" + suffix, shape, [&] {
      const int64_t shape3[3] = {heads, T, T}, all[3] = {T * T, T, 1}, shared[3] = {0, T, 1};
      composed_ms = mean_ms([&] {
        kernels::gemm<Device::CUDA>(false, true, heads, T, T, D, scale, q.ptr, D, T * D, k.ptr, D,
                                    T * D, 0.0f, scores.ptr, T, T * T);
        float* P = probs.ptr;
        if (causal) {
          // probs = S + mask (the mask broadcast over the heads), then softmax
          // back into scores, which now holds P.
          kernels::binary<Device::CUDA>(attn::kernels::BinaryOp::Add, 3, shape3, scores.ptr, all,
                                        mask.ptr, shared, probs.ptr);
          kernels::softmax_forward<Device::CUDA>(probs.ptr, heads * T, T, 1, false, scores.ptr);
          P = scores.ptr;
        } else {
          kernels::softmax_forward<Device::CUDA>(scores.ptr, heads * T, T, 1, false, probs.ptr);
        }
        kernels::gemm<Device::CUDA>(false, false, heads, T, D, T, 1.0f, P, T, T * T, v.ptr, D,
                                    T * D, 0.0f, out.ptr, D, T * D);
      });
      rows.push_back({"attention composed (gemm, softmax, gemm)" + suffix, shape,
                      format("%.3f ms", composed_ms),
                      format("%.2f TFLOP/s", tflop_per_s(flops, composed_ms)), ""});
    });
    attempt("flash_attention_forward" + suffix, shape, [&] {
      const double ms = mean_ms([&] {
        kernels::flash_attention_forward<Device::CUDA>(B, H, H, T, T, D, q.ptr, k.ptr, v.ptr,
                                                       nullptr, causal, scale, out.ptr, lse.ptr);
      });
      rows.push_back({"flash_attention_forward" + suffix, shape, format("%.3f ms", ms),
                      format("%.2f TFLOP/s", tflop_per_s(flops, ms)),
                      composed_ms > 0 ? format("%.1fx the composed path", composed_ms / ms) : ""});
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: bench_gpu [--quick]   (--quick: every size / 8)\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (!cuda::is_available()) {
    std::printf("bench_gpu: no usable GPU: %s\n", cuda::why_unavailable().c_str());
    return 0;
  }
  const int64_t shrink = quick ? 8 : 1;

  double copy_rate = 0;
  attempt("device-to-device copy (ceiling)", "",
          [&] { copy_rate = copy_bandwidth((int64_t(1) << 30) / shrink); });
  if (copy_rate <= 0) copy_rate = std::numeric_limits<double>::quiet_NaN();
  gemm_rows(4096 / shrink);
  attempt("batched gemm cuBLAS", "", [&] { batched_gemm_row(256 / shrink, 64); });
  attempt("softmax_forward", "", [&] { softmax_row(32768 / shrink, 4096, copy_rate); });
  attempt("layer_norm_forward", "", [&] { layer_norm_row(16384 / shrink, 1024, copy_rate); });
  attempt("cross_entropy_forward", "",
          [&] { cross_entropy_row(8192 / shrink, 32000, copy_rate); });
  attention_rows(8, 8, 1024 / shrink, 64);

  std::printf("| kernel | shape | mean time | rate | share |\n");
  std::printf("|---|---|---|---|---|\n");
  std::printf("| card | %s%s | | | |\n", cuda::device_name().c_str(),
              quick ? " (--quick: sizes / 8)" : "");
  for (const Row& r : rows) {
    std::printf("| %s | %s | %s | %s | %s |\n", r.what.c_str(), r.shape.c_str(), r.time.c_str(),
                r.rate.c_str(), r.share.c_str());
  }
  return 0;
}
