// Tests for the fused attention kernel on the CPU (kernels/cpu/flash_attention.cpp),
// forward and backward, float and double.
//
// The reference is attention written the naive way in double: the whole score
// matrix S = q k^T * scale, the masks applied to it, a softmax per row, P v.
// It shares nothing with the kernel (no blocks, no online softmax, no lse in
// the backward), so agreeing with it checks the algorithm, not a copy of it.
// The kernel's backward is checked against the reference's analytic gradient
// and against central finite differences of the kernel's own forward in
// double, so neither gradient is taken on trust. Then the promises the
// contract makes: masked keys cannot leak into the output (bit for bit), rows
// that see no key give 0, lse -inf and no NaN, huge scores do not overflow,
// and the number of threads does not change a bit. Grouped heads (MQA, GQA:
// Hkv kv heads shared by H query heads) run through every test that has a
// case with Hkv < H; the reference reads kv head h / (H / Hkv) for query head
// h and sums each group's dk, dv, written out independently of the kernel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"
#include "kernels/flash_attention.h"

namespace attn_test {
namespace {

namespace kernels = attn::kernels;
using attn::Device;

// One attention problem: q (B, H, Tq, D), k and v (B, Hkv, Tk, D).
struct Case {
  std::string name;
  int64_t B, H, Tq, Tk, D;
  std::vector<int64_t> key_lengths;  // empty: no padding mask
  bool causal;
  int64_t Hkv = 0;                   // kv heads; 0 = H (MHA)

