// Chapter 16, sharing the KV cache (docs/16-sharing-the-kv-cache.md):
// Cross-Layer Attention (Brandon et al. 2024).
//
//   ./build/release/examples/example_16_sharing_the_kv_cache
//
// A decoder with CLA factor N splits its L layers into groups of N adjacent
// layers; the first layer of each group projects the keys and values, the
// others attend over them with their own queries. In attn that is one option,
// TransformerOptions::cla_factor (`attn train --cla-factor N`).
// 1. The idea in numbers, for the paper's base model (6 decoder layers,
//    8 heads of 64): the cache bytes per sentence per target token, by
//    formula, for CLA factors 1, 2, 3 and 6 times Hkv = 8 (MHA), 2 (GQA)
//    and 1 (MQA); then the parameters that CLA removes, counted from real
//    modules against the formula.
// 2. A tiny model (4 decoder layers, GQA-2) with factors 1, 2, 3 and 4: a
//    batch of sentences decoded greedily with the cache; the bytes the cache
//    holds (Transformer::cache_bytes) against 2 * ceil(L / N) * B * Hkv *
//    {t, S} * Dh * 4, and which layers hold tensors at all.
// 3. Exact: each cached step's logits against forward() on the same prefix
//    (float64), for factor 2 with rotary positions.
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

// ceil(L / N): the groups of a decoder of L layers with CLA factor N, the
// last smaller when N does not divide L. One set of keys and values each.
int64_t groups(int64_t layers, int64_t factor) { return (layers + factor - 1) / factor; }

// The cache formula of TransformerState::cache_bytes, for `positions` (t for
// the self-attention part, S for the cross part): float32, 4 bytes.
int64_t cache_bytes(int64_t layers, int64_t factor, int64_t rows, int64_t positions,
                    int64_t Hkv, int64_t Dh) {
  return 2 * groups(layers, factor) * rows * Hkv * positions * Dh * 4;
}

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

// --- 1. the base model in numbers -------------------------------------------------

void base_model_numbers() {
  section("1. the paper's base model: cache bytes per sentence per target token");
  const int64_t L = 6, H = 8, Dh = 64, D = 512;
  std::printf("  %-10s", "");
  for (int64_t Hkv : {8, 2, 1}) {
    std::printf(" %10s Hkv=%lld", Hkv == H ? "MHA" : (Hkv == 1 ? "MQA" : "GQA"),
                static_cast<long long>(Hkv));
  }
  std::printf("\n");
  for (int64_t N : {1, 2, 3, 6}) {
    std::printf("  CLA N=%-3lld", static_cast<long long>(N));
    for (int64_t Hkv : {8, 2, 1}) {
      std::printf(" %16lld", static_cast<long long>(cache_bytes(L, N, 1, 1, Hkv, Dh)));
    }
    std::printf("   (%lld sets of keys and values)\n", static_cast<long long>(groups(L, N)));
  }
  check(cache_bytes(L, 2, 1, 1, 1, Dh) * 2 == cache_bytes(L, 1, 1, 1, 1, Dh),
        "CLA2 halves MQA's cache: the saving multiplies with GQA/MQA's");
  check(cache_bytes(L, 1, 1, 1, 8, Dh) == 2 * L * D * 4, "MHA: 2 * L * D floats per token");

  // The parameters that go: the k and v projections (self and cross) of the
  // N-1 sharing layers of each group. Counted on real (base-size) modules.
  const int64_t kv = 8 * Dh;
  const int64_t per_layer = 2 * 2 * (D * kv + kv);  // self + cross, k + v, weight + bias
  attn::manual_seed(1);
  nn::Transformer full(nn::TransformerOptions::base(100, 100));
  attn::manual_seed(1);
  nn::Transformer cla2(nn::TransformerOptions::base(100, 100).set_cla_factor(2));
  std::printf("  base model: %lld parameters; with CLA2 %lld (3 layers x %lld fewer)\n",
              static_cast<long long>(full.parameter_count()),
              static_cast<long long>(cla2.parameter_count()), static_cast<long long>(per_layer));
  check(full.parameter_count() - cla2.parameter_count() == 3 * per_layer,
        "CLA2 removes the k/v projections of 3 of the 6 decoder layers, no more");
}

