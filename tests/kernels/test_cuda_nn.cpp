// The CUDA kernels of the network layers against their CPU twins: softmax,
// layer norm, cross-entropy, the GRU and LSTM cells, additive attention's
// scores and the optimizer steps, forward and backward, float and double.
//
// Each test makes fresh random inputs on the CPU, runs the CPU kernel on them
// and the CUDA kernel on their GPU copies, and compares element by element
// with expect_close (|gpu − cpu| <= tol · (1 + |cpu|), NaN matching NaN, inf
// matching inf). Backward kernels get the CPU forward's outputs as inputs, so
// a backward test measures the backward alone. Sizes divide no block size
// (1, 5, 33, 1000, 50000 ...), so the partial warps and blocks and the
// grid-stride tails are all exercised.
//
// The tolerance of each op is written next to its test with the reason: the
// kernels sum in another order than the CPU, CUDA's expf and tanhf are within
// 2 ulp where glibc's are within 1, and nvcc fuses a * b + c into one FMA.
// Where no GPU is usable every test skips (ATTN_REQUIRE_GPU).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/additive_attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/layer_norm.h"
#include "kernels/optimizer.h"
#include "kernels/rnn_cells.h"
#include "kernels/softmax.h"
#include "tests/kernels/cuda_test_util.h"

namespace {

using attn::Device;
using attn::Tensor;
using attn_cuda_test::expect_close;
using attn_cuda_test::gpu;
using attn_cuda_test::gpu_empty;
using attn_cuda_test::uniform;
namespace kernels = attn::kernels;

template <typename T>
attn::DType dtype_of() {
  return std::is_same_v<T, float> ? attn::kFloat32 : attn::kFloat64;
}

// The tolerance for T: one for float, one for double.
template <typename T>
double tol(double float_tol, double double_tol) {
  return std::is_same_v<T, float> ? float_tol : double_tol;
}

template <typename T>
const char* type_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

template <typename T>
Tensor cpu_empty(const attn::Shape& shape) {
  return attn::empty(shape, dtype_of<T>());
}

template <typename T>
T* ptr(const Tensor& t) {
  return t.data_ptr<T>();
}

// Sets every `period`-th element of a CPU tensor, from `first`, to -inf.
template <typename T>
void mask(Tensor& x, int64_t first, int64_t period) {
  T* p = x.data_ptr<T>();
  for (int64_t e = first; e < x.numel(); e += period) p[e] = -std::numeric_limits<T>::infinity();
}

// --- softmax -------------------------------------------------------------------

struct SoftmaxCase {
  int64_t outer, n, inner;
};

// Softmax sums in double on both devices, so what differs is expf (within
// 2 ulp on the GPU, 1 in glibc) and the online softmax's rescaling (about
// 1e-7 relative on the sum): float 2e-6, double 1e-12. The backward sees the
// same y and dy on both sides and differs by an FMA and expf: the same bounds.
template <typename T>
void check_softmax(const SoftmaxCase& c, bool log, bool masked, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + (log ? " log_softmax" : " softmax") + " outer " +
               std::to_string(c.outer) + " n " + std::to_string(c.n) + " inner " +
               std::to_string(c.inner) + (masked ? " masked" : ""));
  const double tolerance = tol<T>(2e-6, 1e-12);
  attn::Generator g(seed);
  const attn::Shape shape{c.outer, c.n, c.inner};
  Tensor x = uniform(shape, -4, 4, g, dtype_of<T>());
  if (masked && x.numel() > 0) {
    mask<T>(x, 1, 3);  // a third of the logits masked, mixed with finite ones
    // ... and the first row (o = 0, i = 0) entirely: NaN on both devices
    T* p = x.data_ptr<T>();
    for (int64_t k = 0; k < c.n; ++k) p[k * c.inner] = -std::numeric_limits<T>::infinity();
  }
  Tensor y = cpu_empty<T>(shape);
  kernels::softmax_forward<Device::CPU>(ptr<T>(x), c.outer, c.n, c.inner, log, ptr<T>(y));
  Tensor x_gpu = gpu(x), y_gpu = gpu_empty(shape, dtype_of<T>());
  kernels::softmax_forward<Device::CUDA>(ptr<T>(x_gpu), c.outer, c.n, c.inner, log, ptr<T>(y_gpu));
  expect_close(y, y_gpu, tolerance, "softmax forward");

  Tensor dy = uniform(shape, -1, 1, g, dtype_of<T>());
  Tensor dx = cpu_empty<T>(shape);
  kernels::softmax_backward<Device::CPU>(ptr<T>(y), ptr<T>(dy), c.outer, c.n, c.inner, log,
                                         ptr<T>(dx));
  Tensor y_in = gpu(y), dy_gpu = gpu(dy), dx_gpu = gpu_empty(shape, dtype_of<T>());
  kernels::softmax_backward<Device::CUDA>(ptr<T>(y_in), ptr<T>(dy_gpu), c.outer, c.n, c.inner, log,
                                          ptr<T>(dx_gpu));
  expect_close(dx, dx_gpu, tolerance, "softmax backward");
}

