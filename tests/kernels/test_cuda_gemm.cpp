// The GPU's GEMMs: cuBLAS (kernels/cuda/matmul.cu) against OpenBLAS
// (kernels/cpu/matmul.cpp), and the three teaching GEMMs
// (kernels/cuda/gemm_teaching.cu) against cuBLAS.
//
// cuBLAS is column-major and attn row-major; matmul.cu bridges the two by
// swapping the operands, so every flag and stride that crosses that bridge is
// exercised here: the four transpose combinations, a matrix shared by the
// whole batch (stride 0), leading dimensions wider than a row, alpha and beta
// other than 1 and 0, beta = 0 over a C full of NaN (BLAS must not read it),
// and K = 0 (an empty sum: C = beta * C). The buffers are compared whole,
// padding included, so a write outside the matrix shows up too.
//
// Tolerances. The GPU and CPU may add the K products of a dot product in
// different orders (cuBLAS may split K among blocks; OpenBLAS accumulates in
// register blocks), and each fp32 addition rounds by up to half an ulp. The errors
// mostly cancel, so they grow like sqrt(K) ulps of the partial sums rather
// than K: with inputs uniform in [-1, 1), sums of order sqrt(K) / 3, the gap
// seen is a few 1e-6 relative. The float bound 1e-5 * sqrt(K), relative to
// 1 + |c|, sits well above that (on an H200 the worst case here, against a
// double reference, was 6.5e-6 at K = 257 where the bound is 1.6e-4) yet far
// below a wrong index or a missed transpose (errors of order 1). Double
// carries 29 more bits: 1e-12.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "kernels/cuda/gemm_teaching.h"
#include "kernels/cuda/runtime.h"
#include "kernels/matmul.h"
#include "tests/kernels/cuda_test_util.h"

