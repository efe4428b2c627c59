// The fused attention kernels on the GPU (kernels/cuda/flash_attention.cu)
// against their CPU twin (kernels/cpu/flash_attention.cpp), forward and
// backward, float and double, on fresh random inputs.
//
// The shapes are chosen to divide no tile (the GPU tiles are 8 or 4 owned
// rows and 32 or 16 streamed rows), to have Tq != Tk, a decode step (Tq = 1),
// D = 1, 17, 64 and 128 (the largest supported), and T = 257. The masks: a
// batch with key length 0 and causal with Tq < Tk and Tq > Tk (early rows see
// no key, so lse is -inf and must match exactly). Padded keys and values are
// set to NaN before the run: a kernel that reads one shows NaN where the CPU
// has a number.
//
// The CPU twin keeps its sums in double; the GPU sums in the element type. So
// double agrees to near machine precision, and float to a few ulps times the
// number of terms summed (D for a score, Tk for an output, Tq for dk and dv).
// Each case carries its tolerances and why. The backward of both gets the CPU
// forward's out and lse, so that it is checked on its own.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cuda/runtime.h"
#include "kernels/flash_attention.h"
#include "tests/kernels/cuda_test_util.h"

namespace attn_cuda_test {
namespace {

using attn::Device;
using attn::Tensor;
namespace kernels = attn::kernels;

// Mixed tolerances, |gpu - cpu| <= tol * (1 + |cpu|), per element type.
struct Tolerances {
  double out_float, grad_float, out_double, grad_double;
};

struct FlashCase {
  std::string name;
  int64_t B, H, Tq, Tk, D;
  std::vector<int64_t> key_lengths;  // empty: no padding mask
  bool causal;
  Tolerances tol;
  int64_t Hkv = 0;  // kv heads shared by the H query heads (MQA, GQA); 0 = H
  int64_t kv_heads() const { return Hkv == 0 ? H : Hkv; }
};

// Float: a score sums D products and an output Tk terms, each rounding by
// 6e-8 relative; values are O(1), scores O(1), so the error is about
// (D + Tk) * 6e-8 at worst and much less on average. Gradients add the
// cancellation in dp - D_i and sum Tq terms for dk, dv: a few times more.
// Double: the same counts times 1e-16. Measured on an H200 (with the standalone
// twin of these cases): float within 5e-7 and double within 5e-16 of the CPU,
// so these bounds leave room of about a hundred.
const std::vector<FlashCase> kCases = {
    // 37 and 45 divide no tile; D = 17 leaves most lanes of the second pass idle.
    {"tiles do not divide", 2, 3, 37, 45, 17, {}, false, {1e-5, 3e-5, 1e-12, 1e-11}},
    {"padding with a length 0", 2, 3, 37, 45, 17, {0, 30}, false, {1e-5, 3e-5, 1e-12, 1e-11}},
    {"causal, Tq < Tk, padding", 2, 3, 37, 45, 17, {45, 20}, true, {1e-5, 3e-5, 1e-12, 1e-11}},
    // Rows 0..7 see no key: lse -inf, out and dq 0.
    {"causal, Tq > Tk", 1, 2, 45, 37, 17, {}, true, {1e-5, 3e-5, 1e-12, 1e-11}},
    // A decode step: one query against 100 cached keys, D = 64.
    {"decode, Tq = 1", 2, 2, 1, 100, 64, {100, 57}, true, {2e-5, 5e-5, 1e-12, 1e-11}},
    {"D = 1", 1, 1, 5, 3, 1, {}, false, {1e-5, 2e-5, 1e-12, 1e-11}},
    {"D = 64", 2, 2, 65, 70, 64, {}, false, {2e-5, 5e-5, 1e-12, 1e-11}},
    // D = 128: every lane holds four accumulators; scores sum 128 products.
    {"D = 128, causal", 1, 2, 40, 33, 128, {}, true, {3e-5, 1e-4, 1e-12, 1e-11}},
    // 257 = 8 * 32 + 1: one row or key alone in the last tile; sums of 257 terms.
    {"T = 257, causal, padding", 1, 2, 257, 257, 32, {200}, true, {3e-5, 1e-4, 1e-12, 1e-11}},
    {"T = 257, D = 128", 1, 1, 257, 257, 128, {}, false, {3e-5, 1e-4, 1e-12, 1e-11}},
    // Grouped heads: dk and dv sum the G = H / Hkv heads of a group.
    {"GQA 4 on 2, causal, padding", 2, 4, 37, 45, 17, {45, 20}, true,
     {1e-5, 3e-5, 1e-12, 1e-11}, 2},
    {"MQA decode, Tq = 1", 2, 4, 1, 100, 64, {100, 57}, true, {2e-5, 5e-5, 1e-12, 1e-11}, 1},
};

template <typename T>
attn::DType dtype_of() {
  return std::is_same<T, float>::value ? attn::kFloat32 : attn::kFloat64;
}

template <typename T>
void check_case(const FlashCase& c, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << c.name << ": B " << c.B << " H " << c.H << " Hkv "
                                    << c.kv_heads() << " Tq " << c.Tq << " Tk " << c.Tk << " D "
                                    << c.D << (c.causal ? " causal" : ""));
  const attn::DType dtype = dtype_of<T>();
  const bool is_float = std::is_same<T, float>::value;
  const double out_tol = is_float ? c.tol.out_float : c.tol.out_double;
  const double grad_tol = is_float ? c.tol.grad_float : c.tol.grad_double;
  const attn::Shape q_shape{c.B, c.H, c.Tq, c.D}, kv_shape{c.B, c.kv_heads(), c.Tk, c.D},
      lse_shape{c.B, c.H, c.Tq};
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(c.D)));

  attn::Generator g(seed);
  Tensor q = uniform(q_shape, -1, 1, g, dtype), k = uniform(kv_shape, -1, 1, g, dtype),
         v = uniform(kv_shape, -1, 1, g, dtype), dout = uniform(q_shape, -1, 1, g, dtype);
  Tensor lengths, gpu_lengths;
  const int64_t* cpu_lengths_ptr = nullptr;
  const int64_t* gpu_lengths_ptr = nullptr;
  if (!c.key_lengths.empty()) {
    lengths = attn::from_vector(c.key_lengths, {c.B});
    gpu_lengths = gpu(lengths);
    cpu_lengths_ptr = lengths.data_ptr<int64_t>();
    gpu_lengths_ptr = gpu_lengths.data_ptr<int64_t>();
    // Padded keys and values become NaN: reading one would show.
    T* kp = k.data_ptr<T>();
    T* vp = v.data_ptr<T>();
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t h = 0; h < c.kv_heads(); ++h)
        for (int64_t j = c.key_lengths[b]; j < c.Tk; ++j)
          for (int64_t d = 0; d < c.D; ++d) {
            kp[((b * c.kv_heads() + h) * c.Tk + j) * c.D + d] = std::numeric_limits<T>::quiet_NaN();
            vp[((b * c.kv_heads() + h) * c.Tk + j) * c.D + d] = std::numeric_limits<T>::quiet_NaN();
          }
  }
  Tensor gq = gpu(q), gk = gpu(k), gv = gpu(v), gdout = gpu(dout);

  // Forward.
  Tensor out = Tensor::empty(q_shape, dtype), lse = Tensor::empty(lse_shape, dtype);
  kernels::flash_attention_forward<Device::CPU>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, q.data_ptr<T>(), k.data_ptr<T>(), v.data_ptr<T>(),
      cpu_lengths_ptr, c.causal, scale, out.data_ptr<T>(), lse.data_ptr<T>());
  Tensor gout = gpu_empty(q_shape, dtype), glse = gpu_empty(lse_shape, dtype);
  kernels::flash_attention_forward<Device::CUDA>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, gq.data_ptr<T>(), gk.data_ptr<T>(),
      gv.data_ptr<T>(),
      gpu_lengths_ptr, c.causal, scale, gout.data_ptr<T>(), glse.data_ptr<T>());
  expect_close(out, gout, out_tol, "out");
  expect_close(lse, glse, out_tol, "lse");

  // Backward, both from the CPU's out and lse.
  Tensor dq = Tensor::empty(q_shape, dtype), dk = Tensor::empty(kv_shape, dtype),
         dv = Tensor::empty(kv_shape, dtype);
  kernels::flash_attention_backward<Device::CPU>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, q.data_ptr<T>(), k.data_ptr<T>(), v.data_ptr<T>(),
      out.data_ptr<T>(), dout.data_ptr<T>(), lse.data_ptr<T>(), cpu_lengths_ptr, c.causal, scale,
      dq.data_ptr<T>(), dk.data_ptr<T>(), dv.data_ptr<T>());
  Tensor gout_cpu = gpu(out), glse_cpu = gpu(lse);
  Tensor gdq = gpu_empty(q_shape, dtype), gdk = gpu_empty(kv_shape, dtype),
         gdv = gpu_empty(kv_shape, dtype);
  kernels::flash_attention_backward<Device::CUDA>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, gq.data_ptr<T>(), gk.data_ptr<T>(),
      gv.data_ptr<T>(),
      gout_cpu.data_ptr<T>(), gdout.data_ptr<T>(), glse_cpu.data_ptr<T>(), gpu_lengths_ptr,
      c.causal, scale, gdq.data_ptr<T>(), gdk.data_ptr<T>(), gdv.data_ptr<T>());
  expect_close(dq, gdq, grad_tol, "dq");
  expect_close(dk, gdk, grad_tol, "dk");
  expect_close(dv, gdv, grad_tol, "dv");

  // No atomics: a second backward gives the same bits.
  Tensor gdq2 = gpu_empty(q_shape, dtype), gdk2 = gpu_empty(kv_shape, dtype),
         gdv2 = gpu_empty(kv_shape, dtype);
  kernels::flash_attention_backward<Device::CUDA>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, gq.data_ptr<T>(), gk.data_ptr<T>(),
      gv.data_ptr<T>(),
      gout_cpu.data_ptr<T>(), gdout.data_ptr<T>(), glse_cpu.data_ptr<T>(), gpu_lengths_ptr,
      c.causal, scale, gdq2.data_ptr<T>(), gdk2.data_ptr<T>(), gdv2.data_ptr<T>());
  EXPECT_EQ(gdq.to_vector<T>(), gdq2.to_vector<T>());
  EXPECT_EQ(gdk.to_vector<T>(), gdk2.to_vector<T>());
  EXPECT_EQ(gdv.to_vector<T>(), gdv2.to_vector<T>());
}

