// Beam search (train/decode/beam_search.h), checked against what it must agree with:
//   1. beam size 1 is greedy decoding: the same tokens and attention as
//      greedy_decode, on a small random RNNsearch and a batch of different
//      source lengths;
//   2. a beam as wide as the whole output space finds the best sequence, its
//      score and the n-best list that brute-force enumeration finds (every
//      output of a 5-token vocabulary up to length 4, each scored by
//      teacher-forced step() calls), on a toy model where greedy decoding is
//      not optimal and on RNNsearch;
//   3. step scores never increase, and each hypothesis's attention rows are
//      the ones its own history produced (gathered along the backpointers);
//   4. n_best gives n distinct hypotheses sorted by normalized score;
//   5. normalize (alpha) turns the choice from a short output to a long one;
//   6. max_length_factor and max_length bound each sentence's output;
//   7. the decoder state really follows the beams (reorder): a batch of three
//      sentences gives what each sentence gives alone;
//   8. bad options throw attn::Error naming the option.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "data/batch.h"
#include "data/vocab.h"
#include "nn/rnnsearch.h"
#include "tensor/creation.h"
#include "kernels/error.h"
#include "kernels/generator.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"

namespace {

namespace nn = attn::nn;
namespace decode = attn::decode;
using attn::Tensor;
using attn::data::kBos;
using attn::data::kEos;

// --- a toy translator ------------------------------------------------------------
//
// Its logits for the next token are a fixed function of (sentence, history):
// they depend on the position and on every token so far, so the best first
// token need not start the best sentence. "Sentence" is the first source id.
// Its attention puts all weight on source position (sum of history) mod S,
// and its "window centre" is 10 * (tokens so far) + (last token), so a test can
// tell whether the search kept each hypothesis's rows together.

using NextLogits = std::function<std::vector<double>(int64_t sentence, const std::vector<int64_t>& history)>;

class ToyState : public nn::DecoderState {
 public:
  std::vector<int64_t> sentence, source_length;   // (R)
  std::vector<std::vector<int64_t>> history;      // (R) tokens so far, without <s>
  std::vector<bool> begun;                        // (R) false until the first step
  Tensor weights, centres;                        // (R, S), (R)
  int64_t source_width = 0;                       // S
  int* reorders = nullptr;                        // the translator's count

  void reorder(const Tensor& indices) override {
    std::vector<int64_t> rows = indices.to_vector<int64_t>();
    auto pick = [&](auto& per_row) {
      auto old = per_row;
      per_row.clear();
      for (int64_t r : rows) per_row.push_back(old.at(static_cast<size_t>(r)));
    };
    pick(sentence);
    pick(source_length);
    pick(history);
    pick(begun);
    if (weights.defined()) weights = attn::index_select(weights, 0, indices);
    if (centres.defined()) centres = attn::index_select(centres, 0, indices);
    ++*reorders;
  }
  Tensor last_attention() const override { return weights; }
  Tensor last_position() const override { return centres; }
  int64_t window() const override { return 2; }
};

class ToyTranslator : public nn::Translator {
 public:
  ToyTranslator(int64_t vocab_size, NextLogits next) : vocab_size_(vocab_size), next_(std::move(next)) {}

  // Teacher forcing, through step(): (B, S), (B), (B, T) -> (B, T, V).
  Tensor forward(const Tensor& source, const Tensor& source_lengths, const Tensor& target_input) override {
    auto state = start(source, source_lengths);
    std::vector<Tensor> steps;
    for (int64_t t = 0; t < target_input.size(1); ++t) {
      steps.push_back(step(*state, target_input.select(1, t).contiguous()));
    }
    return attn::stack(steps, 1);
  }

  std::unique_ptr<nn::DecoderState> start(const Tensor& source, const Tensor& source_lengths) override {
    auto state = std::make_unique<ToyState>();
    std::vector<int64_t> ids = source.contiguous().to_vector<int64_t>();
    state->source_length = source_lengths.to_vector<int64_t>();
    state->source_width = source.size(1);
    for (int64_t b = 0; b < source.size(0); ++b) state->sentence.push_back(ids[b * source.size(1)]);
    state->history.resize(static_cast<size_t>(source.size(0)));
    state->begun.assign(static_cast<size_t>(source.size(0)), false);
    state->reorders = &reorders;
    ++starts;
    return state;
  }

