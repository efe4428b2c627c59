// Chapter 09, The Transformer (docs/09-the-transformer.md). Its last two
// sections preview chapters 11 and 12, which have their own programs
// (examples/11_generation.cpp, examples/12_mqa_gqa.cpp).
//
//   ./build/release/examples/example_09_transformer
//
// 1. Why the scores are divided by sqrt(d_k): dot products of random vectors
//    with unit-variance components have variance d_k, and divided by sqrt(d_k)
//    variance 1; then what the unscaled scores do to the softmax.
// 2. The masks of nn/scaled_dot_product_attention.h, printed: padding, causal,
//    combined; a query that may see no key gets zeros, where -inf gives NaN.
// 3. The heads' reshape (B, T, D) -> (B, H, T, Dh), and the sinusoids of
//    section 3.5 turning by a fixed rotation per offset.
// 4. The toy Transformer's parameters, by formula and by the module.
// 5. Cached step() against forward(): the same logits at every position.
// 6. The KV cache of MHA, GQA and MQA against 2 * layers * B * t * Hkv * Dh * 4.
// Returns 1 if a check fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

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

double variance(const std::vector<double>& x) {
  double mean = 0, square = 0;
  for (double v : x) mean += v / static_cast<double>(x.size());
  for (double v : x) square += (v - mean) * (v - mean) / static_cast<double>(x.size() - 1);
  return square;
}

// Parameters of a post-LN Transformer with separate embeddings and an output
// layer with bias, counted from the sizes (nn/transformer.h).
int64_t parameters(int64_t D, int64_t H, int64_t Hkv, int64_t F, int64_t layers, int64_t Vs,
                   int64_t Vt) {
  const int64_t kv = Hkv * (D / H);                               // width of k_proj, v_proj
  const int64_t attention = 2 * (D * D + D) + 2 * (D * kv + kv);  // q, out; k, v
  const int64_t ffn = D * F + F + F * D + D;                      // W_1, b_1, W_2, b_2
  const int64_t norm = 2 * D;                                     // gamma, beta
  const int64_t encoder = attention + ffn + 2 * norm, decoder = 2 * attention + ffn + 3 * norm;
  return layers * (encoder + decoder) + D * (Vs + Vt) + (D + 1) * Vt;
}

}  // namespace

