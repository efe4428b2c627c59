#include "train/metrics/chrf.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <unordered_map>

#include "data/utf8.h"
#include "kernels/error.h"
#include "train/metrics/bleu.h"  // split_words, kSacrebleuVersion

// Facts taken from sacreBLEU 2.6.0 (github.com/mjpost/sacrebleu):
// metrics/chrf.py (_get_match_statistics, _compute_f_score) and
// metrics/helpers.py (extract_all_char_ngrams).

namespace attn::metrics {
namespace {

constexpr int kCharOrder = 6;  // sacreBLEU's CHAR_ORDER
constexpr int kBeta = 2;       // sacreBLEU's BETA

// Per order n = 1..6: hypothesis n-grams, reference n-grams, matches (each
// n-gram matched at most as often as the reference has it).
struct OrderStats {
  int64_t hypothesis = 0;
  int64_t reference = 0;
  int64_t match = 0;
};
using ChrfStats = std::array<OrderStats, kCharOrder>;
using NgramCounts = std::array<std::unordered_map<std::string, int64_t>, kCharOrder>;

// The character n-grams of `line` with all whitespace removed, as
// extract_all_char_ngrams: "a cat" gives "acat", so n-grams cross word
// boundaries. An n-gram is n code points, kept as their UTF-8 bytes.
NgramCounts count_char_ngrams(const std::string& line) {
  std::string text;
  for (const std::string& word : split_words(line)) text += word;
  std::vector<size_t> starts;  // byte offset of each code point, then the end
  for (size_t pos = 0; pos < text.size();) {
    starts.push_back(pos);
    pos += static_cast<size_t>(data::utf8_sequence_length(text, pos));  // checked by split_words
  }
  starts.push_back(text.size());
  const size_t length = starts.size() - 1;  // in code points
  NgramCounts counts;
  for (size_t n = 1; n <= kCharOrder; ++n) {
    for (size_t i = 0; i + n <= length; ++i) {
      ++counts[n - 1][text.substr(starts[i], starts[i + n] - starts[i])];
    }
  }
  return counts;
}

void add_pair(const std::string& hypothesis, const std::string& reference, ChrfStats* stats) {
  NgramCounts hyp = count_char_ngrams(hypothesis);
  NgramCounts ref = count_char_ngrams(reference);
  for (size_t n = 0; n < kCharOrder; ++n) {
    int64_t hyp_count = 0, ref_count = 0, match = 0;
    for (const auto& [ngram, count] : hyp[n]) {
      hyp_count += count;
      auto found = ref[n].find(ngram);
      if (found != ref[n].end()) match += std::min(count, found->second);
    }
    for (const auto& entry : ref[n]) ref_count += entry.second;
    // sacreBLEU counts no hypothesis n-grams for an order the reference lacks
    // (a reference shorter than n characters), so that order drops out below.
    (*stats)[n].hypothesis += ref[n].empty() ? 0 : hyp_count;
    (*stats)[n].reference += ref_count;
    (*stats)[n].match += match;
  }
}

// sacreBLEU's _compute_f_score without eps smoothing, in its order of
// operations: average precision and recall over the "effective" orders (those
// where both sides have n-grams), then one F-beta of the two averages. Not the
// mean of per-order F-scores, which is what eps smoothing (and chrF++.py) does.
double f_score(const ChrfStats& stats) {
  const double factor = kBeta * kBeta;
  double average_precision = 0.0, average_recall = 0.0;
  int effective_order = 0;
  for (const OrderStats& s : stats) {
    if (s.hypothesis > 0 && s.reference > 0) {
      average_precision += static_cast<double>(s.match) / static_cast<double>(s.hypothesis);
      average_recall += static_cast<double>(s.match) / static_cast<double>(s.reference);
      ++effective_order;
    }
  }
  if (effective_order == 0) return 0.0;
  average_precision /= effective_order;
  average_recall /= effective_order;
  if (average_precision + average_recall == 0.0) return 0.0;
  double score = (1 + factor) * average_precision * average_recall;
  score /= factor * average_precision + average_recall;
  return 100 * score;
}

ChrfScore make_score(const ChrfStats& stats) {
  ChrfScore result;
  result.score = f_score(stats);
  result.signature = std::string("nrefs:1|case:mixed|eff:yes|nc:") + std::to_string(kCharOrder) +
                     "|nw:0|space:no|version:" + kSacrebleuVersion;
  return result;
}

}  // namespace

std::string ChrfScore::str() const {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "chrF%d = %.2f", kBeta, score);
  return buffer;
}

ChrfScore corpus_chrf(const std::vector<std::string>& hypotheses,
                      const std::vector<std::string>& references) {
  ATTN_CHECK(hypotheses.size() == references.size(), "corpus_chrf: ", hypotheses.size(),
             " hypotheses but ", references.size(),
             " references; give one reference per hypothesis, in the same order");
  ChrfStats stats{};
  for (size_t i = 0; i < hypotheses.size(); ++i) add_pair(hypotheses[i], references[i], &stats);
  return make_score(stats);
}

ChrfScore sentence_chrf(const std::string& hypothesis, const std::string& reference) {
  ChrfStats stats{};
  add_pair(hypothesis, reference, &stats);
  return make_score(stats);
}

}  // namespace attn::metrics