  Tensor step(nn::DecoderState& base, const Tensor& previous) override {
    auto& state = dynamic_cast<ToyState&>(base);
    ++steps;
    std::vector<int64_t> tokens = previous.to_vector<int64_t>();
    const int64_t R = static_cast<int64_t>(tokens.size()), S = state.source_width;
    EXPECT_EQ(R, static_cast<int64_t>(state.history.size())) << "the state's rows and the batch disagree";
    std::vector<float> logits, weights(static_cast<size_t>(R * S), 0.0f), centres;
    for (int64_t r = 0; r < R; ++r) {
      std::vector<int64_t>& history = state.history[r];
      // The first step reads <s>; later ones the token chosen (which may be
      // any id, <s> included).
      if (state.begun[r]) history.push_back(tokens[r]);
      state.begun[r] = true;
      for (double value : next_(state.sentence[r], history)) logits.push_back(static_cast<float>(value));
      int64_t sum = 0;
      for (int64_t y : history) sum += y;
      weights[r * S + sum % state.source_length[r]] = 1.0f;
      centres.push_back(static_cast<float>(10 * history.size() + (history.empty() ? 0 : history.back())));
    }
    state.weights = attn::from_vector(weights, {R, S});
    state.centres = attn::from_vector(centres, {R});
    return attn::from_vector(logits, {R, vocab_size_});
  }

  std::string describe() const override { return "toy"; }

  int starts = 0, steps = 0, reorders = 0;  // calls, for tests that count them