template <typename T>
void check_softmax_cases(const std::vector<SoftmaxCase>& cases) {
  uint64_t seed = 100;
  for (const SoftmaxCase& c : cases) {
    for (bool log : {false, true}) {
      for (bool masked : {false, true}) check_softmax<T>(c, log, masked, ++seed);
    }
  }
}

// inner == 1: n <= 1024 takes the warp-per-row kernel, n > 1024 the block-per-row one.
const std::vector<SoftmaxCase> kRowCases = {{7, 1, 1},    {3, 5, 1},    {9, 33, 1},
                                            {5, 1000, 1}, {4, 1024, 1}, {3, 1025, 1},
                                            {2, 50000, 1}};
// inner > 1: a thread per column.
const std::vector<SoftmaxCase> kColumnCases = {{3, 5, 7}, {2, 33, 129}, {1, 1000, 3}, {4, 1, 5}};

TEST(CudaNn, SoftmaxRowsFloat) {
  ATTN_REQUIRE_GPU();
  check_softmax_cases<float>(kRowCases);
}
TEST(CudaNn, SoftmaxRowsDouble) {
  ATTN_REQUIRE_GPU();
  check_softmax_cases<double>(kRowCases);
}
TEST(CudaNn, SoftmaxColumnsFloat) {
  ATTN_REQUIRE_GPU();
  check_softmax_cases<float>(kColumnCases);
}
TEST(CudaNn, SoftmaxColumnsDouble) {
  ATTN_REQUIRE_GPU();
  check_softmax_cases<double>(kColumnCases);
}

TEST(CudaNn, SoftmaxEmptyLaunchesNothing) {
  ATTN_REQUIRE_GPU();
  Tensor x = gpu_empty({0, 5, 1}), y = gpu_empty({0, 5, 1});
  EXPECT_NO_THROW(
      kernels::softmax_forward<Device::CUDA>(ptr<float>(x), 0, 5, 1, false, ptr<float>(y)));
  EXPECT_NO_THROW(kernels::softmax_backward<Device::CUDA>(ptr<float>(x), ptr<float>(x), 0, 5, 1,
                                                          true, ptr<float>(y)));
}

// --- layer norm -------------------------------------------------------------------

enum class Affine { Both, None, GammaOnly };