  int64_t kv_heads() const { return Hkv == 0 ? H : Hkv; }
  // The kv head (b * Hkv + g) that query head h of batch b reads.
  int64_t kv_of(int64_t b, int64_t h) const { return b * kv_heads() + h / (H / kv_heads()); }
  int64_t q_size() const { return B * H * Tq * D; }
  int64_t kv_size() const { return B * kv_heads() * Tk * D; }
  const int64_t* lengths() const { return key_lengths.empty() ? nullptr : key_lengths.data(); }
  double scale() const { return D > 0 ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0; }
  // The contract's mask, written independently of the kernel's.
  bool visible(int64_t b, int64_t i, int64_t j) const {
    if (!key_lengths.empty() && j >= key_lengths[b]) return false;
    return !causal || j <= i + (Tk - Tq);
  }
};

::testing::Message describe(const Case& c) {
  return ::testing::Message() << c.name << ": B " << c.B << " H " << c.H << " Hkv "
                              << c.kv_heads() << " Tq " << c.Tq << " Tk " << c.Tk << " D " << c.D;
}

const std::vector<Case> kCases = {
    {"one key", 1, 1, 1, 1, 1, {}, false},
    {"Tq != Tk", 2, 3, 5, 7, 4, {}, false},
    {"decode step (Tq = 1) sees every cached key", 2, 2, 1, 100, 16, {}, true},
    {"decode step with padding", 2, 2, 1, 100, 16, {100, 37}, true},
    {"D = 1, causal", 1, 2, 9, 9, 1, {}, true},
    {"D = 100, keys over three blocks", 2, 1, 6, 130, 100, {130, 70}, false},
    {"a batch with key length 0", 3, 2, 8, 11, 5, {11, 0, 4}, false},
    {"causal, Tq < Tk", 1, 2, 5, 12, 8, {}, true},
    {"causal, Tq > Tk: early rows see no key", 2, 2, 12, 5, 8, {}, true},
    {"causal and padding", 2, 1, 10, 10, 3, {10, 4}, true},
    {"no keys at all", 1, 2, 3, 0, 4, {}, false},
    {"GQA: 4 heads on 2 kv heads, causal and padding", 2, 4, 6, 9, 8, {9, 4}, true, 2},
    {"MQA: 3 heads on 1 kv head, padding", 2, 3, 5, 7, 4, {7, 2}, false, 1},
    {"MQA decode step over three blocks", 2, 4, 1, 150, 8, {150, 65}, true, 1},
};

// --- the naive reference -------------------------------------------------------

struct Forward {
  std::vector<double> out, lse;
};
struct Grads {
  std::vector<double> dq, dk, dv;
};

// P (B, H, Tq, Tk): each row's softmax over its visible keys, 0 elsewhere; a
// row with no visible key is all 0 and has lse -inf.
std::vector<double> ref_probs(const Case& c, const std::vector<double>& q,
                              const std::vector<double>& k, std::vector<double>* lse) {
  std::vector<double> P(static_cast<size_t>(c.B * c.H * c.Tq * c.Tk), 0.0);
  lse->assign(static_cast<size_t>(c.B * c.H * c.Tq), -kInf);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Tq; ++i) {
        const int64_t bh = b * c.H + h, row = bh * c.Tq + i, kv = c.kv_of(b, h);
        double* p = P.data() + row * c.Tk;  // (Tk may be 0: no element to take the address of)
        double m = -kInf;
        for (int64_t j = 0; j < c.Tk; ++j) {
          if (!c.visible(b, i, j)) continue;
          double s = 0;
          for (int64_t d = 0; d < c.D; ++d) s += q[row * c.D + d] * k[(kv * c.Tk + j) * c.D + d];
          p[j] = s * c.scale();
          m = std::max(m, p[j]);
        }
        if (m == -kInf) continue;
        double z = 0;
        for (int64_t j = 0; j < c.Tk; ++j) z += c.visible(b, i, j) ? std::exp(p[j] - m) : 0.0;
        for (int64_t j = 0; j < c.Tk; ++j) p[j] = c.visible(b, i, j) ? std::exp(p[j] - m) / z : 0;
        (*lse)[row] = m + std::log(z);
      }
  return P;
}

Forward ref_forward(const Case& c, const std::vector<double>& q, const std::vector<double>& k,
                    const std::vector<double>& v) {
  Forward f;
  const std::vector<double> P = ref_probs(c, q, k, &f.lse);
  f.out.assign(static_cast<size_t>(c.q_size()), 0.0);
  for (int64_t bh = 0; bh < c.B * c.H; ++bh)
    for (int64_t i = 0; i < c.Tq; ++i)
      for (int64_t j = 0; j < c.Tk; ++j)
        for (int64_t d = 0; d < c.D; ++d)
          f.out[(bh * c.Tq + i) * c.D + d] += P[(bh * c.Tq + i) * c.Tk + j] *
                                              v[(c.kv_of(bh / c.H, bh % c.H) * c.Tk + j) * c.D + d];
  return f;
}

// out = P v with P = softmax(S): dV = P^T dO, dP = dO V^T, and through the
// softmax Jacobian dS_ij = P_ij (dP_ij - sum_l P_il dP_il); then S = q k^T *
// scale gives dQ = dS K * scale and dK = dS^T Q * scale. A kv head read by
// several query heads gets the sum of what each sends back.
Grads ref_backward(const Case& c, const std::vector<double>& q, const std::vector<double>& k,
                   const std::vector<double>& v, const std::vector<double>& dout) {
  std::vector<double> lse;
  const std::vector<double> P = ref_probs(c, q, k, &lse);
  Grads g{std::vector<double>(q.size(), 0.0), std::vector<double>(k.size(), 0.0),
          std::vector<double>(v.size(), 0.0)};
  const int64_t Tk = c.Tk, D = c.D;
  std::vector<double> dP(static_cast<size_t>(Tk));
  for (int64_t bh = 0; bh < c.B * c.H; ++bh)
    for (int64_t i = 0; i < c.Tq; ++i) {
      const int64_t row = bh * c.Tq + i, kv = c.kv_of(bh / c.H, bh % c.H);
      double rowsum = 0;
      for (int64_t j = 0; j < Tk; ++j) {
        dP[j] = 0;
        for (int64_t d = 0; d < D; ++d) dP[j] += dout[row * D + d] * v[(kv * Tk + j) * D + d];
        rowsum += P[row * Tk + j] * dP[j];
      }
      for (int64_t j = 0; j < Tk; ++j) {
        const double p = P[row * Tk + j], ds = p * (dP[j] - rowsum) * c.scale();
        for (int64_t d = 0; d < D; ++d) {
          g.dv[(kv * Tk + j) * D + d] += p * dout[row * D + d];
          g.dq[row * D + d] += ds * k[(kv * Tk + j) * D + d];
          g.dk[(kv * Tk + j) * D + d] += ds * q[row * D + d];
        }
      }
    }
  return g;
}

// --- running the kernel ------------------------------------------------------------

template <typename T>
struct Inputs {
  std::vector<T> q, k, v;
};

template <typename T>
Inputs<T> make_inputs(const Case& c, uint32_t seed) {
  return {random_vector<T>(c.q_size(), -1, 1, seed), random_vector<T>(c.kv_size(), -1, 1, seed + 1),
          random_vector<T>(c.kv_size(), -1, 1, seed + 2)};
}

template <typename T>
struct Result {
  std::vector<T> out, lse;
};
template <typename T>
struct Gradient {
  std::vector<T> dq, dk, dv;
};

// Outputs start as NaN so that an element the kernel forgets shows up.
template <typename T>
Result<T> run_forward(const Case& c, const Inputs<T>& in) {
  Result<T> r{std::vector<T>(static_cast<size_t>(c.q_size()), T(kNaN)),
              std::vector<T>(static_cast<size_t>(c.B * c.H * c.Tq), T(kNaN))};
  kernels::flash_attention_forward<Device::CPU>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, in.q.data(), in.k.data(), in.v.data(), c.lengths(),
      c.causal, static_cast<T>(c.scale()), r.out.data(), r.lse.data());
  return r;
}