 private:
  int64_t vocab_size_;
  NextLogits next_;
};

// A well-mixed 64-bit hash (splitmix64's finaliser).
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Pseudo-random logits in [-2, 2] for each next token, a function of the
// sentence and the whole history (so of the position too).
NextLogits hashed_logits(uint64_t seed, int64_t vocab_size) {
  return [seed, vocab_size](int64_t sentence, const std::vector<int64_t>& history) {
    uint64_t h = mix(seed ^ mix(static_cast<uint64_t>(sentence)));
    for (int64_t y : history) h = mix(h ^ static_cast<uint64_t>(y + 1));
    std::vector<double> logits;
    for (int64_t v = 0; v < vocab_size; ++v) {
      uint64_t u = mix(h ^ (static_cast<uint64_t>(v) << 32));
      logits.push_back(4.0 * static_cast<double>(u >> 11) / 9007199254740992.0 - 2.0);
    }
    return logits;
  };
}

// --- helpers ---------------------------------------------------------------------

// A padded batch from id lists (no specials).
attn::data::Batch batch_of(const std::vector<std::vector<int64_t>>& sources) {
  std::vector<size_t> indices(sources.size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return attn::data::make_batch(sources, {}, indices);
}

// Sources of lengths 5, 2, 7, 3 (ids 4..10).
std::vector<std::vector<int64_t>> mixed_sources() {
  return {{4, 5, 6, 7, 8}, {9, 4}, {10, 9, 8, 7, 6, 5, 4}, {6, 6, 5}};
}

// A small random RNNsearch (source vocabulary 11). eos_boost is added to the
// output bias of </s>, so that some outputs end before the maximum length.
std::shared_ptr<nn::RNNSearch> small_rnnsearch(int64_t target_vocab, double eos_boost, bool attention = true,
                                               uint64_t seed = 7) {
  attn::manual_seed(seed);
  nn::RNNSearchOptions options(/*source_vocab=*/11, target_vocab);
  options.embedding_size = 6;   // E
  options.hidden_size = 8;      // H
  options.attention_size = 6;   // A
  options.attention = attention;
  auto model = std::make_shared<nn::RNNSearch>(options);
  model->eval();
  bool found = false;
  for (auto& [name, parameter] : model->named_parameters()) {
    if (name != "output.bias") continue;
    attn::NoGradGuard no_grad;
    parameter.data_ptr<float>()[kEos] += static_cast<float>(eos_boost);
    found = true;
  }
  EXPECT_TRUE(found) << "no output.bias in RNNSearch";
  return model;
}

decode::BeamSearchOptions beam_options(int64_t beam_size, int64_t n_best, int64_t max_length,
                                       double normalize = 0.0) {
  decode::BeamSearchOptions options;
  options.beam_size = beam_size;
  options.n_best = n_best;
  options.max_length_factor = 0.0;  // the absolute cap alone, as greedy_decode has
  options.max_length = max_length;
  options.normalize = normalize;
  return options;
}

// Steps a hypothesis took: one per token, plus one for </s> unless it was cut
// at the maximum length.
int64_t steps_of(const decode::Hypothesis& h) { return static_cast<int64_t>(h.step_scores.size()); }

std::string show(const std::vector<int64_t>& tokens) {
  std::string out = "[";
  for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + std::to_string(tokens[i]);
  return out + "]";
}

// Every output of at most max_length tokens, with its teacher-forced score.
struct Scored {
  std::vector<int64_t> tokens;  // without </s>
  bool ends_with_eos;
  double score;
};

// Sum of log p(y_t | y_<t) for `tokens` (then </s> if `eos`), one step() per token.
double teacher_forced_score(nn::Translator& model, const Tensor& source, const Tensor& lengths,
                            std::vector<int64_t> tokens, bool eos) {
  if (eos) tokens.push_back(kEos);
  auto state = model.start(source, lengths);
  int64_t previous = kBos;
  double score = 0.0;
  for (int64_t y : tokens) {
    Tensor logits = model.step(*state, attn::from_vector(std::vector<int64_t>{previous}, {1}));
    score += attn::log_softmax(logits, -1).to(attn::kFloat64).to_vector<double>()[y];
    previous = y;
  }
  return score;
}

// Brute force: every sequence of non-</s> tokens of length < max_length
// followed by </s>, and every one of exactly max_length tokens (cut there),
// best first by score / steps^alpha.
std::vector<Scored> enumerate_all(nn::Translator& model, const Tensor& source, const Tensor& lengths,
                                  int64_t vocab_size, int64_t max_length, double alpha) {
  attn::NoGradGuard no_grad;
  std::vector<Scored> all;
  std::vector<int64_t> prefix;
  std::function<void()> grow = [&]() {
    if (static_cast<int64_t>(prefix.size()) == max_length) {
      all.push_back({prefix, false, teacher_forced_score(model, source, lengths, prefix, false)});
      return;
    }
    all.push_back({prefix, true, teacher_forced_score(model, source, lengths, prefix, true)});
    for (int64_t v = 0; v < vocab_size; ++v) {
      if (v == kEos) continue;
      prefix.push_back(v);
      grow();
      prefix.pop_back();
    }
  };
  grow();
  auto normalized = [alpha](const Scored& s) {
    return s.score / std::pow(static_cast<double>(s.tokens.size() + (s.ends_with_eos ? 1 : 0)), alpha);
  };
  std::stable_sort(all.begin(), all.end(),
                   [&](const Scored& a, const Scored& b) { return normalized(a) > normalized(b); });
  return all;
}

// Every hypothesis's own history must explain its attention rows and window
// centres (the toy's rule), which holds only if the search gathered them
// along the right backpointers.
void expect_toy_rows_follow_history(const decode::Hypothesis& h, int64_t source_length) {
  const int64_t T = steps_of(h);
  ASSERT_TRUE(h.attention.defined());
  ASSERT_EQ(h.attention.shape(), attn::Shape({T, source_length}));
  ASSERT_TRUE(h.positions.defined());
  ASSERT_EQ(h.positions.shape(), attn::Shape({T}));
  std::vector<float> weights = h.attention.to_vector<float>();
  std::vector<float> centres = h.positions.to_vector<float>();
  int64_t sum = 0;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < source_length; ++j) {
      EXPECT_EQ(weights[t * source_length + j], j == sum % source_length ? 1.0f : 0.0f)
          << show(h.tokens) << " step " << t << " column " << j;
    }
    EXPECT_EQ(centres[t], static_cast<float>(10 * t + (t == 0 ? 0 : h.tokens[t - 1]))) << show(h.tokens);
    if (t < static_cast<int64_t>(h.tokens.size())) sum += h.tokens[t];
  }
}

