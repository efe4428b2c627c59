#include "train/dataset.h"

#include <chrono>
#include <iostream>
#include <sstream>

#include "data/base64.h"
#include "data/tasks.h"
#include "kernels/error.h"

namespace attn::train {
namespace {

std::string join_lines(const std::vector<std::string>& tokens) {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += '\n';
    out += tokens[i];
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

const std::string& lookup(const std::map<std::string, std::string>& metadata,
                          const std::string& key) {
  auto found = metadata.find(key);
  ATTN_CHECK(found != metadata.end(), "model metadata: key '", key, "' is missing");
  return found->second;
}

std::vector<std::vector<std::string>> tokenize_all(const data::Tokenizer& tokenizer,
                                                   const std::vector<data::SentencePair>& pairs,
                                                   bool source_side) {
  std::vector<std::vector<std::string>> out;
  out.reserve(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const std::string& text = source_side ? pairs[i].source : pairs[i].target;
    out.push_back(tokenizer.tokenize(text, "sentence " + std::to_string(i + 1)));
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> TextPipeline::to_metadata() const {
  std::map<std::string, std::string> metadata = {
      {"data.tokenizer", tokenizer.name()},
      {"data.lowercase", tokenizer.lowercase() ? "1" : "0"},
      {"vocab.source", join_lines(source_vocab.tokens())},
      {"vocab.target", join_lines(target_vocab.tokens())}};
  // The SentencePiece model travels with the vocabularies: its bytes are
  // binary and metadata is JSON text, hence base64 (data/base64.h).
  if (tokenizer.kind() == data::TokenizerKind::kSentencePiece) {
    metadata["data.spm_model"] = data::encode_base64(tokenizer.sentencepiece_model().bytes());
  }
  return metadata;
}

TextPipeline TextPipeline::from_metadata(const std::map<std::string, std::string>& metadata) {
  const std::string& name = lookup(metadata, "data.tokenizer");
  const bool lowercase = lookup(metadata, "data.lowercase") == "1";
  data::Tokenizer tokenizer;
  if (name == "spm") {
    const std::string where = "model metadata key 'data.spm_model'";
    tokenizer = data::Tokenizer::sentencepiece(
        data::SentencePieceModel::from_bytes(
            data::decode_base64(lookup(metadata, "data.spm_model"), where), where),
        lowercase);
  } else {
    tokenizer = data::Tokenizer::from_name(name, lowercase);
  }
  return {tokenizer, data::Vocab(split_lines(lookup(metadata, "vocab.source"))),
          data::Vocab(split_lines(lookup(metadata, "vocab.target")))};
}

std::pair<std::string, std::string> split_pair_of_paths(const std::string& text,
                                                        const std::string& flag) {
  size_t comma = text.find(',');
  ATTN_CHECK(comma != std::string::npos && comma > 0 && comma + 1 < text.size() &&
                 text.find(',', comma + 1) == std::string::npos,
             flag, ": expected two files as SOURCE,TARGET, got '", text, "'");
  return {text.substr(0, comma), text.substr(comma + 1)};
}

std::vector<data::SentencePair> load_pairs(const DataOptions& options, Split split,
                                           const std::string& tsv, const std::string& sets) {
  // The flags of this split, for messages: --train-tsv, --valid-sets, --test-tsv, ...
  const std::string prefix = split == Split::Train ? "--train" : split == Split::Valid ? "--valid" : "--test";
  const std::string tsv_flag = prefix + "-tsv", sets_flag = prefix + "-sets";
  const std::string what = split == Split::Train ? "training" : split == Split::Valid ? "validation" : "test";
  int given = (tsv.empty() ? 0 : 1) + (sets.empty() ? 0 : 1);
  if (given == 0 && !options.task.empty()) {
    data::TaskOptions task;
    task.seed = 1234;  // the task's splits are fixed; --seed varies the training only
    if (options.task_train_size > 0) task.train_size = options.task_train_size;
    if (options.task_max_length > 0) task.max_length = options.task_max_length;
    data::TaskSplits splits = data::make_task(options.task, task);
    return split == Split::Train ? splits.train : split == Split::Valid ? splits.valid : splits.test;
  }
  ATTN_CHECK(given != 2, "give the ", what, " data once: ", tsv_flag, " '", tsv, "' and ", sets_flag,
             " '", sets, "' were both given");
  ATTN_CHECK(given == 1, "no ", what, " data: give ", tsv_flag, " FILE (source<TAB>target lines) or ",
             sets_flag, " SOURCE,TARGET (two line-aligned files)",
             split == Split::Train ? ", or a built-in --task NAME"
                                   : " (a built-in --task brings its own)");
  // A reader's message names the file and line; the flag goes in front.
  const std::string& flag = tsv.empty() ? sets_flag : tsv_flag;
  std::vector<data::SentencePair> pairs;
  try {
    if (!tsv.empty()) {
      data::check_input_file(tsv, tsv_flag);
      pairs = data::read_tsv(tsv);
    } else {
      auto [source, target] = split_pair_of_paths(sets, sets_flag);
      data::check_input_file(source, sets_flag);
      data::check_input_file(target, sets_flag);
      pairs = data::read_parallel(source, target);
    }
  } catch (const Error& error) {
    const std::string message = error.what();
    if (message.rfind(flag, 0) == 0) throw;
    throw Error(flag + ": " + message);
  }
  return pairs;
}

namespace {

// --tokenizer spm: the model from --spm-model, or one learned here.
data::Tokenizer sentencepiece_tokenizer(const DataOptions& options,
                                        const std::vector<data::SentencePair>& train_pairs,
                                        bool lowercase) {
  if (!options.spm_model.empty()) {
    data::check_input_file(options.spm_model, "--spm-model");
    try {
      return data::Tokenizer::sentencepiece(data::SentencePieceModel::load(options.spm_model), lowercase);
    } catch (const Error& error) {
      throw Error("--spm-model " + std::string(error.what()));
    }
  }
  // One joint model for both sides, as Marian trains by default: a piece
  // shared by the two languages (names, numbers, cognates) is cut the same
  // way in both, and there is one model to store. The vocabularies stay one
  // per side, built from the pieces each side uses.
  std::vector<std::string> sentences;
  sentences.reserve(2 * train_pairs.size());
  for (const data::SentencePair& pair : train_pairs) sentences.push_back(pair.source);
  for (const data::SentencePair& pair : train_pairs) sentences.push_back(pair.target);
  if (lowercase) {
    for (size_t i = 0; i < sentences.size(); ++i) {
      sentences[i] = data::lowercase_text(sentences[i], "sentence " + std::to_string(i + 1));
    }
  }
  data::SentencePieceOptions spm;
  spm.model_type = options.spm_type;
  spm.vocab_size = options.spm_vocab_size;
  const auto start = std::chrono::steady_clock::now();
  data::SentencePieceModel model;
  try {
    model = data::SentencePieceModel::train(sentences, spm);
  } catch (const Error& error) {
    std::string reason = error.what();
    if (!reason.empty() && reason.back() != '.') reason += '.';
    // SentencePiece says "too high" when the text has fewer pieces to offer,
    // "smaller than required_chars" when the text has more characters.
    const bool too_small = reason.find("smaller than") != std::string::npos;
    throw Error("--spm-vocab-size " + std::to_string(options.spm_vocab_size) + " (--spm-type " +
                options.spm_type + "): " + reason +
                (too_small ? " Give a larger --spm-vocab-size"
                           : " Give a smaller --spm-vocab-size, or more training data"));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "SentencePiece: learned a " << options.spm_type << " model of " << model.size()
            << " pieces from " << sentences.size() << " sentences (source and target) in "
            << static_cast<int64_t>(seconds * 10) / 10.0 << " s\n";
  return data::Tokenizer::sentencepiece(std::move(model), lowercase);
}

}  // namespace

TextPipeline build_pipeline(const DataOptions& options,
                            const std::vector<data::SentencePair>& train_pairs) {
  ATTN_CHECK(!train_pairs.empty(), "the training data (", options.task.empty() ? "" : "--task " + options.task,
             options.train_tsv.empty() ? "" : " --train-tsv " + options.train_tsv,
             options.train_sets.empty() ? "" : " --train-sets " + options.train_sets,
             ") holds no sentence pairs");
  // The built-in dates and toy-lang tasks are written in lowercase, so their
  // models lowercase what they are given to translate ("March" is "march").
  bool lowercase = options.lowercase || options.task == "dates" || options.task == "toy-lang";
  data::Tokenizer tokenizer = options.tokenizer == "spm"
                                  ? sentencepiece_tokenizer(options, train_pairs, lowercase)
                                  : data::Tokenizer::from_name(options.tokenizer, lowercase);
  TextPipeline pipeline{tokenizer, {}, {}};
  pipeline.source_vocab = data::Vocab::build(tokenize_all(tokenizer, train_pairs, true),
                                             options.vocab_min_frequency, options.vocab_max_size);
  pipeline.target_vocab = data::Vocab::build(tokenize_all(tokenizer, train_pairs, false),
                                             options.vocab_min_frequency, options.vocab_max_size);
  return pipeline;
}

EncodedPairs encode_pairs(const TextPipeline& pipeline,
                          const std::vector<data::SentencePair>& pairs) {
  EncodedPairs encoded;
  encoded.pairs = pairs;
  std::vector<std::vector<std::string>> sources = tokenize_all(pipeline.tokenizer, pairs, true);
  std::vector<std::vector<std::string>> targets = tokenize_all(pipeline.tokenizer, pairs, false);
  for (size_t i = 0; i < pairs.size(); ++i) {
    ATTN_CHECK(!sources[i].empty(), "sentence pair ", i + 1, " has an empty source");
    encoded.sources.push_back(pipeline.source_vocab.encode(sources[i]));
    encoded.targets.push_back(pipeline.target_vocab.encode(targets[i]));
  }
  return encoded;
}

}  // namespace attn::train