int main() {
  section("1. Why divide by sqrt(d_k)");
  attn::Generator generator(2017);
  const int64_t pairs = 8000;
  double farthest = 0;  // the largest |var(q.k / sqrt(d_k)) - 1|
  for (int64_t dk : {4, 16, 64, 256}) {
    Tensor q = attn::randn({pairs, dk}, attn::kFloat64, &generator);
    Tensor k = attn::randn({pairs, dk}, attn::kFloat64, &generator);
    const double v = variance((q * k).sum(1).to_vector<double>());  // (pairs): q . k
    std::printf("  d_k = %3lld: var(q.k) = %7.2f   var(q.k / sqrt(d_k)) = %.3f\n",
                static_cast<long long>(dk), v, v / static_cast<double>(dk));
    farthest = std::max(farthest, std::abs(v / static_cast<double>(dk) - 1.0));
  }
  check(farthest < 0.1, "var(q.k) grows as d_k; divided by sqrt(d_k), it stays near 1 (8000 pairs each)");
  // 1000 queries against 8 keys each at d_k = 64 (a head of the base model).
  const int64_t rows = 1000, keys = 8, dk = 64;
  Tensor q = attn::randn({rows, 1, dk}, attn::kFloat64, &generator);
  Tensor k = attn::randn({rows, keys, dk}, attn::kFloat64, &generator);
  Tensor raw = attn::matmul(q, k.transpose(-2, -1)).squeeze(1);  // (rows, keys)
  double top[2] = {0, 0}, slope[2] = {0, 0};
  for (int scaled = 0; scaled < 2; ++scaled) {
    Tensor w = attn::softmax(scaled ? raw * (1.0 / std::sqrt(double(dk))) : raw, -1);
    top[scaled] = attn::max(w, -1).mean().item();
    // sum_j w_j (1 - w_j): the diagonal of softmax's Jacobian, how much the
    // weights still move when the scores move; 0 for a one-hot row.
    slope[scaled] = (w * (1.0 - w)).sum(-1).mean().item();
    std::printf("  %s scores: mean largest weight %.3f, mean sum_j w_j(1 - w_j) %.3f\n",
                scaled ? "scaled  " : "unscaled", top[scaled], slope[scaled]);
  }
  check(top[0] > top[1] && slope[0] < 0.5 * slope[1],
        "unscaled, the softmax is nearly one-hot and its gradient less than half as large");

  section("2. Masks: padding, causal, combined");
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3}, {2});
  Tensor padding = nn::padding_mask(lengths, 5);                  // (2, 1, 1, 5)
  Tensor causal = nn::causal_mask(5);                             // (1, 1, 5, 5)
  Tensor decoder = nn::combine_masks(padding, causal);            // (2, 1, 5, 5)
  std::cout << "padding_mask(lengths {5, 3}, 5), shape (2, 1, 1, 5):\n" << padding.reshape({2, 5})
            << "\ncausal_mask(5), shape (1, 1, 5, 5):\n" << causal.reshape({5, 5})
            << "\ncombine_masks(padding, causal) for sentence 1 (length 3):\n"
            << decoder.select(0, 1).reshape({5, 5}) << "\n";
  // Hide the padded *queries* too: rows 3 and 4 of sentence 1 then see no key.
  Tensor query_padding = padding.transpose(-2, -1);              // (2, 1, 5, 1)
  Tensor both = nn::combine_masks(decoder, query_padding);       // (2, 1, 5, 5)
  Tensor x = attn::randn({2, 1, 5, 4});
  nn::AttentionResult attended = nn::scaled_dot_product_attention(x, x, x, both);
  std::cout << "weights of sentence 1 with its padded queries hidden too:\n"
            << attended.weights.select(0, 1).reshape({5, 5}) << "\n";
  bool finite = true;
  for (double w : attended.output.to_vector<double>()) finite = finite && std::isfinite(w);
  std::vector<double> w1 = attended.weights.select(0, 1).reshape({5, 5}).to_vector<double>();
  std::vector<double> out1 = attended.output.select(0, 1).reshape({5, 4}).to_vector<double>();
  bool zero_rows = true, unit_rows = true;
  for (int64_t i = 0; i < 5; ++i) {
    double total = 0;
    for (int64_t j = 0; j < 5; ++j) total += w1[i * 5 + j];
    if (i < 3) unit_rows = unit_rows && std::abs(total - 1.0) < 1e-6;
    for (int64_t d = 0; d < 4 && i >= 3; ++d) zero_rows = zero_rows && out1[i * 4 + d] == 0.0;
    if (i >= 3) zero_rows = zero_rows && total == 0.0;
  }
  check(unit_rows, "the three real queries' weights sum to 1 over keys 0..i");
  check(zero_rows && finite, "the two fully masked rows give zero weights and a zero output, no NaN");
  const double inf = std::numeric_limits<double>::infinity();
  Tensor all_hidden = attn::softmax(attn::from_vector(std::vector<double>{-inf, -inf, -inf}, {3}), 0);
  std::cout << "softmax of a row of -inf, as the paper's mask would leave it:\n" << all_hidden << "\n";
  check(std::isnan(all_hidden.to_vector<double>()[0]), "-inf everywhere gives 0/0 = NaN");

  section("3. Heads and positions");
  const int64_t B = 2, T = 5, D = 8, H = 4;
  nn::MultiheadAttention attention(nn::MultiheadAttentionOptions(D, H));
  Tensor input = attn::randn({B, T, D});                                       // (B, T, D)
  Tensor projected = attention.k_proj->forward(input);                         // (B, T, H*Dh)
  Tensor split = projected.reshape({B, T, H, D / H});                          // (B, T, H, Dh)
  Tensor heads = split.transpose(1, 2);                                        // (B, H, T, Dh)
  std::printf("  x %s -> k_proj %s -> reshape %s -> transpose(1, 2) %s\n",
              attn::shape_str(input.shape()).c_str(), attn::shape_str(projected.shape()).c_str(),
              attn::shape_str(split.shape()).c_str(), attn::shape_str(heads.shape()).c_str());
  check(largest_difference(heads, attention.project_keys(input)) == 0.0,
        "project_keys is exactly this reshape and transpose");
  nn::MultiheadAttentionOutput self = attention.forward(input, input, input);
  std::printf("  output %s, weights %s\n", attn::shape_str(self.output.shape()).c_str(),
              attn::shape_str(self.weights.shape()).c_str());
  Tensor pe = nn::sinusoidal_positions(64, 8, attn::kFloat64);                  // (64, 8)
  std::cout << "PE rows 0 and 1 (sin, cos, sin, cos, ...):\n" << pe.narrow(0, 0, 2) << "\n";
  // PE(p + k) = R(k w_i) PE(p) in every pair (2i, 2i+1), whatever p.
  std::vector<double> table = pe.to_vector<double>();
  double worst = 0;
  const int64_t offset = 5;
  for (int64_t p = 0; p + offset < 64; ++p) {
    for (int64_t i = 0; i < 4; ++i) {
      const double w = std::pow(10000.0, -2.0 * i / 8.0), c = std::cos(offset * w),
                   s = std::sin(offset * w);
      const double sp = table[p * 8 + 2 * i], cp = table[p * 8 + 2 * i + 1];
      worst = std::max(worst, std::abs(table[(p + offset) * 8 + 2 * i] - (c * sp + s * cp)));
      worst = std::max(worst, std::abs(table[(p + offset) * 8 + 2 * i + 1] - (-s * sp + c * cp)));
    }
  }
  std::printf("  PE(p + 5) against the rotation of PE(p), every p and pair: largest difference %.1e\n",
              worst);
  check(worst < 1e-12, "an offset of 5 positions is one fixed linear map of PE(p)");

  section("4. The toy Transformer's parameters");
  // The vocabularies of `attn train --task dates`: 249 source words, 15 target characters.
  const int64_t Vs = 249, Vt = 15;
  for (int64_t kv : {4, 2, 1}) {
    nn::Transformer model(nn::TransformerOptions::toy(Vs, Vt).set_num_kv_heads(kv));
    const int64_t counted = model.parameter_count(), expected = parameters(64, 4, kv, 256, 2, Vs, Vt);
    std::printf("  %d kv head%s: %lld parameters (formula %lld)\n", static_cast<int>(kv), kv == 1 ? "" : "s",
                static_cast<long long>(counted), static_cast<long long>(expected));
    check(counted == expected, "parameter_count() = the formula of chapter 09");
  }
  const int64_t layer_pair = parameters(64, 4, 4, 256, 1, 0, 0);  // no vocabulary: layers only
  std::printf("  one encoder + one decoder layer: %lld, of which the two FFNs %lld\n",
              static_cast<long long>(layer_pair), static_cast<long long>(2 * (2 * 64 * 256 + 256 + 64)));
  // The paper's base model (Table 3) with one shared table of about 37000
  // tokens (section 5.1) for both sides and the output: Vs = 37000 counts the
  // table once, Vt = 0 drops the untied output layer.
  const int64_t base = parameters(512, 8, 8, 2048, 6, 37000, 0);
  std::printf("  base (512, 8 heads, 2048, 6+6), one shared 37000 table, tied output: %lld\n",
              static_cast<long long>(base));

  section("5. Cached step() = forward()");
  attn::manual_seed(9);
  nn::Transformer model(nn::TransformerOptions::toy(Vs, Vt));
  model.eval();  // dropout off: both paths must see the same network
  attn::NoGradGuard no_grad;
  Tensor source = attn::from_vector(std::vector<int64_t>{17, 40, 99, 5, 230, 61, 8, 12, 77, 150, 0, 0},
                                    {2, 6});                                   // (B, S), padded
  Tensor source_lengths = attn::from_vector(std::vector<int64_t>{6, 4}, {2});
  Tensor target = attn::from_vector(std::vector<int64_t>{2, 5, 9, 4, 13, 6, 7, 2, 11, 10, 4, 8, 14, 6},
                                    {2, 7});                                   // (B, T), <s> first
  Tensor logits = model.forward(source, source_lengths, target);              // (B, T, V)
  std::unique_ptr<nn::DecoderState> state = model.start(source, source_lengths);
  double worst_step = 0;
  for (int64_t t = 0; t < target.size(1); ++t) {
    Tensor step = model.step(*state, target.select(1, t));                     // (B, V)
    const double diff = largest_difference(step, logits.select(1, t));
    worst_step = std::max(worst_step, diff);
    const auto& cache = dynamic_cast<const nn::TransformerState&>(*state).layers[0];
    std::printf("  t = %lld: self keys %s, cross keys %s, largest |step - forward| %.2e\n",
                static_cast<long long>(t), attn::shape_str(cache.self_keys.shape()).c_str(),
                attn::shape_str(cache.cross_keys.shape()).c_str(), diff);
  }
  check(worst_step < 1e-5, "step() with the cache gives forward()'s logits at every position");

  section("6. The KV cache: MHA, GQA, MQA");
  const int64_t layers = 2, Dh = 16, S = 6, steps = 7;
  int64_t mha_total = 0;
  for (int64_t kv : {4, 2, 1}) {
    attn::manual_seed(9);
    nn::Transformer variant(nn::TransformerOptions::toy(Vs, Vt).set_num_kv_heads(kv));
    variant.eval();
    auto decoding = variant.start(source, source_lengths);
    for (int64_t t = 0; t < steps; ++t) variant.step(*decoding, target.select(1, t));
    nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*decoding);
    const int64_t self_bytes = 2 * layers * B * steps * kv * Dh * 4;
    const int64_t cross_bytes = 2 * layers * B * S * kv * Dh * 4;
    if (kv == 4) mha_total = bytes.total();
    std::printf("  %s (%d kv head%s): self %5lld + cross %5lld = %5lld bytes, %.2f of MHA\n",
                kv == 4 ? "MHA" : (kv == 1 ? "MQA" : "GQA"), static_cast<int>(kv), kv == 1 ? "" : "s",
                static_cast<long long>(bytes.self_attention),
                static_cast<long long>(bytes.cross_attention),
                static_cast<long long>(bytes.total()),
                static_cast<double>(bytes.total()) / static_cast<double>(mha_total));
    check(bytes.self_attention == self_bytes && bytes.cross_attention == cross_bytes,
          "= 2 * layers * B * positions * Hkv * Dh * 4 bytes, for t = 7 and S = 6");
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
