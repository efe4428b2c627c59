// Low-Rank KV (nn/multihead_attention.h, kv_rank; O'Neill et al. 2026,
// arXiv:2601.11471): K_h = X W_shared + (X A_h) B_h, the same for V, with a
// cache of the shared part and the latents, (B, 1, T, Dh + H r).
//   - full rank reduces to MHA: with r = Dh, W_shared = 0, A_h = MHA's W_h
//     and B_h = I, the outputs and weights equal a given MHA layer's, through
//     forward() and through the stacked one-product projection of decoding;
//   - what project_keys hands back, and what it refuses (rank, rope, GQA);
//   - gradcheck in float64 of the layer (LowRankKv.Gradcheck*) and of a whole
//     Transformer with kv_rank;
//   - a Transformer's cached steps equal forward(), float32 and float64, and
//     its cache bytes are 2 * layers * B * t * (Dh + H r) * 4 exactly;
//   - causal and padding leak tests.
// Greedy and beam search against recomputing: tests/train/test_transformer_decoding.cpp
// (the LowRankKv instantiation).
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "golden_fixture.h"
#include "nn/multihead_attention.h"
#include "nn/transformer.h"
#include "nn_test_util.h"
#include "tensor/grad_mode.h"

namespace {

using attn::Tensor;
using attn_test::error_of;
using attn_test::lengths_of;
using attn_test::max_diff;
using Batch = attn_test::TransformerBatch;
namespace nn = attn::nn;

// (H, r, r) identity matrices, float64.
Tensor identities(int64_t H, int64_t r) {
  std::vector<double> v(H * r * r, 0.0);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < r; ++i) v[(h * r + i) * r + i] = 1.0;
  }
  return attn::from_vector(v, {H, r, r});
}

// Makes `lrkv` (r = Dh) compute exactly what `mha` does: q and out copied,
// the shared projections 0, A_h = MHA's per-head projection (k_down = k_proj
// row for row, as both keep the heads side by side), B_h = I.
void copy_as_full_rank(const nn::MultiheadAttention& mha, nn::MultiheadAttention& lrkv) {
  attn::NoGradGuard no_grad;
  const int64_t H = mha.options().num_heads, Dh = mha.head_dim();
  lrkv.q_proj->weight.copy_(mha.q_proj->weight);
  lrkv.q_proj->bias.copy_(mha.q_proj->bias);
  lrkv.out_proj->weight.copy_(mha.out_proj->weight);
  lrkv.out_proj->bias.copy_(mha.out_proj->bias);
  lrkv.k_proj->weight.zero_();
  lrkv.k_proj->bias.zero_();
  lrkv.v_proj->weight.zero_();
  lrkv.v_proj->bias.zero_();
  lrkv.k_down->weight.copy_(mha.k_proj->weight);
  lrkv.k_down->bias.copy_(mha.k_proj->bias);
  lrkv.v_down->weight.copy_(mha.v_proj->weight);
  lrkv.v_down->bias.copy_(mha.v_proj->bias);
  lrkv.k_up.copy_(identities(H, Dh));
  lrkv.v_up.copy_(identities(H, Dh));
}

