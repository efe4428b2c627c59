// The fused path of attention against the composed reference
// (nn/scaled_dot_product_attention.h, the overload that takes an
// AttentionMask and AttentionOptions):
//   - fused_attention_applies: fused only without weights, without a dense
//     mask, without dropout in training, with kv heads dividing the heads;
//   - scaled_dot_product_attention, fused against composed, forward and the
//     gradients of q, k, v: no mask, padding, causal, both, causal with
//     Tq < Tk (a cached step, Tq = 1, and a block of Tq = 3), in float32
//     and float64, and the fused path really ran (FlashAttentionBackward);
//   - MultiheadAttention with GQA and MQA: need_weights = false (fused)
//     against need_weights = true (composed), forward and gradients, and no
//     path repeats the kv heads (no ExpandBackward in the graph);
//   - mask leak tests on the fused path: padded keys and values, and future
//     keys and values, change nothing, bit for bit;
//   - a whole Transformer with fused_attention on against off (same
//     initialisation): logits and every parameter's gradient, MHA and GQA,
//     float32 and float64; cached decoding without weights equals forward().
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "autograd/gradcheck_cases.h"

#include "golden_fixture.h"
#include "nn/multihead_attention.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn/transformer.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"

namespace {

using attn::Tensor;
using attn_test::lengths_of;
using Batch = attn_test::TransformerBatch;
using attn_test::max_diff;
using attn_test::values_of;
namespace nn = attn::nn;

const char* kFusedNode = "FlashAttentionBackward";

double tolerance_of(attn::DType dtype) { return dtype == attn::kFloat64 ? 1e-12 : 2e-5; }

Tensor random(const attn::Shape& shape, attn::DType dtype, attn::Generator& g) {
  return attn::randn(shape, dtype, &g).requires_grad_(true);
}

nn::AttentionOptions without_weights() { return nn::AttentionOptions().set_need_weights(false); }

TEST(FusedAttention, AppliesOnlyWhereTheKernelCanDoTheWork) {
  attn::Generator g(1);
  Tensor q = random({2, 4, 3, 8}, attn::kFloat32, g), k = random({2, 4, 5, 8}, attn::kFloat32, g);
  Tensor lengths = lengths_of({5, 2});
  const nn::AttentionMask padding = nn::AttentionMask::from_lengths(lengths, true);
  EXPECT_TRUE(nn::fused_attention_applies(q, k, k, padding, without_weights()));
  EXPECT_TRUE(nn::fused_attention_applies(q, k, k, nn::AttentionMask(), without_weights()));
  // The weights are asked for (the default): composed.
  EXPECT_FALSE(nn::fused_attention_applies(q, k, k, padding, nn::AttentionOptions()));
  // A dense mask tensor: composed, whatever it holds.
  EXPECT_FALSE(nn::fused_attention_applies(q, k, k, nn::AttentionMask(nn::padding_mask(lengths, 5)),
                                           without_weights()));
  // Dropout in training: composed; dropout outside training: fused.
  EXPECT_FALSE(nn::fused_attention_applies(q, k, k, padding,
                                           without_weights().set_dropout(0.1).set_training(true)));
  EXPECT_TRUE(nn::fused_attention_applies(q, k, k, padding,
                                          without_weights().set_dropout(0.1).set_training(false)));
  // Forced off.
  EXPECT_FALSE(nn::fused_attention_applies(q, k, k, padding, without_weights().set_fused(false)));
  // Fewer kv heads than heads, dividing them (GQA): fused, each kv head
  // serving its group; 3 kv heads for 4 heads do not divide: composed.
  Tensor k2 = random({2, 2, 5, 8}, attn::kFloat32, g);
  EXPECT_TRUE(nn::fused_attention_applies(q, k2, k2, padding, without_weights()));
  Tensor k3heads = random({2, 3, 5, 8}, attn::kFloat32, g);
  EXPECT_FALSE(nn::fused_attention_applies(q, k3heads, k3heads, padding, without_weights()));
  // Dv != Dk, 3-D inputs: composed.
  Tensor v6 = random({2, 4, 5, 6}, attn::kFloat32, g);
  EXPECT_FALSE(nn::fused_attention_applies(q, k, v6, padding, without_weights()));
  Tensor q3 = random({4, 3, 8}, attn::kFloat32, g), k3 = random({4, 5, 8}, attn::kFloat32, g);
  EXPECT_FALSE(nn::fused_attention_applies(q3, k3, k3, nn::AttentionMask(), without_weights()));
}

TEST(FusedAttention, ToDenseIsTheMaskOfTheComposedPath) {
  // Tq = 2 queries at the end of Tk = 4 positions, batch lengths 3 and 4.
  nn::AttentionMask mask = nn::AttentionMask::from_lengths(lengths_of({3, 4}), true);
  Tensor dense = mask.to_dense(2, 4, attn::kCPU);
  ASSERT_EQ(dense.shape(), attn::Shape({2, 1, 2, 4}));
  EXPECT_EQ(dense.contiguous().to_vector<int64_t>(),
            (std::vector<int64_t>{1, 1, 1, 0,  1, 1, 1, 0,     // batch 0: j < 3, and j <= i + 2
                                  1, 1, 1, 0,  1, 1, 1, 1}));  // batch 1: j <= i + 2
  EXPECT_EQ(values_of(nn::AttentionMask::causal_only().to_dense(3, 3, attn::kCPU)),
            values_of(nn::causal_mask(3)));
  EXPECT_FALSE(nn::AttentionMask().to_dense(3, 3, attn::kCPU).defined());
}

// One case: the composed and the fused outputs and the gradients of q, k, v.
void expect_fused_equals_composed(attn::DType dtype, int64_t Tq, int64_t Tk, bool padded,
                                  bool causal) {
  const std::string where = std::string(attn::dtype_name(dtype)) + " Tq=" + std::to_string(Tq) +
                            " Tk=" + std::to_string(Tk) + (padded ? " padded" : "") +
                            (causal ? " causal" : "");
  attn::Generator g(7);
  const int64_t B = 3, H = 2, D = 8;
  Tensor q = random({B, H, Tq, D}, dtype, g), k = random({B, H, Tk, D}, dtype, g);
  Tensor v = random({B, H, Tk, D}, dtype, g);
  nn::AttentionMask mask;
  if (padded) mask = nn::AttentionMask::from_lengths(lengths_of({Tk, Tk - 2, 1}), causal);
  else if (causal) mask = nn::AttentionMask::causal_only();

  Tensor outputs[2];
  std::vector<Tensor> grads[2];
  Tensor w = attn::randn({B, H, Tq, D}, dtype, &g);  // a random upstream gradient
  for (int path = 0; path < 2; ++path) {
    for (Tensor* t : {&q, &k, &v}) t->zero_grad();
    nn::AttentionResult r = nn::scaled_dot_product_attention(
        q, k, v, mask, without_weights().set_fused(path == 1));
    if (path == 1) {
      EXPECT_EQ(r.output.grad_fn_name(), kFusedNode) << where;
      EXPECT_FALSE(r.weights.defined()) << where;
    } else {
      EXPECT_NE(r.output.grad_fn_name(), kFusedNode) << where;
      EXPECT_TRUE(r.weights.defined()) << where;
    }
    (r.output * w).sum().backward();
    outputs[path] = r.output.detach();
    for (Tensor* t : {&q, &k, &v}) grads[path].push_back(t->grad());
  }
  const double tol = tolerance_of(dtype);
  EXPECT_LT(max_diff(outputs[1], outputs[0]), tol) << where;
  const char* names[] = {"dq", "dk", "dv"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LT(max_diff(grads[1][i], grads[0][i]), 10 * tol) << where << " " << names[i];
  }
}

TEST(FusedAttention, MatchesComposedForwardAndBackward) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (bool padded : {false, true}) {
      for (bool causal : {false, true}) {
        expect_fused_equals_composed(dtype, 6, 6, padded, causal);  // training shapes
        expect_fused_equals_composed(dtype, 1, 6, padded, causal);  // a cached step
        expect_fused_equals_composed(dtype, 3, 6, padded, causal);  // queries at the end
      }
    }
  }
}

