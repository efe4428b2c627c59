// The fused element-wise paths against the general ones they replace:
// - dropout's one-pass kernel against the composition it replaced
//   (rand, gt, a convert and two multiplies): the same bits, the same
//   generator state afterwards, and the same bits at any thread count;
// - linear (one GEMM onto the bias) against matmul + add, values and gradients;
// - the binary kernel's fast layouts (same shape, row vector, column vector,
//   scalar) and where/relu backward against plain loops over the indices,
//   including odd sizes, broadcasting and non-contiguous inputs;
// - the column sums behind a bias gradient, chunked over rows, at any thread count.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace {

using attn::Generator;
using attn::Shape;
using attn::Tensor;

// The same dtype, shape and bytes.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.dtype() == attn::kFloat32) {
    std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
    return std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
  }
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  return std::memcmp(va.data(), vb.data(), va.size() * sizeof(double)) == 0;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  std::vector<double> va = a.to(attn::kFloat64).to_vector<double>();
  std::vector<double> vb = b.to(attn::kFloat64).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
  return worst;
}

// --- dropout -------------------------------------------------------------------

// attn::dropout as it was written before the fused kernel.
Tensor reference_dropout(const Tensor& x, double p, Generator* generator) {
  Tensor keep = attn::gt(attn::rand(x.shape(), x.options(), generator), p);
  Tensor mask = keep.to(x.dtype()) * (1.0 / (1.0 - p));
  return x * mask;
}

TEST(FusedDropout, SameBitsAsTheComposition) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (double p : {0.1, 0.3, 1.0 / 3.0, 0.5, 0.9, 0.999, 1.0 - 1e-9}) {  // the last rounds to 1 in float
      for (bool transposed : {false, true}) {
        Generator data(11);
        Tensor base = attn::randn({130, 77}, dtype, &data);
        Tensor x = (transposed ? base.t() : base).detach().requires_grad_();
        Tensor x_ref = (transposed ? base.t() : base).detach().requires_grad_();
        Generator fused_gen(42), ref_gen(42);
        fused_gen.set_state(42, 1000);  // a generator part-way through its stream
        ref_gen.set_state(42, 1000);
        Tensor y = attn::dropout(x, p, true, &fused_gen);
        Tensor y_ref = reference_dropout(x_ref, p, &ref_gen);
        EXPECT_TRUE(same_bits(y, y_ref)) << "p=" << p << " transposed=" << transposed;
        EXPECT_EQ(fused_gen.offset(), ref_gen.offset());
        Tensor g = attn::randn(y.shape(), dtype, &data);
        y.backward(g);
        y_ref.backward(g);
        EXPECT_TRUE(same_bits(x.grad(), x_ref.grad())) << "p=" << p;
      }
    }
  }
}

TEST(FusedDropout, NaNAndSignedZerosAsAMultiply) {
  Tensor x = attn::from_vector(std::vector<float>{NAN, -1.0f, -0.0f, 2.0f, INFINITY, -3.0f, 4.0f,
                                                  NAN},
                               {8});
  Generator a(3), b(3);
  EXPECT_TRUE(same_bits(attn::dropout(x, 0.5, true, &a), reference_dropout(x, 0.5, &b)));
}

TEST(FusedDropout, SameBitsAtAnyThreadCount) {
  Generator data(5);
  Tensor x = attn::randn({300, 1001}, attn::kFloat32, &data);
  const int saved = attn::kernels::cpu::num_threads();
  Tensor gy = attn::randn(x.shape(), attn::kFloat32, &data);
  std::vector<Tensor> outs;
  for (int threads : {1, 2, 3, 7}) {
    attn::kernels::cpu::set_num_threads(threads);
    Generator g(9);
    Tensor leaf = x.detach().requires_grad_();
    outs.push_back(attn::dropout(leaf, 0.2, true, &g));
    outs.back().backward(gy);
    outs.push_back(leaf.grad());
  }
  attn::kernels::cpu::set_num_threads(saved);
  for (size_t i = 2; i < outs.size(); ++i) EXPECT_TRUE(same_bits(outs[i % 2], outs[i]));
}

// --- linear --------------------------------------------------------------------

