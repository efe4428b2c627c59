// Chapter 08, Decoding and BLEU (docs/08-decoding-and-bleu.md).
//
//   ./build/release/examples/example_08_decoding
//
// Part one decodes with a hand-written translator: a table of next-word
// probabilities behind the nn::Translator interface, so every number can be
// checked by hand. Greedy decoding misses the most probable sentence; beam
// search with K = 2 finds it (the program prints the B*K rows the model sees
// at each step and the reorder() calls that keep the decoder state with its
// hypotheses); both are checked against an exhaustive search. Then an n-best
// list in Marian's format, length normalisation changing the winner, and the
// length limit cutting an output.
//
// Part two works BLEU by hand on three sentence pairs (n-gram counts, clipped
// matches, precisions, brevity penalty) and checks that
// attn::metrics::corpus_bleu agrees; then corpus BLEU against the mean of
// sentence BLEUs, and how tokenization and case change the number while
// chrF does not care about spaces. Returns 1 if a check fails.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <attn/attn.h>

#include "train/decode/beam_search.h"
#include "train/metrics/bleu.h"
#include "train/metrics/chrf.h"
#include "train/decode/decode.h"

namespace {

namespace nn = attn::nn;
namespace decode = attn::decode;
namespace metrics = attn::metrics;
using attn::Tensor;
using attn::data::kEos;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

bool near(double a, double b, double tolerance = 1e-9) { return std::abs(a - b) <= tolerance; }

// --- the toy translator -----------------------------------------------------------
//
// Target vocabulary: the four specials (ids 0-3, data/vocab.h), then six words.
const std::vector<std::string> kWords = {"<pad>", "<unk>", "<s>", "</s>", "the",
                                         "a",     "cat",   "dog", "black", "sleeps"};
const int64_t kVocab = static_cast<int64_t>(kWords.size());  // V = 10
const int64_t kFirstWord = 4;                                // "the"

// The two source sentences; the toy reads only their first id (10 or 11).
const std::vector<std::string> kSources = {"un chat", "le chat noir dort"};
const std::vector<std::vector<int64_t>> kSourceIds = {{10, 20}, {11, 21, 22, 23}};

// P(next word | sentence, words so far): the listed words get these
// probabilities; what is left is shared evenly by the unlisted words and
// </s>; <pad>, <unk> and <s> get 0. An unlisted prefix gets {"</s>": 0.6}.
using Row = std::map<std::string, double>;
const std::map<std::pair<int64_t, std::string>, Row> kTable = {
    // "un chat": the first word that looks best ("the", 0.5) leads to a flat
    // second step; the runner-up ("a", 0.4) to a sure one.
    {{0, ""}, {{"the", 0.5}, {"a", 0.4}}},
    {{0, "the"}, {{"cat", 0.4}, {"dog", 0.3}}},
    {{0, "a"}, {{"cat", 0.9}}},
    {{0, "the cat"}, {{"</s>", 0.9}}},
    {{0, "the dog"}, {{"</s>", 0.9}}},
    {{0, "a cat"}, {{"</s>", 0.9}}},
    // "le chat noir dort": stopping after "the cat" is likelier than saying
    // the whole sentence, because every extra word multiplies by p < 1.
    {{1, ""}, {{"the", 0.9}}},
    {{1, "the"}, {{"cat", 0.6}, {"black", 0.3}}},
    {{1, "the cat"}, {{"</s>", 0.4}, {"sleeps", 0.3}}},
    {{1, "the cat sleeps"}, {{"</s>", 0.9}}},
    {{1, "the black"}, {{"cat", 0.9}}},
    {{1, "the black cat"}, {{"sleeps", 0.8}}},
    {{1, "the black cat sleeps"}, {{"</s>", 0.9}}},
};

std::string text_of(const std::vector<int64_t>& tokens) {
  std::string out;
  for (int64_t y : tokens) out += (out.empty() ? "" : " ") + kWords[static_cast<size_t>(y)];
  return out;
}

int64_t id_of(const std::string& word) {
  return std::find(kWords.begin(), kWords.end(), word) - kWords.begin();
}

// (V) probabilities of the next token.
std::vector<double> next_probabilities(int64_t sentence, const std::vector<int64_t>& history) {
  auto found = kTable.find({sentence, text_of(history)});
  Row row = found != kTable.end() ? found->second : Row{{"</s>", 0.6}};
  std::vector<double> p(static_cast<size_t>(kVocab), 0.0);
  double listed = 0.0;
  for (const auto& [word, probability] : row) {
    p[static_cast<size_t>(id_of(word))] = probability;
    listed += probability;
  }
  // </s> and the words not listed share the rest.
  std::vector<int64_t> others;
  for (int64_t v = kEos; v < kVocab; ++v) {
    if (!row.count(kWords[static_cast<size_t>(v)])) others.push_back(v);
  }
  for (int64_t v : others) p[static_cast<size_t>(v)] = (1.0 - listed) / static_cast<double>(others.size());
  return p;
}

// log P(tokens </s>): the score beam search gives a finished hypothesis.
double sentence_log_probability(int64_t sentence, const std::vector<int64_t>& tokens) {
  std::vector<int64_t> history;
  double score = 0.0;
  for (int64_t y : tokens) {
    score += std::log(next_probabilities(sentence, history)[static_cast<size_t>(y)]);
    history.push_back(y);
  }
  return score + std::log(next_probabilities(sentence, history)[kEos]);
}

bool trace = false;  // print every step's rows and every reorder

class ToyState : public nn::DecoderState {
 public:
  std::vector<int64_t> sentence;                // (R)
  std::vector<std::vector<int64_t>> history;    // (R) the words so far
  std::vector<bool> begun;                      // (R) false before the first step