namespace {

using attn::Device;
using attn::Tensor;
using attn_cuda_test::expect_close;
using attn_cuda_test::gpu;
using attn_cuda_test::gpu_empty;
using attn_cuda_test::uniform;
namespace kernels = attn::kernels;
namespace cuda = attn::kernels::cuda;

// fp32 dot products of length K: see the header.
double float_tolerance(int64_t K) {
  return 1e-5 * std::sqrt(static_cast<double>(std::max<int64_t>(K, 1)));
}
constexpr double kDoubleTolerance = 1e-12;

// One call of gemm: sizes, flags, layout and scalars.
struct Case {
  bool trans_a = false, trans_b = false;
  int64_t batch = 1, M = 1, N = 1, K = 1;
  int64_t pad = 0;                      // extra elements after each row: ld = row length + pad
  bool share_a = false, share_b = false;  // stride 0: one matrix for the whole batch
  double alpha = 1.0, beta = 0.0;
  bool nan_c = false;                   // C starts as NaN (only meaningful with beta = 0)
};

std::string describe(const Case& c) {
  std::ostringstream out;
  out << "trans_a " << c.trans_a << " trans_b " << c.trans_b << " batch " << c.batch << " M "
      << c.M << " N " << c.N << " K " << c.K << " pad " << c.pad << " share_a " << c.share_a
      << " share_b " << c.share_b << " alpha " << c.alpha << " beta " << c.beta
      << (c.nan_c ? " C=NaN" : "");
  return out.str();
}

// Runs one case on the CPU and on the GPU from the same inputs and compares
// the whole C buffers (padding included).
template <typename T>
void expect_gemm_matches_cpu(const Case& c, double tol, attn::Generator& g) {
  const attn::DType dtype = std::is_same_v<T, float> ? attn::kFloat32 : attn::kFloat64;
  // op(A) is (M, K): A is stored (M, K), or (K, M) when transposed; B likewise.
  const int64_t a_rows = c.trans_a ? c.K : c.M, a_cols = c.trans_a ? c.M : c.K;
  const int64_t b_rows = c.trans_b ? c.N : c.K, b_cols = c.trans_b ? c.K : c.N;
  // BLAS wants ld >= 1 even for a matrix with no columns (K = 0).
  const int64_t lda = std::max<int64_t>(a_cols + c.pad, 1);
  const int64_t ldb = std::max<int64_t>(b_cols + c.pad, 1);
  const int64_t ldc = c.N + c.pad;
  const int64_t stride_a = c.share_a ? 0 : a_rows * lda;
  const int64_t stride_b = c.share_b ? 0 : b_rows * ldb;
  const int64_t stride_c = c.M * ldc;
  // Flat buffers, never empty (an empty one would have no pointer to pass).
  auto size = [&](bool shared, int64_t per_matrix) {
    return std::max<int64_t>((shared ? 1 : c.batch) * per_matrix, 1);
  };
  Tensor A = uniform({size(c.share_a, a_rows * lda)}, -1, 1, g, dtype);
  Tensor B = uniform({size(c.share_b, b_rows * ldb)}, -1, 1, g, dtype);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor C0 = c.nan_c ? attn::full({size(false, stride_c)}, nan, dtype)
                      : uniform({size(false, stride_c)}, -1, 1, g, dtype);
  Tensor gA = gpu(A), gB = gpu(B), gC = gpu(C0);
  Tensor C = C0.clone();

  kernels::gemm<Device::CPU>(c.trans_a, c.trans_b, c.batch, c.M, c.N, c.K, T(c.alpha),
                             A.data_ptr<T>(), lda, stride_a, B.data_ptr<T>(), ldb, stride_b,
                             T(c.beta), C.data_ptr<T>(), ldc, stride_c);
  kernels::gemm<Device::CUDA>(c.trans_a, c.trans_b, c.batch, c.M, c.N, c.K, T(c.alpha),
                              gA.data_ptr<T>(), lda, stride_a, gB.data_ptr<T>(), ldb, stride_b,
                              T(c.beta), gC.data_ptr<T>(), ldc, stride_c);
  expect_close(C, gC, tol, describe(c));
}

// The sizes of the brief: a single element, sizes that divide nothing, and
// sizes past one cuBLAS tile with a long K.
struct Size {
  int64_t M, N, K;
};
const Size kSizes[] = {{1, 1, 1}, {7, 13, 5}, {129, 65, 257}};

TEST(CudaGemm, AllTransposeCombinationsMatchCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(1);
  for (const Size& s : kSizes) {
    for (int flags = 0; flags < 4; ++flags) {
      Case c;
      c.trans_a = flags & 1;
      c.trans_b = flags & 2;
      c.M = s.M, c.N = s.N, c.K = s.K;
      expect_gemm_matches_cpu<float>(c, float_tolerance(s.K), g);  // fp32 order: sqrt(K) ulps
      expect_gemm_matches_cpu<double>(c, kDoubleTolerance, g);    // double: tight
    }
  }
}

TEST(CudaGemm, BatchedWithSharedOperandMatchesCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(2);
  // A weight shared by the batch (B with stride 0, a Linear layer over
  // (batch, T, D)), A shared instead, neither, and both; with transposes, as
  // the backward of a batched matmul asks for.
  for (const Size& s : kSizes) {
    for (int sharing = 0; sharing < 4; ++sharing) {
      for (int flags = 0; flags < 4; ++flags) {
        Case c;
        c.batch = 3;
        c.share_a = sharing & 1;
        c.share_b = sharing & 2;
        c.trans_a = flags & 1;
        c.trans_b = flags & 2;
        c.M = s.M, c.N = s.N, c.K = s.K;
        expect_gemm_matches_cpu<float>(c, float_tolerance(s.K), g);  // fp32 order: sqrt(K) ulps
        expect_gemm_matches_cpu<double>(c, kDoubleTolerance, g);    // double: tight
      }
    }
  }
}

TEST(CudaGemm, LeadingDimensionsWiderThanRowsMatchCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(3);
  // Rows padded by 3 elements in A, B and C: a view of a wider matrix. The
  // padding of C must come back untouched (the buffers are compared whole).
  for (const Size& s : kSizes) {
    for (int flags = 0; flags < 4; ++flags) {
      Case c;
      c.batch = 2;
      c.pad = 3;
      c.trans_a = flags & 1;
      c.trans_b = flags & 2;
      c.M = s.M, c.N = s.N, c.K = s.K;
      expect_gemm_matches_cpu<float>(c, float_tolerance(s.K), g);  // fp32 order: sqrt(K) ulps
      expect_gemm_matches_cpu<double>(c, kDoubleTolerance, g);    // double: tight
    }
  }
}

TEST(CudaGemm, AlphaAndBetaMatchCpu) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(4);
  for (const Size& s : kSizes) {
    for (int flags = 0; flags < 4; ++flags) {
      Case c;
      c.trans_a = flags & 1;
      c.trans_b = flags & 2;
      c.M = s.M, c.N = s.N, c.K = s.K;
      c.alpha = 0.75;
      c.beta = -0.5;  // C = 0.75 op(A) op(B) - 0.5 C: gradient accumulation uses beta = 1
      // beta * C adds one more rounding per element: still within the sqrt(K) bound.
      expect_gemm_matches_cpu<float>(c, float_tolerance(s.K), g);
      expect_gemm_matches_cpu<double>(c, kDoubleTolerance, g);  // double: tight
      c.alpha = 2.0;
      c.beta = 1.0;
      expect_gemm_matches_cpu<float>(c, float_tolerance(s.K), g);
      expect_gemm_matches_cpu<double>(c, kDoubleTolerance, g);
    }
  }
}