// MultiheadAttention: the same module with need_weights = true (composed) and
// false (fused); GQA and MQA read their kv heads in place on both paths.
TEST(FusedAttention, MultiheadAttentionWithAndWithoutWeights) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (int64_t kv_heads : {4, 2, 1}) {
      const std::string where =
          std::string(attn::dtype_name(dtype)) + " kv_heads=" + std::to_string(kv_heads);
      attn::manual_seed(3);
      nn::MultiheadAttention m(nn::MultiheadAttentionOptions(16, 4).set_num_kv_heads(kv_heads));
      m.to(dtype);
      attn::Generator g(5);
      Tensor query = random({3, 4, 16}, dtype, g), memory = random({3, 6, 16}, dtype, g);
      const nn::AttentionMask masks[] = {nn::AttentionMask::from_lengths(lengths_of({6, 3, 1})),
                                         nn::AttentionMask::from_lengths(lengths_of({4, 2, 3}), true)};
      for (int which = 0; which < 2; ++which) {
        const Tensor& keys = which == 0 ? memory : query;  // cross, then causal self-attention
        Tensor outputs[2];
        std::map<std::string, Tensor> grads[2];
        for (int fused = 0; fused < 2; ++fused) {
          m.zero_grad();
          query.zero_grad();
          nn::MultiheadAttentionOutput r =
              m.forward(query, keys, keys, masks[which], /*need_weights=*/fused == 0);
          EXPECT_EQ(r.weights.defined(), fused == 0) << where;
          // Neither path repeats the kv heads: nothing was expanded, and
          // the fused one really ran the kernel.
          const std::set<std::string> nodes = attn::graph_node_names(r.output);
          EXPECT_EQ(nodes.count("ExpandBackward"), 0u) << where;
          EXPECT_EQ(nodes.count(kFusedNode), fused == 1 ? 1u : 0u) << where;
          r.output.pow(2.0).sum().backward();
          outputs[fused] = r.output.detach();
          for (const auto& [name, p] : m.named_parameters()) grads[fused][name] = p.grad();
          grads[fused]["query"] = query.grad();
        }
        EXPECT_LT(max_diff(outputs[1], outputs[0]), tolerance_of(dtype)) << where;
        for (const auto& [name, grad] : grads[0]) {
          EXPECT_LT(max_diff(grads[1][name], grad), 100 * tolerance_of(dtype))
              << where << " mask " << which << " " << name;
        }
      }
    }
  }
}