// The message of the attn::Error that `body` throws, or "(no error)".
std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const attn::Error& error) {
    return error.what();
  }
  return "(no error)";
}

// --- 1. beam size 1 is greedy decoding --------------------------------------------

void expect_beam_one_is_greedy(double eos_boost) {
  SCOPED_TRACE("eos_boost " + std::to_string(eos_boost));
  auto model = small_rnnsearch(/*target_vocab=*/9, eos_boost);
  attn::data::Batch batch = batch_of(mixed_sources());
  const int64_t max_length = 12;
  decode::DecodeResult greedy = decode::greedy_decode(*model, batch.source, batch.source_lengths, max_length);
  decode::BeamSearchResult beam =
      decode::beam_search(*model, batch.source, batch.source_lengths, beam_options(1, 1, max_length));
  ASSERT_EQ(beam.nbest.size(), 4u);
  const int64_t S = batch.source.size(1);
  std::vector<float> greedy_weights = greedy.attention.contiguous().to_vector<float>();
  const int64_t greedy_T = greedy.attention.size(1);
  const std::vector<int64_t> lengths = batch.source_lengths.to_vector<int64_t>();
  int ended = 0;
  for (size_t b = 0; b < 4; ++b) {
    ASSERT_EQ(beam.nbest[b].size(), 1u);
    const decode::Hypothesis& h = beam.nbest[b][0];
    EXPECT_EQ(h.tokens, greedy.tokens[b]) << "sentence " << b;
    bool ended_with_eos = static_cast<int64_t>(greedy.tokens[b].size()) < max_length;
    ended += ended_with_eos;
    EXPECT_EQ(steps_of(h), static_cast<int64_t>(h.tokens.size()) + (ended_with_eos ? 1 : 0));
    // The same attention rows as greedy's, without the padding columns.
    ASSERT_EQ(h.attention.shape(), attn::Shape({steps_of(h), lengths[b]}));
    std::vector<float> weights = h.attention.to_vector<float>();
    for (int64_t t = 0; t < steps_of(h); ++t) {
      for (int64_t j = 0; j < lengths[b]; ++j) {
        EXPECT_NEAR(weights[t * lengths[b] + j], greedy_weights[(b * greedy_T + t) * S + j], 1e-6)
            << "sentence " << b << " step " << t;
      }
    }
  }
  if (eos_boost > 0) {
    EXPECT_GT(ended, 0) << "no output ended with </s>: the test does not reach that case";
  }
}

TEST(BeamSearch, BeamSizeOneIsGreedyDecoding) {
  expect_beam_one_is_greedy(0.0);  // random weights: most outputs run to the maximum length
  expect_beam_one_is_greedy(2.0);  // </s> more likely: outputs end at different lengths
}

// --- 2. a beam as wide as the space is exact -------------------------------------

// Vocabulary of 5 (ids 0-4, </s> = 3), outputs of at most 4 tokens: 4^0 + ... +
// 4^3 = 85 outputs end with </s>, 4^4 = 256 are cut at length 4. A beam of 256
// keeps every prefix (at most 4^3 = 64 live at the last step), so it must find
// every output and rank them as enumeration does.
constexpr int64_t kTinyVocab = 5;
constexpr int64_t kTinyLength = 4;
constexpr int64_t kWholeSpace = 256;

void expect_exact(nn::Translator& model, const attn::data::Batch& batch, double alpha, double tolerance) {
  SCOPED_TRACE("alpha " + std::to_string(alpha));
  std::vector<Scored> all =
      enumerate_all(model, batch.source, batch.source_lengths, kTinyVocab, kTinyLength, alpha);
  ASSERT_EQ(all.size(), 85u + 256u);
  const int64_t n = 20;
  decode::BeamSearchResult beam = decode::beam_search(model, batch.source, batch.source_lengths,
                                                      beam_options(kWholeSpace, n, kTinyLength, alpha));
  ASSERT_EQ(beam.nbest.size(), 1u);
  ASSERT_EQ(beam.nbest[0].size(), static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const decode::Hypothesis& h = beam.nbest[0][i];
    EXPECT_EQ(h.tokens, all[i].tokens) << "rank " << i;
    EXPECT_EQ(steps_of(h), static_cast<int64_t>(all[i].tokens.size()) + (all[i].ends_with_eos ? 1 : 0))
        << "rank " << i;
    EXPECT_NEAR(h.score, all[i].score, tolerance) << "rank " << i << " " << show(h.tokens);
  }
}

