// Chapter 19, Multi-Head Latent Attention (docs/19-latent-attention.md).
//
//   ./build/release/examples/example_19_mla
//
// MLA (DeepSeek-V2, section 2.1): every head's key and value are rebuilt
// from one latent c_KV = W^DKV h of d_c numbers, and the position rides on
// one rotary key k_R = RoPE(W^KR h) of d_R numbers shared by the heads; the
// cache keeps c_KV and k_R, d_c + d_R numbers per position and layer.
// 1. One layer: what is cached per position; the absorbed attention of
//    decoding (W^UK folded into the query, W^UV into W^O) equals the
//    explicit one, in float64.
// 2. The cache: a tiny Transformer (D = 16, H = 4, Dh = 4, 2 decoder layers)
//    decodes 3 sentences for 5 steps as MHA, MQA and MLA with d_c = 4, 8;
//    the bytes equal 2 L B t H Dh 4 (MHA), 2 L B t Dh 4 (MQA), L B t (d_c + d_R) 4 (MLA).
// 3. Each cached (absorbed) step of the MLA model equals forward() on the prefix.
// Returns 1 if a check fails.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "nn/latent_attention.h"
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

nn::TransformerOptions tiny(int64_t kv_heads, int64_t kv_latent) {
  return nn::TransformerOptions(13, 11).set_d_model(16).set_num_heads(4)
      .set_num_kv_heads(kv_heads).set_d_ff(32).set_layers(1, 2).set_dropout(0.0)
      .set_max_length(16).set_mla(kv_latent, 0, 0);  // d_R = 0: the paper's Dh / 2 = 2
}

}  // namespace

int main() {
  attn::NoGradGuard no_grad;
  section("1. One layer: D = 16, H = 4, Dh = 4, d_c = 6, d_c' = 8, d_R = 2");
  {
    attn::manual_seed(1);
    nn::MultiHeadLatentAttention m(nn::LatentAttentionOptions(16, 4, 6).set_q_latent(8));
    m.to(attn::kFloat64);
    attn::Generator g(2);
    Tensor x = attn::randn({2, 5, 16}, attn::kFloat64, &g);            // 2 sentences, 5 positions
    Tensor latent = m.project_latent(x);                                // (2, 1, 5, 6): c_KV
    Tensor keys = m.project_rope_keys(x);                               // (2, 1, 5, 2): k_R
    std::printf("  cached per position: c_KV %s + k_R %s = %lld numbers (MHA: 2 H Dh = 32)\n",
                attn::shape_str(latent.shape()).c_str(), attn::shape_str(keys.shape()).c_str(),
                static_cast<long long>(m.cache_width()));
    check(m.cache_width() == 8, "d_c + d_R = 8 numbers per position and layer");
    const nn::MultiHeadLatentAttention::Absorbed w = m.absorb();
    std::printf("  absorbed: W^UK_h^T W^UQ_h stacked %s, W^O_h W^UV_h side by side %s\n",
                attn::shape_str(w.query.shape()).c_str(), attn::shape_str(w.output.shape()).c_str());
    const nn::AttentionMask causal = nn::AttentionMask::causal_only();
    Tensor explicit_out = m.attend(x, latent, keys, causal, false, 0).output;   // keys rebuilt
    Tensor absorbed_out = m.attend_absorbed(x, latent, keys, w, 0, causal);    // over c_KV itself
    const double worst = largest_difference(explicit_out, absorbed_out);
    std::printf("  largest difference, explicit vs absorbed (float64): %.2e\n", worst);
    check(worst < 1e-12, "absorbed attention over the latents equals the explicit one");
  }

  section("2. The cache: 3 sentences, 5 steps, 2 decoder layers");
  Tensor source = attn::from_vector(
      std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0, 11, 12, 5, 6, 0}, {3, 5});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3, 4}, {3});
  Tensor target = attn::from_vector(
      std::vector<int64_t>{1, 4, 5, 6, 7, 1, 8, 7, 6, 5, 1, 9, 10, 3, 2}, {3, 5});
  const int64_t L = 2, B = 3, t = 5, H = 4, Dh = 4, d_r = 2;
  struct Variant { const char* name; int64_t kv_heads, kv_latent, per_layer; };
  // per_layer: numbers cached per position and layer, keys and values together.
  for (const Variant& v : {Variant{"MHA", 4, 0, 2 * H * Dh}, Variant{"MQA", 1, 0, 2 * Dh},
                           Variant{"MLA d_c=8", 4, 8, 8 + d_r},
                           Variant{"MLA d_c=4", 4, 4, 4 + d_r}}) {
    attn::manual_seed(3);
    nn::Transformer model(tiny(v.kv_heads, v.kv_latent));
    model.eval();
    auto state = model.start(source, lengths);
    for (int64_t j = 0; j < t; ++j) model.step(*state, target.select(1, j));
    const int64_t bytes = nn::Transformer::cache_bytes(*state).self_attention;
    const int64_t formula = L * B * t * v.per_layer * 4;
    std::printf("  %-9s %2lld numbers per position and layer: self-attention cache %5lld bytes"
                " (%lld*%lld*%lld*%lld*4 = %lld)\n",
                v.name, static_cast<long long>(v.per_layer), static_cast<long long>(bytes),
                static_cast<long long>(L), static_cast<long long>(B), static_cast<long long>(t),
                static_cast<long long>(v.per_layer), static_cast<long long>(formula));
    check(bytes == formula, std::string(v.name) + ": the bytes equal the formula");
  }

  section("3. Cached, absorbed steps equal forward() (MLA d_c = 4)");
  {
    attn::manual_seed(4);
    nn::Transformer model(tiny(4, 4));
    model.eval();
    Tensor logits = model.forward(source, lengths, target);            // (3, 5, 11)
    auto state = model.start(source, lengths);
    double worst = 0.0;
    for (int64_t j = 0; j < t; ++j) {
      worst = std::max(worst, largest_difference(model.step(*state, target.select(1, j)),
                                                 logits.select(1, j)));
    }
    std::printf("  largest difference over 5 steps: %.2e\n", worst);
    check(worst < 1e-5, "the latent cache, attended absorbed, gives forward()'s logits");
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