// --- 2. the tiny model's cache, measured ---------------------------------------------

nn::TransformerOptions tiny(int64_t factor) {
  // D = 16, H = 4 (Dh = 4), GQA with 2 kv heads, 1 + 4 layers, no dropout.
  return nn::TransformerOptions(20, 20).set_d_model(16).set_num_heads(4).set_num_kv_heads(2)
      .set_d_ff(32).set_layers(1, 4).set_dropout(0.0).set_max_length(32)
      .set_cla_factor(factor);
}

void measured_cache() {
  section("2. a tiny decoder (4 layers, GQA-2, Dh 4): the cache after 6 steps, B = 3, S = 5");
  const int64_t B = 3, S = 5, T = 6, L = 4, Hkv = 2, Dh = 4;
  Tensor source = attn::from_vector(
      std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0, 11, 12, 5, 6, 0}, {B, S});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3, 4}, {B});
  std::printf("  %-6s %8s %12s %12s %12s %12s  %s\n", "factor", "sets", "self (B)", "formula",
              "cross (B)", "formula", "layers holding keys");
  for (int64_t N : {1, 2, 3, 4}) {
    attn::manual_seed(2);
    nn::Transformer model(tiny(N));
    model.eval();
    attn::NoGradGuard no_grad;
    auto state = model.start(source, lengths);
    Tensor token = attn::full({B}, 1.0, attn::kInt64);  // <s>
    for (int64_t t = 0; t < T; ++t) token = attn::argmax(model.step(*state, token), 1);
    const nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*state);
    const int64_t self = cache_bytes(L, N, B, T, Hkv, Dh), cross = cache_bytes(L, N, B, S, Hkv, Dh);
    std::string holding;
    const auto& layers = dynamic_cast<nn::TransformerState&>(*state).layers;
    for (size_t l = 0; l < layers.size(); ++l) {
      if (layers[l].self_keys.defined()) holding += (holding.empty() ? "" : ", ") + std::to_string(l);
    }
    std::printf("  %-6lld %8lld %12lld %12lld %12lld %12lld  %s\n", static_cast<long long>(N),
                static_cast<long long>(groups(L, N)), static_cast<long long>(bytes.self_attention),
                static_cast<long long>(self), static_cast<long long>(bytes.cross_attention),
                static_cast<long long>(cross), holding.c_str());
    check(bytes.self_attention == self && bytes.cross_attention == cross,
          "factor " + std::to_string(N) + ": the measured bytes equal the formula exactly");
  }
}

// --- 3. exact: cached steps against forward() ----------------------------------------

void cached_equals_forward() {
  section("3. CLA2 with rotary positions: each cached step against forward() (float64)");
  attn::manual_seed(3);
  nn::Transformer model(tiny(2).set_positions("rope"));
  model.to(attn::kFloat64);
  model.eval();
  attn::NoGradGuard no_grad;
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0}, {2, 5});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3}, {2});
  Tensor target = attn::from_vector(std::vector<int64_t>{1, 4, 5, 6, 7, 1, 8, 7, 6, 5}, {2, 5});
  Tensor logits = model.forward(source, lengths, target);  // (2, 5, V)
  auto state = model.start(source, lengths);
  double worst = 0;
  for (int64_t t = 0; t < target.size(1); ++t) {
    worst = std::max(worst, largest_difference(model.step(*state, target.select(1, t)),
                                               logits.select(1, t)));
  }
  std::printf("  largest difference over 5 steps: %.1e\n", worst);
  check(worst < 1e-12, "layers 1 and 3 read layers 0 and 2's cache and get forward()'s numbers");
}

}  // namespace

int main() {
  try {
    base_model_numbers();
    measured_cache();
    cached_equals_forward();
  } catch (const attn::Error& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  std::printf("\n%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
