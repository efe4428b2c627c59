// Chapter 07, Luong attention (docs/07-luong-attention.md).
//
//   ./build/release/examples/example_07_luong
//
// nn::LuongAttention on tensors small enough to read, then the nn::Luong
// model around it. The program checks what the chapter claims:
//   1. dot, general and concat (section 3.1) are the numbers their equations give,
//      general with W_a = I is dot, and concat is chapter 06's additive score;
//   2. local-m sees only [t - D, t + D] (clamped to the sentence) and is
//      global renormalised inside it; local-p's p_t and Gaussian are eqs. 9-10;
//   3. the gradient reaches p_t (and W_p, v_p) through the Gaussian, while the
//      window's edges are a jump that no gradient sees;
//   4. forward() (teacher forcing) equals decoding step by step, with input
//      feeding (a loop) and without it (one batched attention);
//   5. Luong's query h_t has read y_{t-1}; Bahdanau's s_{i-1} has not;
//   6. --attention-type mlp is Bahdanau's score, not Luong's.
// Returns 1 if a check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

namespace {

using attn::Tensor;
namespace nn = attn::nn;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

std::vector<double> values_of(const Tensor& t) {
  return t.detach().to(attn::kFloat64).contiguous().to_vector<double>();
}

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

void print_row(const char* label, const std::vector<double>& row) {
  std::printf("  %-30s", label);
  for (double x : row) std::printf(" %7.4f", x);
  std::printf("\n");
}

// A (T, S) matrix of weights, one decoder position per line; an exact 0 (outside
// the window, or padding) prints as "-". `centres` adds p_t in front of each
// row; `labels` replaces the row names t=0, t=1, ...
void print_weights(const Tensor& weights, const std::vector<double>& centres = {},
                   const std::vector<std::string>& labels = {}) {
  const int64_t T = weights.size(0), S = weights.size(1);
  std::vector<double> w = values_of(weights);
  std::printf("  %-5s", "");
  if (!centres.empty()) std::printf(" %5s ", "p_t");
  for (int64_t s = 0; s < S; ++s) std::printf(" %6s ", ("s=" + std::to_string(s)).c_str());
  std::printf("  %6s\n", "sum");
  for (int64_t t = 0; t < T; ++t) {
    std::printf("  %-5s", labels.empty() ? ("t=" + std::to_string(t)).c_str() : labels[t].c_str());
    if (!centres.empty()) std::printf(" %5.2f ", centres[t]);
    double sum = 0;
    for (int64_t s = 0; s < S; ++s) {
      double x = w[t * S + s];
      sum += x;
      if (x == 0.0) std::printf("      - "); else std::printf(" %6.4f ", x);
    }
    std::printf("  %.4f\n", sum);
  }
}

// softmax of `scores` over the positions where `inside` is true; 0 elsewhere.
std::vector<double> softmax_over(const std::vector<double>& scores, const std::vector<bool>& inside) {
  double largest = -INFINITY, total = 0;
  for (size_t s = 0; s < scores.size(); ++s) if (inside[s]) largest = std::max(largest, scores[s]);
  std::vector<double> out(scores.size(), 0.0);
  for (size_t s = 0; s < scores.size(); ++s) {
    if (inside[s]) total += out[s] = std::exp(scores[s] - largest);
  }
  for (double& x : out) x /= total;
  return out;
}

double worst(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

}  // namespace

int main() {
  const int64_t H = 3;  // the decoder's h_t and the encoder's hbar_s both have H numbers

  section("1. Three scores on hand-made numbers");
  // S = 4 source states hbar_s (1, S, H) and one decoder state h_t (1, 1, H).
  const int64_t S = 4;
  std::vector<double> hbar = {1, 0, 0,   // hbar_0
                              0, 1, 0,   // hbar_1
                              0, 0, 1,   // hbar_2
                              1, 1, 0};  // hbar_3
  std::vector<double> h = {2, 1, 0};
  Tensor keys = attn::from_vector(std::vector<float>(hbar.begin(), hbar.end()), {1, S, H});
  Tensor query = attn::from_vector(std::vector<float>(h.begin(), h.end()), {1, 1, H});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{S}, {1});
  std::printf("  hbar_0..3 = (1,0,0) (0,1,0) (0,0,1) (1,1,0);  h_t = (2,1,0)\n");
  const std::vector<bool> all(S, true);

