// Chapter 17, Low-Rank KV (docs/17-low-rank-kv.md).
//
//   ./build/release/examples/example_17_low_rank_kv
//
// LRKV (O'Neill et al. 2026): head h's key is a shared key plus a rank-r
// correction of its own, k^h = x W_shared + (x A_h) B_h; the cache keeps the
// shared key and the H latents x A_h, Dh + H r numbers per position.
// 1. One layer: what project_keys hands back (the compact row), and the H
//    keys rebuilt from it equal the formula, head by head.
// 2. The cache: a tiny Transformer (D = 16, H = 4, Dh = 4, 2 decoder layers)
//    decodes 3 sentences for 5 steps as MHA, MQA and LRKV with r = 1, 2;
//    the bytes equal 2 L B t w 4 with w = H Dh, Dh, Dh + H r.
// 3. Each cached step of the LRKV model equals forward() on the prefix.
// Returns 1 if a check fails.
#include <algorithm>
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

nn::TransformerOptions tiny(int64_t kv_heads, int64_t rank) {
  return nn::TransformerOptions(13, 11).set_d_model(16).set_num_heads(4)
      .set_num_kv_heads(kv_heads).set_d_ff(32).set_layers(1, 2).set_dropout(0.0)
      .set_max_length(16).set_kv_rank(rank);
}

}  // namespace

int main() {
  attn::NoGradGuard no_grad;
  section("1. One layer: D = 16, H = 4, Dh = 4, r = 2");
  {
    attn::manual_seed(1);
    nn::MultiheadAttention m(nn::MultiheadAttentionOptions(16, 4).set_kv_rank(2));
    attn::Generator g(2);
    Tensor x = attn::randn({1, 3, 16}, attn::kFloat32, &g);           // 3 positions
    Tensor compact = m.project_keys(x);                                 // (1, 1, 3, 4 + 4*2)
    std::printf("  project_keys: %s = [shared (4) | head 0 (2) | head 1 (2) | head 2 (2) | head 3 (2)]\n",
                attn::shape_str(compact.shape()).c_str());
    check(compact.shape() == attn::Shape({1, 1, 3, 12}), "12 numbers per position, not H Dh = 16");
    Tensor keys = m.expand_low_rank(compact, m.k_up);                   // (1, 4, 3, 4)
    Tensor shared = m.k_proj->forward(x), latent = m.k_down->forward(x);
    double worst = 0.0;
    for (int64_t h = 0; h < 4; ++h) {
      Tensor expected = shared + attn::matmul(latent.narrow(2, 2 * h, 2), m.k_up.select(0, h));
      worst = std::max(worst, largest_difference(keys.select(1, h), expected));
    }
    std::printf("  rebuilt keys %s, largest difference from x W_shared + (x A_h) B_h: %.2e\n",
                attn::shape_str(keys.shape()).c_str(), worst);
    check(worst < 1e-5, "every head's key is the shared key plus its own correction");
  }

  section("2. The cache: 3 sentences, 5 steps, 2 decoder layers");
  Tensor source = attn::from_vector(
      std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0, 11, 12, 5, 6, 0}, {3, 5});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3, 4}, {3});
  Tensor target = attn::from_vector(
      std::vector<int64_t>{1, 4, 5, 6, 7, 1, 8, 7, 6, 5, 1, 9, 10, 3, 2}, {3, 5});
  const int64_t L = 2, B = 3, t = 5, H = 4, Dh = 4;
  struct Variant { const char* name; int64_t kv_heads, rank, width; };
  for (const Variant& v : {Variant{"MHA", 4, 0, H * Dh}, Variant{"MQA", 1, 0, Dh},
                           Variant{"LRKV r=1", 4, 1, Dh + H * 1},
                           Variant{"LRKV r=2", 4, 2, Dh + H * 2}}) {
    attn::manual_seed(3);
    nn::Transformer model(tiny(v.kv_heads, v.rank));
    model.eval();
    auto state = model.start(source, lengths);
    for (int64_t j = 0; j < t; ++j) model.step(*state, target.select(1, j));
    const int64_t bytes = nn::Transformer::cache_bytes(*state).self_attention;
    const int64_t formula = 2 * L * B * t * v.width * 4;
    std::printf("  %-9s %2lld numbers per position: self-attention cache %5lld bytes"
                " (2*%lld*%lld*%lld*%lld*4 = %lld)\n",
                v.name, static_cast<long long>(v.width), static_cast<long long>(bytes),
                static_cast<long long>(L), static_cast<long long>(B), static_cast<long long>(t),
                static_cast<long long>(v.width), static_cast<long long>(formula));
    check(bytes == formula, std::string(v.name) + ": the bytes equal the formula");
  }

  section("3. Cached steps equal forward() (LRKV r = 2)");
  {
    attn::manual_seed(4);
    nn::Transformer model(tiny(4, 2));
    model.eval();
    Tensor logits = model.forward(source, lengths, target);            // (3, 5, 11)
    auto state = model.start(source, lengths);
    double worst = 0.0;
    for (int64_t j = 0; j < t; ++j) {
      worst = std::max(worst, largest_difference(model.step(*state, target.select(1, j)),
                                                 logits.select(1, j)));
    }
    std::printf("  largest difference over 5 steps: %.2e\n", worst);
    check(worst < 1e-5, "the compact cache gives forward()'s logits");
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