// Leak tests on the fused path, bit for bit: the kernel never reads a
// hidden key, so changing hidden keys and values changes nothing at all.
TEST(FusedAttention, HiddenKeysChangeNothingOnTheFusedPath) {
  attn::Generator g(11);
  const int64_t B = 2, H = 2, Tk = 6, D = 4;
  Tensor q = attn::randn({B, H, Tk, D}, attn::kFloat64, &g);
  Tensor k = attn::randn({B, H, Tk, D}, attn::kFloat64, &g);
  Tensor v = attn::randn({B, H, Tk, D}, attn::kFloat64, &g);
  Tensor lengths = lengths_of({6, 3});
  // Padding: batch 1's keys 3.. are padding.
  nn::AttentionMask padding = nn::AttentionMask::from_lengths(lengths);
  Tensor before = nn::scaled_dot_product_attention(q, k, v, padding, without_weights()).output;
  Tensor k2 = k.clone(), v2 = v.clone();
  {
    attn::NoGradGuard no_grad;
    k2.select(0, 1).narrow(1, 3, 3).fill_(1e6);
    v2.select(0, 1).narrow(1, 3, 3).fill_(-1e6);
  }
  Tensor after = nn::scaled_dot_product_attention(q, k2, v2, padding, without_weights()).output;
  EXPECT_EQ(after.grad_fn_name(), before.grad_fn_name());
  EXPECT_EQ(values_of(after), values_of(before));
  // Causal: changing the last key and value moves only the last query's output.
  nn::AttentionMask causal = nn::AttentionMask::causal_only();
  Tensor c_before = nn::scaled_dot_product_attention(q, k, v, causal, without_weights()).output;
  Tensor k3 = k.clone(), v3 = v.clone();
  {
    attn::NoGradGuard no_grad;
    k3.narrow(2, Tk - 1, 1).fill_(3.0);
    v3.narrow(2, Tk - 1, 1).fill_(-3.0);
  }
  Tensor c_after = nn::scaled_dot_product_attention(q, k3, v3, causal, without_weights()).output;
  EXPECT_EQ(values_of(c_after.narrow(2, 0, Tk - 1)), values_of(c_before.narrow(2, 0, Tk - 1)));
  EXPECT_NE(values_of(c_after.narrow(2, Tk - 1, 1)), values_of(c_before.narrow(2, Tk - 1, 1)));
}