TEST(CudaGemm, BetaZeroDoesNotReadC) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(5);
  // With beta = 0, BLAS overwrites C without reading it: NaN (or uninitialised
  // memory) in C must not turn into NaN in the result, since 0 * NaN is NaN.
  for (const Size& s : kSizes) {
    Case c;
    c.M = s.M, c.N = s.N, c.K = s.K;
    c.nan_c = true;
    expect_gemm_matches_cpu<float>(c, float_tolerance(s.K), g);  // fp32 order: sqrt(K) ulps
    expect_gemm_matches_cpu<double>(c, kDoubleTolerance, g);    // double: tight
  }
}

TEST(CudaGemm, EmptySumKZeroScalesC) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(6);
  // K = 0: no products at all, C = beta * C (and zeros for beta = 0, even over
  // NaN). One multiplication per element, exact on both sides: tolerance 0.
  for (int flags = 0; flags < 4; ++flags) {
    Case c;
    c.trans_a = flags & 1;
    c.trans_b = flags & 2;
    c.batch = 2;
    c.M = 7, c.N = 13, c.K = 0;
    c.beta = 0.5;
    expect_gemm_matches_cpu<float>(c, 0.0, g);
    expect_gemm_matches_cpu<double>(c, 0.0, g);
    c.beta = 0.0;
    c.nan_c = true;
    expect_gemm_matches_cpu<float>(c, 0.0, g);
    expect_gemm_matches_cpu<double>(c, 0.0, g);
  }
}

TEST(CudaGemm, EmptyShapesDoNothing) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(7);
  // batch 0, M 0 or N 0: nothing to compute and nothing written.
  Tensor C0 = uniform({4}, -1, 1, g);
  Tensor gC = gpu(C0);
  float* c = gC.data_ptr<float>();
  const float* x = c;  // never read: every call below has nothing to do
  kernels::gemm<Device::CUDA>(false, false, 0, 2, 2, 2, 1.0f, x, 2, 4, x, 2, 4, 0.0f, c, 2, 4);
  kernels::gemm<Device::CUDA>(false, false, 1, 0, 2, 2, 1.0f, x, 2, 0, x, 2, 4, 0.0f, c, 2, 0);
  kernels::gemm<Device::CUDA>(false, false, 1, 2, 0, 2, 1.0f, x, 2, 4, x, 1, 0, 0.0f, c, 1, 0);
  expect_close(C0, gC, 0.0, "empty gemm wrote to C");
}