// Row sums are in double on both devices (float inputs sum exactly), so mean
// and rstd agree to the last bit and y differs by the FMA nvcc makes of
// x̂ · γ + β: float 2e-6. dx's terms cancel (g − mean(g) − x̂ · mean(g x̂)),
// each rounding once more or less: float 1e-5. dγ and dβ are column sums in
// double, cast once: float 2e-6. Double: 1e-12 everywhere.
template <typename T>
void check_layer_norm(int64_t rows, int64_t cols, Affine affine, double shift, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + " layer_norm rows " + std::to_string(rows) +
               " cols " + std::to_string(cols) + " affine " +
               std::to_string(static_cast<int>(affine)) + " shift " + std::to_string(shift));
  attn::Generator g(seed);
  const T eps = static_cast<T>(1e-5);
  Tensor x = uniform({rows, cols}, shift - 1, shift + 1, g, dtype_of<T>());
  Tensor gamma = uniform({cols}, 0.5, 1.5, g, dtype_of<T>());
  Tensor beta = uniform({cols}, -0.5, 0.5, g, dtype_of<T>());
  Tensor x_gpu = gpu(x), gamma_gpu = gpu(gamma), beta_gpu = gpu(beta);
  const bool has_gamma = affine != Affine::None, has_beta = affine == Affine::Both;
  const T* gamma_cpu_ptr = has_gamma ? ptr<T>(gamma) : nullptr;
  const T* beta_cpu_ptr = has_beta ? ptr<T>(beta) : nullptr;
  const T* gamma_gpu_ptr = has_gamma ? ptr<T>(gamma_gpu) : nullptr;
  const T* beta_gpu_ptr = has_beta ? ptr<T>(beta_gpu) : nullptr;

  Tensor y = cpu_empty<T>({rows, cols}), mean = cpu_empty<T>({rows}), rstd = cpu_empty<T>({rows});
  kernels::layer_norm_forward<Device::CPU>(ptr<T>(x), gamma_cpu_ptr, beta_cpu_ptr, rows, cols, eps,
                                           ptr<T>(y), ptr<T>(mean), ptr<T>(rstd));
  Tensor y_gpu = gpu_empty({rows, cols}, dtype_of<T>());
  Tensor mean_gpu = gpu_empty({rows}, dtype_of<T>()), rstd_gpu = gpu_empty({rows}, dtype_of<T>());
  kernels::layer_norm_forward<Device::CUDA>(ptr<T>(x_gpu), gamma_gpu_ptr, beta_gpu_ptr, rows, cols,
                                            eps, ptr<T>(y_gpu), ptr<T>(mean_gpu), ptr<T>(rstd_gpu));
  expect_close(mean, mean_gpu, tol<T>(1e-6, 1e-12), "layer_norm mean");
  expect_close(rstd, rstd_gpu, tol<T>(1e-6, 1e-12), "layer_norm rstd");
  expect_close(y, y_gpu, tol<T>(2e-6, 1e-12), "layer_norm y");

  // The backward, from the CPU's mean and rstd. dγ is wanted when there is a
  // γ, dβ when there is a β: the None case passes both null.
  Tensor dy = uniform({rows, cols}, -1, 1, g, dtype_of<T>());
  Tensor dx = cpu_empty<T>({rows, cols}), dgamma = cpu_empty<T>({cols}),
         dbeta = cpu_empty<T>({cols});
  kernels::layer_norm_backward<Device::CPU>(
      ptr<T>(dy), ptr<T>(x), gamma_cpu_ptr, ptr<T>(mean), ptr<T>(rstd), rows, cols, ptr<T>(dx),
      has_gamma ? ptr<T>(dgamma) : nullptr, has_beta ? ptr<T>(dbeta) : nullptr);
  Tensor dy_gpu = gpu(dy), mean_in = gpu(mean), rstd_in = gpu(rstd);
  Tensor dx_gpu = gpu_empty({rows, cols}, dtype_of<T>());
  Tensor dgamma_gpu = gpu_empty({cols}, dtype_of<T>());
  Tensor dbeta_gpu = gpu_empty({cols}, dtype_of<T>());
  kernels::layer_norm_backward<Device::CUDA>(
      ptr<T>(dy_gpu), ptr<T>(x_gpu), gamma_gpu_ptr, ptr<T>(mean_in), ptr<T>(rstd_in), rows, cols,
      ptr<T>(dx_gpu), has_gamma ? ptr<T>(dgamma_gpu) : nullptr,
      has_beta ? ptr<T>(dbeta_gpu) : nullptr);
  expect_close(dx, dx_gpu, tol<T>(1e-5, 1e-12), "layer_norm dx");
  if (has_gamma) expect_close(dgamma, dgamma_gpu, tol<T>(2e-6, 1e-12), "layer_norm dgamma");
  if (has_beta) expect_close(dbeta, dbeta_gpu, tol<T>(2e-6, 1e-12), "layer_norm dbeta");
}

template <typename T>
void check_layer_norm_cases() {
  struct Case {
    int64_t rows, cols;
  };
  // cols from one warp to more than the 512-thread block; rows past one and
  // several 64-row chunks of the dγ/dβ sums, with a remainder.
  const std::vector<Case> cases = {{1, 1}, {7, 5}, {33, 33}, {64, 512}, {200, 1000}, {3, 5000},
                                   {130, 7}};
  uint64_t seed = 200;
  for (const Case& c : cases) {
    for (Affine affine : {Affine::Both, Affine::None, Affine::GammaOnly}) {
      check_layer_norm<T>(c.rows, c.cols, affine, 0.0, ++seed);
    }
  }
  // A large mean: a one-pass variance would cancel here; both devices use two.
  check_layer_norm<T>(40, 300, Affine::Both, 100.0, ++seed);
}

TEST(CudaNn, LayerNormFloat) {
  ATTN_REQUIRE_GPU();
  check_layer_norm_cases<float>();
}
TEST(CudaNn, LayerNormDouble) {
  ATTN_REQUIRE_GPU();
  check_layer_norm_cases<double>();
}

// --- cross-entropy ------------------------------------------------------------------