// --- the whole Transformer ---------------------------------------------------------------

constexpr int64_t kSourceVocab = 13, kTargetVocab = 11;

nn::TransformerOptions tiny(int64_t kv_heads, bool fused) {
  return nn::TransformerOptions(kSourceVocab, kTargetVocab)
      .set_d_model(8).set_num_heads(4).set_num_kv_heads(kv_heads).set_d_ff(16)
      .set_layers(2, 2).set_max_length(16).set_fused_attention(fused);
}


TEST(FusedAttention, TransformerFusedEqualsComposedLogitsAndGradients) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (int64_t kv_heads : {0, 2}) {
      const std::string where =
          std::string(attn::dtype_name(dtype)) + " kv_heads=" + std::to_string(kv_heads);
      Batch batch;
      Tensor logits[2];
      std::map<std::string, Tensor> grads[2];
      for (int fused = 0; fused < 2; ++fused) {
        attn::manual_seed(17);  // the same initialisation for both
        nn::Transformer model(tiny(kv_heads, fused == 1));
        model.to(dtype);
        model.eval();  // no dropout: the two paths draw the same nothing
        Tensor out = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
        attn::log_softmax(out, -1).pow(2.0).mean().backward();
        logits[fused] = out.detach();
        for (const auto& [name, p] : model.named_parameters()) grads[fused][name] = p.grad();
      }
      EXPECT_LT(max_diff(logits[1], logits[0]), 10 * tolerance_of(dtype)) << where;
      for (const auto& [name, grad] : grads[0]) {
        ASSERT_TRUE(grad.defined()) << where << " " << name;
        EXPECT_LT(max_diff(grads[1][name], grad), 100 * tolerance_of(dtype)) << where << " " << name;
      }
    }
  }
}

TEST(FusedAttention, TransformerPaddedSourceTokensChangeNothingWhenFused) {
  attn::manual_seed(19);
  nn::Transformer model(tiny(2, true));
  model.to(attn::kFloat64);
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor changed = batch.source.clone();
  changed.select(0, 1).narrow(0, 3, 2).fill_(7.0);  // sentence 1 has length 3
  Tensor a = model.forward(batch.source, batch.lengths, batch.target);
  Tensor b = model.forward(changed, batch.lengths, batch.target);
  EXPECT_EQ(values_of(a), values_of(b));
}

// Cached decoding without weights (every attention fused, Tq = 1 against the
// cache) gives forward()'s logits, and the same logits as with weights.
TEST(FusedAttention, CachedStepsWithoutWeightsEqualForward) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (int64_t kv_heads : {0, 1}) {
      const std::string where =
          std::string(attn::dtype_name(dtype)) + " kv_heads=" + std::to_string(kv_heads);
      attn::manual_seed(23);
      nn::Transformer model(tiny(kv_heads, true));
      model.to(dtype);
      model.eval();
      attn::NoGradGuard no_grad;
      Batch batch;
      Tensor full = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
      auto fused_state = model.start(batch.source, batch.lengths);
      auto weights_state = model.start(batch.source, batch.lengths);
      nn::DecoderState& fused = *fused_state;
      fused.need_weights = false;
      for (int64_t t = 0; t < batch.target.size(1); ++t) {
        Tensor previous = batch.target.select(1, t).contiguous();
        Tensor a = model.step(fused, previous);          // (B, V)
        Tensor b = model.step(*weights_state, previous);  // (B, V)
        EXPECT_FALSE(fused.last_attention().defined()) << where;
        EXPECT_TRUE(weights_state->last_attention().defined()) << where;
        EXPECT_LT(max_diff(a, full.select(1, t)), 10 * tolerance_of(dtype)) << where << " t=" << t;
        EXPECT_LT(max_diff(a, b), 10 * tolerance_of(dtype)) << where << " t=" << t;
      }
    }
  }
}

}  // namespace