TEST(FusedLinear, MatchesMatmulPlusBias) {
  Generator g(1);
  struct Case { Shape x; bool bias; bool transposed_x; };
  for (const Case& c : {Case{{2, 5, 7}, true, false}, Case{{33, 7}, false, false},
                        Case{{7, 9}, true, true}, Case{{7}, true, false}}) {
    Tensor x0 = attn::randn(c.x, attn::kFloat64, &g);
    if (c.transposed_x) x0 = x0.t().contiguous().t().t();  // (9, 7) stored as (7, 9)^T
    Tensor w0 = attn::randn({6, x0.size(-1)}, attn::kFloat64, &g);
    Tensor b0 = attn::randn({6}, attn::kFloat64, &g);
    Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_();
    Tensor b = b0.detach().requires_grad_();
    Tensor xr = x0.detach().requires_grad_(), wr = w0.detach().requires_grad_();
    Tensor br = b0.detach().requires_grad_();
    Tensor y = attn::linear(x, w, c.bias ? b : Tensor());
    Tensor y_ref = attn::matmul(xr, wr.t());
    if (c.bias) y_ref = y_ref + br;
    EXPECT_LT(max_abs_diff(y, y_ref), 1e-12);
    Tensor gy = attn::randn(y.shape(), attn::kFloat64, &g);
    y.backward(gy);
    y_ref.backward(gy);
    EXPECT_LT(max_abs_diff(x.grad(), xr.grad()), 1e-12);
    EXPECT_LT(max_abs_diff(w.grad(), wr.grad()), 1e-12);
    EXPECT_TRUE(w.grad().is_contiguous());  // accumulates without a transposed read
    if (c.bias) {
      EXPECT_LT(max_abs_diff(b.grad(), br.grad()), 1e-12);
    }
  }
}

// --- binary, where and relu backward against plain loops ------------------------

// x broadcast to `shape` as a plain vector, through expand + contiguous (the
// copy kernel, not the binary kernel under test).
std::vector<float> broadcast_values(const Tensor& x, const Shape& shape) {
  return x.expand(shape).contiguous().to_vector<float>();
}

struct BinaryCase {
  Shape a, b;
  bool transpose_a;  // a is built as its transpose, then viewed transposed
};

TEST(FastBinary, EveryLayoutMatchesAPlainLoop) {
  Generator g(2);
  const std::vector<BinaryCase> cases = {
      {{7, 13}, {7, 13}, false},      // same shape
      {{300, 1001}, {300, 1001}, false},  // same shape, big: one row cut into chunks
      {{300, 1001}, {}, false},       // a scalar, big
      {{9, 13}, {13}, false},         // bias row (N, D) + (D)
      {{13}, {9, 13}, false},         // row on the left
      {{9, 13}, {9, 1}, false},       // column broadcast
      {{3, 5, 7}, {5, 7}, false},     // (B, T, D) + (T, D)
      {{3, 5, 7}, {3, 1, 7}, false},  // middle broadcast
      {{13, 9}, {13, 9}, true},       // a transposed
      {{13, 9}, {9}, true},           // a transposed, row broadcast
      {{1, 1}, {1}, false},           // single element
      {{400, 700}, {700}, false},     // big bias add: rows split over the cores
  };
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<Fn, float (*)(float, float)>> ops = {
      {attn::add, [](float x, float y) { return x + y; }},
      {attn::sub, [](float x, float y) { return x - y; }},
      {attn::mul, [](float x, float y) { return x * y; }},
      {attn::div, [](float x, float y) { return x / y; }},
      {attn::maximum, [](float x, float y) { return x > y ? x : y; }},
  };
  for (const BinaryCase& c : cases) {
    Tensor a;
    if (c.transpose_a) {
      a = attn::randn({c.a[1], c.a[0]}, attn::kFloat32, &g).t();
    } else {
      a = attn::randn(c.a, attn::kFloat32, &g);
    }
    Tensor b = attn::randn(c.b, attn::kFloat32, &g) + 3.0;  // away from 0 for div
    const Shape out_shape = attn::broadcast_shapes(a.shape(), b.shape(), "test");
    const std::vector<float> va = broadcast_values(a, out_shape);
    const std::vector<float> vb = broadcast_values(b, out_shape);
    for (const auto& [fn, scalar_fn] : ops) {
      const std::vector<float> got = fn(a, b).to_vector<float>();
      ASSERT_EQ(got.size(), va.size());
      size_t wrong = 0;
      for (size_t i = 0; i < got.size(); ++i) wrong += got[i] != scalar_fn(va[i], vb[i]);
      EXPECT_EQ(wrong, 0u) << attn::shape_str(c.a) << " op " << attn::shape_str(c.b);
    }
  }
}

