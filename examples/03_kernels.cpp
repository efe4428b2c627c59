// Chapter 03, kernels (docs/03-kernels.md): run it while you read.
//
//   ./build/release/examples/example_03_kernels
//   ./build/release/examples/example_03_kernels --svg docs/figures/03-gemm.svg
//
// A kernel is a function on raw pointers, sizes and strides: no Tensor, no
// autograd. This program calls the CPU kernels (kernels/softmax.h,
// kernels/matmul.h, ...: each declared once for every device) directly on
// std::vector buffers and compares each with a plain loop written here: an
// element-wise add over a transposed and a broadcast view, two reductions,
// softmax rows, and GEMM three ways (a naive triple loop, a cache-blocked
// loop, OpenBLAS through kernels::gemm). Timings are printed, never checked; the
// checks hold on any machine, each tolerance with its reason. With a CUDA
// build and a GPU, section 8 runs two kernels' CUDA definitions against their
// CPU ones.
// The program returns 1 if any check fails, so ctest catches it.
//
// With --svg PATH it also times the three GEMMs at sizes 64 to 512 and draws
// GFLOP/s against size (the chapter's figure); that takes a few seconds more.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "kernels/cuda/runtime.h"
#include "kernels/elementwise.h"
#include "kernels/softmax.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/strided_loop.h"
#include "train/plot/canvas.h"
#include "train/plot/line_chart.h"
#include "kernels/matmul.h"
#include "kernels/reduce.h"

namespace {

namespace cpu = attn::kernels::cpu;  // parallel_for, StridedLoop
namespace kernels = attn::kernels;
using attn::Device;
namespace cuda = attn::kernels::cuda;
using attn::kernels::BinaryOp;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

// n numbers uniform in [lo, hi) from attn's seeded generator: the same on every run.
template <typename T>
std::vector<T> random_vector(int64_t n, double lo, double hi, attn::Generator& g) {
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(lo + (hi - lo) * g.uniform());
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The best of `repeats` runs of fn, in seconds (the least disturbed by other work).
template <typename Fn>
double best_time(int repeats, const Fn& fn) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

// --- GEMM, C (M, N) = A (M, K) @ B (K, N), row-major, contiguous ------------

// The textbook loop: C[i][j] = sum_k A[i][k] B[k][j]. The inner loop walks B
// down a column, N floats apart: a new cache line for every multiply-add.
void gemm_naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += A[i * K + k] * B[k * N + j];
      C[i * N + j] = acc;
    }
  }
}

// The same sums, reordered twice. (1) i-k-j order: the inner loop runs along a
// row of B and a row of C, unit stride, which the compiler vectorizes. (2)
// Tiles of kTile x kTile: a tile of B (64 * 64 * 4 = 16 KiB) stays in the L1
// cache while every row of the A tile uses it, instead of B streaming through
// the cache once per row of C. Which of the two does the work on your machine
// is exercise 4 of the chapter.
constexpr int64_t kTile = 64;
void gemm_blocked(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  std::fill(C, C + M * N, 0.0f);
  for (int64_t i0 = 0; i0 < M; i0 += kTile) {
    const int64_t i1 = std::min(i0 + kTile, M);
    for (int64_t k0 = 0; k0 < K; k0 += kTile) {
      const int64_t k1 = std::min(k0 + kTile, K);
      for (int64_t j0 = 0; j0 < N; j0 += kTile) {
        const int64_t j1 = std::min(j0 + kTile, N);
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t k = k0; k < k1; ++k) {
            const float a = A[i * K + k];
            const float* b = B + k * N;
            float* c = C + i * N;
            for (int64_t j = j0; j < j1; ++j) c[j] += a * b[j];
          }
        }
      }
    }
  }
}

// attn's GEMM kernel (OpenBLAS underneath), no transposes, batch of one.
void gemm_attn(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  kernels::gemm<Device::CPU>(false, false, 1, M, N, K, 1.0f, A, K, 0, B, N, 0, 0.0f, C, N, 0);
}

