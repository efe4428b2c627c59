// Chapter 06, Bahdanau attention (docs/06-bahdanau-attention.md).
//
//   ./build/release/examples/example_06_attention
//
// Additive attention on tensors small enough to print: two source sentences
// (the second one padded), one decoder state each. The program computes the
// scores e_j = v^T tanh(W s + U h_j + b) with nn::AdditiveAttention, then
// again with plain loops over the numbers, and checks what the chapter
// claims: each row of weights sums to 1, padding gets exactly 0 weight and
// 0 gradient, the context is the weighted sum of the annotations, and
// U h_j computed once serves every decoder step. Returns 1 if a check fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "nn/additive_attention.h"

namespace {

using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

void show(const std::string& label, const Tensor& t) { std::cout << label << ":\n" << t << "\n"; }

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

}  // namespace

int main() {
  attn::manual_seed(6);
  // B = 2 sentences, S = 4 source positions, decoder state Hq = 3,
  // annotations Hk = 4 (2 x 2 in RNNsearch: forward and backward), MLP A = 5.
  const int64_t B = 2, S = 4, Hq = 3, Hk = 4, A = 5;
  attn::nn::AdditiveAttention attention(attn::nn::AdditiveAttentionOptions(Hq, Hk, A));

  section("1. The parameters");
  for (const auto& [name, p] : attention.named_parameters()) {
    std::printf("  %-13s %s\n", name.c_str(), attn::shape_str(p.shape()).c_str());
  }

  // The encoder's annotations h_j (B, S, Hk) and the decoder's state s (B, Hq).
  // Sentence 0 has 4 real words; sentence 1 has 2, then 2 padding positions
  // whose annotations hold junk (999): the mask must keep them out.
  Tensor annotations = attn::randn({B, S, Hk}).contiguous();
  {
    attn::NoGradGuard no_grad;
    annotations.select(0, 1).narrow(0, 2, 2).fill_(999.0);
  }
  annotations.requires_grad_();
  Tensor query = attn::randn({B, Hq});
  Tensor source_mask = attn::from_vector(std::vector<int64_t>{1, 1, 1, 1,  //
                                                              1, 1, 0, 0},
                                         {B, S});
  show("source_mask (1 = real word, 0 = padding)", source_mask);

  section("2. Scores, masked softmax, context");
  Tensor keys = attention.precompute_keys(annotations);  // U h_j + b: (B, S, A), once per sentence
  attn::nn::AttentionOutput out = attention.forward(query, keys, annotations, source_mask);
  show("weights alpha (B, S)", out.weights);
  show("context c (B, Hk)", out.context);
  std::vector<double> alpha = out.weights.to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    double row = 0;
    for (int64_t j = 0; j < S; ++j) row += alpha[b * S + j];
    check(std::abs(row - 1.0) < 1e-6, "row " + std::to_string(b) + " of alpha sums to 1");
  }
  check(alpha[1 * S + 2] == 0.0 && alpha[1 * S + 3] == 0.0,
        "the two padded positions of sentence 1 get weight exactly 0");
  check(std::isfinite(out.context.sum().item()), "the junk (999) never reached the context");

  section("3. The same numbers with plain loops");
  // e_j = sum_a v[a] * tanh( sum_q W[a][q] s[q] + sum_k U[a][k] h_j[k] + b[a] )
  std::vector<double> W = attention.query_weight.to_vector<double>();  // (A, Hq)
  std::vector<double> U = attention.key_weight.to_vector<double>();    // (A, Hk)
  std::vector<double> bias = attention.key_bias.to_vector<double>();   // (A)
  std::vector<double> v = attention.score_weight.to_vector<double>();  // (A)
  std::vector<double> s = query.to_vector<double>();                   // (B, Hq)
  std::vector<double> h = annotations.to_vector<double>();             // (B, S, Hk)
  std::vector<int64_t> mask = source_mask.to_vector<int64_t>();
  double worst_alpha = 0, worst_context = 0;
  std::vector<double> context = out.context.to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> e(static_cast<size_t>(S));
    double largest = -INFINITY;
    for (int64_t j = 0; j < S; ++j) {
      if (!mask[b * S + j]) continue;  // padding: e_j = -inf, exp(e_j) = 0
      double score = 0;
      for (int64_t a = 0; a < A; ++a) {
        double pre = bias[a];
        for (int64_t q = 0; q < Hq; ++q) pre += W[a * Hq + q] * s[b * Hq + q];
        for (int64_t k = 0; k < Hk; ++k) pre += U[a * Hk + k] * h[(b * S + j) * Hk + k];
        score += v[a] * std::tanh(pre);
      }
      e[j] = score;
      largest = std::max(largest, score);
    }
    double total = 0;
    for (int64_t j = 0; j < S; ++j) total += mask[b * S + j] ? std::exp(e[j] - largest) : 0.0;
    std::printf("  sentence %lld: e =", static_cast<long long>(b));
    for (int64_t j = 0; j < S; ++j) {
      if (mask[b * S + j]) std::printf(" %8.4f", e[j]); else std::printf("     -inf");
    }
    std::printf("\n");
    for (int64_t k = 0; k < Hk; ++k) {
      double c = 0;
      for (int64_t j = 0; j < S; ++j) {
        double a_j = mask[b * S + j] ? std::exp(e[j] - largest) / total : 0.0;
        if (k == 0) worst_alpha = std::max(worst_alpha, std::abs(a_j - alpha[b * S + j]));
        if (a_j > 0) c += a_j * h[(b * S + j) * Hk + k];
      }
      worst_context = std::max(worst_context, std::abs(c - context[b * Hk + k]));
    }
  }
  std::printf("  largest difference: alpha %.2e, context %.2e\n", worst_alpha, worst_context);
  check(worst_alpha < 1e-6, "alpha by hand = AdditiveAttention::forward's weights");
  check(worst_context < 1e-5, "c = sum_j alpha_j h_j by hand = its context");

  section("4. Padding gets no gradient");
  // L = sum(context * w): dL/dh_j = alpha_j * w, so 0 where alpha_j = 0.
  Tensor w = attn::randn({B, Hk});
  (out.context * w).sum().backward();
  Tensor grad = annotations.grad();  // (B, S, Hk)
  show("dL/dh for sentence 1 (rows 2 and 3 are padding)", grad.select(0, 1));
  check(attn::max(attn::maximum(grad.select(0, 1).narrow(0, 2, 2),
                                -grad.select(0, 1).narrow(0, 2, 2))).item() == 0.0,
        "the padded annotations get gradient exactly 0");

  section("5. U h_j once per sentence, W s once per step");
  // A decoder calls forward() once per output word with a new state s_{i-1}
  // but the same `keys`: only W s and the tanh are recomputed.
  attn::NoGradGuard no_grad;
  Tensor annotations_now = annotations.detach();
  Tensor keys_again = attention.precompute_keys(annotations_now);
  for (int step = 1; step <= 3; ++step) {
    Tensor state = attn::randn({B, Hq});
    attn::nn::AttentionOutput reused = attention.forward(state, keys_again, annotations_now, source_mask);
    attn::nn::AttentionOutput fresh = attention.forward(
        state, attention.precompute_keys(annotations_now), annotations_now, source_mask);
    std::printf("  step %d: alpha of sentence 1 = %s\n", step,
                reused.weights.select(0, 1).to_string().c_str());
    check(largest_difference(reused.weights, fresh.weights) == 0.0,
          "step " + std::to_string(step) + ": reusing the keys changes nothing");
  }
  // What a step costs with and without the precomputation, for RNNsearch's
  // paper sizes (A = Hq = 1000, Hk = 2000) and a 50-word sentence:
  const double paper_A = 1000, paper_Hq = 1000, paper_Hk = 2000, paper_S = 50;
  // W s, then v^T tanh(.) at each position, then the weighted sum of the h_j:
  const double per_step = paper_A * paper_Hq + paper_S * paper_A + paper_S * paper_Hk;
  const double recompute = per_step + paper_S * paper_A * paper_Hk;  // + U h_j every step
  std::printf("  multiply-adds per output word at the paper's sizes, S = 50: %.2e with the keys "
              "precomputed, %.2e without (%.0fx)\n",
              per_step, recompute, recompute / per_step);

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
