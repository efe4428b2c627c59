// Chapter 14, attention is not understanding
// (docs/14-attention-is-not-understanding.md).
//
//   ./build/release/examples/example_14_not_understanding
//
// Trains a small RNNsearch (Bahdanau attention, chapter 06) on the `dates`
// task from scratch, then feeds it dates that contradict themselves: a
// weekday that is not the date's, a day the month does not have
// ("february 30 , 2014"), two months ("march 5 april , 2014"), and a
// day-first number whose month is impossible ("05 / 13 / 2014"). Each kind
// comes with its clean twin (the same date written correctly), 100 dates
// each, and for every output token the program measures how peaked the
// attention is (its largest weight, and its entropy) and how sure the model
// is of the token it chose. Then it prints a few sentences one by one.
//
// The checks are only what holds on every machine, with wide margins: the
// model learned the task (token accuracy on the test split far above what a
// model blind to the source gets); on every kind of contradiction the
// attention stays peaked (mean largest weight at least 0.5, where even
// attention would give at most 0.25); and for the two contradictions the task
// never asked the model to notice (weekday, impossible day) neither the
// attention's peak nor the output's probability moves by more than 0.05. What
// the model writes for the other two, and how much less sure it is there, is
// for you to read in the output (the chapter discusses it). Returns 1 if a
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
#include "data/dates.h"
#include "data/tasks.h"
#include "nn/rnnsearch.h"
#include "kernels/generator.h"
#include "train/dataset.h"
#include "train/evaluate.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"

namespace {

using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

constexpr int64_t kUpdates = 400;  // small enough for ctest, even under ASan
constexpr int64_t kPerKind = 100;  // dates per kind of contradiction

const char* const kMonths[12] = {"january", "february", "march",     "april",   "may",      "june",
                                 "july",    "august",   "september", "october", "november", "december"};
const char* const kWeekdays[7] = {"monday", "tuesday", "wednesday", "thursday",
                                  "friday", "saturday", "sunday"};

std::string two_digits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

// The task's formats, tokenized as the task tokenizes them (data/dates.h), but
// for any numbers: nothing here checks that the date exists.
std::string words(const std::string& month, int day, int year) {  // format 0
  return month + " " + std::to_string(day) + " , " + std::to_string(year);
}
std::string numeric(int day, int month, int year) {  // format 13, day first
  return two_digits(day) + " / " + two_digits(month) + " / " + std::to_string(year);
}
std::string with_weekday(int weekday, const attn::data::Date& d) {  // format 10
  return std::string(kWeekdays[weekday]) + " , " + words(kMonths[d.month - 1], d.day, d.year);
}
// "2 0 1 4 - 0 2 - 3 0" for any numbers.
std::string iso_tokens(int year, int month, int day) {
  std::string digits = std::to_string(year) + "-" + two_digits(month) + "-" + two_digits(day);
  std::string out;
  for (char c : digits) out += (out.empty() ? "" : " ") + std::string(1, c);
  return out;
}

// One sentence as the model read it and wrote it.
struct Reading {
  std::string output;        // the greedy output, tokens joined by spaces
  double max_weight = 0;     // mean over output tokens of max_j alpha_tj
  double entropy = 0;        // mean over output tokens of -sum_j alpha_tj log alpha_tj (nats)
  double uniform_entropy = 0;  // log S: the entropy of attention spread evenly
  double probability = 0;    // P(output, </s>) = the product of each chosen token's probability
  double least_sure = 1;     // the smallest of those per-token probabilities
};

// Greedy decoding (train/decode/decode.cpp's loop) that also keeps, per step, the
// probability of the chosen token and the attention weights.
std::vector<Reading> read(attn::nn::RNNSearch& model, const attn::train::TextPipeline& pipeline,
                          const std::vector<std::string>& sentences) {
  attn::NoGradGuard no_grad;
  model.eval();
  std::vector<std::vector<int64_t>> ids;
  std::vector<size_t> order;
  for (const std::string& s : sentences) {
    ids.push_back(pipeline.source_vocab.encode(pipeline.tokenizer.tokenize(s)));
    order.push_back(order.size());
  }
  attn::data::Batch batch = attn::data::make_batch(ids, {}, order);
  const int64_t B = batch.source.size(0), S = batch.source.size(1);
  std::unique_ptr<attn::nn::DecoderState> state = model.start(batch.source, batch.source_lengths);
  Tensor previous = attn::full({B}, static_cast<double>(attn::data::kBos),
                               attn::TensorOptions(attn::kInt64));
  std::vector<Reading> out(static_cast<size_t>(B));
  std::vector<int64_t> steps(static_cast<size_t>(B), 0);
  std::vector<bool> done(static_cast<size_t>(B), false);
  for (int64_t t = 0; t < attn::train::max_output_length(S); ++t) {
    Tensor probs = attn::softmax(model.step(*state, previous), -1);  // (B, V)
    Tensor next = attn::argmax(probs, -1);                            // (B)
    std::vector<double> p = probs.to_vector<double>();
    std::vector<double> alpha = state->last_attention().contiguous().to_vector<double>();  // (B, S)
    std::vector<int64_t> chosen = next.to_vector<int64_t>();
    const int64_t V = probs.size(1);
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      Reading& r = out[b];
      const double pc = p[b * V + chosen[b]];
      r.probability = (t == 0 ? 1.0 : r.probability) * pc;
      r.least_sure = std::min(r.least_sure, pc);
      if (chosen[b] == attn::data::kEos) {
        done[b] = true;
        continue;
      }
      // The peakedness of this output token's attention (padding has weight 0).
      double largest = 0, entropy = 0;
      for (int64_t j = 0; j < S; ++j) {
        const double a = alpha[b * S + j];
        largest = std::max(largest, a);
        if (a > 0) entropy -= a * std::log(a);
      }
      r.max_weight += largest;
      r.entropy += entropy;
      ++steps[b];
      r.output += (r.output.empty() ? "" : " ") + pipeline.target_vocab.decode({chosen[b]})[0];
      all_done = false;
    }
    if (all_done) break;
    previous = next;
  }
  for (int64_t b = 0; b < B; ++b) {
    if (steps[b] > 0) {
      out[b].max_weight /= static_cast<double>(steps[b]);
      out[b].entropy /= static_cast<double>(steps[b]);
    }
    out[b].uniform_entropy = std::log(static_cast<double>(ids[b].size()));
  }
  model.train();
  return out;
}

