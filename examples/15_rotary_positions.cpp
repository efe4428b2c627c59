// Chapter 15, rotary positions (docs/15-rotary-positions.md).
//
//   ./build/release/examples/example_15_rotary_positions
//
// RoPE (Su et al. 2021, "RoFormer") turns each pair of dimensions of a query
// or key at position p by the angle p * theta_i, theta_i = 10000^(-2i/Dh),
// instead of adding a position vector to the embeddings.
// 1. The rotation in numbers: one vector at positions 0, 1, 2, 10, its pairs'
//    angles, and its length, which never changes.
// 2. Relative positions: the score of a query turned at m against a key
//    turned at n, for m, n = 0..5: every diagonal (m - n fixed) holds one
//    number (RoFormer eq. 16), and the scores do change with m - n.
// 3. What the decoder caches: a tiny Transformer with positions = "rope"
//    decodes a batch step by step; its self-attention cache holds keys
//    turned at their own positions (the same as turning a whole prefix),
//    values as projected, and each step's logits equal forward()'s.
// Returns 1 if a check fails.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "nn/transformer.h"

namespace {

namespace nn = attn::nn;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

double value(const Tensor& scalar) { return scalar.item(); }

}  // namespace

int main() {
  section("1. The rotation in numbers (Dh = 8: four pairs, theta_i = 10000^(-2i/8))");
  {
    const int64_t Dh = 8;
    Tensor x = attn::from_vector(std::vector<double>{1, 0, 1, 0, 1, 0, 1, 0}, {1, Dh});  // (1, Dh)
    std::printf("  theta_i: ");
    for (int64_t i = 0; i < Dh / 2; ++i) std::printf("%.4f ", std::pow(10000.0, -2.0 * i / Dh));
    std::printf("(radians per position)\n");
    for (int64_t p : {0, 1, 2, 10}) {
      Tensor turned = attn::rope(x, p);  // (1, Dh): the one step at position p
      std::vector<double> v = turned.to_vector<double>();
      std::printf("  p = %2lld:", static_cast<long long>(p));
      for (int64_t i = 0; i < Dh / 2; ++i) {
        // The pair started at (1, 0), so its angle is atan2(y, x).
        std::printf("  pair %lld at %+.3f rad", static_cast<long long>(i),
                    std::atan2(v[2 * i + 1], v[2 * i]));
      }
      std::printf("  |x| = %.6f\n", std::sqrt(value((turned * turned).sum())));
      check(std::fabs(std::sqrt(value((turned * turned).sum())) - 2.0) < 1e-12,
            "a rotation keeps the length (2)");
    }
  }

  section("2. Scores depend only on m - n (RoFormer eq. 16)");
  {
    const int64_t Dh = 8, T = 6;
    attn::Generator generator(15);
    Tensor q = attn::randn({1, 1, Dh}, attn::kFloat64, &generator);  // one query vector
    Tensor k = attn::randn({1, 1, Dh}, attn::kFloat64, &generator);  // one key vector
    // The same vector at every position, then turned: rows are positions.
    Tensor queries = attn::rope(q.expand({1, T, Dh}).contiguous());  // (1, T, Dh)
    Tensor keys = attn::rope(k.expand({1, T, Dh}).contiguous());     // (1, T, Dh)
    Tensor scores = attn::matmul(queries, keys.transpose(1, 2)).squeeze(0);  // (T, T): [m][n]
    std::vector<double> s = scores.to_vector<double>();
    std::printf("  score(m, n) = rope(q, m) . rope(k, n):\n        ");
    for (int64_t n = 0; n < T; ++n) std::printf("   n=%lld ", static_cast<long long>(n));
    std::printf("\n");
    for (int64_t m = 0; m < T; ++m) {
      std::printf("    m=%lld", static_cast<long long>(m));
      for (int64_t n = 0; n < T; ++n) std::printf(" %+7.3f", s[m * T + n]);
      std::printf("\n");
    }
    double worst = 0;
    for (int64_t m = 1; m < T; ++m) {
      for (int64_t n = 1; n < T; ++n) {
        worst = std::max(worst, std::fabs(s[m * T + n] - s[(m - 1) * T + (n - 1)]));
      }
    }
    std::printf("  largest difference along a diagonal: %.1e\n", worst);
    check(worst < 1e-12, "each diagonal (m - n fixed) holds one number");
    check(std::fabs(s[0 * T + 1] - s[0 * T + 4]) > 1e-3, "and the number changes with m - n");
  }

  section("3. What the decoder caches (positions = rope, float64, B = 3, 2 + 2 layers)");
  {
    attn::manual_seed(15);
    nn::Transformer model(nn::TransformerOptions(13, 11).set_d_model(8).set_num_heads(2)
                              .set_num_kv_heads(1).set_d_ff(16).set_layers(2, 2)
                              .set_positions("rope"));
    model.to(attn::kFloat64);
    model.eval();
    attn::NoGradGuard no_grad;
    std::printf("  %s\n", model.describe().c_str());
    check(model.source_positions == nullptr && model.target_positions == nullptr,
          "no position table: nothing is added to the embeddings");
    Tensor source = attn::from_vector(
        std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0, 11, 12, 5, 6, 0}, {3, 5});
    Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3, 4}, {3});
    Tensor target = attn::from_vector(
        std::vector<int64_t>{1, 4, 5, 6, 7, 8, 1, 8, 7, 6, 5, 4, 1, 9, 10, 3, 2, 0}, {3, 6});
    Tensor logits = model.forward(source, lengths, target);                 // (B, T, V)
    auto base = model.start(source, lengths);
    auto& state = dynamic_cast<nn::TransformerState&>(*base);
    state.need_weights = false;
    double worst = 0;
    for (int64_t t = 0; t < target.size(1); ++t) {
      worst = std::max(worst, largest_difference(model.step(state, target.select(1, t)),
                                                 logits.select(1, t)));
    }
    const nn::TransformerDecoderLayerCache& cache = state.layers[0];
    std::printf("  layer 0 caches keys %s and values %s (B, Hkv, t, Dh)\n",
                attn::shape_str(cache.self_keys.shape()).c_str(),
                attn::shape_str(cache.self_values.shape()).c_str());
    std::printf("  6 cached steps against forward() on the whole target: largest difference %.1e\n",
                worst);
    check(worst < 1e-10, "cached steps = forward(), with turned keys in the cache");
    // Layer 0's input is the embedding alone (post-LN: no norm before the
    // sub-layer): project it again, once turned at 0..5 and once not.
    const nn::MultiheadAttention& self = *model.decoder_layers[0]->self_attention;
    Tensor x = model.target_embedding->forward(target) * std::sqrt(8.0);   // (B, T, D)
    const double turned = largest_difference(cache.self_keys, self.project_keys(x, 0));
    Tensor plain_keys = attn::linear(x, self.k_proj->weight, self.k_proj->bias)
                            .reshape({3, 6, 1, 4}).transpose(1, 2);         // (B, 1, T, Dh) unturned
    const double against_plain = largest_difference(cache.self_keys, plain_keys);
    const double values_gap = largest_difference(cache.self_values, self.project_values(x));
    std::printf("  cached keys - project_keys(prefix, 0): %.1e;  - the unturned keys: %.3f;"
                "  cached values - project_values(prefix): %.1e\n",
                turned, against_plain, values_gap);
    check(turned < 1e-12, "the cache holds each key turned at its own position");
    check(against_plain > 1e-3, "(which is not the key as projected)");
    check(values_gap < 1e-12, "values are cached as projected: RoPE never turns them");
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