// The forward sums e^(x − max) in double on both devices; what differs is
// expf and the online rescaling (about 1e-7 relative on the sum, so about
// 1e-7 absolute on lse and loss): float 1e-6, double 1e-12. The backward
// recomputes e^(x − lse) from the same lse: expf and one FMA, the same bounds.
// Masked (-inf) logits make the loss +inf where they meet the target or the
// smoothing term, on both devices.
template <typename T>
void check_cross_entropy(int64_t rows, int64_t classes, double smoothing, int64_t ignore_index,
                         bool masked, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + " cross_entropy rows " + std::to_string(rows) +
               " classes " + std::to_string(classes) + " smoothing " + std::to_string(smoothing) +
               " ignore " + std::to_string(ignore_index) + (masked ? " masked" : ""));
  const double tolerance = tol<T>(1e-6, 1e-12);
  const T eps = static_cast<T>(smoothing);
  attn::Generator g(seed);
  Tensor logits = uniform({rows, classes}, -5, 5, g, dtype_of<T>());
  if (masked) mask<T>(logits, 2, 5);  // never a whole row: classes >= 5 here
  Tensor target = attn::randint(0, classes, {rows}, &g);
  if (ignore_index < 0) {  // padding outside the class range: every 4th row
    int64_t* t = target.data_ptr<int64_t>();
    for (int64_t r = 1; r < rows; r += 4) t[r] = ignore_index;
  }  // otherwise ignore_index is a class id, and the rows that drew it are ignored

  Tensor loss = cpu_empty<T>({rows}), lse = cpu_empty<T>({rows});
  kernels::cross_entropy_forward<Device::CPU>(ptr<T>(logits), target.data_ptr<int64_t>(), rows,
                                              classes, ignore_index, eps, ptr<T>(loss),
                                              ptr<T>(lse));
  Tensor logits_gpu = gpu(logits), target_gpu = target.to(attn::kCUDA);
  Tensor loss_gpu = gpu_empty({rows}, dtype_of<T>()), lse_gpu = gpu_empty({rows}, dtype_of<T>());
  kernels::cross_entropy_forward<Device::CUDA>(ptr<T>(logits_gpu), target_gpu.data_ptr<int64_t>(),
                                               rows, classes, ignore_index, eps, ptr<T>(loss_gpu),
                                               ptr<T>(lse_gpu));
  expect_close(loss, loss_gpu, tolerance, "cross_entropy loss");
  expect_close(lse, lse_gpu, tolerance, "cross_entropy lse");

  Tensor row_grad = uniform({rows}, -1, 1, g, dtype_of<T>());
  Tensor dlogits = cpu_empty<T>({rows, classes});
  kernels::cross_entropy_backward<Device::CPU>(ptr<T>(logits), target.data_ptr<int64_t>(),
                                               ptr<T>(lse), ptr<T>(row_grad), rows, classes,
                                               ignore_index, eps, ptr<T>(dlogits));
  Tensor lse_in = gpu(lse), row_grad_gpu = gpu(row_grad);
  Tensor dlogits_gpu = gpu_empty({rows, classes}, dtype_of<T>());
  kernels::cross_entropy_backward<Device::CUDA>(ptr<T>(logits_gpu), target_gpu.data_ptr<int64_t>(),
                                                ptr<T>(lse_in), ptr<T>(row_grad_gpu), rows, classes,
                                                ignore_index, eps, ptr<T>(dlogits_gpu));
  expect_close(dlogits, dlogits_gpu, tolerance, "cross_entropy dlogits");
}

template <typename T>
void check_cross_entropy_cases() {
  struct Case {
    int64_t rows, classes;
  };
  const std::vector<Case> cases = {{1, 1}, {7, 5}, {33, 33}, {70, 7}, {16, 1000}, {4, 50000}};
  uint64_t seed = 300;
  for (const Case& c : cases) {
    for (double smoothing : {0.0, 0.1}) {
      for (int64_t ignore_index : {int64_t(-100), int64_t(0)}) {
        check_cross_entropy<T>(c.rows, c.classes, smoothing, ignore_index, false, ++seed);
        if (c.classes >= 5) {
          check_cross_entropy<T>(c.rows, c.classes, smoothing, ignore_index, true, ++seed);
        }
      }
    }
  }
}

TEST(CudaNn, CrossEntropyFloat) {
  ATTN_REQUIRE_GPU();
  check_cross_entropy_cases<float>();
}
TEST(CudaNn, CrossEntropyDouble) {
  ATTN_REQUIRE_GPU();
  check_cross_entropy_cases<double>();
}

// Every row ignored: the kernel must not read the (uninitialised) logits and
// must still write loss 0 for each row.
TEST(CudaNn, CrossEntropyAllIgnoredGivesZeroLoss) {
  ATTN_REQUIRE_GPU();
  Tensor logits = gpu_empty({3, 4});
  Tensor target = attn::full({3}, -100, attn::kInt64).to(attn::kCUDA);
  Tensor loss = gpu_empty({3}), lse = gpu_empty({3});
  kernels::cross_entropy_forward<Device::CUDA>(ptr<float>(logits), target.data_ptr<int64_t>(), 3, 4,
                                               -100, 0.1f, ptr<float>(loss), ptr<float>(lse));
  EXPECT_EQ(loss.to_vector<float>(), std::vector<float>(3, 0.0f));
}

// --- GRU and LSTM cells -------------------------------------------------------------

