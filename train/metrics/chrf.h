// chrF (Popović, 2015): an F-score over character n-grams, as sacreBLEU
// computes it with its defaults (chrF2: n = 1..6, no word n-grams, beta 2).
//
// Characters need no tokenizer, so chrF is stabler than BLEU across scripts
// and rewards a right stem with a wrong ending ("Häuser" for "Häusern"), which
// matters for morphologically rich targets. For each order n, precision P_n
// and recall R_n of the hypothesis' character n-grams (whitespace removed)
// against the reference's; the corpus sums the counts over sentences first.
// sacreBLEU 2.x then averages P_n and R_n over the orders both sides have
// n-grams of, and returns
//
//   chrF = 100 * (1 + beta^2) * P * R / (beta^2 * P + R)
//
// so beta = 2 weighs recall twice as much as precision.
#pragma once

#include <string>
#include <vector>

namespace attn::metrics {

struct ChrfScore {
  double score = 0.0;  // 0..100
  // sacreBLEU's, "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0":
  // eff:yes is the averaging over orders above (its default, no eps smoothing).
  std::string signature;

  // sacreBLEU's line: "chrF2 = 49.26".
  std::string str() const;
};

// hypotheses[i] is scored against references[i] (one reference per sentence);
// throws attn::Error when the two counts differ or a line is not UTF-8.
// Characters are Unicode code points, case kept. An empty corpus scores 0.
ChrfScore corpus_chrf(const std::vector<std::string>& hypotheses,
                      const std::vector<std::string>& references);

// The same formula on one pair (sacreBLEU's sentence_chrf).
ChrfScore sentence_chrf(const std::string& hypothesis, const std::string& reference);

}  // namespace attn::metrics