TEST(BeamSearch, WholeSpaceBeamMatchesBruteForceOnToy) {
  ToyTranslator toy(kTinyVocab, hashed_logits(/*seed=*/1, kTinyVocab));
  attn::data::Batch batch = batch_of({{6, 4, 5}});
  std::vector<Scored> all = enumerate_all(toy, batch.source, batch.source_lengths, kTinyVocab, kTinyLength, 0.0);
  // The toy must make greedy decoding wrong, or this test would prove little.
  decode::DecodeResult greedy = decode::greedy_decode(toy, batch.source, batch.source_lengths, kTinyLength);
  ASSERT_NE(greedy.tokens[0], all[0].tokens) << "greedy decoding is optimal on this toy; pick another seed";
  // The toy's scores are computed exactly alike both ways.
  expect_exact(toy, batch, 0.0, 1e-12);
  expect_exact(toy, batch, 1.0, 1e-12);
  EXPECT_EQ(decode::beam_search(toy, batch.source, batch.source_lengths, beam_options(kWholeSpace, 1, kTinyLength))
                .nbest[0][0].tokens,
            all[0].tokens);
}

TEST(BeamSearch, WholeSpaceBeamMatchesBruteForceOnRNNSearch) {
  auto model = small_rnnsearch(kTinyVocab, /*eos_boost=*/1.0);
  attn::data::Batch batch = batch_of({{4, 8, 5, 9}});
  // Rows batched in different numbers may round differently in float32.
  expect_exact(*model, batch, 0.0, 1e-5);
  expect_exact(*model, batch, 0.7, 1e-5);
}

// --- 3. scores fall step by step; rows follow each hypothesis --------------------

void expect_well_formed(const decode::BeamSearchResult& result, const std::vector<int64_t>& lengths,
                        bool has_attention) {
  for (size_t b = 0; b < result.nbest.size(); ++b) {
    for (const decode::Hypothesis& h : result.nbest[b]) {
      const int64_t T = steps_of(h);
      ASSERT_GE(T, 1);
      EXPECT_TRUE(T == static_cast<int64_t>(h.tokens.size()) || T == static_cast<int64_t>(h.tokens.size()) + 1);
      for (int64_t t = 1; t < T; ++t) {
        EXPECT_LE(h.step_scores[t], h.step_scores[t - 1]) << "sentence " << b << " " << show(h.tokens);
      }
      EXPECT_LE(h.step_scores[0], 0.0);
      EXPECT_DOUBLE_EQ(h.step_scores.back(), h.score);
      for (int64_t y : h.tokens) EXPECT_NE(y, kEos);
      EXPECT_EQ(h.attention.defined(), has_attention);
      if (!has_attention) continue;
      ASSERT_EQ(h.attention.shape(), attn::Shape({T, lengths[b]}));
      std::vector<float> weights = h.attention.to_vector<float>();
      for (int64_t t = 0; t < T; ++t) {
        double row_sum = 0.0;
        for (int64_t j = 0; j < lengths[b]; ++j) row_sum += weights[t * lengths[b] + j];
        EXPECT_NEAR(row_sum, 1.0, 1e-5) << "sentence " << b << " step " << t;
      }
    }
  }
}

TEST(BeamSearch, StepScoresNeverIncrease) {
  attn::data::Batch batch = batch_of(mixed_sources());
  const std::vector<int64_t> lengths = batch.source_lengths.to_vector<int64_t>();
  for (bool attention : {true, false}) {
    SCOPED_TRACE(attention ? "RNNsearch" : "RNNencdec");
    auto model = small_rnnsearch(9, 1.5, attention);
    decode::BeamSearchResult result =
        decode::beam_search(*model, batch.source, batch.source_lengths, beam_options(4, 4, 10));
    expect_well_formed(result, lengths, attention);
  }
  ToyTranslator toy(7, hashed_logits(11, 7));
  decode::BeamSearchResult result =
      decode::beam_search(toy, batch.source, batch.source_lengths, beam_options(5, 5, 6, 0.5));
  expect_well_formed(result, lengths, true);
  EXPECT_EQ(result.window, 2);
  for (size_t b = 0; b < result.nbest.size(); ++b) {
    for (const decode::Hypothesis& h : result.nbest[b]) expect_toy_rows_follow_history(h, lengths[b]);
  }
}

