#include "train/metrics/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "data/utf8.h"
#include "kernels/error.h"

// Facts taken from sacreBLEU 2.6.0 (github.com/mjpost/sacrebleu):
// tokenizers/tokenizer_13a.py and tokenizer_re.py for the tokenizer,
// metrics/bleu.py (compute_bleu) for the formula and its smoothing.

namespace attn::metrics {
namespace {

constexpr int kMaxOrder = 4;

// The code points for which Python's str.isspace() is true.
bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

void replace_all(std::string* text, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = text->find(from, pos)) != std::string::npos) {
    text->replace(pos, from.size(), to);
    pos += to.size();
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_or_comma(char c) { return c == '.' || c == ','; }

// The first regex of tokenizer_re.py: [\{-\~\[-\` -\&\(-\+\:-\@\/], that is
// every printable ASCII symbol except ' , - . and the space itself.
bool is_split_symbol(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= '!' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

// Python's re.sub for a two-character pattern (first)(second): scans left to
// right and, at each match, writes emit(first, second) and resumes after the
// pair, so matches never overlap ("a.." matches "a." only). Working on bytes
// rather than code points gives the same result because every character the
// patterns name is ASCII and no byte of a multi-byte character is ASCII.
template <typename First, typename Second, typename Emit>
std::string substitute_pairs(const std::string& text, First first, Second second, Emit emit) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  size_t i = 0;
  while (i < text.size()) {
    if (i + 1 < text.size() && first(text[i]) && second(text[i + 1])) {
      emit(text[i], text[i + 1], &out);
      i += 2;
    } else {
      out.push_back(text[i]);
      i += 1;
    }
  }
  return out;
}

// Python's str.rstrip(): `text` without its trailing whitespace.
std::string rstrip(const std::string& text) {
  size_t end = 0;  // one past the last non-space code point
  size_t pos = 0;
  while (pos < text.size()) {
    int length = 0;
    uint32_t c = data::decode_code_point(text, pos, &length, "bleu");
    pos += static_cast<size_t>(length);
    if (!is_python_space(c)) end = pos;
  }
  return text.substr(0, end);
}

// The n-grams (n = 1..4) of a tokenized segment with their counts; an n-gram
// is its tokens joined by single spaces (tokens hold no spaces), one map per n.
using NgramCounts = std::array<std::unordered_map<std::string, int64_t>, kMaxOrder>;

NgramCounts count_ngrams(const std::vector<std::string>& tokens) {
  NgramCounts counts;
  for (int n = 1; n <= kMaxOrder; ++n) {
    for (size_t i = 0; i + static_cast<size_t>(n) <= tokens.size(); ++i) {
      std::string ngram = tokens[i];
      for (int k = 1; k < n; ++k) ngram += ' ' + tokens[i + static_cast<size_t>(k)];
      ++counts[static_cast<size_t>(n - 1)][ngram];
    }
  }
  return counts;
}

// The sufficient statistics of one pair, summed over a corpus: lengths and
// clipped matches per order.
struct BleuStats {
  int64_t hypothesis_length = 0;
  int64_t reference_length = 0;
  std::array<int64_t, 4> counts{};
  std::array<int64_t, 4> totals{};
};

void add_pair(const std::string& hypothesis, const std::string& reference, BleuStats* stats) {
  // sacreBLEU strips trailing whitespace before tokenizing (so a final "-\n"
  // is a hyphen, not a join).
  std::vector<std::string> hyp = split_words(tokenize_13a(rstrip(hypothesis)));
  std::vector<std::string> ref = split_words(tokenize_13a(rstrip(reference)));
  NgramCounts hyp_ngrams = count_ngrams(hyp);
  NgramCounts ref_ngrams = count_ngrams(ref);
  stats->hypothesis_length += static_cast<int64_t>(hyp.size());
  stats->reference_length += static_cast<int64_t>(ref.size());
  for (size_t n = 0; n < kMaxOrder; ++n) {
    for (const auto& [ngram, count] : hyp_ngrams[n]) {
      stats->totals[n] += count;
      auto found = ref_ngrams[n].find(ngram);
      // Clipping: "the the the" against "the cat" matches "the" once.
      if (found != ref_ngrams[n].end()) stats->counts[n] += std::min(count, found->second);
    }
  }
}

std::string signature(bool effective_order) {
  return std::string("nrefs:1|case:mixed|eff:") + (effective_order ? "yes" : "no") +
         "|tok:13a|smooth:exp|version:" + kSacrebleuVersion;
}

// sacreBLEU's compute_bleu with smooth_method='exp', step for step and in the
// same order of floating-point operations, so that scores agree to the last bit
// or nearly.
BleuScore compute_bleu(const BleuStats& stats, bool effective_order) {
  BleuScore result;
  result.counts = stats.counts;
  result.totals = stats.totals;
  result.hypothesis_length = stats.hypothesis_length;
  result.reference_length = stats.reference_length;
  result.signature = signature(effective_order);
  const double c = static_cast<double>(stats.hypothesis_length);
  const double r = static_cast<double>(stats.reference_length);
  if (stats.hypothesis_length < stats.reference_length) {
    result.brevity_penalty = stats.hypothesis_length > 0 ? std::exp(1.0 - r / c) : 0.0;
  }
  bool any_match = false;
  for (int64_t count : stats.counts) any_match = any_match || count > 0;
  if (!any_match) return result;  // score 0, precisions 0 (sacreBLEU issue #141)

  // 'exp' smoothing (Chen & Cherry 2014, method 3, as mteval-v13a.pl does):
  // the k-th order without a match gets 1 / 2^k of a match.
  double smooth = 1.0;
  int order = kMaxOrder;
  for (int n = 1; n <= kMaxOrder; ++n) {
    const size_t i = static_cast<size_t>(n - 1);
    if (stats.totals[i] == 0) break;  // the hypothesis is shorter than n tokens
    // Effective order: average over the orders the hypothesis has n-grams of.
    if (effective_order) order = n;
    const double total = static_cast<double>(stats.totals[i]);
    if (stats.counts[i] == 0) {
      smooth *= 2.0;
      result.precisions[i] = 100.0 / (smooth * total);
    } else {
      result.precisions[i] = 100.0 * static_cast<double>(stats.counts[i]) / total;
    }
  }
  // sacreBLEU's my_log: an order left at precision 0 (only possible without
  // effective order) counts as log 0 = -9999999999, which makes the score 0.
  double log_sum = 0.0;
  for (int n = 0; n < order; ++n) {
    double p = result.precisions[static_cast<size_t>(n)];
    log_sum += p == 0.0 ? -9999999999.0 : std::log(p);
  }
  result.score = result.brevity_penalty * std::exp(log_sum / order);
  return result;
}

}  // namespace

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  size_t pos = 0;
  while (pos < text.size()) {
    int length = 0;
    uint32_t c = data::decode_code_point(text, pos, &length, "split_words");
    if (is_python_space(c)) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word.append(text, pos, static_cast<size_t>(length));
    }
    pos += static_cast<size_t>(length);
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::string tokenize_13a(const std::string& line) {
  // The language-independent part, in sacreBLEU's order: each replace runs
  // over the whole line before the next, so "&amp;lt;" ends as "<".
  std::string text = line;
  replace_all(&text, "<skipped>", "");
  replace_all(&text, "-\n", "");
  replace_all(&text, "\n", " ");
  replace_all(&text, "&quot;", "\"");
  replace_all(&text, "&amp;", "&");
  replace_all(&text, "&lt;", "<");
  replace_all(&text, "&gt;", ">");
  // sacreBLEU pads with a space at each end, and the pair rules below see it
  // as a neighbour: a final "in 1990." splits to "1990 ." and a leading ".5"
  // to ". 5", as if the line were one word of a longer text.
  text = ' ' + text + ' ';

  // 1. Symbols become tokens of their own: "(a+b)" -> " ( a + b ) ".
  std::string spaced;
  for (char ch : text) {
    if (is_split_symbol(ch)) {
      spaced += ' ';
      spaced += ch;
      spaced += ' ';
    } else {
      spaced += ch;
    }
  }
  auto not_digit = [](char ch) { return !is_digit(ch); };
  auto is_hyphen = [](char ch) { return ch == '-'; };
  // The replacements r'\1 \2 ' and r' \1 \2' of the patterns below.
  auto space_after_each = [](char a, char b, std::string* out) {
    *out += a;
    *out += ' ';
    *out += b;
    *out += ' ';
  };
  auto space_before_each = [](char a, char b, std::string* out) {
    *out += ' ';
    *out += a;
    *out += ' ';
    *out += b;
  };
  // 2. '.' and ',' split unless preceded by a digit: "x." -> "x . ".
  text = substitute_pairs(spaced, not_digit, is_period_or_comma, space_after_each);
  // 3. '.' and ',' split unless followed by a digit: "1." -> "1 . ". Together
  // with 2, only a '.' or ',' between two digits ("1,000.5") stays attached.
  text = substitute_pairs(text, is_period_or_comma, not_digit, space_before_each);
  // 4. '-' after a digit splits: "1990-1995" -> "1990 - 1995"; "well-known" stays.
  text = substitute_pairs(text, is_digit, is_hyphen, space_after_each);
  // Single spaces between tokens, none at the ends.
  std::string joined;
  for (const std::string& word : split_words(text)) {
    if (!joined.empty()) joined += ' ';
    joined += word;
  }
  return joined;
}

std::string BleuScore::str() const {
  // sacreBLEU's format: score to 2 decimals, precisions to 1, BP and ratio to 3.
  double ratio = reference_length ? static_cast<double>(hypothesis_length) /
                                        static_cast<double>(reference_length)
                                  : 0.0;
  char buffer[256];
  std::snprintf(buffer, sizeof(buffer),
                "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld "
                "ref_len = %lld)",
                score, precisions[0], precisions[1], precisions[2], precisions[3],
                brevity_penalty, ratio, static_cast<long long>(hypothesis_length),
                static_cast<long long>(reference_length));
  return buffer;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::string>& references) {
  ATTN_CHECK(hypotheses.size() == references.size(), "corpus_bleu: ", hypotheses.size(),
             " hypotheses but ", references.size(),
             " references; give one reference per hypothesis, in the same order");
  BleuStats stats;
  for (size_t i = 0; i < hypotheses.size(); ++i) add_pair(hypotheses[i], references[i], &stats);
  return compute_bleu(stats, /*effective_order=*/false);
}

BleuScore sentence_bleu(const std::string& hypothesis, const std::string& reference) {
  BleuStats stats;
  add_pair(hypothesis, reference, &stats);
  return compute_bleu(stats, /*effective_order=*/true);
}

}  // namespace attn::metrics