template <typename T>
Gradient<T> run_backward(const Case& c, const Inputs<T>& in, const Result<T>& fwd,
                         const std::vector<T>& dout) {
  Gradient<T> g{std::vector<T>(in.q.size(), T(kNaN)), std::vector<T>(in.k.size(), T(kNaN)),
                std::vector<T>(in.v.size(), T(kNaN))};
  kernels::flash_attention_backward<Device::CPU>(
      c.B, c.H, c.kv_heads(), c.Tq, c.Tk, c.D, in.q.data(), in.k.data(), in.v.data(),
      fwd.out.data(), dout.data(), fwd.lse.data(), c.lengths(), c.causal,
      static_cast<T>(c.scale()), g.dq.data(), g.dk.data(), g.dv.data());
  return g;
}

template <typename T>
class FlashAttentionCpu : public ::testing::Test {};
TYPED_TEST_SUITE(FlashAttentionCpu, FloatTypes);

// --- forward -------------------------------------------------------------------------

TYPED_TEST(FlashAttentionCpu, ForwardMatchesNaiveAttention) {
  using T = TypeParam;
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Inputs<T> in = make_inputs<T>(c, 10);
    const Result<T> got = run_forward(c, in);
    const Forward want = ref_forward(c, to_double(in.q), to_double(in.k), to_double(in.v));
    // The kernel computes in double and rounds once, so float is off by an
    // ulp or so of the output.
    EXPECT_TRUE(all_close(got.out, want.out, Tolerance<T>::value)) << "out";
    EXPECT_TRUE(all_close(got.lse, want.lse, Tolerance<T>::value)) << "lse";
  }
}