struct Summary {
  double max_weight = 0, entropy = 0, uniform_entropy = 0, probability = 0, least_sure = 0;
};

Summary summarize(const std::vector<Reading>& readings) {
  Summary s;
  for (const Reading& r : readings) {
    s.max_weight += r.max_weight;
    s.entropy += r.entropy;
    s.uniform_entropy += r.uniform_entropy;
    s.probability += r.probability;
    s.least_sure += r.least_sure;
  }
  const double n = static_cast<double>(readings.size());
  s.max_weight /= n, s.entropy /= n, s.uniform_entropy /= n, s.probability /= n, s.least_sure /= n;
  return s;
}

// How often the output equals each of the candidate readings.
double share(const std::vector<Reading>& readings, const std::vector<std::string>& expected) {
  int64_t hits = 0;
  for (size_t i = 0; i < readings.size(); ++i) hits += readings[i].output == expected[i];
  return static_cast<double>(hits) / static_cast<double>(readings.size());
}

}  // namespace

int main() {
  section("1. The data: dates, 16 formats -> ISO 8601 (data/dates.h)");
  attn::data::TaskOptions task;
  task.train_size = 8000;
  task.test_size = 500;
  attn::data::TaskSplits splits = attn::data::make_task("dates", task);
  attn::train::DataOptions data;
  data.lowercase = true;
  attn::train::TextPipeline pipeline = attn::train::build_pipeline(data, splits.train);
  attn::train::EncodedPairs train_set = attn::train::encode_pairs(pipeline, splits.train);
  attn::train::EncodedPairs test_set = attn::train::encode_pairs(pipeline, splits.test);
  std::printf("  %zu training pairs, %zu test pairs, vocabularies %lld / %lld\n", train_set.size(),
              test_set.size(), static_cast<long long>(pipeline.source_vocab.size()),
              static_cast<long long>(pipeline.target_vocab.size()));
  std::printf("  e.g. \"%s\" -> \"%s\"\n", splits.train[0].source.c_str(),
              splits.train[0].target.c_str());

  section("2. A small RNNsearch, trained from scratch");
  attn::nn::RNNSearchOptions options(pipeline.source_vocab.size(), pipeline.target_vocab.size());
  options.embedding_size = 32;
  options.hidden_size = 64;
  attn::manual_seed(14);
  attn::nn::RNNSearch model(options);
  std::printf("  %s\n", model.describe().c_str());
  attn::data::BatchOptions batching;
  batching.mini_batch = 32;
  batching.seed = 14;
  attn::data::BatchIterator batches(train_set.sources, train_set.targets, batching);
  attn::optim::Adam optimizer(model.parameters(), attn::optim::AdamOptions(3e-3));
  attn::optim::ConstantSchedule schedule(3e-3);
  attn::train::TrainStepOptions step_options;
  step_options.clip_norm = 1.0;
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
    if (update % 100 == 0) {
      std::printf("    update %3lld  loss %.4f (mean of the last 100)\n",
                  static_cast<long long>(update), window / 100);
      window = 0;
    }
  }
  std::printf("  %lld updates in %.1f s\n", static_cast<long long>(kUpdates),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  attn::train::ValidationResult scored = attn::train::evaluate(model, test_set);
  std::printf("  test split, greedy: exact match %.1f%%, token accuracy %.1f%%\n",
              100 * scored.exact_match, 100 * scored.token_accuracy);
  // A model blind to the source can still write the shape "1 9 _ _ - _ _ - _ _"
  // with the commonest digit at each place: the two hyphens (2 of 10 tokens),
  // the century's digits (right half the time), the month's leading 0 (9
  // months in 12) and guesses at the rest, under 50% in all.
  check(scored.token_accuracy > 0.6, "the model reads its source: token accuracy on the test split > 60%");

  section("3. Clean dates and their contradictory twins, 100 of each kind");
  // Dates drawn from their own seed, in the task's years.
  attn::Generator generator(2014);
  struct Kind {
    std::string name;
    std::vector<std::string> clean, contradictory;
    std::vector<std::string> clean_truth;   // the ISO target of each clean twin
    std::vector<std::string> reading_a;     // one way to read the contradiction
    std::vector<std::string> reading_b;     // another
    std::string a_label, b_label;
  };
  std::vector<Kind> kinds(4);
  kinds[0].name = "wrong weekday", kinds[0].a_label = "the date", kinds[0].b_label = "-";
  kinds[1].name = "impossible day", kinds[1].a_label = "copies it", kinds[1].b_label = "-";
  kinds[2].name = "two months", kinds[2].a_label = "1st month", kinds[2].b_label = "2nd month";
  kinds[3].name = "month > 12", kinds[3].a_label = "as written", kinds[3].b_label = "swapped";
  const int short_months[] = {2, 4, 6, 9, 11};
  for (int64_t i = 0; i < kPerKind; ++i) {
    attn::data::Date d;
    d.year = attn::data::kFirstYear + static_cast<int>(generator.below(attn::data::kLastYear -
                                                                       attn::data::kFirstYear + 1));
    d.month = 1 + static_cast<int>(generator.below(12));
    d.day = 1 + static_cast<int>(generator.below(attn::data::days_in_month(d.year, d.month)));
    const std::string truth = iso_tokens(d.year, d.month, d.day);
    // A weekday that is not the date's: "sunday , march 5 , 2014" (a Wednesday).
    const int weekday = attn::data::day_of_week(d);
    const int wrong = (weekday + 1 + static_cast<int>(generator.below(6))) % 7;
    kinds[0].clean.push_back(with_weekday(weekday, d));
    kinds[0].contradictory.push_back(with_weekday(wrong, d));
    kinds[0].clean_truth.push_back(truth);
    kinds[0].reading_a.push_back(truth);
    kinds[0].reading_b.push_back("");
    // A day the month does not have: "february 30 , 2014", "31 / 04 / 2014".
    const int month = short_months[generator.below(5)];
    const int last = attn::data::days_in_month(d.year, month);
    const int bad_day = last + 1 + static_cast<int>(generator.below(static_cast<uint64_t>(31 - last)));
    const int good_day = 1 + static_cast<int>(generator.below(static_cast<uint64_t>(last)));
    const bool in_words = i % 2 == 0;
    kinds[1].clean.push_back(in_words ? words(kMonths[month - 1], good_day, d.year)
                                      : numeric(good_day, month, d.year));
    kinds[1].contradictory.push_back(in_words ? words(kMonths[month - 1], bad_day, d.year)
                                              : numeric(bad_day, month, d.year));
    kinds[1].clean_truth.push_back(iso_tokens(d.year, month, good_day));
    kinds[1].reading_a.push_back(iso_tokens(d.year, month, bad_day));
    kinds[1].reading_b.push_back("");
    // Two months: "march 5 april , 2014" beside "march 5 , 2014". The day is
    // at most 28 so that both readings are real dates.
    const int day = 1 + static_cast<int>(generator.below(28));
    const int second = 1 + (d.month + static_cast<int>(generator.below(11))) % 12;  // != d.month
    kinds[2].clean.push_back(words(kMonths[d.month - 1], day, d.year));
    kinds[2].contradictory.push_back(std::string(kMonths[d.month - 1]) + " " + std::to_string(day) + " " +
                                     kMonths[second - 1] + " , " + std::to_string(d.year));
    kinds[2].clean_truth.push_back(iso_tokens(d.year, d.month, day));
    kinds[2].reading_a.push_back(iso_tokens(d.year, d.month, day));
    kinds[2].reading_b.push_back(iso_tokens(d.year, second, day));
    // Day first, but the "month" is 13..28 and the "day" 1..12: read as
    // written it is no date; read month-first (as in the USA) it is one.
    const int small = 1 + static_cast<int>(generator.below(12));
    const int big = 13 + static_cast<int>(generator.below(16));
    kinds[3].clean.push_back(numeric(big, small, d.year));
    kinds[3].contradictory.push_back(numeric(small, big, d.year));
    kinds[3].clean_truth.push_back(iso_tokens(d.year, small, big));
    kinds[3].reading_a.push_back(iso_tokens(d.year, big, small));
    kinds[3].reading_b.push_back(iso_tokens(d.year, small, big));
  }
  std::printf("  %-15s %-8s %9s %9s %9s %9s %9s   %s\n", "kind", "inputs", "max a", "H (nats)",
              "log S", "P(out)", "min p_t", "what it wrote");
  bool all_peaked = true, unchanged = true;
  for (const Kind& kind : kinds) {
    std::vector<Reading> clean = read(model, pipeline, kind.clean);
    std::vector<Reading> bad = read(model, pipeline, kind.contradictory);
    Summary c = summarize(clean), x = summarize(bad);
    std::printf("  %-15s %-8s %9.3f %9.3f %9.3f %9.3f %9.3f   %.0f%% right\n", kind.name.c_str(), "clean",
                c.max_weight, c.entropy, c.uniform_entropy, c.probability, c.least_sure,
                100 * share(clean, kind.clean_truth));
    std::printf("  %-15s %-8s %9.3f %9.3f %9.3f %9.3f %9.3f   %.0f%% %s", "", "contra.", x.max_weight,
                x.entropy, x.uniform_entropy, x.probability, x.least_sure,
                100 * share(bad, kind.reading_a), kind.a_label.c_str());
    if (kind.b_label != "-") {
      const double a = share(bad, kind.reading_a), b = share(bad, kind.reading_b);
      std::printf(", %.0f%% %s, %.0f%% other", 100 * b, kind.b_label.c_str(), 100 * (1 - a - b));
    }
    std::printf("\n");
    all_peaked = all_peaked && x.max_weight >= 0.5;
    if (&kind == &kinds[0] || &kind == &kinds[1]) {
      unchanged = unchanged && std::abs(x.max_weight - c.max_weight) <= 0.05 &&
                  std::abs(x.probability - c.probability) <= 0.05;
    }
  }
  std::printf("  max a: the largest attention weight of an output token, averaged over tokens and\n"
              "  sentences; H: the entropy of its weights; log S: H if spread evenly; P(out): the\n"
              "  probability of the whole greedy output; min p_t: of its least sure token.\n");
  // Attention spread evenly over S >= 4 source tokens would give max a <= 0.25.
  check(all_peaked, "on every kind of contradiction the mean largest weight is at least 0.5");
  // The weekday and the impossible day: contradictions the task never asked
  // the model to notice. Nothing in its attention or its output says so.
  check(unchanged, "wrong weekday, impossible day: max a and P(out) within 0.05 of the clean twins'");

  section("4. A few sentences up close");
  const std::vector<std::string> close = {
      "wednesday , march 5 , 2014", "sunday , march 5 , 2014",  "march 5 , 2014",
      "march 5 april , 2014",       "february 28 , 2014",       "february 30 , 2014",
      "30 / 04 / 2014",             "31 / 04 / 2014",           "13 / 05 / 2014",
      "05 / 13 / 2014"};
  std::vector<Reading> readings = read(model, pipeline, close);
  std::printf("  %-28s %-22s %7s %7s %7s\n", "input", "output", "max a", "H", "P(out)");
  for (size_t i = 0; i < close.size(); ++i) {
    std::printf("  %-28s %-22s %7.3f %7.3f %7.3f\n", close[i].c_str(), readings[i].output.c_str(),
                readings[i].max_weight, readings[i].entropy, readings[i].probability);
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
