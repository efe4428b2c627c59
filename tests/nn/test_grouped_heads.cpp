// Grouped heads without the expand (MQA, GQA; nn/scaled_dot_product_attention.h,
// "grouped heads"): q has H heads, k and v have Hkv dividing H, and every path
// of attention reads kv head h / (H / Hkv) for query head h where it lies.
// The reference is the teaching version: repeat each kv head H / Hkv times
// (nn::expand_kv_heads), then the composed attention of section 3.2.1 on H
// heads (the dense-mask overload), whose expand's backward sums each group's
// gradients. For H / Hkv in {1, 2, H}:
//   - the composed path with the mask as numbers (masked_softmax), with a
//     dense mask, the fused training kernel (flash_attention) and the
//     inference kernel (grouped_attention) all equal the reference: output,
//     weights where there are any, and the gradients of q, k and v, under
//     padding + causal masks, no mask, and a cached step (Tq < Tk);
//   - no path builds an H-wide copy: no ExpandBackward in its graph;
//   - gradcheck in float64 of the composed and fused grouped paths;
//   - grouped_scores, grouped_weighted_sum and expand_kv_heads name the
//     shapes they refuse.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <set>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/gradcheck_cases.h"
#include "golden_fixture.h"
#include "nn/multihead_attention.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"