TEST(FastBinary, WhereAndMaskedFillMatchAPlainLoop) {
  Generator g(3);
  struct Case { Shape x, mask; };
  for (const Case& c : {Case{{4, 3, 5, 6}, {4, 1, 1, 6}}, Case{{4, 3, 5, 6}, {4, 1, 5, 6}},
                        Case{{7, 11}, {7, 11}}, Case{{200, 1000}, {200, 1000}},
                        Case{{7, 11}, {7, 1}}}) {
    Tensor x = attn::randn(c.x, attn::kFloat32, &g).requires_grad_();
    Tensor mask = attn::gt(attn::rand(c.mask, attn::kFloat32, &g), 0.5);  // int64 0/1
    Tensor y = attn::masked_fill(x, mask, -7.0);
    Tensor gy = attn::randn(c.x, attn::kFloat32, &g);
    y.backward(gy);
    const std::vector<float> vx = x.detach().to_vector<float>(), vy = y.to_vector<float>();
    const std::vector<float> vg = gy.to_vector<float>(), vdx = x.grad().to_vector<float>();
    const std::vector<float> vm = broadcast_values(mask.to(attn::kFloat32), c.x);
    size_t wrong = 0;
    for (size_t i = 0; i < vx.size(); ++i) {
      wrong += vy[i] != (vm[i] != 0 ? -7.0f : vx[i]);
      wrong += vdx[i] != (vm[i] != 0 ? 0.0f : vg[i]);
    }
    EXPECT_EQ(wrong, 0u) << attn::shape_str(c.x) << " mask " << attn::shape_str(c.mask);
  }
}

TEST(FastBinary, ReluBackwardIsTheGradientWhereTheInputIsPositive) {
  Generator g(4);
  for (Shape shape : {Shape{5, 7}, Shape{300, 1001}}) {
    Tensor x = attn::randn(shape, attn::kFloat32, &g).requires_grad_();
    Tensor gy = attn::randn(shape, attn::kFloat32, &g);
    attn::relu(x).backward(gy);
    const std::vector<float> vx = x.detach().to_vector<float>(), vg = gy.to_vector<float>();
    const std::vector<float> vdx = x.grad().to_vector<float>();
    size_t wrong = 0;
    for (size_t i = 0; i < vx.size(); ++i) wrong += vdx[i] != (vx[i] > 0 ? vg[i] : 0.0f);
    EXPECT_EQ(wrong, 0u);
  }
}

TEST(FastBinary, ReluInPlaceEqualsReluAndRefusesAGraph) {
  Generator g(5);
  Tensor x = attn::randn({300, 1001}, attn::kFloat32, &g);
  const Tensor expected = attn::relu(x);
  Tensor same = x;  // shares x's storage: relu_ writes it
  EXPECT_EQ(&attn::relu_(x), &x);
  EXPECT_TRUE(same_bits(same, expected));
  Tensor leaf = attn::randn({3, 4}, attn::kFloat32, &g).requires_grad_();
  EXPECT_THROW(attn::relu_(leaf), attn::Error);  // would overwrite what a backward reads
  Tensor columns = attn::randn({4, 3}, attn::kFloat32, &g).transpose(0, 1);
  EXPECT_THROW(attn::relu_(columns), attn::Error);  // not contiguous
  {
    attn::NoGradGuard no_grad;
    EXPECT_NO_THROW(attn::relu_(leaf));  // outside any graph, as inference runs it
  }
}

// --- column sums (bias gradients) -----------------------------------------------

TEST(ChunkedColumnSums, MatchDoubleSumsAndDoNotDependOnThreads) {
  Generator g(6);
  struct Case { int64_t outer, n, inner; };
  for (const Case& c : {Case{1, 5000, 100}, Case{1, 1281, 256}, Case{2, 3000, 77},
                        Case{1, 700, 513}}) {
    const std::vector<float> x =
        attn::randn({c.outer * c.n * c.inner}, attn::kFloat32, &g).to_vector<float>();
    const int saved = attn::kernels::cpu::num_threads();
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2, 3}) {
      attn::kernels::cpu::set_num_threads(threads);
      outs.emplace_back(c.outer * c.inner);
      attn::kernels::sum_reduce<attn::Device::CPU>(x.data(), c.outer, c.n, c.inner,
                                                   outs.back().data());
    }
    attn::kernels::cpu::set_num_threads(saved);
    for (size_t t = 1; t < outs.size(); ++t) EXPECT_EQ(outs[0], outs[t]);
    for (int64_t o = 0; o < c.outer; ++o) {
      for (int64_t i = 0; i < c.inner; ++i) {
        double total = 0;
        for (int64_t k = 0; k < c.n; ++k) total += x[(o * c.n + k) * c.inner + i];
        EXPECT_NEAR(outs[0][o * c.inner + i], total, 1e-5 * (1 + std::fabs(total)));
      }
    }
  }
}

}  // namespace