  // Keeps rows `indices` (R') in that order: what a real model does to its
  // hidden states with index_select.
  void reorder(const Tensor& indices) override {
    std::vector<int64_t> rows = indices.to_vector<int64_t>();
    if (trace) {
      std::printf("    reorder [");
      for (size_t i = 0; i < rows.size(); ++i) std::printf("%s%lld", i ? " " : "", static_cast<long long>(rows[i]));
      std::printf("]\n");
    }
    std::vector<int64_t> old_sentence = sentence;
    std::vector<std::vector<int64_t>> old_history = history;
    std::vector<bool> old_begun = begun;
    sentence.clear();
    history.clear();
    begun.clear();
    for (int64_t r : rows) {
      sentence.push_back(old_sentence[static_cast<size_t>(r)]);
      history.push_back(old_history[static_cast<size_t>(r)]);
      begun.push_back(old_begun[static_cast<size_t>(r)]);
    }
  }
};

class ToyTranslator : public nn::Translator {
 public:
  // Teacher forcing, one step() per position: (B, S), (B), (B, T) -> (B, T, V).
  Tensor forward(const Tensor& source, const Tensor& source_lengths, const Tensor& target_input) override {
    std::unique_ptr<nn::DecoderState> state = start(source, source_lengths);
    std::vector<Tensor> steps;
    for (int64_t t = 0; t < target_input.size(1); ++t) {
      steps.push_back(step(*state, target_input.select(1, t).contiguous()));
    }
    return attn::stack(steps, 1);
  }

  // "Encoding" reads which sentence each row is: (B, S), (B).
  std::unique_ptr<nn::DecoderState> start(const Tensor& source, const Tensor&) override {
    auto state = std::make_unique<ToyState>();
    std::vector<int64_t> ids = source.contiguous().to_vector<int64_t>();
    for (int64_t b = 0; b < source.size(0); ++b) state->sentence.push_back(ids[b * source.size(1)] - 10);
    state->history.resize(static_cast<size_t>(source.size(0)));
    state->begun.assign(static_cast<size_t>(source.size(0)), false);
    return state;
  }