TYPED_TEST(FlashAttentionCpu, RowsThatSeeNoKeyGiveZeroAndMinusInf) {
  using T = TypeParam;
  // Causal with Tq = 6 > Tk = 3: rows 0..2 see no key. Batch 1 has no keys.
  const Case c{"", 2, 1, 6, 3, 4, {3, 0}, true};
  const Inputs<T> in = make_inputs<T>(c, 20);
  const Result<T> fwd = run_forward(c, in);
  const Gradient<T> g = run_backward(c, in, fwd, random_vector<T>(c.q_size(), -1, 1, 21));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t i = 0; i < c.Tq; ++i) {
      const int64_t row = b * c.Tq + i;
      const bool sees_none = b == 1 || i < 3;
      if (!sees_none) {
        EXPECT_TRUE(std::isfinite(fwd.lse[row])) << row;
        continue;
      }
      EXPECT_EQ(fwd.lse[row], -std::numeric_limits<T>::infinity()) << row;
      for (int64_t d = 0; d < c.D; ++d) {
        EXPECT_EQ(fwd.out[row * c.D + d], T(0)) << row;
        EXPECT_EQ(g.dq[row * c.D + d], T(0)) << row;
      }
    }
  // Batch 1's keys are seen by nobody.
  for (int64_t e = c.Tk * c.D; e < 2 * c.Tk * c.D; ++e) {
    EXPECT_EQ(g.dk[e], T(0));
    EXPECT_EQ(g.dv[e], T(0));
  }
  for (const std::vector<T>* x : {&g.dq, &g.dk, &g.dv})
    for (T value : *x) EXPECT_FALSE(std::isnan(value));
}

TYPED_TEST(FlashAttentionCpu, HugeScoresDoNotOverflow) {
  using T = TypeParam;
  // Scores up to 30 * 30 * 16 / 4 = 3600: e^3600 overflows any type; the
  // running max keeps every exponent <= 0.
  const Case c{"", 1, 2, 7, 150, 16, {}, false};
  Inputs<T> in = make_inputs<T>(c, 30);
  for (T& x : in.q) x *= T(30);
  for (T& x : in.k) x *= T(30);
  const Result<T> got = run_forward(c, in);
  const Forward want = ref_forward(c, to_double(in.q), to_double(in.k), to_double(in.v));
  EXPECT_TRUE(all_close(got.out, want.out, Tolerance<T>::value));
  EXPECT_TRUE(all_close(got.lse, want.lse, Tolerance<T>::value));
}

TYPED_TEST(FlashAttentionCpu, EmptyShapesDoNothing) {
  using T = TypeParam;
  for (const Case& c : {Case{"B = 0", 0, 2, 3, 3, 4, {}, false},
                        Case{"Tq = 0", 1, 2, 0, 3, 4, {}, true}}) {
    SCOPED_TRACE(describe(c));
    const Inputs<T> in = make_inputs<T>(c, 40);
    const Result<T> fwd = run_forward(c, in);
    const Gradient<T> g = run_backward(c, in, fwd, std::vector<T>(fwd.out.size()));
    EXPECT_TRUE(fwd.out.empty());
    EXPECT_TRUE(g.dq.empty());
    // Tq = 0: no query sees the keys, whose gradients are then 0.
    for (T x : g.dk) EXPECT_EQ(x, T(0));
    for (T x : g.dv) EXPECT_EQ(x, T(0));
  }
}

// --- backward -------------------------------------------------------------------------

TYPED_TEST(FlashAttentionCpu, BackwardMatchesNaiveGradient) {
  using T = TypeParam;
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Inputs<T> in = make_inputs<T>(c, 50);
    const std::vector<T> dout = random_vector<T>(c.q_size(), -1, 1, 53);
    const Gradient<T> got = run_backward(c, in, run_forward(c, in), dout);
    const Grads want =
        ref_backward(c, to_double(in.q), to_double(in.k), to_double(in.v), to_double(dout));
    // Float: the kernel's sums are in double, but it reads out and lse
    // rounded to float (D_i and p_ij carry their rounding): a few ulps.
    EXPECT_TRUE(all_close(got.dq, want.dq, Tolerance<T>::value)) << "dq";
    EXPECT_TRUE(all_close(got.dk, want.dk, Tolerance<T>::value)) << "dk";
    EXPECT_TRUE(all_close(got.dv, want.dv, Tolerance<T>::value)) << "dv";
  }
}