TEST(LowRankKv, FullRankEqualsAGivenMultiheadAttention) {
  const int64_t D = 8, H = 2, Dh = 4;
  attn::manual_seed(61);
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(D, H));
  nn::MultiheadAttention lrkv(nn::MultiheadAttentionOptions(D, H).set_kv_rank(Dh));
  mha.to(attn::kFloat64);
  lrkv.to(attn::kFloat64);
  copy_as_full_rank(mha, lrkv);
  attn::NoGradGuard no_grad;
  attn::Generator g(5);
  Tensor x = attn::randn({3, 5, D}, attn::kFloat64, &g);
  Tensor memory = attn::randn({3, 6, D}, attn::kFloat64, &g);
  const nn::AttentionMask causal = nn::AttentionMask::causal_only();
  const nn::AttentionMask padding = nn::AttentionMask::from_lengths(lengths_of({6, 2, 4}));
  for (bool need_weights : {true, false}) {
    nn::MultiheadAttentionOutput a = mha.forward(x, x, x, causal, need_weights);
    nn::MultiheadAttentionOutput b = lrkv.forward(x, x, x, causal, need_weights);
    EXPECT_LT(max_diff(a.output, b.output), 1e-12) << "self, need_weights " << need_weights;
    if (need_weights) {
      EXPECT_LT(max_diff(a.weights, b.weights), 1e-12);
    }
    a = mha.forward(x, memory, memory, padding, need_weights);
    b = lrkv.forward(x, memory, memory, padding, need_weights);
    EXPECT_LT(max_diff(a.output, b.output), 1e-12) << "cross, need_weights " << need_weights;
  }
  // The decoding path: q, k, v from one product, k and v compact.
  nn::MultiheadAttention::ProjectedQKV pa = mha.project_qkv(x, mha.stacked_qkv());
  nn::MultiheadAttention::ProjectedQKV pb = lrkv.project_qkv(x, lrkv.stacked_qkv());
  EXPECT_EQ(attn::shape_str(pb.k.shape()), attn::shape_str({3, 1, 5, Dh + H * Dh}));
  EXPECT_LT(max_diff(pa.q, pb.q), 1e-12);
  EXPECT_LT(max_diff(pa.k, lrkv.expand_low_rank(pb.k, lrkv.k_up)), 1e-12);
  EXPECT_LT(max_diff(pa.v, lrkv.expand_low_rank(pb.v, lrkv.v_up)), 1e-12);
  EXPECT_LT(max_diff(mha.attend_heads(pa.q, pa.k, pa.v, causal).output,
                     lrkv.attend_heads(pb.q, pb.k, pb.v, causal).output), 1e-12);
}

TEST(LowRankKv, ProjectionsAreCompactAndEqualTheirDefinition) {
  const int64_t D = 8, H = 4, Dh = 2, r = 1;
  attn::manual_seed(62);
  nn::MultiheadAttention m(nn::MultiheadAttentionOptions(D, H).set_kv_rank(r));
  EXPECT_EQ(m.kv_heads(), 1);
  EXPECT_EQ(m.kv_width(), Dh + H * r);
  EXPECT_EQ(attn::shape_str(m.k_proj->weight.shape()), attn::shape_str({Dh, D}));
  EXPECT_EQ(attn::shape_str(m.k_down->weight.shape()), attn::shape_str({H * r, D}));
  EXPECT_EQ(attn::shape_str(m.k_up.shape()), attn::shape_str({H, r, Dh}));
  attn::NoGradGuard no_grad;
  attn::Generator g(6);
  Tensor x = attn::randn({2, 3, D}, attn::kFloat32, &g);
  Tensor k = m.project_keys(x);
  ASSERT_EQ(attn::shape_str(k.shape()), attn::shape_str({2, 1, 3, Dh + H * r}));
  // Head h of the rebuilt keys, one position at a time, from the equation.
  Tensor full = m.expand_low_rank(k, m.k_up);                          // (2, H, 3, Dh)
  Tensor shared = m.k_proj->forward(x);                                // (2, 3, Dh)
  Tensor latent = m.k_down->forward(x);                                // (2, 3, H r)
  for (int64_t h = 0; h < H; ++h) {
    Tensor expected = shared + attn::matmul(latent.narrow(2, h * r, r), m.k_up.select(0, h));
    EXPECT_LT(max_diff(full.select(1, h), expected), 1e-6) << "head " << h;
  }
  // The values the same way, with their own parameters.
  Tensor v = m.expand_low_rank(m.project_values(x), m.v_up);
  Tensor expected0 = m.v_proj->forward(x) +
                     attn::matmul(m.v_down->forward(x).narrow(2, 0, r), m.v_up.select(0, 0));
  EXPECT_LT(max_diff(v.select(1, 0), expected0), 1e-6);
}