// Forward: sigmoid through expf and tanh through tanhf (each within 2 ulp on
// the GPU; the CPU's float tanh is exact to float), compounded through a few
// products: float 1e-5, double 1e-12. Backward: the same saved gates on both
// sides, so only FMA rounding differs: float 2e-6, double 1e-12.
template <typename T>
void check_gru(int64_t batch, int64_t H, int64_t gi_extra, int64_t gh_extra, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + " gru batch " + std::to_string(batch) + " hidden " +
               std::to_string(H) + " gi_extra " + std::to_string(gi_extra) + " gh_extra " +
               std::to_string(gh_extra));
  attn::Generator g(seed);
  // gi and gh are views 1 element into wider rows (stride 3H + extra); h is
  // the second half of a (batch, 2H) buffer (stride 2H).
  const int64_t gi_stride = 3 * H + gi_extra, gh_stride = 3 * H + gh_extra, h_stride = 2 * H;
  const int64_t gi_offset = gi_extra > 0 ? 1 : 0, gh_offset = gh_extra > 0 ? 1 : 0;
  Tensor gi = uniform({batch, gi_stride}, -3, 3, g, dtype_of<T>());
  Tensor gh = uniform({batch, gh_stride}, -3, 3, g, dtype_of<T>());
  Tensor h = uniform({batch, h_stride}, -1, 1, g, dtype_of<T>());
  Tensor gi_gpu = gpu(gi), gh_gpu = gpu(gh), h_gpu = gpu(h);

  Tensor h_new = cpu_empty<T>({batch, H}), saved = cpu_empty<T>({batch, 4 * H});
  kernels::gru_cell_fused_forward<Device::CPU>(batch, H, ptr<T>(gi) + gi_offset, gi_stride,
                                               ptr<T>(gh) + gh_offset, gh_stride, ptr<T>(h) + H,
                                               h_stride, ptr<T>(h_new), ptr<T>(saved));
  for (bool keep_saved : {false, true}) {
    Tensor h_new_gpu = gpu_empty({batch, H}, dtype_of<T>());
    Tensor saved_gpu = gpu_empty({batch, 4 * H}, dtype_of<T>());
    kernels::gru_cell_fused_forward<Device::CUDA>(
        batch, H, ptr<T>(gi_gpu) + gi_offset, gi_stride, ptr<T>(gh_gpu) + gh_offset, gh_stride,
        ptr<T>(h_gpu) + H, h_stride, ptr<T>(h_new_gpu), keep_saved ? ptr<T>(saved_gpu) : nullptr);
    expect_close(h_new, h_new_gpu, tol<T>(1e-5, 1e-12), "gru h_new");
    if (keep_saved) expect_close(saved, saved_gpu, tol<T>(1e-5, 1e-12), "gru saved");
  }

  Tensor dh_new = uniform({batch, H}, -1, 1, g, dtype_of<T>());
  Tensor dgi = cpu_empty<T>({batch, 3 * H}), dgh = cpu_empty<T>({batch, 3 * H}),
         dh = cpu_empty<T>({batch, H});
  kernels::gru_cell_fused_backward<Device::CPU>(batch, H, ptr<T>(dh_new), ptr<T>(h) + H, h_stride,
                                                ptr<T>(saved), ptr<T>(dgi), ptr<T>(dgh),
                                                ptr<T>(dh));
  Tensor dh_new_gpu = gpu(dh_new), saved_in = gpu(saved);
  Tensor dgi_gpu = gpu_empty({batch, 3 * H}, dtype_of<T>());
  Tensor dgh_gpu = gpu_empty({batch, 3 * H}, dtype_of<T>());
  Tensor dh_gpu = gpu_empty({batch, H}, dtype_of<T>());
  kernels::gru_cell_fused_backward<Device::CUDA>(batch, H, ptr<T>(dh_new_gpu), ptr<T>(h_gpu) + H,
                                                 h_stride, ptr<T>(saved_in), ptr<T>(dgi_gpu),
                                                 ptr<T>(dgh_gpu), ptr<T>(dh_gpu));
  expect_close(dgi, dgi_gpu, tol<T>(2e-6, 1e-12), "gru dgi");
  expect_close(dgh, dgh_gpu, tol<T>(2e-6, 1e-12), "gru dgh");
  expect_close(dh, dh_gpu, tol<T>(2e-6, 1e-12), "gru dh");
}

