// Chapter 00, the tour (docs/README.md, "Tour and set-up"): the whole road of
// the course in one small program, each step naming the chapter that explains it.
//
//   ./build/release/examples/example_00_tour
//
// 1. A tensor and its gradient: one line of autograd (chapters 01, 02).
// 2. The built-in `reverse` task, its vocabulary, a batch (chapters 04, 05).
// 3. A tiny Transformer (chapters 09, 12).
// 4. A short training run: Adam, a warm-up schedule, the loss over non-pad
//    target tokens (chapters 04, 10).
// 5. Greedy translation of two sentences, one token at a time with the
//    key/value cache (chapters 08, 11).
// 6. The attention weights of one translation as a text grid (chapters 06,
//    07, 14).
// Everything is seeded and small (a few seconds in Release). The checks are
// only what holds on every machine: the gradient is 2x, the shapes are right,
// the loss falls by a clear margin, the attention rows sum to 1. Whether the
// translations are right is for you to read in the output. Returns 1 if a
// check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "data/batch.h"
#include "data/tasks.h"
#include "nn/transformer.h"
#include "train/optim/clip.h"
#include "train/dataset.h"
#include "train/decode/decode.h"
#include "train/evaluate.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"

namespace {

using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

std::string join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) out += (out.empty() ? "" : " ") + t;
  return out;
}

constexpr int64_t kUpdates = 400;  // small enough for ctest, even under ASan
constexpr int64_t kWindow = 25;    // updates per printed loss

}  // namespace