// --- 4. n-best lists ---------------------------------------------------------------

TEST(BeamSearch, NBestAreDistinctAndSortedByNormalizedScore) {
  auto model = small_rnnsearch(9, 1.5);
  attn::data::Batch batch = batch_of(mixed_sources());
  const double alpha = 0.6;
  decode::BeamSearchResult result =
      decode::beam_search(*model, batch.source, batch.source_lengths, beam_options(6, 6, 10, alpha));
  ASSERT_EQ(result.nbest.size(), 4u);
  for (size_t b = 0; b < 4; ++b) {
    ASSERT_EQ(result.nbest[b].size(), 6u) << "sentence " << b;
    std::set<std::vector<int64_t>> seen;
    for (size_t n = 0; n < 6; ++n) {
      const decode::Hypothesis& h = result.nbest[b][n];
      EXPECT_TRUE(seen.insert(h.tokens).second) << "sentence " << b << ": " << show(h.tokens) << " twice";
      EXPECT_NEAR(h.normalized_score, h.score / std::pow(static_cast<double>(steps_of(h)), alpha), 1e-12);
      if (n > 0) {
        EXPECT_LE(h.normalized_score, result.nbest[b][n - 1].normalized_score);
      }
    }
  }
  // The first of the n-best is the 1-best of the same beam.
  decode::BeamSearchResult one =
      decode::beam_search(*model, batch.source, batch.source_lengths, beam_options(6, 1, 10, alpha));
  for (size_t b = 0; b < 4; ++b) EXPECT_EQ(one.nbest[b][0].tokens, result.nbest[b][0].tokens);
}

// --- 5. length normalisation ---------------------------------------------------------

// Token 4 is "a", token 0 is "b". From the empty history: </s> 0.5, "a" 0.3,
// "b" 0.15, tokens 1 and 2 0.025 each. After "b": </s> 0.95. After "a" and
// "a a": "a" 0.8. After "a a a", and anywhere else: </s> 0.8. The rest share
// what is left evenly.
//   ""       </s>: log 0.5                = -0.69, per step -0.69
//   "b"      </s>: log(0.15 * 0.95)       = -1.95, per step -0.97
//   "a a a"  </s>: log(0.3 * 0.8^3)       = -1.87, per step -0.47
// Raw scores prefer the empty output; divided by length, the long one wins.
// Short outputs finish early, so stopping at K finished hypotheses (with K =
// 3) would end the search before "a a a </s>" is found.
std::vector<double> short_or_long(int64_t, const std::vector<int64_t>& history) {
  auto probabilities = [&]() -> std::vector<double> {
    const std::vector<int64_t> a(history.size(), 4);
    if (history.empty()) return {0.15, 0.025, 0.025, 0.5, 0.3};
    if (history == std::vector<int64_t>{0}) return {0.0125, 0.0125, 0.0125, 0.95, 0.0125};
    if (history == a && history.size() < 3) return {0.05, 0.05, 0.05, 0.05, 0.8};
    return {0.05, 0.05, 0.05, 0.8, 0.05};
  };
  std::vector<double> logits;
  for (double p : probabilities()) logits.push_back(std::log(p));
  return logits;
}

