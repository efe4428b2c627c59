// Tests for the grouped inference attention kernel on the CPU
// (kernels::grouped_attention_forward, kernels/cpu/flash_attention.cpp),
// float and double.
//
// The reference is attention written the naive way in double, with query
// head h reading kv head h / (H / Hkv), on the logical (B, heads, T, D)
// tensors. The kernel reads them through strides laid out as decoding lays
// them out: queries and outputs (B, Tq, H, D) (the projection before its
// transpose), keys and values in a cache with room for more positions than
// it holds (B, Hkv, capacity, D). Everything the kernel must not read (the
// spare positions and the padded keys) is NaN, so a stray read shows up.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"
#include "kernels/flash_attention.h"
#include "kernels/cpu/attend_rows.h"

namespace attn_test {
namespace {

namespace kernels = attn::kernels;
using attn::Device;

struct GroupedCase {
  std::string name;
  int64_t B, H, Hkv, Tq, Tk, D;
  std::vector<int64_t> key_lengths;  // empty: no padding mask
  bool causal;

  int64_t capacity() const { return Tk + 5; }  // spare positions in the cache
  const int64_t* lengths() const { return key_lengths.empty() ? nullptr : key_lengths.data(); }
  double scale() const { return D > 0 ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0; }
  bool visible(int64_t b, int64_t i, int64_t j) const {
    if (!key_lengths.empty() && j >= key_lengths[b]) return false;
    return !causal || j <= i + (Tk - Tq);
  }
  // Strides: q and out (B, Tq, H, D), k and v (B, Hkv, capacity, D).
  kernels::AttentionStrides q_strides() const { return {Tq * H * D, D, H * D}; }
  kernels::AttentionStrides kv_strides() const { return {Hkv * capacity() * D, capacity() * D, D}; }
  int64_t q_at(int64_t b, int64_t h, int64_t i) const { return b * Tq * H * D + i * H * D + h * D; }
  int64_t kv_at(int64_t b, int64_t g, int64_t j) const {
    return (b * Hkv + g) * capacity() * D + j * D;
  }
};

::testing::Message describe(const GroupedCase& c) {
  return ::testing::Message() << c.name << ": B " << c.B << " H " << c.H << " Hkv " << c.Hkv
                              << " Tq " << c.Tq << " Tk " << c.Tk << " D " << c.D;
}

const std::vector<GroupedCase> kGroupedCases = {
    {"MHA decode step", 2, 4, 4, 1, 37, 16, {}, true},
    {"GQA decode step with padding and an empty source", 3, 6, 2, 1, 50, 8, {50, 13, 0}, false},
    {"MQA, causal, Tq = Tk", 2, 4, 1, 7, 7, 5, {7, 3}, true},
    {"causal, Tq > Tk: early rows see no key", 1, 2, 1, 6, 3, 4, {}, true},
    {"D = 100 (not a multiple of 8), 130 keys", 1, 2, 2, 3, 130, 100, {}, false},
    {"D = 1", 1, 3, 1, 2, 4, 1, {}, false},
    {"no keys at all", 1, 2, 1, 3, 0, 4, {}, false},
};

template <typename T>
struct GroupedInputs {
  std::vector<T> q, k, v;
};

// q (B, Tq, H, D) random; the cache NaN except the keys some row may see.
template <typename T>
GroupedInputs<T> make_grouped_inputs(const GroupedCase& c, uint32_t seed) {
  GroupedInputs<T> in;
  in.q = random_vector<T>(c.B * c.Tq * c.H * c.D, -1, 1, seed);
  const int64_t cache = c.B * c.Hkv * c.capacity() * c.D;
  const std::vector<T> k = random_vector<T>(cache, -1, 1, seed + 1);
  const std::vector<T> v = random_vector<T>(cache, -1, 1, seed + 2);
  in.k.assign(static_cast<size_t>(cache), T(kNaN));
  in.v.assign(static_cast<size_t>(cache), T(kNaN));
  for (int64_t b = 0; b < c.B; ++b) {
    const int64_t real = c.key_lengths.empty() ? c.Tk : c.key_lengths[b];
    for (int64_t g = 0; g < c.Hkv; ++g)
      for (int64_t j = 0; j < real; ++j)
        for (int64_t d = 0; d < c.D; ++d) {
          in.k[c.kv_at(b, g, j) + d] = k[c.kv_at(b, g, j) + d];
          in.v[c.kv_at(b, g, j) + d] = v[c.kv_at(b, g, j) + d];
        }
  }
  return in;
}

// out (B, Tq, H, D) in double, the naive way.
template <typename T>
std::vector<double> grouped_reference(const GroupedCase& c, const GroupedInputs<T>& in) {
  std::vector<double> out(in.q.size(), 0.0), s(static_cast<size_t>(c.Tk));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Tq; ++i) {
        const int64_t g = h / (c.H / c.Hkv);
        double m = -kInf;
        for (int64_t j = 0; j < c.Tk; ++j) {
          if (!c.visible(b, i, j)) continue;
          s[j] = 0;
          for (int64_t d = 0; d < c.D; ++d)
            s[j] += double(in.q[c.q_at(b, h, i) + d]) * double(in.k[c.kv_at(b, g, j) + d]);
          s[j] *= c.scale();
          m = std::max(m, s[j]);
        }
        if (m == -kInf) continue;  // sees no key: 0
        double z = 0;
        for (int64_t j = 0; j < c.Tk; ++j) z += c.visible(b, i, j) ? std::exp(s[j] - m) : 0.0;
        for (int64_t j = 0; j < c.Tk; ++j) {
          if (!c.visible(b, i, j)) continue;
          const double p = std::exp(s[j] - m) / z;
          for (int64_t d = 0; d < c.D; ++d)
            out[c.q_at(b, h, i) + d] += p * double(in.v[c.kv_at(b, g, j) + d]);
        }
      }
  return out;
}

template <typename T>
std::vector<T> run_grouped(const GroupedCase& c, const GroupedInputs<T>& in) {
  std::vector<T> out(in.q.size(), T(kNaN));  // an element the kernel forgets stays NaN
  kernels::grouped_attention_forward<Device::CPU>(
      c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, in.q.data(), c.q_strides(), in.k.data(), c.kv_strides(),
      in.v.data(), c.kv_strides(), c.lengths(), c.causal, static_cast<T>(c.scale()), out.data(),
      c.q_strides());
  return out;
}

template <typename T>
class GroupedAttentionCpu : public ::testing::Test {};
TYPED_TEST_SUITE(GroupedAttentionCpu, FloatTypes);

TYPED_TEST(GroupedAttentionCpu, MatchesNaiveAttentionAndReadsNothingHidden) {
  using T = TypeParam;
  for (const GroupedCase& c : kGroupedCases) {
    SCOPED_TRACE(describe(c));
    const GroupedInputs<T> in = make_grouped_inputs<T>(c, 7);
    const std::vector<T> got = run_grouped(c, in);
    for (T x : got) ASSERT_FALSE(std::isnan(x)) << "a NaN: a hidden key was read or a row forgotten";
    // The sums are in T: float is off by a few ulps of the output.
    EXPECT_TRUE(all_close(got, grouped_reference(c, in), Tolerance<T>::value));
  }
}

TYPED_TEST(GroupedAttentionCpu, EqualsTheKernelOfRepeatedKvHeads) {
  using T = TypeParam;
  // GQA with Hkv = 2 against the same cache with each kv head repeated for
  // its query heads (what the training path does): the same numbers.
  GroupedCase grouped{"", 2, 6, 2, 1, 20, 8, {20, 9}, true};
  GroupedCase repeated = grouped;
  repeated.Hkv = 6;
  const GroupedInputs<T> in = make_grouped_inputs<T>(grouped, 11);
  GroupedInputs<T> wide{in.q, {}, {}};
  const int64_t cache = repeated.B * repeated.Hkv * repeated.capacity() * repeated.D;
  wide.k.resize(static_cast<size_t>(cache));
  wide.v.resize(static_cast<size_t>(cache));
  for (int64_t b = 0; b < grouped.B; ++b)
    for (int64_t h = 0; h < grouped.H; ++h)
      for (int64_t e = 0; e < grouped.capacity() * grouped.D; ++e) {
        wide.k[repeated.kv_at(b, h, 0) + e] = in.k[grouped.kv_at(b, h / 3, 0) + e];
        wide.v[repeated.kv_at(b, h, 0) + e] = in.v[grouped.kv_at(b, h / 3, 0) + e];
      }
  EXPECT_TRUE(bit_equal(run_grouped(grouped, in), run_grouped(repeated, wide)));
}

TYPED_TEST(GroupedAttentionCpu, ThreadCountDoesNotChangeResults) {
  using T = TypeParam;
  // Large enough for parallel_for to split the (batch, kv head) tasks.
  const GroupedCase c{"", 16, 8, 2, 1, 100, 32, {}, true};
  const GroupedInputs<T> in = make_grouped_inputs<T>(c, 13);
  std::vector<T> one, two;
  with_threads(1, [&] { one = run_grouped(c, in); });
  with_threads(2, [&] { two = run_grouped(c, in); });
  EXPECT_TRUE(bit_equal(one, two));
}


// kernels/cpu/attend_rows.h, which grouped_attention and paged_attention share:
// handing the keys over in runs (a paged cache's blocks) must give the bits of
// one run, and the float versions (AVX2 + FMA where the CPU has them) must
// agree with double. D and the key count are chosen to leave remainders after
// the eight-key groups and the 8- and 32-number chunks.
TEST(AttendRows, RunsGiveTheBitsOfOneRunAndFloatAgreesWithDouble) {
  namespace cpu = attn::kernels::cpu;
  for (int64_t D : {1, 5, 8, 32, 37, 64, 100}) {
    for (int64_t n : {1, 7, 8, 45}) {
      SCOPED_TRACE("D = " + std::to_string(D) + ", " + std::to_string(n) + " keys");
      const int64_t stride = D + 3;  // rows of D with a gap, as in a cache with more heads
      std::vector<float> q(D), k(n * stride), v(n * stride);
      for (int64_t i = 0; i < D; ++i) q[i] = std::sin(0.7 * i + 0.1);
      for (int64_t i = 0; i < n * stride; ++i) {
        k[i] = std::cos(0.31 * i);
        v[i] = std::sin(0.17 * i + 1.0);
      }
      const float scale = 1.0f / std::sqrt(static_cast<float>(D));
      // One run, then runs of 3 keys (and what is left).
      std::vector<float> whole(n), split(n);
      cpu::score_keys(q.data(), k.data(), stride, n, D, scale, whole.data());
      for (int64_t j0 = 0; j0 < n; j0 += 3) {
        cpu::score_keys(q.data(), k.data() + j0 * stride, stride, std::min<int64_t>(3, n - j0), D,
                        scale, split.data() + j0);
      }
      EXPECT_TRUE(bit_equal(whole, split));
      // The same scores in double.
      std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()), sd(n);
      cpu::score_keys(qd.data(), kd.data(), stride, n, D, double(scale), sd.data());
      for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(whole[j], sd[j], 1e-5 * (1 + std::fabs(sd[j])));

      const float sum = cpu::exp_shifted(whole.data(), n);
      std::vector<float> acc_whole(D, 0.5f), acc_split(D, 0.5f);
      cpu::add_weighted_values(whole.data(), v.data(), stride, n, D, acc_whole.data());
      for (int64_t j0 = 0; j0 < n; j0 += 3) {
        cpu::add_weighted_values(whole.data() + j0, v.data() + j0 * stride, stride,
                                 std::min<int64_t>(3, n - j0), D, acc_split.data());
      }
      EXPECT_TRUE(bit_equal(acc_whole, acc_split));
      std::vector<double> pd(whole.begin(), whole.end()), vd(v.begin(), v.end()), acc_d(D, 0.5);
      cpu::add_weighted_values(pd.data(), vd.data(), stride, n, D, acc_d.data());
      for (int64_t d = 0; d < D; ++d) EXPECT_NEAR(acc_whole[d], acc_d[d], 1e-5 * (1 + n));
      EXPECT_GT(sum, 0.99f);  // the largest score contributes e^0 = 1
    }
  }
}

}  // namespace
}  // namespace attn_test