TEST(FlashAttentionCpuChecks, BackwardMatchesFiniteDifferences) {
  // loss = sum(out * w), so dloss/dout = w; each q, k, v element is moved by
  // +-h through the kernel's own forward in double.
  const std::vector<Case> cases = {
      {"plain", 2, 1, 3, 4, 3, {}, false},
      {"padding with a length 0", 3, 1, 2, 3, 2, {3, 0, 2}, false},
      {"causal, Tq > Tk", 1, 2, 4, 3, 2, {}, true},
      {"causal, Tq < Tk, padding", 2, 1, 2, 5, 3, {4, 5}, true},
      {"GQA 4 on 2, causal, padding", 2, 4, 3, 4, 2, {4, 2}, true, 2},
      {"MQA 3 on 1", 1, 3, 2, 3, 2, {}, false, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c));
    const Inputs<double> in = make_inputs<double>(c, 60);
    const std::vector<double> w = random_vector<double>(c.q_size(), -1, 1, 63);
    const Gradient<double> g = run_backward(c, in, run_forward(c, in), w);
    std::vector<double> Inputs<double>::*const parts[] = {&Inputs<double>::q, &Inputs<double>::k,
                                                          &Inputs<double>::v};
    const std::vector<double>* analytic[] = {&g.dq, &g.dk, &g.dv};
    for (int part = 0; part < 3; ++part) {
      SCOPED_TRACE(::testing::Message() << "d" << "qkv"[part]);
      const auto loss = [&](const std::vector<double>& x) {
        Inputs<double> moved = in;
        moved.*parts[part] = x;
        return dot(run_forward(c, moved).out, w);
      };
      const std::vector<double> numeric = numeric_grad(loss, in.*parts[part]);
      EXPECT_TRUE(all_close(*analytic[part], numeric, 1e-7));
    }
  }
}

// --- the masks hide, bit for bit ----------------------------------------------------

TYPED_TEST(FlashAttentionCpu, PaddedKeysDoNotLeak) {
  using T = TypeParam;
  for (const Case& c : {Case{"MHA", 3, 2, 5, 70, 6, {70, 9, 0}, false},
                        Case{"GQA 4 on 2", 3, 4, 5, 70, 6, {70, 9, 0}, false, 2}}) {
    SCOPED_TRACE(describe(c));
    const Inputs<T> in = make_inputs<T>(c, 70);
    const std::vector<T> dout = random_vector<T>(c.q_size(), -1, 1, 71);
    const Result<T> fwd = run_forward(c, in);
    const Gradient<T> g = run_backward(c, in, fwd, dout);
    for (const double junk : {1e30, kNaN, kInf}) {
      SCOPED_TRACE(::testing::Message() << "hidden keys and values set to " << junk);
      Inputs<T> moved = in;
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t kv = 0; kv < c.kv_heads(); ++kv)
          for (int64_t j = c.key_lengths[b]; j < c.Tk; ++j)
            for (int64_t d = 0; d < c.D; ++d) {
              moved.k[((b * c.kv_heads() + kv) * c.Tk + j) * c.D + d] = static_cast<T>(junk);
              moved.v[((b * c.kv_heads() + kv) * c.Tk + j) * c.D + d] = static_cast<T>(junk);
            }
      const Result<T> fwd2 = run_forward(c, moved);
      EXPECT_TRUE(bit_equal(fwd.out, fwd2.out));
      EXPECT_TRUE(bit_equal(fwd.lse, fwd2.lse));
      const Gradient<T> g2 = run_backward(c, moved, fwd2, dout);
      EXPECT_TRUE(bit_equal(g.dq, g2.dq));
      EXPECT_TRUE(bit_equal(g.dk, g2.dk));  // hidden keys get exactly 0 either way
      EXPECT_TRUE(bit_equal(g.dv, g2.dv));
    }
  }
}