int main() {
  const auto start = std::chrono::steady_clock::now();

  section("1. A tensor and its gradient (chapters 01 and 02)");
  // x is a float64 tensor of shape (3); y = sum_i x_i^2, so dy/dx = 2x.
  Tensor x = attn::from_vector(std::vector<double>{1, 2, 3}, {3}).requires_grad_();
  Tensor y = (x * x).sum();  // () : the graph y <- sum <- mul <- x, recorded as it runs
  y.backward();              // the chain rule, run backwards through that graph
  std::printf("  x = [1, 2, 3], y = sum(x * x) = %g, dy/dx = [%g, %g, %g]\n", y.item(),
              x.grad().to_vector<double>()[0], x.grad().to_vector<double>()[1],
              x.grad().to_vector<double>()[2]);
  check(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6}, "backward() gives 2x");

  section("2. A task, a vocabulary, a batch (chapters 04 and 05)");
  // reverse: a sequence of symbols -> the same symbols backwards (data/tasks.h).
  attn::data::TaskOptions task;
  task.max_length = 6;   // 1..6 symbols
  task.num_symbols = 8;  // drawn from a..h
  task.train_size = 3000;
  task.valid_size = 50;
  task.test_size = 50;
  attn::data::TaskSplits splits = attn::data::make_task("reverse", task);
  attn::train::DataOptions data;  // the word tokenizer: one symbol, one token
  attn::train::TextPipeline pipeline = attn::train::build_pipeline(data, splits.train);
  attn::train::EncodedPairs train_set = attn::train::encode_pairs(pipeline, splits.train);
  const int64_t V_src = pipeline.source_vocab.size(), V_tgt = pipeline.target_vocab.size();
  std::printf("  %zu training pairs, e.g. \"%s\" -> \"%s\"\n", train_set.size(),
              splits.train[0].source.c_str(), splits.train[0].target.c_str());
  std::printf("  vocabularies: %lld source, %lld target (8 symbols + <pad> <unk> <s> </s>)\n",
              static_cast<long long>(V_src), static_cast<long long>(V_tgt));
  attn::data::BatchOptions batching;
  batching.mini_batch = 32;
  batching.seed = 7;
  attn::data::BatchIterator batches(train_set.sources, train_set.targets, batching);
  attn::data::Batch first = batches.next();
  std::printf("  a batch: source %s, source_lengths %s, target_input %s, target_output %s, "
              "%lld target tokens\n",
              attn::shape_str(first.source.shape()).c_str(),
              attn::shape_str(first.source_lengths.shape()).c_str(),
              attn::shape_str(first.target_input.shape()).c_str(),
              attn::shape_str(first.target_output.shape()).c_str(),
              static_cast<long long>(first.target_tokens));
  const int64_t B = first.size();
  check(first.source.dim() == 2 && first.source.size(0) == B && B == 32 &&
            first.source_lengths.shape() == attn::Shape{B} &&
            first.target_input.shape() == first.target_output.shape() &&
            first.target_input.size(0) == B,
        "source (B, S), lengths (B), target_input and target_output (B, T) with B = 32");
  batches.seek(0, 0);  // training starts from the first batch again

  section("3. A tiny Transformer (chapters 09 and 12)");
  attn::manual_seed(1);
  attn::nn::TransformerOptions options = attn::nn::TransformerOptions::toy(V_src, V_tgt)
                                             .set_d_model(32)
                                             .set_num_heads(2)
                                             .set_d_ff(64)
                                             .set_layers(1, 1)
                                             .set_dropout(0.0);  // the toy's 0.1 slows a run this short
  attn::nn::Transformer model(options);
  std::printf("  %s\n", model.describe().c_str());

  section("4. Training (chapters 04 and 10)");
  // Adam with the Transformer paper's betas and eps; a rate that warms up for
  // 30 updates and then falls as 1/sqrt(step) (train/optim/schedule.h).
  attn::optim::Adam optimizer(model.parameters(),
                              attn::optim::AdamOptions(1e-3).set_betas(0.9, 0.98).set_eps(1e-9));
  attn::optim::InverseSqrtSchedule schedule(attn::optim::InverseSqrtOptions(1e-2).set_warmup(30));
  std::printf("  Adam(0.9, 0.98, 1e-9), %s, batches of %lld, %lld updates\n",
              schedule.describe().c_str(), static_cast<long long>(B),
              static_cast<long long>(kUpdates));
  model.train();
  double window = 0, first_loss = 0, last_loss = 0;
  for (int64_t update = 1; update <= kUpdates; ++update) {
    if (!batches.has_next()) batches.next_epoch();
    attn::data::Batch batch = batches.next();
    Tensor logits = model.forward(batch.source, batch.source_lengths, batch.target_input);  // (B, T, V)
    Tensor loss = attn::cross_entropy(logits.reshape({-1, V_tgt}), batch.target_output.reshape({-1}),
                                      attn::CrossEntropyOptions().ignore(attn::data::kPad));
    // The step written out, as chapter 04 teaches it; attn::train::train_step
    // (train/train_step.h), which `attn train` calls, does the same in one call.
    optimizer.zero_grad();
    loss.backward();
    attn::optim::clip_grad_norm(model.parameters(), 1.0);
    optimizer.set_lr(schedule.rate(update));
    optimizer.step();
    window += loss.item();
    if (update % kWindow == 0) {
      std::printf("    update %3lld  lr %.2e  loss %.4f (mean of the last %lld)\n",
                  static_cast<long long>(update), schedule.rate(update), window / kWindow,
                  static_cast<long long>(kWindow));
      if (update == kWindow) first_loss = window / kWindow;
      last_loss = window / kWindow;
      window = 0;
    }
  }
  std::printf("  uniform guessing over %lld tokens would cost ln %lld = %.4f\n",
              static_cast<long long>(V_tgt), static_cast<long long>(V_tgt),
              std::log(static_cast<double>(V_tgt)));
  check(last_loss < 0.5 * first_loss, "the loss fell to less than half its first window's");

  section("5. Greedy translation (chapters 08 and 11)");
  const std::vector<std::string> sentences = {"a b c d e f", "h e g"};
  std::vector<std::vector<int64_t>> ids;
  std::vector<size_t> order;
  for (const std::string& s : sentences) {
    ids.push_back(pipeline.source_vocab.encode(pipeline.tokenizer.tokenize(s)));
    order.push_back(order.size());
  }
  attn::data::Batch input = attn::data::make_batch(ids, {}, order);  // source (2, 6), padded
  model.eval();  // dropout off (it is 0 here anyway); evaluate() and greedy_decode() need no grad
  const int64_t S = input.source.size(1);
  attn::decode::DecodeResult result = attn::decode::greedy_decode(
      model, input.source, input.source_lengths, attn::train::max_output_length(S));
  std::vector<std::vector<std::string>> outputs;
  for (size_t b = 0; b < sentences.size(); ++b) {
    outputs.push_back(pipeline.target_vocab.decode(result.tokens[b]));
    std::printf("  \"%s\" -> \"%s\"\n", sentences[b].c_str(), join(outputs[b]).c_str());
  }
  // The same decoding on 50 unseen test sentences (train/evaluate.h), for you to read.
  attn::train::EncodedPairs test_set = attn::train::encode_pairs(pipeline, splits.test);
  attn::train::ValidationResult scores = attn::train::evaluate(model, test_set);
  std::printf("  test split: exact match %.0f%%, token accuracy %.1f%% (%zu sentences)\n",
              100 * scores.exact_match, 100 * scores.token_accuracy, test_set.size());
  const int64_t T = result.attention.defined() ? result.attention.size(1) : 0;
  std::printf("  attention: %s (sentences, output steps, source positions)\n",
              attn::shape_str(result.attention.shape()).c_str());
  check(result.attention.defined() && result.attention.shape() == attn::Shape{2, T, S} &&
            T <= attn::train::max_output_length(S),
        "one row of attention weights per output step: (B, T, S) = (2, T, 6)");

  section("6. Where it looked (chapters 06, 07 and 14)");
  // The cross-attention of the last decoder layer, averaged over its heads
  // (TransformerState::last_attention), for the second sentence: rows are the
  // output tokens (and </s>), columns the source tokens; the padding columns
  // get weight 0. One layer's heads, averaged, are often diffuse: where the
  // model looks is not all of how it decides (chapter 14).
  const size_t b = 1;
  std::vector<std::string> source_tokens = pipeline.tokenizer.tokenize(sentences[b]);
  std::vector<std::string> rows = outputs[b];
  rows.push_back("</s>");
  std::vector<double> w = result.attention.select(0, static_cast<int64_t>(b)).contiguous().to_vector<double>();
  std::printf("  %6s", "");
  for (int64_t j = 0; j < S; ++j) {
    std::printf(" %5s", j < static_cast<int64_t>(source_tokens.size()) ? source_tokens[j].c_str() : "<pad>");
  }
  std::printf("   sum\n");
  bool rows_sum_to_one = true, padding_zero = true;
  for (size_t t = 0; t < rows.size() && static_cast<int64_t>(t) < T; ++t) {
    std::printf("  %6s", rows[t].c_str());
    double total = 0;
    for (int64_t j = 0; j < S; ++j) {
      const double a = w[t * S + j];
      std::printf(" %5.2f", a);
      total += a;
      if (j >= static_cast<int64_t>(source_tokens.size())) padding_zero = padding_zero && a == 0.0;
    }
    std::printf("  %.3f\n", total);
    rows_sum_to_one = rows_sum_to_one && std::abs(total - 1.0) < 1e-5;
  }
  check(rows_sum_to_one, "every row of weights sums to 1 over the source");
  check(padding_zero, "the padding columns get weight 0");

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n  whole tour: %.1f s\n", seconds);
  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
