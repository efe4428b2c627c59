// From text to ids: reading the sentence pairs that --task, --train-tsv or
// --train-sets name, the tokenizer and the two vocabularies, and how all of
// them travel inside the model file's metadata, so that `attn translate
// --model PATH` needs nothing else.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "data/vocab.h"
#include "train/options.h"

namespace attn::train {

// The text side of a model: how sentences become tokens and tokens become ids.
struct TextPipeline {
  data::Tokenizer tokenizer;
  data::Vocab source_vocab;
  data::Vocab target_vocab;

  std::map<std::string, std::string> to_metadata() const;
  static TextPipeline from_metadata(const std::map<std::string, std::string>& metadata);
};

// Sentences as ids, without <s> and </s> (the batcher adds them), kept beside
// the text so validation can print samples.
struct EncodedPairs {
  std::vector<data::SentencePair> pairs;
  std::vector<std::vector<int64_t>> sources;
  std::vector<std::vector<int64_t>> targets;
  size_t size() const { return pairs.size(); }
};

// Which split of a built-in task, or which files.
enum class Split { Train, Valid, Test };

// The pairs for `split` from the options: the task's split, or the TSV file,
// or the two parallel files (SRC,TGT). Throws naming the flag when none or
// more than one source is given.
std::vector<data::SentencePair> load_pairs(const DataOptions& options, Split split,
                                           const std::string& tsv, const std::string& sets);

// Tokenizes both sides and builds the vocabularies from training pairs.
TextPipeline build_pipeline(const DataOptions& options,
                            const std::vector<data::SentencePair>& train_pairs);

EncodedPairs encode_pairs(const TextPipeline& pipeline,
                          const std::vector<data::SentencePair>& pairs);

// Splits "a,b" into {"a", "b"}; throws naming `flag` unless there are exactly two.
std::pair<std::string, std::string> split_pair_of_paths(const std::string& text,
                                                        const std::string& flag);

}  // namespace attn::train
