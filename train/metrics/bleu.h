// BLEU (Papineni et al., 2002) exactly as sacreBLEU computes it, so that a
// number attn prints can sit in a table beside numbers from papers.
//
// BLEU of a corpus is the geometric mean of the modified n-gram precisions
// p_1..p_4, times a brevity penalty:
//
//   BLEU = BP * exp((log p_1 + ... + log p_4) / 4),  BP = min(1, exp(1 - r / c))
//
// where p_n = (n-grams of the hypotheses also in their references, each
// counted at most as often as the reference has it) / (n-grams of the
// hypotheses), c the hypotheses' length and r the references' length, all
// summed over the corpus before dividing. BLEU is a corpus metric: the mean of
// sentence BLEUs is a different, worse number.
//
// The counts depend on how text is cut into words, which is why scores from
// different scripts disagree (Post, 2018, "A Call for Clarity in Reporting
// BLEU Scores"). Here, as in sacreBLEU, input is detokenized text and the
// mteval-v13a tokenizer runs inside; the signature string records the choices.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::metrics {

// The sacreBLEU release whose numbers these functions reproduce (checked by
// tests/train/test_bleu.cpp against fixtures it wrote); it ends each signature.
inline constexpr const char* kSacrebleuVersion = "2.6.0";

// sacreBLEU's tokenizer_13a (the rules of WMT's mteval-v13a.pl) on one
// segment: drops "<skipped>", joins "-\n" line breaks, turns the other "\n"
// into spaces, unescapes &quot; &amp; &lt; &gt; (in that order), splits off
// punctuation and symbols, splits '.' and ',' except between digits
// ("1,000.5" stays one token), splits '-' after a digit, and leaves single
// spaces between tokens. `line` must be UTF-8 (attn::Error otherwise).
//   tokenize_13a("Hello, world!") == "Hello , world !"
std::string tokenize_13a(const std::string& line);

// `text` cut at whitespace, as Python's str.split() cuts it: ASCII whitespace,
// U+001C..U+001F, U+0085, no-break and the other Unicode spaces (U+00A0,
// U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), but not
// U+200B or the byte-order mark. sacreBLEU's word and character counts rest on
// this, so BLEU and chrF use it to agree with it. `text` must be UTF-8.
std::vector<std::string> split_words(const std::string& text);

struct BleuScore {
  double score = 0.0;                      // 0..100
  std::array<int64_t, 4> counts{};         // matched n-grams, n = 1..4
  std::array<int64_t, 4> totals{};         // hypothesis n-grams, n = 1..4
  std::array<double, 4> precisions{};      // 100 * counts / totals, smoothed (see bleu.cpp)
  double brevity_penalty = 1.0;            // exp(1 - r / c) when c < r, else 1
  int64_t hypothesis_length = 0;           // c: 13a tokens in the hypotheses
  int64_t reference_length = 0;            // r: 13a tokens in the references
  // sacreBLEU's, e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0".
  std::string signature;

  // sacreBLEU's line: "BLEU = 30.18 100.0/66.7/50.0/50.0 (BP = 0.472 ratio =
  // 0.571 hyp_len = 4 ref_len = 7)".
  std::string str() const;
};

// hypotheses[i] is scored against references[i] (one reference per sentence),
// both detokenized text; throws attn::Error when the two counts differ. As
// sacreBLEU's corpus_bleu with its defaults: 13a tokens, case kept, 'exp'
// smoothing (an order with no match gets precision 100 / (2^k * total) for
// the k-th such order), no effective order. An empty corpus scores 0.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::string>& references);

// One sentence, as sacreBLEU's sentence_bleu with its defaults: the corpus
// formula on one pair, 'exp' smoothing and effective order (the mean runs over
// the orders the hypothesis has n-grams of, so a 2-word hypothesis is judged
// on p_1 and p_2). For a training curve or a picked example, not for a table.
BleuScore sentence_bleu(const std::string& hypothesis, const std::string& reference);

}  // namespace attn::metrics