TEST(LowRankKv, RefusesRanksAndCombinationsItCannotDo) {
  const std::string too_big = error_of([] {
    nn::MultiheadAttention m(nn::MultiheadAttentionOptions(8, 2).set_kv_rank(5));
  });
  EXPECT_NE(too_big.find("kv_rank"), std::string::npos) << too_big;
  EXPECT_NE(too_big.find("got 5"), std::string::npos) << too_big;
  const std::string negative = error_of([] {
    nn::MultiheadAttention m(nn::MultiheadAttentionOptions(8, 2).set_kv_rank(-1));
  });
  EXPECT_NE(negative.find("got -1"), std::string::npos) << negative;
  const std::string rope = error_of([] {
    nn::MultiheadAttention m(nn::MultiheadAttentionOptions(8, 2).set_kv_rank(2).set_rope(true));
  });
  EXPECT_NE(rope.find("rope"), std::string::npos) << rope;
  const std::string gqa = error_of([] {
    nn::MultiheadAttention m(
        nn::MultiheadAttentionOptions(8, 4).set_kv_rank(1).set_num_kv_heads(2));
  });
  EXPECT_NE(gqa.find("num_kv_heads"), std::string::npos) << gqa;
  // Compact keys of the wrong width are named.
  nn::MultiheadAttention m(nn::MultiheadAttentionOptions(8, 2).set_kv_rank(2));
  const std::string width = error_of([&] {
    m.expand_low_rank(attn::zeros({1, 1, 3, 7}), m.k_up);
  });
  EXPECT_NE(width.find("(B, 1, T, 8)"), std::string::npos) << width;
  EXPECT_NE(width.find("[1, 1, 3, 7]"), std::string::npos) << width;
}

TEST(LowRankKv, GradcheckOfTheLayerFloat64) {
  attn::manual_seed(63);
  nn::MultiheadAttention m(nn::MultiheadAttentionOptions(4, 2).set_kv_rank(1));
  m.to(attn::kFloat64);
  attn::Generator g(7);
  Tensor x = attn::randn({2, 3, 4}, attn::kFloat64, &g).requires_grad_(true);
  Tensor memory = attn::randn({2, 4, 4}, attn::kFloat64, &g).requires_grad_(true);
  std::vector<Tensor> inputs = m.parameters();
  inputs.push_back(x);
  inputs.push_back(memory);
  const nn::AttentionMask padding = nn::AttentionMask::from_lengths(lengths_of({4, 2}));
  for (bool fused : {false, true}) {
    attn::GradcheckResult self = attn::gradcheck(
        [&](const std::vector<Tensor>&) {
          return m.forward(x, x, x, nn::AttentionMask::causal_only(), !fused).output;
        },
        inputs);
    EXPECT_TRUE(self.passed) << (fused ? "fused " : "composed ") << "self: " << self.message;
    attn::GradcheckResult cross = attn::gradcheck(
        [&](const std::vector<Tensor>&) {
          return m.forward(x, memory, memory, padding, !fused).output;
        },
        inputs);
    EXPECT_TRUE(cross.passed) << (fused ? "fused " : "composed ") << "cross: " << cross.message;
  }
}

TEST(LowRankKv, GradcheckOfATransformerFloat64) {
  attn::manual_seed(64);
  nn::Transformer model(nn::TransformerOptions(7, 6).set_d_model(4).set_num_heads(2)
                            .set_d_ff(6).set_layers(1, 2).set_dropout(0.0).set_max_length(8)
                            .set_kv_rank(1));
  model.to(attn::kFloat64);
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 3, 6, 0}, {2, 3});
  Tensor lengths = lengths_of({3, 2});
  Tensor input = attn::from_vector(std::vector<int64_t>{1, 4, 5, 1, 5, 0}, {2, 3});
  Tensor output = attn::from_vector(std::vector<int64_t>{4, 5, 2, 5, 2, 0}, {2, 3});
  attn::GradcheckResult result = attn::gradcheck(
      [&](const std::vector<Tensor>&) {
        Tensor logits = model.forward(source, lengths, input);          // (2, 3, 6)
        return attn::cross_entropy(logits.reshape({-1, 6}), output.reshape({-1}),
                                   attn::CrossEntropyOptions().ignore(0));
      },
      model.parameters());
  EXPECT_TRUE(result.passed) << result.message;
}

// A tiny model: D = 8, H = 4 (Dh = 2), F = 16, 2 + 2 layers, rank r.
nn::TransformerOptions tiny(int64_t r, bool pre_ln) {
  return nn::TransformerOptions(13, 11).set_d_model(8).set_num_heads(4).set_d_ff(16)
      .set_layers(2, 2).set_pre_ln(pre_ln).set_max_length(16).set_kv_rank(r);
}

