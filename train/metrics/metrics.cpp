#include "train/metrics/metrics.h"

#include <cstddef>

namespace attn::metrics {

void MatchCounts::add(const MatchCounts& other) {
  sentences += other.sentences;
  exact += other.exact;
  reference_tokens += other.reference_tokens;
  correct_tokens += other.correct_tokens;
}

MatchCounts compare(const std::vector<int64_t>& hypothesis, const std::vector<int64_t>& reference) {
  MatchCounts counts;
  counts.sentences = 1;
  counts.exact = hypothesis == reference ? 1 : 0;
  // Position i of the reference (i == size is its </s>) is correct when the
  // hypothesis has the same token there; -1 stands for </s>, -2 for "nothing".
  counts.reference_tokens = static_cast<int64_t>(reference.size()) + 1;
  for (std::size_t i = 0; i <= reference.size(); ++i) {
    int64_t want = i < reference.size() ? reference[i] : -1;
    int64_t got = i < hypothesis.size() ? hypothesis[i] : (i == hypothesis.size() ? -1 : -2);
    if (want == got) ++counts.correct_tokens;
  }
  return counts;
}

}  // namespace attn::metrics