TEST(CudaGemm, SharedOutputAcrossBatchThrows) {
  ATTN_REQUIRE_GPU();
  // stride_c = 0 with batch > 1 would have every matrix write the same C.
  Tensor gC = gpu_empty({4});
  float* c = gC.data_ptr<float>();
  EXPECT_THROW(
      kernels::gemm<Device::CUDA>(false, false, 2, 2, 2, 1, 1.0f, c, 1, 0, c, 2, 0, 0.0f, c, 2, 0),
      attn::Error);
}

// --- the teaching GEMMs against cuBLAS ----------------------------------------

// C = A @ B through cuBLAS: the reference for the teaching kernels.
Tensor cublas_product(const Tensor& A, const Tensor& B, int64_t M, int64_t N, int64_t K) {
  Tensor C = gpu_empty({M, N});
  kernels::gemm<Device::CUDA>(false, false, 1, M, N, K, 1.0f, A.data_ptr<float>(),
                              std::max<int64_t>(K, 1), 0, B.data_ptr<float>(), N, 0, 0.0f,
                              C.data_ptr<float>(), N, 0);
  return C;
}

TEST(CudaGemm, TeachingGemmsMatchCublas) {
  ATTN_REQUIRE_GPU();
  attn::Generator g(8);
  // Sizes that divide none of the tiles (32 for tiled; 128 x 128 x 8 for
  // register-tiled), so every edge of every tile is hit; one that divides all
  // of them; K = 0 (C is all zeros); and a large one, where the K loop runs
  // 32 or 128 times.
  const Size sizes[] = {{1, 1, 1},     {33, 65, 17},   {200, 300, 129}, {128, 256, 64},
                        {5, 7, 0},     {1024, 1024, 1024}};
  using Kernel = void (*)(int64_t, int64_t, int64_t, const float*, const float*, float*);
  struct Named {
    const char* name;
    Kernel kernel;
  };
  const Named kernels[] = {{"gemm_naive", cuda::gemm_naive},
                           {"gemm_tiled", cuda::gemm_tiled},
                           {"gemm_register_tiled", cuda::gemm_register_tiled}};
  for (const Size& s : sizes) {
    Tensor A = gpu(uniform({s.M, std::max<int64_t>(s.K, 1)}, -1, 1, g));
    Tensor B = gpu(uniform({std::max<int64_t>(s.K, 1), s.N}, -1, 1, g));
    Tensor want = cublas_product(A, B, s.M, s.N, s.K);
    Tensor naive;
    for (const Named& k : kernels) {
      Tensor C = gpu_empty({s.M, s.N});
      k.kernel(s.M, s.N, s.K, A.data_ptr<float>(), B.data_ptr<float>(), C.data_ptr<float>());
      // Each teaching kernel sums k in order with one fp32 accumulator per
      // element. cuBLAS is free to split K (and does, for some shapes); on an
      // H200 it matched bit for bit at these sizes, but nothing promises
      // that, so the bound is the sqrt(K) one above.
      std::ostringstream what;
      what << k.name << " " << s.M << "x" << s.N << "x" << s.K;
      expect_close(want, C, float_tolerance(s.K), what.str());
      // Among themselves the three are exact: the same fused multiply-adds in
      // the same order, the zero padding adding +0 (gemm_teaching.cu's header;
      // seen bit for bit on an H200 with nvcc 13.0). Tolerance 0.
      if (!naive.defined()) {
        naive = C;
      } else {
        expect_close(naive, C, 0.0, what.str() + " vs gemm_naive");
      }
    }
  }
}

}  // namespace