  // previous: (R) int64 -> logits (R, V) = log of the table's probabilities.
  Tensor step(nn::DecoderState& base, const Tensor& previous) override {
    auto& state = dynamic_cast<ToyState&>(base);
    std::vector<int64_t> tokens = previous.to_vector<int64_t>();
    const int64_t R = static_cast<int64_t>(tokens.size());
    std::vector<float> logits;
    if (trace) std::printf("    step %d, %lld rows:", ++steps_, static_cast<long long>(R));
    for (int64_t r = 0; r < R; ++r) {
      if (state.begun[r]) state.history[r].push_back(tokens[r]);
      state.begun[r] = true;
      for (double p : next_probabilities(state.sentence[r], state.history[r])) {
        logits.push_back(p > 0 ? static_cast<float>(std::log(p)) : -std::numeric_limits<float>::infinity());
      }
      if (trace) {
        std::string prefix = text_of(state.history[r]);
        std::printf(" %s%lld s%lld: <s>%s", r ? "| " : "", static_cast<long long>(r),
                    static_cast<long long>(state.sentence[r]), prefix.empty() ? "" : (" " + prefix).c_str());
      }
    }
    if (trace) std::printf("\n");
    return attn::from_vector(logits, {R, kVocab});
  }

  std::string describe() const override { return "toy: a table of next-word probabilities"; }

 private:
  int steps_ = 0;
};

// Every output of at most max_words words followed by </s>, best first by
// log P / (words + 1)^alpha (the length counts </s>, as beam search's does).
struct Scored {
  std::vector<int64_t> tokens;
  double score, normalized;
};

std::vector<Scored> exhaustive(int64_t sentence, int64_t max_words, double alpha) {
  std::vector<Scored> all;
  std::vector<int64_t> prefix;
  std::function<void()> grow = [&]() {
    double score = sentence_log_probability(sentence, prefix);
    all.push_back({prefix, score, score / std::pow(static_cast<double>(prefix.size() + 1), alpha)});
    if (static_cast<int64_t>(prefix.size()) == max_words) return;
    for (int64_t v = kFirstWord; v < kVocab; ++v) {
      prefix.push_back(v);
      grow();
      prefix.pop_back();
    }
  };
  grow();
  std::stable_sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.normalized > b.normalized; });
  return all;
}

