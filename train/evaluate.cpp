#include "train/evaluate.h"

#include <algorithm>
#include <cmath>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "data/batch.h"
#include "train/metrics/bleu.h"
#include "train/metrics/chrf.h"
#include "train/decode/decode.h"
#include "train/metrics/metrics.h"

namespace attn::train {

decode::BeamSearchOptions EvaluateOptions::greedy() {
  decode::BeamSearchOptions beam;
  beam.beam_size = 1;
  return beam;
}

int64_t max_output_length(int64_t source_length) { return 2 * source_length + 10; }

ValidationResult evaluate(nn::Translator& model, const EncodedPairs& set,
                          const EvaluateOptions& options) {
  ATTN_CHECK(options.batch_size > 0, "evaluate: batch size must be positive, got ",
             options.batch_size);
  NoGradGuard no_grad;
  model.eval();
  size_t count = set.size();
  if (options.max_sentences > 0 && static_cast<size_t>(options.max_sentences) < count) {
    count = static_cast<size_t>(options.max_sentences);
  }
  const size_t batch_size = static_cast<size_t>(options.batch_size);
  // What the model can read at all: a Transformer's positional table holds
  // the source, and <s> + the reference when teacher-forced.
  const int64_t model_limit = decode::model_max_length(model);
  for (size_t i = 0; i < count; ++i) {
    const int64_t source = static_cast<int64_t>(set.sources[i].size());
    const int64_t target = static_cast<int64_t>(set.targets[i].size()) + 1;
    ATTN_CHECK(source <= model_limit && target <= model_limit, "evaluate: sentence pair ", i + 1,
               " has ", source, " source and ", target - 1, " target tokens, but this model reads at "
               "most ", model_limit, " positions (the target one fewer, after <s>); leave such pairs out");
  }
  const decode::LengthCap cap = decode::length_cap(model, options.beam);
  const bool greedy = options.beam.beam_size == 1 && options.beam.normalize == 0.0;
  double total_loss = 0.0;
  int64_t total_tokens = 0;
  metrics::MatchCounts matches;
  std::vector<std::string> hypotheses, references;
  int64_t reached_max_length = 0;
  for (size_t begin = 0; begin < count; begin += batch_size) {
    std::vector<size_t> indices;
    for (size_t i = begin; i < std::min(count, begin + batch_size); ++i) indices.push_back(i);
    data::Batch batch = data::make_batch(set.sources, set.targets, indices).to(model.device());
    Tensor logits = model.forward(batch.source, batch.source_lengths, batch.target_input);
    Tensor loss = cross_entropy(logits.reshape({-1, logits.size(-1)}), batch.target_output.reshape({-1}),
                                CrossEntropyOptions().ignore(data::kPad).reduce(Reduction::Sum));
    total_loss += loss.item();
    total_tokens += batch.target_tokens;

    // The model's own outputs: greedy decoding (its own, faster loop) or beam search.
    std::vector<std::vector<int64_t>> outputs;
    if (greedy) {
      decode::DecodeResult decoded = decode::greedy_decode(
          model, batch.source, batch.source_lengths,
          std::min(decode::beam_max_length(batch.source.size(1), options.beam), cap.tokens),
          /*need_attention=*/false);
      outputs = std::move(decoded.tokens);
      reached_max_length += decoded.reached_max_length;
    } else {
      decode::BeamSearchOptions tokens_only = options.beam;
      tokens_only.need_attention = false;  // scores need the tokens alone
      decode::BeamSearchResult beams =
          decode::beam_search(model, batch.source, batch.source_lengths, tokens_only);
      for (const auto& nbest : beams.nbest) {
        outputs.push_back(nbest.front().tokens);
        if (nbest.front().reached_max_length) ++reached_max_length;
      }
    }
    for (size_t k = 0; k < indices.size(); ++k) {
      matches.add(metrics::compare(outputs[k], set.targets[indices[k]]));
      if (options.pipeline) {
        hypotheses.push_back(options.pipeline->tokenizer.detokenize(
            options.pipeline->target_vocab.decode(outputs[k])));
        references.push_back(set.pairs[indices[k]].target);
      }
    }
  }
  model.train();
  ValidationResult result;
  result.loss = total_tokens > 0 ? total_loss / total_tokens : 0.0;
  result.perplexity = std::exp(result.loss);
  result.exact_match = matches.exact_match();
  result.token_accuracy = matches.token_accuracy();
  result.reached_max_length = reached_max_length;
  if (options.pipeline) {
    metrics::BleuScore bleu = metrics::corpus_bleu(hypotheses, references);
    metrics::ChrfScore chrf = metrics::corpus_chrf(hypotheses, references);
    result.bleu = bleu.score;
    result.bleu_line = bleu.str();
    result.bleu_signature = bleu.signature;
    result.chrf = chrf.score;
    result.chrf_signature = chrf.signature;
    if (options.keep_translations) result.translations = std::move(hypotheses);
  }
  return result;
}

double metric_value(const ValidationResult& result, const std::string& metric) {
  metric_higher_is_better(metric);  // throws for an unknown name
  if (metric == "cross-entropy") return result.loss;
  if (metric == "perplexity") return result.perplexity;
  if (metric == "exact-match") return 100.0 * result.exact_match;
  if (metric == "token-accuracy") return 100.0 * result.token_accuracy;
  if (metric == "bleu") return result.bleu;
  return result.chrf;
}

}  // namespace attn::train