TEST(LowRankKv, CachedStepsEqualForward) {
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (int64_t r : {1, 2}) {
      for (bool pre_ln : {false, true}) {
        attn::manual_seed(65);
        nn::Transformer model(tiny(r, pre_ln));
        model.to(dtype);
        model.eval();
        attn::NoGradGuard no_grad;
        Batch batch;
        std::vector<Tensor> weights;
        Tensor logits =
            model.forward_with_attention(batch.source, batch.lengths, batch.target, weights);
        auto base = model.start(batch.source, batch.lengths);
        auto& state = dynamic_cast<nn::TransformerState&>(*base);
        const double tolerance = dtype == attn::kFloat64 ? 1e-12 : 1e-5;
        for (int64_t t = 0; t < batch.target.size(1); ++t) {
          Tensor step = model.step(state, batch.target.select(1, t));   // (B, V)
          const std::string at = "r=" + std::to_string(r) + (pre_ln ? " pre" : " post") +
                                 " t=" + std::to_string(t);
          EXPECT_LT(max_diff(step, logits.select(1, t)), tolerance) << at;
          EXPECT_LT(max_diff(state.cross_weights.back(), weights.back().select(2, t)), tolerance)
              << at;
          // The cache holds the compact keys: 1 head of Dh + H r = 2 + 4 r.
          EXPECT_EQ(attn::shape_str(state.layers[0].self_keys.shape()),
                    attn::shape_str({3, 1, t + 1, 2 + 4 * r})) << at;
        }
      }
    }
  }
}

TEST(LowRankKv, CacheBytesFollowTheFormula) {
  // 2 * layers * B * t * (Dh + H r) * 4 bytes for the self part, the same
  // with S for the cross part (decoder layers only).
  const int64_t L = 3, B = 3, S = 5, H = 4, Dh = 2;
  for (int64_t r : {1, 2}) {
    attn::manual_seed(66);
    nn::Transformer model(tiny(r, false).set_layers(1, L));
    model.eval();
    attn::NoGradGuard no_grad;
    Batch batch;
    auto state = model.start(batch.source, batch.lengths);
    nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*state);
    EXPECT_EQ(bytes.self_attention, 0);
    EXPECT_EQ(bytes.cross_attention, 2 * L * B * S * (Dh + H * r) * 4);
    for (int64_t t = 1; t <= 4; ++t) {
      model.step(*state, batch.target.select(1, t - 1));
      bytes = nn::Transformer::cache_bytes(*state);
      EXPECT_EQ(bytes.self_attention, 2 * L * B * t * (Dh + H * r) * 4) << "r=" << r << " t=" << t;
    }
  }
}

TEST(LowRankKv, LaterTargetTokensDoNotChangeEarlierLogits) {
  attn::manual_seed(67);
  nn::Transformer model(tiny(1, false));
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  Tensor before = model.forward(batch.source, batch.lengths, batch.target);  // (B, T, V)
  const int64_t T = batch.target.size(1);
  for (int64_t t = 0; t + 1 < T; ++t) {
    std::vector<int64_t> ids = batch.target.contiguous().to_vector<int64_t>();
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t j = t + 1; j < T; ++j) ids[b * T + j] = (ids[b * T + j] + 3 + j) % 11;
    }
    Tensor after = model.forward(batch.source, batch.lengths, attn::from_vector(ids, {3, T}));
    EXPECT_EQ(max_diff(before.narrow(1, 0, t + 1), after.narrow(1, 0, t + 1)), 0.0) << "t=" << t;
    EXPECT_GT(max_diff(before.narrow(1, t + 1, T - t - 1), after.narrow(1, t + 1, T - t - 1)),
              0.0) << "the change must matter somewhere, t=" << t;
  }
}

TEST(LowRankKv, SourceTokensPastTheLengthChangeNothing) {
  attn::manual_seed(68);
  nn::Transformer model(tiny(2, true));
  model.eval();
  attn::NoGradGuard no_grad;
  Batch batch;
  std::vector<int64_t> ids = batch.source.contiguous().to_vector<int64_t>();
  const std::vector<int64_t> lengths = {5, 3, 4};
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t s = lengths[b]; s < 5; ++s) ids[b * 5 + s] = 7 + s;  // real words, not <pad>
  }
  Tensor changed = attn::from_vector(ids, {3, 5});
  EXPECT_EQ(max_diff(model.forward(batch.source, batch.lengths, batch.target),
                     model.forward(changed, batch.lengths, batch.target)), 0.0);
  auto s1 = model.start(batch.source, batch.lengths);
  auto s2 = model.start(changed, batch.lengths);
  Tensor first = batch.target.select(1, 0);
  EXPECT_EQ(max_diff(model.step(*s1, first), model.step(*s2, first)), 0.0);
}

}  // namespace