// The reference: every product and sum in double, from the same float inputs.
std::vector<double> gemm_reference(int64_t M, int64_t N, int64_t K, const float* A,
                                   const float* B) {
  std::vector<double> C(static_cast<size_t>(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t k = 0; k < K; ++k) {
      const double a = A[i * K + k];
      for (int64_t j = 0; j < N; ++j) C[i * N + j] += a * static_cast<double>(B[k * N + j]);
    }
  }
  return C;
}

// max_ij |got - want| / (1 + |want|): the tests' mixed error (tests/kernels/cuda_test_util.h).
template <typename T, typename U>
double worst_error(const std::vector<T>& got, const std::vector<U>& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    worst = std::max(worst, std::abs(g - w) / (1.0 + std::abs(w)));
    if (std::isnan(g) != std::isnan(w)) return std::numeric_limits<double>::infinity();
  }
  return worst;
}

double gflops(int64_t M, int64_t N, int64_t K, double seconds) {
  return 2.0 * static_cast<double>(M) * N * K / seconds / 1e9;
}

// GFLOP/s of the three GEMMs at a few sizes, as an SVG line chart.
void write_gemm_svg(const std::string& path, attn::Generator& g) {
  const std::vector<int64_t> sizes = {64, 128, 256, 384, 512};
  const char* names[3] = {"naive triple loop", "cache-blocked loop", "kernels::gemm (OpenBLAS)"};
  std::vector<double> rate[3];
  // One thread for all three, so the chart compares loops, not core counts.
  const int threads = cpu::num_threads();
  cpu::set_num_threads(1);
  std::printf("  size   naive   blocked   kernels::gemm   (GFLOP/s, one thread, best of 3)\n");
  for (int64_t n : sizes) {
    std::vector<float> A = random_vector<float>(n * n, -1, 1, g);
    std::vector<float> B = random_vector<float>(n * n, -1, 1, g);
    std::vector<float> C(static_cast<size_t>(n * n));
    double t[3] = {best_time(3, [&] { gemm_naive(n, n, n, A.data(), B.data(), C.data()); }),
                   best_time(3, [&] { gemm_blocked(n, n, n, A.data(), B.data(), C.data()); }),
                   best_time(3, [&] { gemm_attn(n, n, n, A.data(), B.data(), C.data()); })};
    for (int m = 0; m < 3; ++m) rate[m].push_back(gflops(n, n, n, t[m]));
    std::printf("  %4lld  %6.2f  %8.2f  %14.2f\n", static_cast<long long>(n), rate[0].back(),
                rate[1].back(), rate[2].back());
  }
  cpu::set_num_threads(threads);
  std::vector<attn::plot::ChartSeries> lines;
  for (int m = 0; m < 3; ++m) {
    lines.push_back({names[m], std::vector<double>(sizes.begin(), sizes.end()), rate[m]});
  }
  attn::plot::LineChartOptions chart;
  chart.title = "C = A @ B, float32, one thread; 2-core x86 VM, OpenBLAS 0.3.21";
  chart.x_label = "n (an n x n matrix times an n x n matrix)";
  chart.y_label = "GFLOP/s";
  attn::plot::Drawing d = attn::plot::line_chart(lines, chart);
  attn::plot::write_drawing(d, path);
  std::printf("  wrote %s\n", path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string svg_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--svg") == 0) svg_path = argv[i + 1];
  }
  attn::Generator gen(3);

  section("1. A kernel is a function on pointers: a + b over two views");
  // a is a (3, 4) buffer holding 0..11. Read through strides (1, 4) it is its
  // own transpose, a (4, 3) view; b holds 3 numbers, read with strides (0, 1)
  // it is a (4, 3) view whose every row is b (broadcasting). No copy is made.
  std::vector<float> a(12), b = {100, 200, 300}, out(12);
  for (int i = 0; i < 12; ++i) a[i] = static_cast<float>(i);
  const int64_t shape[2] = {4, 3};
  const int64_t a_strides[2] = {1, 4};  // a^T
  const int64_t b_strides[2] = {0, 1};  // b broadcast over the rows
  kernels::binary<Device::CPU>(BinaryOp::Add, 2, shape, a.data(), a_strides, b.data(), b_strides, out.data());
  // The same with the address formula  i * stride[0] + j * stride[1].
  bool same = true;
  for (int64_t i = 0; i < 4; ++i) {
    std::printf("  ");
    for (int64_t j = 0; j < 3; ++j) {
      const float want = a[i * a_strides[0] + j * a_strides[1]] + b[i * b_strides[0] + j * b_strides[1]];
      same = same && out[i * 3 + j] == want;
      std::printf("%6.0f", out[i * 3 + j]);
    }
    std::printf("\n");
  }
  check(same, "kernels::binary<Device::CPU>(Add) over a^T (strides 1, 4) and b (strides 0, 1) = the plain loop, bit for bit");
  // What StridedLoop makes of the operands (out, a, b) before walking them.
  const int64_t out_strides[2] = {3, 1};
  const int64_t* views[3] = {out_strides, a_strides, b_strides};
  cpu::StridedLoop transposed(2, shape, 3, views);
  const int64_t big[3] = {64, 20, 128};
  const int64_t packed[3] = {20 * 128, 128, 1};
  const int64_t* three_packed[3] = {packed, packed, packed};
  cpu::StridedLoop contiguous(3, big, 3, three_packed);
  std::printf("  StridedLoop: (4, 3) transposed + broadcast -> %d dims, %lld rows of %lld\n",
              transposed.ndim, static_cast<long long>(transposed.rows()),
              static_cast<long long>(transposed.inner_size()));
  std::printf("  StridedLoop: (64, 20, 128) contiguous      -> %d dim,  %lld row of %lld\n",
              contiguous.ndim, static_cast<long long>(contiguous.rows()),
              static_cast<long long>(contiguous.inner_size()));
  check(transposed.ndim == 2 && contiguous.ndim == 1 && contiguous.inner_size() == 163840,
        "a contiguous (64, 20, 128) coalesces into one row of 163840; the transpose cannot");

  section("2. Op -> device dispatch -> kernel: the same bits three ways");
  {
    // attn::softmax on a tensor; the kernel picked at run time by the tensor's
    // device (kernels/dispatch.h), as the op does; and the CPU kernel named
    // directly on the tensor's buffer: one kernel underneath.
    attn::Tensor x = attn::randn({5, 7}, attn::kFloat32, &gen);
    std::vector<float> via_op = attn::softmax(x, -1).to_vector<float>();
    std::vector<float> via_device(35), via_cpu(35);
    kernels::dispatch_device(x.device(), "softmax", [&](auto device) {
      kernels::softmax_forward<device>(x.data_ptr<float>(), 5, 7, 1, false, via_device.data());
    });
    kernels::softmax_forward<Device::CPU>(x.data_ptr<float>(), 5, 7, 1, false, via_cpu.data());
    check(via_op == via_device && via_device == via_cpu,
          "attn::softmax = softmax_forward<device> by dispatch_device = "
          "softmax_forward<Device::CPU>, bit for bit");
  }

  section("3. Reductions over (outer, n, inner)");
  {
    // max over the middle dim of a (2, 5, 3) buffer, with the first argmax.
    const int64_t outer = 2, n = 5, inner = 3;
    std::vector<float> x = random_vector<float>(outer * n * inner, -1, 1, gen);
    x[1 * n * inner + 4 * inner + 2] = x[1 * n * inner + 1 * inner + 2] = 7.0f;  // a tie at k = 1 and 4
    std::vector<float> best(outer * inner);
    std::vector<int64_t> where(outer * inner);
    kernels::max_reduce<Device::CPU>(x.data(), outer, n, inner, best.data(), where.data());
    bool agree = true;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        float m = x[o * n * inner + i];
        int64_t arg = 0;
        for (int64_t k = 1; k < n; ++k) {
          const float v = x[o * n * inner + k * inner + i];  // element (o, k, i)
          if (v > m) m = v, arg = k;
        }
        agree = agree && best[o * inner + i] == m && where[o * inner + i] == arg;
      }
    }
    std::printf("  max over n=5 of (2, 5, 3): argmax row 0 = %lld %lld %lld, row 1 = %lld %lld %lld\n",
                static_cast<long long>(where[0]), static_cast<long long>(where[1]),
                static_cast<long long>(where[2]), static_cast<long long>(where[3]),
                static_cast<long long>(where[4]), static_cast<long long>(where[5]));
    check(agree && where[5] == 1, "max_reduce<Device::CPU> = the plain loop; a tie keeps the first k");

    // Sum 0.1f two million times: a float accumulator drifts, the kernel's
    // double accumulator does not.
    const int64_t count = int64_t(1) << 21;
    std::vector<float> tenths(static_cast<size_t>(count), 0.1f);
    float total = 0;
    kernels::sum_reduce<Device::CPU>(tenths.data(), 1, count, 1, &total);
    float naive = 0;
    double exact = 0;
    for (float v : tenths) naive += v, exact += v;
    std::printf("  sum of 2^21 x 0.1f: float loop %.4f, sum_reduce<Device::CPU> %.4f, double %.4f\n", naive,
                total, exact);
    // The kernel's double sum is within one float rounding of the exact sum
    // (the float ulp at 2e5 is 2^-6); the float loop is off by thousands.
    check(std::abs(total - exact) <= std::ldexp(exact, -23),
          "sum_reduce<Device::CPU> is within one float ulp of the double sum");
    check(std::abs(naive - exact) > 1000.0, "the float loop is off by more than 1000 (1.7%)");
  }

  section("4. Softmax rows, with the max subtracted");
  {
    // Logits around 1000: e^1000 overflows float (and double), so a softmax
    // that exponentiates x directly gives inf / inf = NaN.
    const int64_t rows = 64, n = 100;
    std::vector<float> x = random_vector<float>(rows * n, 995, 1005, gen);
    std::vector<float> y(x.size());
    kernels::softmax_forward<Device::CPU>(x.data(), rows, n, 1, false, y.data());
    std::vector<double> want(x.size());
    double worst_row_sum = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * n;
      double m = *std::max_element(xr, xr + n), sum = 0, got_sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(xr[k]) - m);
      for (int64_t k = 0; k < n; ++k) {
        want[r * n + k] = std::exp(static_cast<double>(xr[k]) - m) / sum;
        got_sum += y[r * n + k];
      }
      worst_row_sum = std::max(worst_row_sum, std::abs(got_sum - 1.0));
    }
    const float unsafe = std::exp(x[0]) / (std::exp(x[0]) + std::exp(x[1]));
    const double error = worst_error(y, want);
    std::printf("  exp(x) / sum exp(x) without the max: %f\n", unsafe);
    std::printf("  softmax_forward<Device::CPU> vs double loop: worst error %.2e, worst |row sum - 1| %.2e\n",
                error, worst_row_sum);
    check(std::isnan(unsafe), "exponentiating logits near 1000 directly gives NaN");
    // exp and the float rounding of y: a few ulps of numbers below 1 (ulp <= 6e-8).
    check(error < 1e-6, "softmax_forward<Device::CPU> = softmax in double, within 1e-6");
    check(worst_row_sum < 1e-5, "every row sums to 1 within 1e-5 (100 float roundings)");
  }

  section("5. GEMM: naive, cache-blocked, OpenBLAS (256 x 256 x 256, float32)");
  const int64_t M = 256, N = 256, K = 256;
  std::vector<float> A = random_vector<float>(M * K, -1, 1, gen);
  std::vector<float> B = random_vector<float>(K * N, -1, 1, gen);
  std::vector<double> reference = gemm_reference(M, N, K, A.data(), B.data());
  std::vector<float> c_naive(M * N), c_blocked(M * N), c_attn(M * N);
  const double t_naive = best_time(1, [&] { gemm_naive(M, N, K, A.data(), B.data(), c_naive.data()); });
  const double t_blocked =
      best_time(2, [&] { gemm_blocked(M, N, K, A.data(), B.data(), c_blocked.data()); });
  const double t_attn = best_time(5, [&] { gemm_attn(M, N, K, A.data(), B.data(), c_attn.data()); });
  // fp32 sums of K products in different orders: errors grow like sqrt(K)
  // ulps; the bound of tests/kernels/test_cuda_gemm.cpp, 1e-5 * sqrt(K), is
  // far below a wrong index (errors of order 1).
  const double tolerance = 1e-5 * std::sqrt(static_cast<double>(K));
  const double e_naive = worst_error(c_naive, reference), e_blocked = worst_error(c_blocked, reference),
               e_attn = worst_error(c_attn, reference);
  std::printf("  %-24s %9s %10s %12s\n", "", "time", "GFLOP/s", "error vs f64");
  std::printf("  %-24s %7.2f ms %10.2f %12.2e\n", "naive triple loop", t_naive * 1e3,
              gflops(M, N, K, t_naive), e_naive);
  std::printf("  %-24s %7.2f ms %10.2f %12.2e\n", "cache-blocked loop", t_blocked * 1e3,
              gflops(M, N, K, t_blocked), e_blocked);
  std::printf("  %-24s %7.2f ms %10.2f %12.2e\n", "kernels::gemm (OpenBLAS)", t_attn * 1e3,
              gflops(M, N, K, t_attn), e_attn);
  char bound[64];
  std::snprintf(bound, sizeof bound, "1e-5 * sqrt(K) = %.1e", tolerance);
  check(e_naive < tolerance && e_blocked < tolerance && e_attn < tolerance,
        std::string("all three = the double reference within ") + bound);
  {
    // The flags: C = A @ B^T with B^T stored (N, K), as Linear computes x W^T.
    std::vector<float> Bt(K * N), c_t(M * N);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) Bt[j * K + k] = B[k * N + j];
    kernels::gemm<Device::CPU>(false, true, 1, M, N, K, 1.0f, A.data(), K, 0, Bt.data(), K, 0, 0.0f, c_t.data(), N, 0);
    check(worst_error(c_t, reference) < tolerance,
          "kernels::gemm<Device::CPU>(trans_b = true) on B stored transposed gives the same C");
  }

  section("6. Threads: parallel_for splits the work, never the answer");
  {
    const int threads = cpu::num_threads();
    const char* env = std::getenv("ATTN_NUM_THREADS");
    std::printf("  attn's pool: %d thread(s) (ATTN_NUM_THREADS=%s); OpenBLAS is asked for 1\n",
                threads, env ? env : "unset");
    std::vector<float> x = random_vector<float>(int64_t(1) << 20, -1, 1, gen);
    float sum_many = 0, sum_one = 0;
    std::vector<float> c_one(M * N);
    cpu::set_num_threads(2);
    kernels::sum_reduce<Device::CPU>(x.data(), 1, static_cast<int64_t>(x.size()), 1, &sum_many);
    const double t_two = best_time(5, [&] { gemm_attn(M, N, K, A.data(), B.data(), c_attn.data()); });
    cpu::set_num_threads(1);
    kernels::sum_reduce<Device::CPU>(x.data(), 1, static_cast<int64_t>(x.size()), 1, &sum_one);
    const double t_one = best_time(5, [&] { gemm_attn(M, N, K, A.data(), B.data(), c_one.data()); });
    cpu::set_num_threads(threads);
    std::printf("  kernels::gemm 256^3: %.2f ms on 1 thread, %.2f ms on 2 (%.2fx)\n", t_one * 1e3,
                t_two * 1e3, t_one / t_two);
    check(sum_one == sum_many && c_one == c_attn,
          "sum_reduce of 2^20 floats and gemm 256^3: the same bits on 1 and 2 threads");
  }

  section("7. float32 against float64: the last bits");
  {
    const float big = 1e8f;
    const float left = (big + 1.0f) - big, right = (big - big) + 1.0f;
    std::printf("  (1e8f + 1) - 1e8f = %g, (1e8f - 1e8f) + 1 = %g\n", left, right);
    check(left == 0.0f && right == 1.0f, "float addition is not associative");
    std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(M * N);
    kernels::gemm<Device::CPU>(false, false, 1, M, N, K, 1.0, Ad.data(), K, 0, Bd.data(), N, 0, 0.0, Cd.data(), N, 0);
    // How many of the float results are the double result rounded to float,
    // and the largest gap in units of float's epsilon (2^-23) times 1 + |c|.
    int64_t equal = 0;
    for (int64_t i = 0; i < M * N; ++i) equal += static_cast<float>(Cd[i]) == c_attn[i];
    const double gap = worst_error(c_attn, Cd);
    std::printf("  float gemm vs double gemm: %lld of %lld are the double rounded to float;\n"
                "  worst |c32 - c64| / (1 + |c64|) = %.2e = %.0f x 2^-23\n",
                static_cast<long long>(equal), static_cast<long long>(M * N), gap,
                gap / std::ldexp(1.0, -23));
    check(equal < M * N, "float and double GEMMs differ in the last bits somewhere");
    check(gap < tolerance, "and agree within the same 1e-5 * sqrt(K)");
  }

  section("8. The CUDA definitions against the CPU ones");
  if (!cuda::is_available()) {
    std::printf("  skipped: %s\n", cuda::why_unavailable().c_str());
    std::printf("  (tests/kernels/test_cuda_*.cpp run every CUDA kernel this way; docs/13)\n");
  } else {
    std::printf("  GPU: %s\n", cuda::device_name().c_str());
    // softmax rows (64, 100) and the GEMM of section 5, same inputs on both devices.
    const int64_t rows = 64, n = 100;
    std::vector<float> x = random_vector<float>(rows * n, -5, 5, gen);
    std::vector<float> y_cpu(x.size()), y_gpu(x.size()), c_gpu(M * N);
    kernels::softmax_forward<Device::CPU>(x.data(), rows, n, 1, false, y_cpu.data());
    auto upload = [](const std::vector<float>& host) {
      float* device = static_cast<float*>(cuda::device_malloc(host.size() * sizeof(float)));
      cuda::copy_host_to_device(device, host.data(), host.size() * sizeof(float));
      return device;
    };
    float* dx = upload(x);
    float* dy = upload(y_gpu);
    float* dA = upload(A);
    float* dB = upload(B);
    float* dC = upload(c_gpu);
    // Through dispatch_device, so that a build without CUDA compiles this
    // program too (there, is_available() is false and this branch never runs).
    kernels::dispatch_device(Device::CUDA, "example 03", [&](auto device) {
      kernels::softmax_forward<device>(dx, rows, n, 1, false, dy);
      kernels::gemm<device, float>(false, false, 1, M, N, K, 1.0f, dA, K, 0, dB, N, 0, 0.0f, dC,
                                   N, 0);
    });
    cuda::copy_device_to_host(y_gpu.data(), dy, y_gpu.size() * sizeof(float));
    cuda::copy_device_to_host(c_gpu.data(), dC, c_gpu.size() * sizeof(float));
    for (float* p : {dx, dy, dA, dB, dC}) cuda::device_free(p);
    const double e_softmax = worst_error(y_gpu, y_cpu), e_gemm = worst_error(c_gpu, c_attn);
    std::printf("  softmax (64, 100): worst error %.2e; gemm 256^3: worst error %.2e\n", e_softmax,
                e_gemm);
    // expf vs glibc's exp and the order of the row sum (tests/kernels/test_cuda_nn.cpp).
    check(e_softmax < 1e-6, "softmax_forward<Device::CUDA> = <Device::CPU> within 1e-6");
    check(e_gemm < tolerance, "gemm<Device::CUDA> (cuBLAS) = <Device::CPU> (OpenBLAS) within 1e-5 * sqrt(K)");
  }

  if (!svg_path.empty()) {
    section("9. GEMM GFLOP/s by size (--svg)");
    write_gemm_svg(svg_path, gen);
  }

  std::printf("\n%s: %d check(s) failed\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