template <typename T>
void check_lstm(int64_t batch, int64_t H, int64_t gates_extra, bool side_by_side, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + " lstm batch " + std::to_string(batch) +
               " hidden " + std::to_string(H) + " gates_extra " + std::to_string(gates_extra) +
               (side_by_side ? " side by side" : " separate"));
  attn::Generator g(seed);
  // gates is a view 1 element into rows of 4H + extra; c is the second half
  // of a (batch, 2H) buffer. Outputs: h_new and c_new side by side in one
  // (batch, 2H) buffer (out_stride 2H), or two (batch, H) buffers.
  const int64_t gates_stride = 4 * H + gates_extra, c_stride = 2 * H;
  const int64_t gates_offset = gates_extra > 0 ? 1 : 0;
  const int64_t out_stride = side_by_side ? 2 * H : H;
  Tensor gates = uniform({batch, gates_stride}, -3, 3, g, dtype_of<T>());
  Tensor c = uniform({batch, c_stride}, -1, 1, g, dtype_of<T>());
  Tensor gates_gpu = gpu(gates), c_gpu = gpu(c);

  const attn::Shape out_shape = side_by_side ? attn::Shape{batch, 2 * H} : attn::Shape{batch, H};
  Tensor h_out = cpu_empty<T>(out_shape), c_out = cpu_empty<T>(out_shape);
  Tensor saved = cpu_empty<T>({batch, 5 * H});
  T* h_new = ptr<T>(h_out);
  T* c_new = side_by_side ? ptr<T>(h_out) + H : ptr<T>(c_out);
  kernels::lstm_cell_fused_forward<Device::CPU>(batch, H, ptr<T>(gates) + gates_offset,
                                                gates_stride, ptr<T>(c) + H, c_stride, h_new, c_new,
                                                out_stride, ptr<T>(saved));
  for (bool keep_saved : {false, true}) {
    Tensor h_out_gpu = gpu_empty(out_shape, dtype_of<T>());
    Tensor c_out_gpu = gpu_empty(out_shape, dtype_of<T>());
    Tensor saved_gpu = gpu_empty({batch, 5 * H}, dtype_of<T>());
    T* h_new_gpu = ptr<T>(h_out_gpu);
    T* c_new_gpu = side_by_side ? ptr<T>(h_out_gpu) + H : ptr<T>(c_out_gpu);
    kernels::lstm_cell_fused_forward<Device::CUDA>(
        batch, H, ptr<T>(gates_gpu) + gates_offset, gates_stride, ptr<T>(c_gpu) + H, c_stride,
        h_new_gpu, c_new_gpu, out_stride, keep_saved ? ptr<T>(saved_gpu) : nullptr);
    expect_close(h_out, h_out_gpu, tol<T>(1e-5, 1e-12), "lstm h_new (and c_new side by side)");
    if (!side_by_side) expect_close(c_out, c_out_gpu, tol<T>(1e-5, 1e-12), "lstm c_new");
    if (keep_saved) expect_close(saved, saved_gpu, tol<T>(1e-5, 1e-12), "lstm saved");
  }

  // dh_new and dc_new side by side in one (batch, 2H) buffer (d_stride 2H).
  Tensor d_new = uniform({batch, 2 * H}, -1, 1, g, dtype_of<T>());
  Tensor dgates = cpu_empty<T>({batch, 4 * H}), dc = cpu_empty<T>({batch, H});
  kernels::lstm_cell_fused_backward<Device::CPU>(batch, H, ptr<T>(d_new), ptr<T>(d_new) + H, 2 * H,
                                                 ptr<T>(c) + H, c_stride, ptr<T>(saved),
                                                 ptr<T>(dgates), ptr<T>(dc));
  Tensor d_new_gpu = gpu(d_new), saved_in = gpu(saved);
  Tensor dgates_gpu = gpu_empty({batch, 4 * H}, dtype_of<T>());
  Tensor dc_gpu = gpu_empty({batch, H}, dtype_of<T>());
  kernels::lstm_cell_fused_backward<Device::CUDA>(
      batch, H, ptr<T>(d_new_gpu), ptr<T>(d_new_gpu) + H, 2 * H, ptr<T>(c_gpu) + H, c_stride,
      ptr<T>(saved_in), ptr<T>(dgates_gpu), ptr<T>(dc_gpu));
  expect_close(dgates, dgates_gpu, tol<T>(2e-6, 1e-12), "lstm dgates");
  expect_close(dc, dc_gpu, tol<T>(2e-6, 1e-12), "lstm dc");
}

template <typename T>
void check_rnn_cells() {
  uint64_t seed = 400;
  check_gru<T>(1, 1, 0, 0, ++seed);
  check_gru<T>(5, 33, 5, 0, ++seed);
  check_gru<T>(3, 300, 2, 7, ++seed);
  check_gru<T>(70, 13, 1, 1, ++seed);
  check_lstm<T>(1, 1, 0, false, ++seed);
  check_lstm<T>(5, 33, 3, true, ++seed);
  check_lstm<T>(3, 300, 0, false, ++seed);
  check_lstm<T>(70, 13, 1, true, ++seed);
}

TEST(CudaNn, RnnCellsFloat) {
  ATTN_REQUIRE_GPU();
  check_rnn_cells<float>();
}
TEST(CudaNn, RnnCellsDouble) {
  ATTN_REQUIRE_GPU();
  check_rnn_cells<double>();
}

// --- additive attention's scores --------------------------------------------------------