TEST(CudaFlashAttention, FloatMatchesCpu) {
  ATTN_REQUIRE_GPU();
  uint64_t seed = 100;
  for (const FlashCase& c : kCases) check_case<float>(c, seed++);
}

TEST(CudaFlashAttention, DoubleMatchesCpu) {
  ATTN_REQUIRE_GPU();
  uint64_t seed = 200;
  for (const FlashCase& c : kCases) check_case<double>(c, seed++);
}

TEST(CudaFlashAttention, EmptyShapes) {
  ATTN_REQUIRE_GPU();
  // No query: nothing to write forward; dk and dv are 0. No key: every row
  // sees nothing, so out and dq are 0 and lse is -inf.
  const Tolerances exact{0, 0, 0, 0};
  check_case<float>({"Tq = 0", 1, 2, 0, 5, 4, {}, false, exact}, 300);
  check_case<float>({"Tk = 0", 1, 2, 5, 0, 4, {}, true, exact}, 301);
  check_case<double>({"B = 0", 0, 2, 3, 3, 4, {}, false, exact}, 302);
}

TEST(CudaFlashAttention, HeadDimAbove128Throws) {
  ATTN_REQUIRE_GPU();
  // The check comes before any pointer is touched.
  try {
    kernels::flash_attention_forward<Device::CUDA, float>(
        1, 1, 1, 1, 1, 129, nullptr, nullptr, nullptr, nullptr, false, 1.0f, nullptr, nullptr);
    FAIL() << "no error for D = 129";
  } catch (const attn::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("flash_attention_forward"), std::string::npos) << what;
    EXPECT_NE(what.find("129"), std::string::npos) << what;
  }
  EXPECT_THROW((kernels::flash_attention_backward<Device::CUDA, double>(
                   1, 1, 1, 1, 1, 200, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                   nullptr, false, 1.0, nullptr, nullptr, nullptr)),
               attn::Error);
}

}  // namespace
}  // namespace attn_cuda_test