  // dot: score(h_t, hbar_s) = h_t . hbar_s
  nn::LuongAttention dot(nn::LuongAttentionOptions(H, H).set_score("dot"));
  nn::LuongAttentionOutput dot_out = dot.forward(query, dot.precompute_keys(keys), keys, lengths);
  std::vector<double> e(S);
  for (int64_t s = 0; s < S; ++s) {
    e[s] = 0;
    for (int64_t i = 0; i < H; ++i) e[s] += h[i] * hbar[s * H + i];
  }
  print_row("dot scores h^T hbar_s", e);
  print_row("dot weights a_t(s)", values_of(dot_out.weights));
  check(worst(values_of(dot_out.weights), softmax_over(e, all)) < 1e-6,
        "dot: weights = softmax(h_t . hbar_s), worked out by hand");

  // general: score = h_t^T W_a hbar_s, with a W_a that swaps features 0 and 2.
  nn::LuongAttention general(nn::LuongAttentionOptions(H, H).set_score("general"));
  std::vector<double> W = {0, 0, 1,  //
                           0, 1, 0,  //
                           1, 0, 0};
  {
    attn::NoGradGuard no_grad;  // parameters are written in place only outside the graph
    general.score_weight.copy_(attn::from_vector(std::vector<float>(W.begin(), W.end()), {H, H}));
  }
  nn::LuongAttentionOutput general_out =
      general.forward(query, general.precompute_keys(keys), keys, lengths);
  for (int64_t s = 0; s < S; ++s) {
    e[s] = 0;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < H; ++j) e[s] += h[i] * W[i * H + j] * hbar[s * H + j];
    }
  }
  print_row("general scores h^T W_a hbar_s", e);
  print_row("general weights a_t(s)", values_of(general_out.weights));
  check(worst(values_of(general_out.weights), softmax_over(e, all)) < 1e-6,
        "general: weights = softmax(h_t^T W_a hbar_s), worked out by hand");
  {
    attn::NoGradGuard no_grad;
    general.score_weight.copy_(attn::from_vector(std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}, {H, H}));
  }
  nn::LuongAttentionOutput identity_out =
      general.forward(query, general.precompute_keys(keys), keys, lengths);
  check(largest_difference(identity_out.weights, dot_out.weights) < 1e-7,
        "general with W_a = I gives dot's weights");

  // concat: score = v_a^T tanh(W_a [h_t ; hbar_s]), W_a = [concat_query | concat_key].
  attn::manual_seed(7);
  nn::LuongAttention concat(nn::LuongAttentionOptions(H, H).set_score("concat"));
  std::vector<double> Wq = values_of(concat.concat_query), Wk = values_of(concat.concat_key),
                      v = values_of(concat.concat_v);
  const int64_t A = concat.options().attention_size;
  nn::LuongAttentionOutput concat_out =
      concat.forward(query, concat.precompute_keys(keys), keys, lengths);
  for (int64_t s = 0; s < S; ++s) {
    e[s] = 0;
    for (int64_t a = 0; a < A; ++a) {
      double pre = 0;
      for (int64_t i = 0; i < H; ++i) pre += Wq[a * H + i] * h[i] + Wk[a * H + i] * hbar[s * H + i];
      e[s] += v[a] * std::tanh(pre);
    }
  }
  print_row("concat scores v^T tanh(...)", e);
  print_row("concat weights a_t(s)", values_of(concat_out.weights));
  check(worst(values_of(concat_out.weights), softmax_over(e, all)) < 1e-6,
        "concat: weights = softmax(v_a^T tanh(W_a [h_t ; hbar_s])), worked out by hand");
  // Chapter 06's AdditiveAttention with the same matrices and no bias, fed h_t.
  nn::AdditiveAttention additive(nn::AdditiveAttentionOptions(H, H, A));
  {
    attn::NoGradGuard no_grad;
    additive.query_weight.copy_(concat.concat_query);
    additive.key_weight.copy_(concat.concat_key);
    additive.key_bias.zero_();
    additive.score_weight.copy_(concat.concat_v);
  }
  Tensor mask = attn::from_vector(std::vector<int64_t>{1, 1, 1, 1}, {1, S});
  nn::AttentionOutput bahdanau_out =
      additive.forward(query.reshape({1, H}), additive.precompute_keys(keys), keys, mask);
  check(largest_difference(bahdanau_out.weights, concat_out.weights.reshape({1, S})) < 1e-6,
        "concat = chapter 06's additive score with h_t as the query and b_a = 0");

  section("2. Global, local-m and local-p on one sentence (S = 5, T = 7, D = 1)");
  // One sentence of 5 source states, 7 decoder positions (an output longer
  // than its input, as in dates), random numbers: the attention is untrained.
  const int64_t S2 = 5, T2 = 7, D = 1;
  attn::manual_seed(8);
  Tensor keys2 = attn::randn({1, S2, H});
  Tensor queries = attn::randn({1, T2, H});
  Tensor lengths2 = attn::from_vector(std::vector<int64_t>{S2}, {1});
  std::vector<double> k2 = values_of(keys2), q2 = values_of(queries);
  // The dot scores by hand, (T, S): the same for every scope.
  std::vector<std::vector<double>> scores(T2, std::vector<double>(S2, 0.0));
  for (int64_t t = 0; t < T2; ++t) {
    for (int64_t s = 0; s < S2; ++s) {
      for (int64_t i = 0; i < H; ++i) scores[t][s] += q2[t * H + i] * k2[s * H + i];
    }
  }
  auto run = [&](const std::string& scope) {
    attn::manual_seed(9);
    auto module = std::make_shared<nn::LuongAttention>(
        nn::LuongAttentionOptions(H, H).set_score("dot").set_scope(scope).set_window(D));
    nn::LuongAttentionOutput out = module->forward(queries, keys2, keys2, lengths2);
    return std::make_pair(module, out);
  };

  std::printf("global: every source position, every row sums to 1\n");
  nn::LuongAttentionOutput global = run("global").second;
  print_weights(global.weights.select(0, 0));
  std::vector<double> g = values_of(global.weights);
  bool rows_sum_to_one = true;
  for (int64_t t = 0; t < T2; ++t) {
    double sum = 0;
    for (int64_t s = 0; s < S2; ++s) sum += g[t * S2 + s];
    rows_sum_to_one = rows_sum_to_one && std::abs(sum - 1.0) < 1e-6;
  }
  check(rows_sum_to_one, "global: each row of a_t sums to 1");

  std::printf("local-m: p_t = t (clamped to the last word, 4), window [p_t - 1, p_t + 1]\n");
  nn::LuongAttentionOutput local_m = run("local-m").second;
  std::vector<double> centres_m = values_of(local_m.positions.select(0, 0));
  print_weights(local_m.weights.select(0, 0), centres_m);
  std::vector<double> m = values_of(local_m.weights);
  bool clamped = true, inside_only = true, renormalised = true;
  for (int64_t t = 0; t < T2; ++t) {
    const double p = static_cast<double>(std::min<int64_t>(t, S2 - 1));
    clamped = clamped && centres_m[t] == p;
    double window_total = 0;
    for (int64_t s = 0; s < S2; ++s) if (std::abs(s - p) <= D) window_total += g[t * S2 + s];
    for (int64_t s = 0; s < S2; ++s) {
      bool inside = std::abs(s - p) <= D;
      if (!inside) inside_only = inside_only && m[t * S2 + s] == 0.0;
      if (inside) renormalised = renormalised && std::abs(m[t * S2 + s] - g[t * S2 + s] / window_total) < 1e-6;
    }
  }
  check(clamped, "local-m: p_t = min(t, S - 1)");
  check(inside_only, "local-m: every position outside [p_t - D, p_t + D] gets weight exactly 0");
  check(renormalised, "local-m: inside the window, the weights are global's divided by their sum there");

  std::printf("local-p: p_t = S sigmoid(v_p^T tanh(W_p h_t)), weights times exp(-(s - p_t)^2 / (2 sigma^2)), sigma = 0.5\n");
  auto [local_p_module, local_p] = run("local-p");
  std::vector<double> centres_p = values_of(local_p.positions.select(0, 0));
  print_weights(local_p.weights.select(0, 0), centres_p);
  std::vector<double> Wp = values_of(local_p_module->position_weight), vp = values_of(local_p_module->position_v);
  std::vector<double> lp = values_of(local_p.weights);
  const double sigma = D / 2.0;
  double worst_p = 0, worst_w = 0, largest_sum = 0;
  for (int64_t t = 0; t < T2; ++t) {
    double logit = 0;
    for (int64_t a = 0; a < H; ++a) {
      double hidden = 0;
      for (int64_t i = 0; i < H; ++i) hidden += Wp[a * H + i] * q2[t * H + i];
      logit += vp[a] * std::tanh(hidden);
    }
    const double p = S2 / (1.0 + std::exp(-logit));  // eq. (9)
    worst_p = std::max(worst_p, std::abs(p - centres_p[t]));
    std::vector<bool> inside(S2);
    for (int64_t s = 0; s < S2; ++s) inside[s] = std::abs(s - p) <= D;
    std::vector<double> a = softmax_over(scores[t], inside);
    double sum = 0;
    for (int64_t s = 0; s < S2; ++s) {
      double expected = a[s] * std::exp(-(s - p) * (s - p) / (2 * sigma * sigma));  // eq. (10)
      worst_w = std::max(worst_w, std::abs(expected - lp[t * S2 + s]));
      sum += lp[t * S2 + s];
    }
    largest_sum = std::max(largest_sum, sum);
  }
  std::printf("  largest difference from the loops: p_t %.2e, weights %.2e\n", worst_p, worst_w);
  check(worst_p < 1e-5, "local-p: p_t = S sigmoid(v_p^T tanh(W_p h_t)), eq. (9)");
  check(worst_w < 1e-6, "local-p: a_t(s) = softmax over the window * Gaussian, eq. (10)");
  check(largest_sum < 1.0, "local-p: the Gaussian leaves every row summing to less than 1");

  section("3. How p_t learns: through the Gaussian, not the window's edges");
  // local-p with W_p = I and v_p = (v, 0, 0): p_t = S sigmoid(v tanh(h_0)), so
  // one number v slides p_t along the sentence while the scores stay fixed.
  // L = sum_k w_k c_t[k] for a fixed random w; float64 for finite differences.
  const int64_t S3 = 6;
  attn::manual_seed(10);
  nn::LuongAttention probe(
      nn::LuongAttentionOptions(H, H).set_score("dot").set_scope("local-p").set_window(1));
  probe.to(attn::kFloat64);
  Tensor keys3 = attn::randn({1, S3, H}, attn::kFloat64);
  Tensor query3 = attn::from_vector(std::vector<double>{1.0, 0.5, -0.5}, {1, 1, H});
  Tensor upstream = attn::randn({1, 1, H}, attn::kFloat64);
  Tensor lengths3 = attn::from_vector(std::vector<int64_t>{S3}, {1});
  {
    attn::NoGradGuard no_grad;
    probe.position_weight.copy_(attn::from_vector(std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}, {H, H}));
  }
  const double tanh_h0 = std::tanh(1.0);
  auto place = [&](double p) {  // v such that p_t = p
    attn::NoGradGuard no_grad;
    probe.position_v.copy_(attn::from_vector(
        std::vector<double>{std::log(p / (S3 - p)) / tanh_h0, 0, 0}, {H}));
  };
  auto loss_at = [&](double p) {
    place(p);
    attn::NoGradGuard no_grad;
    return (probe.forward(query3, keys3, keys3, lengths3).context * upstream).sum().item();
  };
  std::printf("     p_t   window      L       dL/dp_t autograd   dL/dp_t finite diff.\n");
  const std::vector<double> sweep = {2.5, 2.9, 2.99, 3.01, 3.1};
  std::vector<double> slopes;
  bool slopes_agree = true;
  for (double p : sweep) {
    place(p);
    probe.zero_grad();
    nn::LuongAttentionOutput out = probe.forward(query3, keys3, keys3, lengths3);
    Tensor loss = (out.context * upstream).sum();
    loss.backward();
    // dL/dv from autograd; dp/dv = S sigma'(.) tanh(h_0) = p (1 - p / S) tanh(h_0).
    const double slope = values_of(probe.position_v.grad())[0] / (p * (1 - p / S3) * tanh_h0);
    const double delta = 1e-5;
    const double numeric = (loss_at(p + delta) - loss_at(p - delta)) / (2 * delta);
    slopes.push_back(slope);
    slopes_agree = slopes_agree && std::abs(slope - numeric) < 1e-6 * std::max(1.0, std::abs(slope));
    int64_t first = static_cast<int64_t>(std::ceil(p - 1)), last = static_cast<int64_t>(std::floor(p + 1));
    std::printf("  %6.2f   s=%lld..%lld  %9.5f   %12.5f   %18.5f\n", p, static_cast<long long>(first),
                static_cast<long long>(last), loss.item(), slope, numeric);
    if (p == 2.5) {
      std::printf("  at p_t = 2.5, dL/dv_p = %s, dL/dW_p row 0 = %s\n",
                  probe.position_v.grad().to_string().c_str(),
                  probe.position_weight.grad().select(0, 0).to_string().c_str());
      check(std::abs(values_of(probe.position_v.grad())[0]) > 1e-3 &&
                std::abs(values_of(probe.position_weight.grad().select(0, 0))[0]) > 1e-3,
            "the gradient reaches v_p and W_p (nonzero), through p_t and the Gaussian");
    }
  }
  check(slopes_agree, "between the edges, autograd's dL/dp_t is the slope of L (finite differences)");
  place(2.99);
  nn::LuongAttentionOutput before = probe.forward(query3, keys3, keys3, lengths3);
  place(3.01);
  nn::LuongAttentionOutput after = probe.forward(query3, keys3, keys3, lengths3);
  std::printf("  the weights at p_t = 2.99 and 3.01: s = 2 leaves the window, s = 4 enters\n");
  print_weights(attn::cat({before.weights.select(0, 0), after.weights.select(0, 0)}, 0), {2.99, 3.01},
                {"p<3", "p>3"});
  const double jump = loss_at(3.01) - loss_at(2.99);
  const double predicted = slopes[2] * 0.02;
  std::printf("  L(3.01) - L(2.99) = %.5f; the gradient predicts %.5f\n", jump, predicted);
  check(std::abs(jump) > 5 * std::abs(predicted),
        "crossing an edge is a jump the gradient does not see (it is 0 almost everywhere)");

  section("4. A Luong model: forward() equals decoding step by step");
  // Two source sentences (the second padded after 3 words), 6 target positions.
  Tensor source = attn::from_vector(std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0}, {2, 5});
  Tensor source_lengths = attn::from_vector(std::vector<int64_t>{5, 3}, {2});
  Tensor target = attn::from_vector(std::vector<int64_t>{2, 4, 5, 6, 7, 8, 2, 8, 7, 6, 5, 4}, {2, 6});
  for (bool feed : {true, false}) {
    attn::manual_seed(11);
    nn::LuongOptions options(12, 10);
    options.embedding_size = 4;
    options.hidden_size = 5;
    options.score = "general";
    options.scope = "local-p";
    options.window = 2;
    options.input_feed = feed;
    nn::Luong model(options);
    model.eval();
    attn::NoGradGuard no_grad;
    std::printf("%s\n", model.describe().c_str());
    for (const auto& [name, p] : model.named_parameters()) {
      if (name == "decoder_l0.weight_ih") {
        std::printf("  decoder_l0.weight_ih %s: the first LSTM layer reads %s\n",
                    attn::shape_str(p.shape()).c_str(), feed ? "[E y_{t-1} ; htilde_{t-1}], 4 + 5" : "E y_{t-1}, 4");
      }
    }
    nn::LuongAttentionOutput attention;
    Tensor logits = model.forward_with_attention(source, source_lengths, target, attention);  // (B, T, V)
    std::unique_ptr<nn::DecoderState> state = model.start(source, source_lengths);
    double worst_logits = 0, worst_weights = 0, worst_centres = 0;
    for (int64_t t = 0; t < target.size(1); ++t) {
      Tensor step = model.step(*state, target.select(1, t));  // (B, V)
      worst_logits = std::max(worst_logits, largest_difference(step, logits.select(1, t)));
      worst_weights = std::max(worst_weights,
                               largest_difference(state->last_attention(), attention.weights.select(1, t)));
      worst_centres = std::max(worst_centres,
                               largest_difference(state->last_position(), attention.positions.select(1, t)));
    }
    std::printf("  sentence 1 (3 real words), the weights of forward():\n");
    print_weights(attention.weights.select(0, 1), values_of(attention.positions.select(0, 1)));
    std::printf("  forward() vs 6 calls of step(): logits %.2e, weights %.2e, p_t %.2e\n", worst_logits,
                worst_weights, worst_centres);
    const std::string how = feed ? "with input feeding" : "without input feeding";
    check(worst_logits < 1e-5 && worst_weights < 1e-6 && worst_centres < 1e-5,
          how + ": teacher-forced forward() = step-by-step decoding");
    check(values_of(attention.weights.select(0, 1).narrow(1, 3, 2)) == std::vector<double>(12, 0.0),
          how + ": the padding of sentence 1 gets weight exactly 0");
  }

  // What input feeding costs: the attention inside the loop, once per
  // position, against one batched product after it. A training step each.
  std::printf("one training step (forward + backward), B = 32, S = T = 20, E = H = 64, general/global:\n");
  for (bool feed : {true, false}) {
    attn::manual_seed(12);
    nn::LuongOptions options(50, 50);
    options.embedding_size = 64;
    options.hidden_size = 64;
    options.input_feed = feed;
    nn::Luong model(options);
    Tensor src = attn::randint(4, 50, {32, 20});
    Tensor tgt = attn::randint(4, 50, {32, 20});
    Tensor lens = attn::full({32}, 20.0, attn::kInt64);
    double best = 1e9;
    for (int repeat = 0; repeat < 3; ++repeat) {
      model.zero_grad();
      auto start = std::chrono::steady_clock::now();
      model.forward(src, lens, tgt).sum().backward();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      best = std::min(best, ms);
    }
    std::printf("  %-22s %7.1f ms (best of 3; your machine will differ)\n",
                feed ? "with input feeding" : "without input feeding", best);
  }

  section("5. The query: Luong's h_t has read y_{t-1}, Bahdanau's s_{i-1} has not");
  // Decode two steps from the same source, the second step fed token 4 or
  // token 7, and compare the attention of that second step.
  Tensor one_source = source.narrow(0, 0, 1), one_length = source_lengths.narrow(0, 0, 1);
  auto second_step_weights = [&](nn::Translator& model, int64_t token) {
    attn::NoGradGuard no_grad;
    std::unique_ptr<nn::DecoderState> state = model.start(one_source, one_length);
    model.step(*state, attn::from_vector(std::vector<int64_t>{2}, {1}));  // <s>
    model.step(*state, attn::from_vector(std::vector<int64_t>{token}, {1}));
    return state->last_attention();  // (1, S)
  };
  attn::manual_seed(13);
  nn::LuongOptions luong_options(12, 10);
  luong_options.embedding_size = 4;
  luong_options.hidden_size = 5;
  nn::Luong luong(luong_options);
  nn::RNNSearchOptions rnnsearch_options(12, 10);
  rnnsearch_options.embedding_size = 4;
  rnnsearch_options.hidden_size = 5;
  nn::RNNSearch rnnsearch(rnnsearch_options);
  Tensor luong4 = second_step_weights(luong, 4), luong7 = second_step_weights(luong, 7);
  Tensor bahdanau4 = second_step_weights(rnnsearch, 4), bahdanau7 = second_step_weights(rnnsearch, 7);
  print_row("Luong, y_1 = 4", values_of(luong4));
  print_row("Luong, y_1 = 7", values_of(luong7));
  print_row("Bahdanau, y_1 = 4", values_of(bahdanau4));
  print_row("Bahdanau, y_1 = 7", values_of(bahdanau7));
  check(largest_difference(luong4, luong7) > 1e-4,
        "Luong: the attention at step 2 depends on the token just fed (h_2 has read it)");
  check(largest_difference(bahdanau4, bahdanau7) == 0.0,
        "Bahdanau: the attention at step 2 does not (s_1 was computed before y_1 was read)");

  section("6. Names: mlp is Bahdanau's score");
  try {
    nn::LuongAttention wrong(nn::LuongAttentionOptions(H, H).set_score("mlp"));
    check(false, "LuongAttention refuses the score 'mlp'");
  } catch (const attn::Error& error) {
    std::printf("  %s\n", error.what());
    check(std::string(error.what()).find("--type bahdanau") != std::string::npos,
          "LuongAttention refuses 'mlp' and points to --type bahdanau");
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