// hidden: tanhf within 2 ulp of tanh, values in (-1, 1): float 1e-6. scores:
// A products summed left to right on the CPU, as a tree of 32 lane sums on the
// GPU: float 1e-5. dkeys: element-wise, one FMA: float 1e-6. dquery: S terms
// in the same order, each add possibly fused: float 1e-5. dv: the CPU adds
// B · S terms in float, the GPU in double, so the gap is the CPU's own drift:
// float 2e-5. Double: 1e-12.
template <typename T>
void check_additive(int64_t B, int64_t S, int64_t A, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + " additive B " + std::to_string(B) + " S " +
               std::to_string(S) + " A " + std::to_string(A));
  attn::Generator g(seed);
  Tensor keys = uniform({B, S, A}, -2, 2, g, dtype_of<T>());
  Tensor query = uniform({B, A}, -1, 1, g, dtype_of<T>());
  Tensor v = uniform({A}, -1, 1, g, dtype_of<T>());
  Tensor keys_gpu = gpu(keys), query_gpu = gpu(query), v_gpu = gpu(v);

  Tensor hidden = cpu_empty<T>({B, S, A}), scores = cpu_empty<T>({B, S});
  kernels::additive_attention_scores_forward<Device::CPU>(ptr<T>(keys), ptr<T>(query), ptr<T>(v), B,
                                                          S, A, ptr<T>(hidden), ptr<T>(scores));
  Tensor hidden_gpu = gpu_empty({B, S, A}, dtype_of<T>());
  Tensor scores_gpu = gpu_empty({B, S}, dtype_of<T>());
  kernels::additive_attention_scores_forward<Device::CUDA>(ptr<T>(keys_gpu), ptr<T>(query_gpu),
                                                           ptr<T>(v_gpu), B, S, A,
                                                           ptr<T>(hidden_gpu), ptr<T>(scores_gpu));
  expect_close(hidden, hidden_gpu, tol<T>(1e-6, 1e-12), "additive hidden");
  expect_close(scores, scores_gpu, tol<T>(1e-5, 1e-12), "additive scores");

  Tensor dscores = uniform({B, S}, -1, 1, g, dtype_of<T>());
  Tensor dkeys = cpu_empty<T>({B, S, A}), dquery = cpu_empty<T>({B, A}), dv = cpu_empty<T>({A});
  kernels::additive_attention_scores_backward<Device::CPU>(ptr<T>(dscores), ptr<T>(hidden),
                                                           ptr<T>(v), B, S, A, ptr<T>(dkeys),
                                                           ptr<T>(dquery), ptr<T>(dv), false);
  Tensor dscores_gpu = gpu(dscores), hidden_in = gpu(hidden);
  // Every output, then each alone (the others null).
  for (int wanted = 0; wanted < 4; ++wanted) {
    SCOPED_TRACE("outputs " + std::to_string(wanted));
    const bool want_keys = wanted == 0 || wanted == 1;
    const bool want_query = wanted == 0 || wanted == 2;
    const bool want_v = wanted == 0 || wanted == 3;
    Tensor dkeys_gpu = gpu_empty({B, S, A}, dtype_of<T>());
    Tensor dquery_gpu = gpu_empty({B, A}, dtype_of<T>()), dv_gpu = gpu_empty({A}, dtype_of<T>());
    kernels::additive_attention_scores_backward<Device::CUDA>(
        ptr<T>(dscores_gpu), ptr<T>(hidden_in), ptr<T>(v_gpu), B, S, A,
        want_keys ? ptr<T>(dkeys_gpu) : nullptr, want_query ? ptr<T>(dquery_gpu) : nullptr,
        want_v ? ptr<T>(dv_gpu) : nullptr, false);
    if (want_keys) expect_close(dkeys, dkeys_gpu, tol<T>(1e-6, 1e-12), "additive dkeys");
    if (want_query) expect_close(dquery, dquery_gpu, tol<T>(1e-5, 1e-12), "additive dquery");
    if (want_v) expect_close(dv, dv_gpu, tol<T>(2e-5, 1e-12), "additive dv");
  }
}

template <typename T>
void check_additive_cases() {
  uint64_t seed = 500;
  check_additive<T>(1, 1, 1, ++seed);
  check_additive<T>(3, 7, 33, ++seed);
  check_additive<T>(2, 50, 256, ++seed);  // dv: 100 rows, two chunks of its partial sums
  check_additive<T>(4, 70, 5, ++seed);    // 280 rows, five chunks, the last short
}

TEST(CudaNn, AdditiveScoresFloat) {
  ATTN_REQUIRE_GPU();
  check_additive_cases<float>();
}
TEST(CudaNn, AdditiveScoresDouble) {
  ATTN_REQUIRE_GPU();
  check_additive_cases<double>();
}

// --- optimizers ----------------------------------------------------------------------------