TYPED_TEST(FlashAttentionCpu, CausalFutureDoesNotLeak) {
  using T = TypeParam;
  for (const Case& c : {Case{"Tq < Tk", 1, 2, 6, 9, 4, {}, true},
                        Case{"Tq > Tk", 1, 2, 9, 6, 4, {}, true},
                        Case{"MQA, Tq < Tk", 1, 3, 6, 9, 4, {}, true, 1}}) {
    SCOPED_TRACE(describe(c));
    const Inputs<T> in = make_inputs<T>(c, 80);
    const Result<T> fwd = run_forward(c, in);
    for (int64_t j = 0; j < c.Tk; ++j) {
      // Key j and value j of every kv head, replaced by NaN: rows that do not
      // see j must not change by a bit; rows that do see it become NaN.
      Inputs<T> moved = in;
      for (int64_t bh = 0; bh < c.B * c.kv_heads(); ++bh)
        for (int64_t d = 0; d < c.D; ++d) {
          moved.k[(bh * c.Tk + j) * c.D + d] = T(kNaN);
          moved.v[(bh * c.Tk + j) * c.D + d] = T(kNaN);
        }
      const Result<T> fwd2 = run_forward(c, moved);
      for (int64_t bh = 0; bh < c.B * c.H; ++bh)
        for (int64_t i = 0; i < c.Tq; ++i) {
          const int64_t row = bh * c.Tq + i;
          if (c.visible(0, i, j)) {
            EXPECT_TRUE(std::isnan(fwd2.out[row * c.D])) << "key " << j << " row " << i;
            continue;
          }
          EXPECT_TRUE(bit_equal(std::vector<T>{fwd.lse[row]}, std::vector<T>{fwd2.lse[row]}))
              << "key " << j << " row " << i;
          const std::vector<T> a(fwd.out.begin() + row * c.D, fwd.out.begin() + (row + 1) * c.D);
          const std::vector<T> b(fwd2.out.begin() + row * c.D, fwd2.out.begin() + (row + 1) * c.D);
          EXPECT_TRUE(bit_equal(a, b)) << "key " << j << " row " << i;
        }
    }
  }
}

// --- determinism ------------------------------------------------------------------------

TYPED_TEST(FlashAttentionCpu, ThreadCountDoesNotChangeResults) {
  using T = TypeParam;
  // Large enough for parallel_for to split the 16 heads (8 kv heads) over threads.
  for (const Case& c : {Case{"MHA", 4, 4, 96, 128, 32, {128, 100, 1, 64}, true},
                        Case{"GQA 4 on 2", 4, 4, 96, 128, 32, {128, 100, 1, 64}, true, 2}}) {
    SCOPED_TRACE(describe(c));
    const Inputs<T> in = make_inputs<T>(c, 90);
    const std::vector<T> dout = random_vector<T>(c.q_size(), -1, 1, 91);
    Result<T> fwd1, fwd2;
    Gradient<T> g1, g2;
    with_threads(1, [&] {
      fwd1 = run_forward(c, in);
      g1 = run_backward(c, in, fwd1, dout);
    });
    with_threads(2, [&] {
      fwd2 = run_forward(c, in);
      g2 = run_backward(c, in, fwd2, dout);
    });
    EXPECT_TRUE(bit_equal(fwd1.out, fwd2.out));
    EXPECT_TRUE(bit_equal(fwd1.lse, fwd2.lse));
    EXPECT_TRUE(bit_equal(g1.dq, g2.dq));
    EXPECT_TRUE(bit_equal(g1.dk, g2.dk));
    EXPECT_TRUE(bit_equal(g1.dv, g2.dv));
  }
}

}  // namespace
}  // namespace attn_test