TEST(BeamSearch, NormalizeTurnsTheChoiceToTheLongerOutput) {
  ToyTranslator toy(5, short_or_long);
  attn::data::Batch batch = batch_of({{4, 5}});
  decode::BeamSearchResult raw =
      decode::beam_search(toy, batch.source, batch.source_lengths, beam_options(3, 3, 6, 0.0));
  EXPECT_EQ(raw.nbest[0][0].tokens, std::vector<int64_t>{});
  EXPECT_NEAR(raw.nbest[0][0].score, std::log(0.5), 1e-6);
  // With raw scores the search stops once no live beam can enter the top 3
  // (after "a a a </s>" finishes at step 4), not at the maximum length 6.
  EXPECT_EQ(toy.steps, 4);
  decode::BeamSearchResult normalized =
      decode::beam_search(toy, batch.source, batch.source_lengths, beam_options(3, 3, 6, 1.0));
  EXPECT_EQ(normalized.nbest[0][0].tokens, (std::vector<int64_t>{4, 4, 4}));
  EXPECT_NEAR(normalized.nbest[0][0].score, std::log(0.3 * 0.8 * 0.8 * 0.8), 1e-6);
  EXPECT_NEAR(normalized.nbest[0][0].normalized_score, std::log(0.3 * 0.8 * 0.8 * 0.8) / 4, 1e-6);
  // The short output is still in the list, ranked by its own normalized score.
  bool short_kept = false;
  for (const decode::Hypothesis& h : normalized.nbest[0]) short_kept |= h.tokens.empty();
  EXPECT_TRUE(short_kept);
}

// --- 6. maximum lengths ------------------------------------------------------------

// A toy that never wants to stop: every output runs to its sentence's limit.
std::vector<double> never_stop(int64_t sentence, const std::vector<int64_t>& history) {
  std::vector<double> logits = hashed_logits(5, 6)(sentence, history);
  logits[kEos] = -30.0;
  return logits;
}

TEST(BeamSearch, MaxLengthFactorBoundsEachSentence) {
  ToyTranslator toy(6, never_stop);
  attn::data::Batch batch = batch_of({{4, 5}, {6, 7, 8}, {9, 4, 5, 6, 7}});  // lengths 2, 3, 5
  decode::BeamSearchOptions options;
  options.beam_size = 3;
  options.n_best = 3;
  options.max_length_factor = 1.5;
  options.max_length_offset = 0;  // floor(1.5 * length): 3, 4, 7
  for (int64_t cap : {0, 5}) {
    SCOPED_TRACE("max_length " + std::to_string(cap));
    options.max_length = cap;
    decode::BeamSearchResult result = decode::beam_search(toy, batch.source, batch.source_lengths, options);
    std::vector<size_t> expected = cap == 0 ? std::vector<size_t>{3, 4, 7} : std::vector<size_t>{3, 4, 5};
    for (size_t b = 0; b < 3; ++b) {
      EXPECT_EQ(decode::beam_max_length(batch.source_lengths.to_vector<int64_t>()[b], options),
                static_cast<int64_t>(expected[b]));
      ASSERT_EQ(result.nbest[b].size(), 3u);
      for (const decode::Hypothesis& h : result.nbest[b]) {
        EXPECT_EQ(h.tokens.size(), expected[b]) << "sentence " << b;
        EXPECT_EQ(h.step_scores.size(), expected[b]) << "cut outputs have no </s> step";
      }
    }
  }
  // A random RNNsearch stays within its bounds too.
  auto model = small_rnnsearch(9, 0.0);
  options.max_length = 0;
  options.max_length_factor = 0.8;
  options.max_length_offset = 0;
  attn::data::Batch mixed = batch_of(mixed_sources());
  decode::BeamSearchResult result = decode::beam_search(*model, mixed.source, mixed.source_lengths, options);
  std::vector<int64_t> lengths = mixed.source_lengths.to_vector<int64_t>();
  for (size_t b = 0; b < 4; ++b) {
    for (const decode::Hypothesis& h : result.nbest[b]) {
      EXPECT_LE(static_cast<double>(h.tokens.size()), std::max(1.0, std::floor(0.8 * lengths[b])));
    }
  }
}

// --- 7. the state follows the beams --------------------------------------------------

void expect_same_hypotheses(const std::vector<decode::Hypothesis>& batched,
                            const std::vector<decode::Hypothesis>& alone, double tolerance) {
  ASSERT_EQ(batched.size(), alone.size());
  for (size_t n = 0; n < alone.size(); ++n) {
    EXPECT_EQ(batched[n].tokens, alone[n].tokens) << "rank " << n;
    EXPECT_NEAR(batched[n].score, alone[n].score, tolerance) << "rank " << n;
    ASSERT_EQ(batched[n].step_scores.size(), alone[n].step_scores.size());
    ASSERT_EQ(batched[n].attention.shape(), alone[n].attention.shape());
    std::vector<float> x = batched[n].attention.to_vector<float>(), y = alone[n].attention.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(x[i], y[i], 1e-5) << "rank " << n;
    }
  }
}