// The CUDA update spells out every rounding (no FMA, IEEE sqrt and division),
// so on an x86 host, whose baseline has no FMA, it matches the CPU bit for
// bit. The tolerance (float 1e-6, double 1e-13) leaves room for a few ulps on
// a host whose compiler does fuse, over the steps taken here.
template <typename T>
void check_adam(bool decoupled, double weight_decay, int64_t n, uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + (decoupled ? " AdamW" : " Adam") + " weight_decay " +
               std::to_string(weight_decay) + " n " + std::to_string(n));
  const double tolerance = tol<T>(1e-6, 1e-13);
  attn::Generator g(seed);
  Tensor p = uniform({n}, -1, 1, g, dtype_of<T>());
  Tensor m = attn::zeros({n}, dtype_of<T>()), v = attn::zeros({n}, dtype_of<T>());
  Tensor p_gpu = gpu(p), m_gpu = gpu(m), v_gpu = gpu(v);
  const double lr = 1e-2, beta1 = 0.9, beta2 = 0.999;
  for (int t = 1; t <= 5; ++t) {
    // The scalars as train/optim/optimizer.cpp computes them for step t.
    attn::kernels::AdamStep s;
    s.beta1 = beta1;
    s.beta2 = beta2;
    s.eps = 1e-8;
    s.neg_step_size = -(lr / (1.0 - std::pow(beta1, t)));
    s.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(beta2, t));
    s.weight_decay = weight_decay;
    s.shrink = 1.0 - lr * weight_decay;
    s.decoupled = decoupled;
    Tensor grad = uniform({n}, -1, 1, g, dtype_of<T>());
    Tensor grad_gpu = gpu(grad);
    kernels::adam_step<Device::CPU>(n, ptr<T>(p), ptr<T>(grad), ptr<T>(m), ptr<T>(v), s);
    kernels::adam_step<Device::CUDA>(n, ptr<T>(p_gpu), ptr<T>(grad_gpu), ptr<T>(m_gpu),
                                     ptr<T>(v_gpu), s);
  }
  expect_close(p, p_gpu, tolerance, "adam p");
  expect_close(m, m_gpu, tolerance, "adam exp_avg");
  expect_close(v, v_gpu, tolerance, "adam exp_avg_sq");
}

template <typename T>
void check_sgd(double momentum, double dampening, bool nesterov, double weight_decay, int64_t n,
               uint64_t seed) {
  SCOPED_TRACE(std::string(type_name<T>()) + " SGD momentum " + std::to_string(momentum) +
               " dampening " + std::to_string(dampening) + (nesterov ? " nesterov" : "") +
               " weight_decay " + std::to_string(weight_decay) + " n " + std::to_string(n));
  const double tolerance = tol<T>(1e-6, 1e-13);
  attn::Generator g(seed);
  Tensor p = uniform({n}, -1, 1, g, dtype_of<T>());
  Tensor buf = cpu_empty<T>({n});
  Tensor p_gpu = gpu(p), buf_gpu = gpu_empty({n}, dtype_of<T>());
  const bool use_buffer = momentum != 0;
  for (int step = 0; step < 5; ++step) {
    attn::kernels::SgdStep s;
    s.lr = 0.1;
    s.momentum = momentum;
    s.dampening = dampening;
    s.weight_decay = weight_decay;
    s.nesterov = nesterov;
    s.first = step == 0;
    Tensor grad = uniform({n}, -1, 1, g, dtype_of<T>());
    Tensor grad_gpu = gpu(grad);
    kernels::sgd_step<Device::CPU>(n, ptr<T>(p), ptr<T>(grad), use_buffer ? ptr<T>(buf) : nullptr,
                                   s);
    kernels::sgd_step<Device::CUDA>(n, ptr<T>(p_gpu), ptr<T>(grad_gpu),
                                    use_buffer ? ptr<T>(buf_gpu) : nullptr, s);
  }
  expect_close(p, p_gpu, tolerance, "sgd p");
  if (use_buffer) expect_close(buf, buf_gpu, tolerance, "sgd momentum buffer");
}

template <typename T>
void check_optimizers() {
  uint64_t seed = 600;
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(70001)}) {
    check_adam<T>(false, 0.0, n, ++seed);
    check_adam<T>(false, 0.01, n, ++seed);  // Adam: L2 through the gradient
    check_adam<T>(true, 0.01, n, ++seed);   // AdamW: decoupled
    check_sgd<T>(0.0, 0.0, false, 0.0, n, ++seed);  // plain, no buffer
    check_sgd<T>(0.9, 0.1, false, 0.01, n, ++seed);
    check_sgd<T>(0.9, 0.0, true, 0.0, n, ++seed);   // Nesterov
    check_sgd<T>(0.9, 0.0, true, 0.01, n, ++seed);
  }
}

TEST(CudaNn, OptimizersFloat) {
  ATTN_REQUIRE_GPU();
  check_optimizers<float>();
}
TEST(CudaNn, OptimizersDouble) {
  ATTN_REQUIRE_GPU();
  check_optimizers<double>();
}

}  // namespace
