// Scoring a model on a set of sentence pairs, shared by validation during
// training and `attn eval`: the teacher-forced cross-entropy, then the
// model's own translations (greedy or beam search) against the references:
// exact match, token accuracy, BLEU and chrF.
//
// BLEU and chrF compare text, not ids: the output ids go back to text with
// the model's own tokenizer (detokenize) and are scored against the
// reference lines as they stand in the file, as sacreBLEU would score them
// (train/metrics/bleu.h). Exact match and token accuracy compare ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/translator.h"
#include "train/decode/beam_search.h"
#include "train/dataset.h"
#include "train/options.h"

namespace attn::train {

struct EvaluateOptions {
  int64_t batch_size = 64;                // sentences per batch
  int64_t max_sentences = 0;              // score at most this many (0: all)
  decode::BeamSearchOptions beam = greedy();  // beam_size 1 (the default here): greedy decoding
  const TextPipeline* pipeline = nullptr; // to turn ids into text; null: no BLEU, chrF or text
  bool keep_translations = false;         // fill ValidationResult::translations

  static decode::BeamSearchOptions greedy();
};

struct ValidationResult {
  double loss = 0.0;            // mean cross-entropy per target token (no smoothing)
  double perplexity = 0.0;      // exp(loss)
  double exact_match = 0.0;     // whole output right, in [0, 1]
  double token_accuracy = 0.0;  // in [0, 1]
  double bleu = 0.0;            // corpus BLEU, 0..100 (needs a pipeline)
  double chrf = 0.0;            // corpus chrF2, 0..100 (needs a pipeline)
  std::string bleu_line;        // sacreBLEU's "BLEU = 34.12 65.2/41.0/... (BP = ...)"
  std::string bleu_signature;   // "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
  std::string chrf_signature;
  std::vector<std::string> translations;  // detokenized outputs, if asked for
  // Outputs cut at the maximum length without </s> (the length cap,
  // decode::length_cap, or the relative limit): reported, not hidden.
  int64_t reached_max_length = 0;
};

// Puts the model in eval mode and back in train mode; runs without gradients.
// Throws attn::Error naming the sentence (1-based) when a source or target is
// longer than the model can read (a Transformer's positional table).
ValidationResult evaluate(nn::Translator& model, const EncodedPairs& set,
                          const EvaluateOptions& options = {});

// Most tokens greedy decoding may produce for a source of `source_length`
// (2 * length + 10; evaluate lowers it to the length cap, decode::length_cap).
int64_t max_output_length(int64_t source_length);

// metric_higher_is_better (the names --valid-metrics accepts) is in train/options.h.
// The value of `metric` in `result` (cross-entropy, perplexity, exact-match,
// token-accuracy, bleu, chrf).
double metric_value(const ValidationResult& result, const std::string& metric);

}  // namespace attn::train