attn::data::Batch batch_of(const std::vector<int64_t>& sentences) {
  std::vector<std::vector<int64_t>> sources;
  for (int64_t s : sentences) sources.push_back(kSourceIds[static_cast<size_t>(s)]);
  std::vector<size_t> indices(sources.size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return attn::data::make_batch(sources, {}, indices);
}

decode::BeamSearchOptions beam(int64_t beam_size, int64_t n_best = 1, double normalize = 0.0) {
  decode::BeamSearchOptions options;
  options.beam_size = beam_size;
  options.n_best = n_best;
  options.normalize = normalize;
  return options;
}

// Marian's n-best line, as `attn translate --n-best` prints it.
void print_nbest(int64_t id, const std::vector<decode::Hypothesis>& list) {
  for (const decode::Hypothesis& h : list) {
    std::ostringstream line;
    line << id << " ||| " << text_of(h.tokens) << " ||| F0= " << h.score << " ||| " << h.normalized_score;
    std::printf("  %s\n", line.str().c_str());
  }
}

// --- BLEU by hand -----------------------------------------------------------------

std::vector<std::string> split(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::map<std::string, int64_t> ngrams(const std::vector<std::string>& words, size_t n) {
  std::map<std::string, int64_t> counts;
  for (size_t i = 0; i + n <= words.size(); ++i) {
    std::string gram = words[i];
    for (size_t k = 1; k < n; ++k) gram += " " + words[i + k];
    ++counts[gram];
  }
  return counts;
}

// Matches and totals of one pair for n = 1..4, words cut at spaces only.
struct PairCounts {
  int64_t matches[4] = {0, 0, 0, 0}, totals[4] = {0, 0, 0, 0};
  int64_t hyp_len = 0, ref_len = 0;
};

PairCounts count_pair(const std::string& hypothesis, const std::string& reference, bool verbose) {
  std::vector<std::string> hyp = split(hypothesis), ref = split(reference);
  PairCounts c;
  c.hyp_len = static_cast<int64_t>(hyp.size());
  c.ref_len = static_cast<int64_t>(ref.size());
  for (size_t n = 1; n <= 4; ++n) {
    std::map<std::string, int64_t> h = ngrams(hyp, n), r = ngrams(ref, n);
    std::string missed;
    for (const auto& [gram, count] : h) {
      auto in_ref = r.find(gram);
      int64_t clipped = in_ref == r.end() ? 0 : std::min(count, in_ref->second);  // clipping
      c.matches[n - 1] += clipped;
      c.totals[n - 1] += count;
      if (clipped < count) missed += " [" + gram + "]" + (clipped ? " x" + std::to_string(count - clipped) : "");
    }
    if (verbose) {
      std::printf("    %zu-grams %lld/%lld  not matched:%s\n", n, static_cast<long long>(c.matches[n - 1]),
                  static_cast<long long>(c.totals[n - 1]), missed.empty() ? " -" : missed.c_str());
    }
  }
  return c;
}

// Corpus BLEU from summed counts, no smoothing (every order must match once).
double bleu_from(const PairCounts& sum, double* bp_out = nullptr) {
  double log_mean = 0.0;
  for (int n = 0; n < 4; ++n) log_mean += std::log(static_cast<double>(sum.matches[n]) / sum.totals[n]) / 4;
  double c = static_cast<double>(sum.hyp_len), r = static_cast<double>(sum.ref_len);
  double bp = c < r ? std::exp(1.0 - r / c) : 1.0;
  if (bp_out) *bp_out = bp;
  return 100.0 * bp * std::exp(log_mean);
}

std::string lowercase(std::string text) {
  for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return text;
}

}  // namespace

int main() {
  ToyTranslator toy;
  toy.eval();

  section("1. Greedy decoding commits to its first choice");
  // Step by step, the two most probable next words for "un chat".
  std::vector<int64_t> history;
  for (int t = 1; t <= 3; ++t) {
    std::vector<double> p = next_probabilities(0, history);
    std::vector<int64_t> order(static_cast<size_t>(kVocab));
    for (int64_t v = 0; v < kVocab; ++v) order[static_cast<size_t>(v)] = v;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    std::printf("  step %d after '<s>%s': %s %.2f, %s %.2f -> takes %s\n", t,
                history.empty() ? "" : (" " + text_of(history)).c_str(), kWords[order[0]].c_str(), p[order[0]],
                kWords[order[1]].c_str(), p[order[1]], kWords[order[0]].c_str());
    if (order[0] == kEos) break;
    history.push_back(order[0]);
  }
  attn::data::Batch one = batch_of({0});
  decode::DecodeResult greedy = decode::greedy_decode(toy, one.source, one.source_lengths, 10);
  std::vector<Scored> best0 = exhaustive(0, 5, 0.0);
  double greedy_score = sentence_log_probability(0, greedy.tokens[0]);
  std::printf("  greedy:     '%s'  P = %.4f  log P = %.4f\n", text_of(greedy.tokens[0]).c_str(),
              std::exp(greedy_score), greedy_score);
  std::printf("  exhaustive: '%s'  P = %.4f  log P = %.4f  (best of %zu outputs up to 5 words)\n",
              text_of(best0[0].tokens).c_str(), std::exp(best0[0].score), best0[0].score, best0.size());
  check(text_of(greedy.tokens[0]) == "the cat" && near(std::exp(greedy_score), 0.5 * 0.4 * 0.9),
        "greedy_decode gives 'the cat', P = 0.5 * 0.4 * 0.9 = 0.18");
  check(text_of(best0[0].tokens) == "a cat" && near(std::exp(best0[0].score), 0.4 * 0.9 * 0.9),
        "the most probable sentence is 'a cat', P = 0.4 * 0.9 * 0.9 = 0.324");

  section("2. Beam search, K = 2, both sentences in one batch (B*K = 4 rows)");
  std::printf("  (each row: its number, its sentence s0 or s1, the prefix it extends)\n");
  attn::data::Batch both = batch_of({0, 1});
  trace = true;
  decode::BeamSearchResult beam2 = decode::beam_search(toy, both.source, both.source_lengths, beam(2));
  trace = false;
  for (size_t b = 0; b < 2; ++b) {
    const decode::Hypothesis& h = beam2.nbest[b][0];
    std::printf("  sentence %zu '%s' -> '%s'  log P = %.4f\n", b, kSources[b].c_str(), text_of(h.tokens).c_str(),
                h.score);
  }
  check(text_of(beam2.nbest[0][0].tokens) == "a cat" && near(beam2.nbest[0][0].score, best0[0].score, 1e-6),
        "beam 2 finds 'a cat', the exhaustive search's best, with its log P");
  decode::BeamSearchResult beam1 = decode::beam_search(toy, one.source, one.source_lengths, beam(1));
  check(beam1.nbest[0][0].tokens == greedy.tokens[0], "beam 1 gives greedy decoding's 'the cat'");
  std::vector<double> steps = beam2.nbest[0][0].step_scores;
  std::printf("  step scores of 'a cat </s>': %.4f %.4f %.4f\n", steps[0], steps[1], steps[2]);
  check(steps.size() == 3 && near(steps[0], std::log(0.4), 1e-6) && near(steps[1], std::log(0.4 * 0.9), 1e-6),
        "its step scores are log 0.4, log 0.36, log 0.324: they only fall");

  section("3. An n-best list in Marian's format (beam 3, n-best 3)");
  decode::BeamSearchResult beam3 = decode::beam_search(toy, one.source, one.source_lengths, beam(3, 3));
  print_nbest(0, beam3.nbest[0]);
  bool same_as_exhaustive = beam3.nbest[0].size() == 3;
  for (size_t n = 0; n < 3 && same_as_exhaustive; ++n) {
    same_as_exhaustive = beam3.nbest[0][n].tokens == best0[n].tokens && near(beam3.nbest[0][n].score, best0[n].score, 1e-6);
  }
  check(same_as_exhaustive, "the 3-best list is the exhaustive search's top 3: a cat, the cat, the dog");

  section("4. Length normalisation: score / length^alpha");
  attn::data::Batch second = batch_of({1});
  for (double alpha : {0.0, 1.0}) {
    std::printf("  --normalize %.0f, beam 3, n-best 3:\n", alpha);
    decode::BeamSearchResult r = decode::beam_search(toy, second.source, second.source_lengths, beam(3, 3, alpha));
    print_nbest(0, r.nbest[0]);
    std::vector<Scored> best = exhaustive(1, 5, alpha);
    check(r.nbest[0][0].tokens == best[0].tokens,
          "alpha " + std::to_string(static_cast<int>(alpha)) + ": the beam's best is the exhaustive search's, '" +
              text_of(best[0].tokens) + "'");
  }
  double short_score = std::log(0.9 * 0.6 * 0.4), long_score = std::log(0.9 * 0.3 * 0.9 * 0.8 * 0.9);
  std::printf("  'the cat':                 log P = %.4f, over 3 steps %.4f\n", short_score, short_score / 3);
  std::printf("  'the black cat sleeps':    log P = %.4f, over 5 steps %.4f\n", long_score, long_score / 5);
  check(short_score > long_score && short_score / 3 < long_score / 5,
        "raw log P prefers the short output; per step, the whole sentence wins");

  section("5. Length limits: min(floor(factor * S) + offset, max_length)");
  decode::BeamSearchOptions limits = beam(2);
  for (int64_t S : {2, 4, 5, 30}) {
    std::printf("  source of %2lld tokens: at most %lld output tokens (factor 3, offset 10)\n", static_cast<long long>(S),
                static_cast<long long>(decode::beam_max_length(S, limits)));
  }
  check(decode::beam_max_length(5, limits) == 25, "a 5-token source may give 3 * 5 + 10 = 25 tokens");
  limits.max_length_factor = 0.5;
  limits.max_length_offset = 0;
  decode::BeamSearchResult cut = decode::beam_search(toy, second.source, second.source_lengths, limits);
  const decode::Hypothesis& cut_best = cut.nbest[0][0];
  std::printf("  factor 0.5, offset 0, 4-token source: limit %lld, best '%s' (%zu steps, no </s>)\n",
              static_cast<long long>(decode::beam_max_length(4, limits)), text_of(cut_best.tokens).c_str(),
              cut_best.step_scores.size());
  check(cut_best.tokens.size() == 2 && cut_best.step_scores.size() == 2,
        "cut at 2 tokens, the output ends without </s> (2 steps for 2 tokens)");

  section("6. BLEU by hand, three sentence pairs");
  const std::vector<std::string> hyps = {"the cat sat on the mat", "a dog is barking at the postman", "it is raining"};
  const std::vector<std::string> refs = {"the cat sat on a mat", "the dog barks at the postman",
                                         "it is raining again today"};
  PairCounts sum;
  for (size_t i = 0; i < hyps.size(); ++i) {
    std::printf("  pair %zu: hyp '%s'\n          ref '%s'\n", i + 1, hyps[i].c_str(), refs[i].c_str());
    PairCounts c = count_pair(hyps[i], refs[i], true);
    for (int n = 0; n < 4; ++n) {
      sum.matches[n] += c.matches[n];
      sum.totals[n] += c.totals[n];
    }
    sum.hyp_len += c.hyp_len;
    sum.ref_len += c.ref_len;
  }
  double bp = 1.0;
  double by_hand = bleu_from(sum, &bp);
  std::printf("  corpus: p1 = %lld/%lld  p2 = %lld/%lld  p3 = %lld/%lld  p4 = %lld/%lld\n",
              static_cast<long long>(sum.matches[0]), static_cast<long long>(sum.totals[0]),
              static_cast<long long>(sum.matches[1]), static_cast<long long>(sum.totals[1]),
              static_cast<long long>(sum.matches[2]), static_cast<long long>(sum.totals[2]),
              static_cast<long long>(sum.matches[3]), static_cast<long long>(sum.totals[3]));
  std::printf("          c = %lld, r = %lld, BP = exp(1 - %lld/%lld) = %.4f\n", static_cast<long long>(sum.hyp_len),
              static_cast<long long>(sum.ref_len), static_cast<long long>(sum.ref_len),
              static_cast<long long>(sum.hyp_len), bp);
  std::printf("          BLEU = 100 * BP * (p1 p2 p3 p4)^(1/4) = %.4f\n", by_hand);
  metrics::BleuScore corpus = metrics::corpus_bleu(hyps, refs);
  std::printf("  corpus_bleu: %s\n    signature %s\n", corpus.str().c_str(), corpus.signature.c_str());
  bool counts_agree = corpus.hypothesis_length == sum.hyp_len && corpus.reference_length == sum.ref_len;
  for (int n = 0; n < 4; ++n) {
    counts_agree = counts_agree && corpus.counts[n] == sum.matches[n] && corpus.totals[n] == sum.totals[n];
  }
  check(counts_agree, "corpus_bleu counts the same matches, totals and lengths");
  check(near(corpus.score, by_hand, 1e-9) && near(corpus.brevity_penalty, bp, 1e-12),
        "corpus_bleu's score and BP are the hand computation's");

  std::printf("  clipping: hyp 'the the the the the the the', ref 'the cat is on the mat'\n");
  metrics::BleuScore clipped = metrics::corpus_bleu({"the the the the the the the"}, {"the cat is on the mat"});
  std::printf("    p1 = %lld/%lld (unclipped it would be 7/7)\n", static_cast<long long>(clipped.counts[0]),
              static_cast<long long>(clipped.totals[0]));
  check(clipped.counts[0] == 2 && clipped.totals[0] == 7, "'the' counts at most twice, as often as in the reference");

  section("7. Corpus BLEU is not the mean of sentence BLEUs");
  double mean = 0.0;
  for (size_t i = 0; i < hyps.size(); ++i) {
    metrics::BleuScore s = metrics::sentence_bleu(hyps[i], refs[i]);
    std::printf("  pair %zu: sentence_bleu %6.2f   (%s)\n", i + 1, s.score, s.str().c_str());
    mean += s.score / static_cast<double>(hyps.size());
  }
  std::printf("  mean of sentence BLEUs %.2f, corpus BLEU %.2f\n", mean, corpus.score);
  check(std::abs(mean - corpus.score) > 1.0, "the two differ by more than a point");

  section("8. Tokenization and case change the number");
  const std::string output = "the cat , as usual , sat on the old mat .";  // a tokenized, lowercased output
  const std::string reference = "The cat, as usual, sat on the old mat.";
  std::printf("  hyp '%s'\n  ref '%s'\n", output.c_str(), reference.c_str());
  std::printf("  13a tokens of ref: '%s'\n", metrics::tokenize_13a(reference).c_str());
  double mixed = metrics::corpus_bleu({output}, {reference}).score;
  double lower = metrics::corpus_bleu({lowercase(output)}, {lowercase(reference)}).score;
  PairCounts spaces = count_pair(output, reference, false);
  double split_only = bleu_from(spaces);
  std::printf("  13a, case kept (sacreBLEU's default):  %6.2f\n", mixed);
  std::printf("  13a, both lowercased (sacreBLEU -lc):  %6.2f\n", lower);
  std::printf("  split at spaces only, case kept:       %6.2f\n", split_only);
  check(near(lower, 100.0, 1e-9) && mixed < lower && split_only < mixed,
        "one output, three BLEUs: 100 lowercased, less with case, least without 13a");

  // The dates task writes its targets one character per token.
  const std::string wrong_day = "1981-10-13", right = "1981-10-12";
  const std::string wrong_chars = "1 9 8 1 - 1 0 - 1 3", right_chars = "1 9 8 1 - 1 0 - 1 2";
  metrics::BleuScore as_dates = metrics::corpus_bleu({wrong_day}, {right});
  metrics::BleuScore as_chars = metrics::corpus_bleu({wrong_chars}, {right_chars});
  std::printf("  '%s' for '%s': 13a makes 5 tokens (%s), BLEU %.2f\n", wrong_day.c_str(), right.c_str(),
              metrics::tokenize_13a(right).c_str(), as_dates.score);
  std::printf("  the same, one character per token:  10 tokens, BLEU %.2f\n", as_chars.score);
  check(near(as_dates.score, 100.0 * std::pow(4.0 / 5 * 3.0 / 4 * 2.0 / 3 * 1.0 / 2, 0.25), 1e-9) &&
            near(as_chars.score, 100.0 * std::pow(9.0 / 10 * 8.0 / 9 * 7.0 / 8 * 6.0 / 7, 0.25), 1e-9),
        "one wrong digit: (1/5)^(1/4) = 66.87 on 13a tokens, (6/10)^(1/4) = 88.01 on characters");
  metrics::ChrfScore chrf_dates = metrics::corpus_chrf({wrong_day}, {right});
  metrics::ChrfScore chrf_chars = metrics::corpus_chrf({wrong_chars}, {right_chars});
  std::printf("  chrF2: %.2f and %.2f  (signature %s)\n", chrf_dates.score, chrf_chars.score,
              chrf_dates.signature.c_str());
  check(chrf_dates.score == chrf_chars.score, "chrF drops the spaces, so both spellings score the same");

  section("9. What BLEU does not see");
  const std::string said = "the cat is not on the mat";
  const std::string dropped_not = "the cat is on the mat", synonym = "the cat isn't on the rug";
  double a = metrics::sentence_bleu(dropped_not, said).score, b = metrics::sentence_bleu(synonym, said).score;
  std::printf("  ref '%s'\n  '%s' (says the opposite): sentence BLEU %.2f\n  '%s' (says the same):     "
              "sentence BLEU %.2f\n", said.c_str(), dropped_not.c_str(), a, synonym.c_str(), b);
  check(a > b, "BLEU prefers the output that drops 'not' to the one that keeps the meaning");

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