TEST(BeamSearch, BatchOfThreeEqualsEachSentenceAlone) {
  const std::vector<std::vector<int64_t>> sources = {{4, 5, 6, 7, 8}, {9, 4}, {10, 9, 8, 7, 6, 5, 4}};
  decode::BeamSearchOptions options;
  options.beam_size = 4;
  options.n_best = 4;
  options.max_length_factor = 2.0;
  options.max_length_offset = 0;  // limits 10, 4, 14: the sentences finish at different steps

  auto model = small_rnnsearch(9, 1.0);
  ToyTranslator toy(7, hashed_logits(17, 7));
  attn::data::Batch batch = batch_of(sources);
  decode::BeamSearchResult model_batched = decode::beam_search(*model, batch.source, batch.source_lengths, options);
  decode::BeamSearchResult toy_batched = decode::beam_search(toy, batch.source, batch.source_lengths, options);
  for (size_t b = 0; b < sources.size(); ++b) {
    SCOPED_TRACE("sentence " + std::to_string(b));
    attn::data::Batch single = batch_of({sources[b]});
    expect_same_hypotheses(model_batched.nbest[b],
                           decode::beam_search(*model, single.source, single.source_lengths, options).nbest[0],
                           1e-5);
    expect_same_hypotheses(toy_batched.nbest[b],
                           decode::beam_search(toy, single.source, single.source_lengths, options).nbest[0],
                           1e-12);
  }
}

// The search encodes once per call (then copies each sentence K times with
// reorder), and reorders after every step but the last; the toy checks at
// every step that its rows are the batch's rows.
TEST(BeamSearch, EncodesOnceAndReordersEveryStep) {
  ToyTranslator toy(7, hashed_logits(23, 7));
  attn::data::Batch batch = batch_of(mixed_sources());
  decode::BeamSearchResult result = decode::beam_search(toy, batch.source, batch.source_lengths, beam_options(3, 1, 6));
  ASSERT_EQ(result.nbest.size(), 4u);
  EXPECT_EQ(toy.starts, 1) << "beam_search should encode the batch once, not once per beam";
  EXPECT_GE(toy.steps, 2);
  EXPECT_EQ(toy.reorders, toy.steps) << "one reorder to copy the sentences, one after each step but the last";
}

// --- 8. bad options ------------------------------------------------------------------

TEST(BeamSearch, BadOptionsThrowNamingTheOption) {
  ToyTranslator toy(5, hashed_logits(1, 5));
  attn::data::Batch batch = batch_of({{4, 5}});
  auto message_for = [&](const decode::BeamSearchOptions& options) {
    return error_of([&] { decode::beam_search(toy, batch.source, batch.source_lengths, options); });
  };
  auto expect_names = [](const std::string& message, const std::string& name) {
    EXPECT_NE(message.find(name), std::string::npos) << "'" << message << "' does not name " << name;
  };
  decode::BeamSearchOptions options;
  options.beam_size = 0;
  expect_names(message_for(options), "beam_size");
  options = {};
  options.beam_size = 5;
  options.n_best = 6;
  expect_names(message_for(options), "n_best");
  options.n_best = 0;
  expect_names(message_for(options), "n_best");
  options = {};
  options.normalize = -1.0;
  expect_names(message_for(options), "normalize");
  options = {};
  options.max_length_factor = -2.0;
  expect_names(message_for(options), "max_length_factor");
  options = {};
  options.max_length = -1;
  expect_names(message_for(options), "max_length");
  options = {};
  options.max_length_factor = 0.0;
  options.max_length = 0;
  expect_names(message_for(options), "are both 0");
  // The input's shape and dtype too.
  std::string message = error_of([&] {
    decode::beam_search(toy, batch.source.to(attn::kFloat32), batch.source_lengths, decode::BeamSearchOptions());
  });
  expect_names(message, "source");
  EXPECT_EQ(toy.starts, 0) << "bad options must be refused before any work";
}

}  // namespace
