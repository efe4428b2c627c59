// Scores for a translation against its reference, at the level the toy tasks
// need: exact match (the whole sentence right) and token accuracy (the share
// of reference positions, </s> included, predicted correctly in place).
// Corpus BLEU and chrF come with the Luong issue.
#pragma once

#include <cstdint>
#include <vector>

namespace attn::metrics {

struct MatchCounts {
  int64_t sentences = 0;
  int64_t exact = 0;             // hypotheses equal to their reference
  int64_t reference_tokens = 0;  // reference tokens plus one </s> each
  int64_t correct_tokens = 0;    // positions where hypothesis and reference agree

  double exact_match() const { return sentences ? double(exact) / sentences : 0.0; }
  double token_accuracy() const {
    return reference_tokens ? double(correct_tokens) / reference_tokens : 0.0;
  }
  void add(const MatchCounts& other);
};

// hypothesis and reference: token ids without <s> and </s>; the implicit </s>
// at the end of each counts as one more position.
MatchCounts compare(const std::vector<int64_t>& hypothesis, const std::vector<int64_t>& reference);

}  // namespace attn::metrics
