// Chapter 05, the RNN encoder-decoder and its bottleneck
// (docs/05-rnn-encoder-decoder.md).
//
//   ./build/release/examples/example_05_bottleneck [--svg exact-match-by-length.svg]
//
// First one GRU step computed by hand from the equations of nn/gru.h and
// compared with nn::GRUCell. Then two translators that differ in one switch,
// RNNSearchOptions::attention: the encoder-decoder that squeezes the source
// into one fixed vector (Cho et al. 2014; attn's --type s2s) and RNNsearch
// (Bahdanau et al. 2014; --type bahdanau). Both are trained the same way, on
// the same batches, for the same number of updates, on the `reverse` task
// with sequences of up to 12 symbols; then both are scored by source length.
// The checks are only what holds on every machine: the GRU step matches, both
// models train (the loss falls), and their scores are proper fractions. Which
// model wins, and by how much, is for you to read in the output (the chapter
// discusses it). Returns 1 if a check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "data/batch.h"
#include "data/tasks.h"
#include "nn/gru.h"
#include "nn/rnnsearch.h"
#include "train/dataset.h"
#include "train/plot/line_chart.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"
#include "train/trainer.h"

namespace {

using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

constexpr int64_t kUpdates = 300;     // per model
constexpr int64_t kMaxLength = 12;    // reverse: 1..12 symbols
constexpr int64_t kSymbols = 10;      // drawn from a..j

struct Trained {
  double first_loss = 0, last_loss = 0, seconds = 0;
};

// The loop of chapter 04, with the library's step (train/train_step.h, what
// train/trainer.cpp calls): the same seed, so both models see the same
// batches in the same order.
Trained train(attn::nn::RNNSearch& model, const attn::train::EncodedPairs& set) {
  attn::data::BatchOptions batching;
  batching.mini_batch = 32;
  batching.seed = 5;
  attn::data::BatchIterator batches(set.sources, set.targets, batching);
  attn::optim::Adam optimizer(model.parameters(), attn::optim::AdamOptions(3e-3));
  attn::optim::ConstantSchedule schedule(3e-3);
  attn::train::TrainStepOptions step_options;
  step_options.clip_norm = 1.0;
  Trained result;
  auto start = std::chrono::steady_clock::now();
  double window = 0;
  model.train();
  for (int64_t update = 1; update <= kUpdates; ++update) {
    if (!batches.has_next()) batches.next_epoch();
    attn::data::Batch batch = batches.next();
    // forward, loss, backward, clip at 1, step: chapter 04's step, as one call
    attn::train::TrainStepResult step =
        attn::train::train_step(model, batch, optimizer, schedule, update, step_options);
    window += step.loss;
    if (update % 50 == 0) {
      std::printf("    update %3lld  loss %.4f (mean of the last 50)\n",
                  static_cast<long long>(update), window / 50);
      if (update == 50) result.first_loss = window / 50;
      result.last_loss = window / 50;
      window = 0;
    }
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// The sentences of `set` whose source has lo..hi tokens.
attn::train::EncodedPairs by_length(const attn::train::EncodedPairs& set, size_t lo, size_t hi) {
  attn::train::EncodedPairs out;
  for (size_t i = 0; i < set.size(); ++i) {
    if (set.sources[i].size() < lo || set.sources[i].size() > hi) continue;
    out.pairs.push_back(set.pairs[i]);
    out.sources.push_back(set.sources[i]);
    out.targets.push_back(set.targets[i]);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  section("1. One GRU step by hand (nn/gru.h)");
  // r = sig(W_ir x + b_ir + W_hr h + b_hr), z = sig(W_iz x + b_iz + W_hz h + b_hz),
  // n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.
  // weight_ih is (3H, I) with the rows of r, z, n stacked; weight_hh (3H, H) alike.
  attn::manual_seed(5);
  const int64_t I = 3, H = 2;
  attn::nn::GRUCell cell(I, H);
  Tensor x = attn::randn({1, I});
  Tensor h = attn::randn({1, H});
  Tensor h_next = cell.forward(x, h);  // (1, H)
  std::vector<double> Wi = cell.weight_ih.to_vector<double>(), Wh = cell.weight_hh.to_vector<double>();
  std::vector<double> bi = cell.bias_ih.to_vector<double>(), bh = cell.bias_hh.to_vector<double>();
  std::vector<double> xv = x.to_vector<double>(), hv = h.to_vector<double>();
  // gate g (0 = r, 1 = z, 2 = n), unit k: W_i x + b_i and W_h h + b_h
  auto gi = [&](int64_t g, int64_t k) {
    double sum = bi[g * H + k];
    for (int64_t i = 0; i < I; ++i) sum += Wi[(g * H + k) * I + i] * xv[i];
    return sum;
  };
  auto gh = [&](int64_t g, int64_t k) {
    double sum = bh[g * H + k];
    for (int64_t j = 0; j < H; ++j) sum += Wh[(g * H + k) * H + j] * hv[j];
    return sum;
  };
  std::vector<double> mine(static_cast<size_t>(H));
  for (int64_t k = 0; k < H; ++k) {
    double r = sigmoid(gi(0, k) + gh(0, k));
    double z = sigmoid(gi(1, k) + gh(1, k));
    double n = std::tanh(gi(2, k) + r * gh(2, k));
    mine[k] = (1 - z) * n + z * hv[k];
    std::printf("  unit %lld: r %.4f  z %.4f  n %+.4f  h %+.4f -> h' %+.4f\n",
                static_cast<long long>(k), r, z, n, hv[k], mine[k]);
  }
  std::vector<double> theirs = h_next.to_vector<double>();
  double worst = 0;
  for (int64_t k = 0; k < H; ++k) worst = std::max(worst, std::abs(mine[k] - theirs[k]));
  std::printf("  GRUCell::forward gives h' = %+.4f %+.4f (largest difference %.1e)\n", theirs[0],
              theirs[1], worst);
  check(worst < 1e-6, "the equations of nn/gru.h are what GRUCell computes");

  section("2. The data: reverse, 1..12 symbols from a..j");
  attn::data::TaskOptions task;
  task.max_length = kMaxLength;
  task.num_symbols = kSymbols;
  task.train_size = 6000;
  task.test_size = 600;
  attn::data::TaskSplits splits = attn::data::make_task("reverse", task);
  attn::train::DataOptions data;  // word tokenizer, no caps on the vocabulary
  attn::train::TextPipeline pipeline = attn::train::build_pipeline(data, splits.train);
  attn::train::EncodedPairs train_set = attn::train::encode_pairs(pipeline, splits.train);
  attn::train::EncodedPairs test_set = attn::train::encode_pairs(pipeline, splits.test);
  std::printf("  %zu training pairs, %zu test pairs, vocabulary %lld (10 symbols + 4 specials)\n",
              train_set.size(), test_set.size(),
              static_cast<long long>(pipeline.source_vocab.size()));
  std::printf("  e.g. \"%s\" -> \"%s\"\n", splits.train[0].source.c_str(),
              splits.train[0].target.c_str());

  section("3. Two models, one switch");
  attn::nn::RNNSearchOptions options(pipeline.source_vocab.size(), pipeline.target_vocab.size());
  options.embedding_size = 32;
  options.hidden_size = 64;
  options.attention = false;
  attn::manual_seed(1);
  attn::nn::RNNSearch encdec(options);  // --type s2s
  options.attention = true;
  attn::manual_seed(1);
  attn::nn::RNNSearch search(options);  // --type bahdanau
  std::printf("  %s\n  %s\n", encdec.describe().c_str(), search.describe().c_str());
  std::printf("  without attention the decoder sees the source only through 2H = %lld numbers\n",
              static_cast<long long>(2 * options.hidden_size));

  section("4. Train both the same way");
  std::printf("  s2s (no attention), %lld updates:\n", static_cast<long long>(kUpdates));
  Trained a = train(encdec, train_set);
  std::printf("  bahdanau (attention), %lld updates:\n", static_cast<long long>(kUpdates));
  Trained b = train(search, train_set);
  std::printf("  time: s2s %.1f s, bahdanau %.1f s\n", a.seconds, b.seconds);
  check(a.last_loss < a.first_loss && b.last_loss < b.first_loss, "both losses fell");

  section("5. Exact match by source length (greedy decoding, test split)");
  std::printf("  %-10s %10s %10s\n", "length", "s2s", "bahdanau");
  bool fractions = true;
  const size_t buckets[][2] = {{1, 4}, {5, 8}, {9, 12}, {1, 12}};
  for (const auto& bucket : buckets) {
    attn::train::EncodedPairs part = by_length(test_set, bucket[0], bucket[1]);
    attn::train::ValidationResult ra = attn::train::evaluate(encdec, part);
    attn::train::ValidationResult rb = attn::train::evaluate(search, part);
    std::printf("  %2zu..%-2zu %-3s %9.1f%% %9.1f%%   (%zu sentences)\n", bucket[0], bucket[1],
                bucket[0] == 1 && bucket[1] == 12 ? "all" : "", 100 * ra.exact_match,
                100 * rb.exact_match, part.size());
    for (double v : {ra.exact_match, rb.exact_match}) fractions = fractions && v >= 0 && v <= 1;
  }
  check(fractions, "both models were scored (exact match in [0, 1])");

  // --svg PATH: the same scores length by length, as the chapter's figure.
  if (argc == 3 && std::string(argv[1]) == "--svg") {
    section("6. Exact match at each source length (--svg)");
    attn::plot::ChartSeries without{"s2s (one fixed vector)", {}, {}};
    attn::plot::ChartSeries with{"bahdanau (attention)", {}, {}};
    for (size_t length = 1; length <= static_cast<size_t>(kMaxLength); ++length) {
      attn::train::EncodedPairs part = by_length(test_set, length, length);
      if (part.size() == 0) continue;
      double ea = 100 * attn::train::evaluate(encdec, part).exact_match;
      double eb = 100 * attn::train::evaluate(search, part).exact_match;
      std::printf("  length %2zu: s2s %5.1f%%  bahdanau %5.1f%%  (%zu sentences)\n", length, ea,
                  eb, part.size());
      for (auto* series : {&without, &with}) series->x.push_back(static_cast<double>(length));
      without.y.push_back(ea);
      with.y.push_back(eb);
    }
    attn::plot::LineChartOptions chart;
    chart.title = "reverse, a..j, 300 updates each: exact match by source length";
    chart.x_label = "source length (symbols)";
    chart.y_label = "test exact match (%)";
    attn::plot::write_drawing(attn::plot::line_chart({without, with}, chart), argv[2]);
    std::printf("  wrote %s\n", argv[2]);
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