namespace {

using attn::Tensor;
using attn_test::error_of;
using attn_test::lengths_of;
using attn_test::max_diff;
namespace nn = attn::nn;

constexpr int64_t kHeads = 4;

Tensor leaf(const attn::Shape& shape, attn::Generator& g) {
  return attn::randn(shape, attn::kFloat64, &g).requires_grad_(true);
}

// The paths under test; each is one way scaled_dot_product_attention(q, k, v,
// AttentionMask, AttentionOptions) is taken.
enum class Path { kComposedNumbers, kComposedDense, kFused };

const char* name_of(Path path) {
  switch (path) {
    case Path::kComposedNumbers: return "composed, mask as numbers";
    case Path::kComposedDense: return "composed, dense mask";
    case Path::kFused: return "fused (flash_attention)";
  }
  return "?";
}

struct Outcome {
  Tensor output, weights, dq, dk, dv;
  std::set<std::string> nodes;
};

// Runs one path (grouped) or the reference (expanded) with upstream gradient
// w and collects what the comparison needs.
Outcome run(Path path, bool expanded, const Tensor& q, const Tensor& k, const Tensor& v,
            const nn::AttentionMask& numbers, const Tensor& w) {
  for (const Tensor* t : {&q, &k, &v}) t->zero_grad();
  nn::AttentionResult r;
  if (expanded) {
    // The teaching reference: H-wide copies, then section 3.2.1 composed.
    Tensor dense = numbers.to_dense(q.size(2), k.size(2), attn::kCPU);
    r = nn::scaled_dot_product_attention(q, nn::expand_kv_heads(k, q.size(1)),
                                         nn::expand_kv_heads(v, q.size(1)), dense);
  } else if (path == Path::kComposedNumbers) {
    r = nn::scaled_dot_product_attention(q, k, v, numbers, nn::AttentionOptions());
  } else if (path == Path::kComposedDense) {
    r = nn::scaled_dot_product_attention(
        q, k, v, nn::AttentionMask(numbers.to_dense(q.size(2), k.size(2), attn::kCPU)),
        nn::AttentionOptions());
  } else {
    r = nn::scaled_dot_product_attention(q, k, v, numbers,
                                         nn::AttentionOptions().set_need_weights(false));
  }
  Outcome o;
  o.nodes = attn::graph_node_names(r.output);
  (r.output * w).sum().backward();
  o.output = r.output.detach();
  o.weights = r.weights.defined() ? r.weights.detach() : Tensor();
  o.dq = q.grad();
  o.dk = k.grad();
  o.dv = v.grad();
  return o;
}

struct MaskCase {
  std::string name;
  int64_t Tq, Tk;
  std::vector<int64_t> lengths;  // empty: no padding
  bool causal;
};

const std::vector<MaskCase> kMasks = {
    {"padding and causal", 5, 5, {5, 3, 1}, true},
    {"no mask", 3, 4, {}, false},
    {"a cached step block (Tq < Tk), causal and padding", 2, 6, {6, 4, 2}, true},
    {"cross-attention padding", 3, 6, {6, 2, 4}, false},
};

nn::AttentionMask mask_of(const MaskCase& m) {
  if (!m.lengths.empty()) return nn::AttentionMask::from_lengths(lengths_of(m.lengths), m.causal);
  return m.causal ? nn::AttentionMask::causal_only() : nn::AttentionMask();
}

TEST(GroupedHeads, EveryPathEqualsTheExpandedReferenceForwardAndBackward) {
  const int64_t B = 3, D = 6;
  for (int64_t kv_heads : {kHeads, kHeads / 2, int64_t{1}}) {  // H / Hkv = 1, 2, H
    for (const MaskCase& m : kMasks) {
      attn::Generator g(11);
      Tensor q = leaf({B, kHeads, m.Tq, D}, g);
      Tensor k = leaf({B, kv_heads, m.Tk, D}, g), v = leaf({B, kv_heads, m.Tk, D}, g);
      Tensor w = attn::randn({B, kHeads, m.Tq, D}, attn::kFloat64, &g);
      const nn::AttentionMask numbers = mask_of(m);
      const Outcome want = run(Path::kComposedNumbers, /*expanded=*/true, q, k, v, numbers, w);
      ASSERT_EQ(want.dk.shape(), k.shape());  // expand's backward summed each group
      for (Path path : {Path::kComposedNumbers, Path::kComposedDense, Path::kFused}) {
        const std::string where = std::string(name_of(path)) + ", Hkv " +
                                  std::to_string(kv_heads) + ", " + m.name;
        const Outcome got = run(path, /*expanded=*/false, q, k, v, numbers, w);
        EXPECT_EQ(got.nodes.count("ExpandBackward"), 0u) << where << ": an H-wide copy was made";
        EXPECT_EQ(got.nodes.count("FlashAttentionBackward"), path == Path::kFused ? 1u : 0u)
            << where;
        EXPECT_LT(max_diff(got.output, want.output), 1e-12) << where << " output";
        if (path != Path::kFused) {
          EXPECT_LT(max_diff(got.weights, want.weights), 1e-12) << where << " weights";
        }
        EXPECT_LT(max_diff(got.dq, want.dq), 1e-11) << where << " dq";
        EXPECT_LT(max_diff(got.dk, want.dk), 1e-11) << where << " dk";
        EXPECT_LT(max_diff(got.dv, want.dv), 1e-11) << where << " dv";
      }
      // Inference (no graph): attn::grouped_attention, the same numbers.
      attn::NoGradGuard no_grad;
      nn::AttentionResult infer = nn::scaled_dot_product_attention(
          q.detach(), k.detach(), v.detach(), numbers,
          nn::AttentionOptions().set_need_weights(false));
      EXPECT_LT(max_diff(infer.output, want.output), 1e-12)
          << "inference, Hkv " << kv_heads << ", " << m.name;
    }
  }
}

TEST(GroupedHeads, MultiheadAttentionNeverRepeatsItsKvHeads) {
  // Training graph of a GQA and an MQA layer, with and without weights.
  attn::Generator g(3);
  for (int64_t kv_heads : {int64_t{2}, int64_t{1}}) {
    nn::MultiheadAttention m(nn::MultiheadAttentionOptions(8, kHeads).set_num_kv_heads(kv_heads));
    m.to(attn::kFloat64);
    Tensor x = leaf({2, 5, 8}, g);
    const nn::AttentionMask mask = nn::AttentionMask::from_lengths(lengths_of({5, 3}), true);
    for (bool need_weights : {true, false}) {
      nn::MultiheadAttentionOutput r = m.forward(x, x, x, mask, need_weights);
      const std::set<std::string> nodes = attn::graph_node_names(r.output);
      EXPECT_EQ(nodes.count("ExpandBackward"), 0u) << "Hkv " << kv_heads;
      // The reference: the same layer on kv heads repeated by expand_kv_heads.
      Tensor q = m.q_proj->forward(x).reshape({2, 5, kHeads, 2}).transpose(1, 2);
      Tensor keys = nn::expand_kv_heads(m.project_keys(x), kHeads);
      Tensor values = nn::expand_kv_heads(m.project_values(x), kHeads);
      Tensor dense = mask.to_dense(5, 5, attn::kCPU);
      Tensor heads = nn::scaled_dot_product_attention(q, keys, values, dense).output;
      Tensor want = m.out_proj->forward(heads.transpose(1, 2).reshape({2, 5, 8}));
      EXPECT_LT(max_diff(r.output, want), 1e-12) << "Hkv " << kv_heads;
    }
  }
}

TEST(GroupedHeads, GradcheckOfTheComposedAndFusedGroupedPaths) {
  attn::Generator g(21);
  const nn::AttentionMask mask = nn::AttentionMask::from_lengths(lengths_of({4, 2}), true);
  for (int64_t kv_heads : {int64_t{2}, int64_t{1}}) {
    Tensor q = leaf({2, kHeads, 4, 3}, g);
    Tensor k = leaf({2, kv_heads, 4, 3}, g), v = leaf({2, kv_heads, 4, 3}, g);
    for (bool fused : {false, true}) {
      attn::GradcheckResult result = attn::gradcheck(
          [&](const std::vector<Tensor>& x) {
            return nn::scaled_dot_product_attention(
                       x[0], x[1], x[2], mask,
                       nn::AttentionOptions().set_need_weights(!fused))
                .output;
          },
          {q, k, v});
      EXPECT_TRUE(result.passed) << "Hkv " << kv_heads << (fused ? " fused: " : " composed: ")
                                 << result.message;
    }
  }
}

TEST(GroupedHeads, ShapesTheyRefuseAreNamed) {
  attn::Generator g(1);
  Tensor q = leaf({2, 4, 3, 8}, g), k3 = leaf({2, 3, 5, 8}, g);
  std::string e = error_of([&] { nn::grouped_scores(q, k3); });
  EXPECT_NE(e.find("grouped_scores"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 3, 5, 8]"), std::string::npos) << e;
  e = error_of([&] { nn::grouped_weighted_sum(leaf({2, 4, 3, 5}, g), k3); });
  EXPECT_NE(e.find("grouped_weighted_sum"), std::string::npos) << e;
  e = error_of([&] { nn::expand_kv_heads(k3, 4); });
  EXPECT_NE(e.find("expand_kv_heads"), std::string::npos) << e;
  EXPECT_NE(e.find("num_heads = 4"), std::string::npos) << e;
  e = error_of([&] { attn::flash_attention(q, k3, k3); });
  EXPECT_NE(e.find("Hkv dividing H"), std::string::npos) << e;
  // expand_kv_heads: [k0, k0, k1, k1] for 4 heads over 2.
  Tensor kv = attn::arange(2 * 2 * 1 * 1).to(attn::kFloat64).reshape({2, 2, 1, 1});
  EXPECT_EQ(attn_test::values_of(nn::expand_kv_heads(kv, 4)),
            (std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3}));
}

}  // namespace
