#include "data/tasks.h"

#include <functional>
#include <unordered_set>

#include "data/dates.h"
#include "data/toy_lang.h"
#include "kernels/error.h"
#include "kernels/generator.h"

namespace attn::data {

namespace {

using Sampler = std::function<SentencePair(Generator&)>;

// How many duplicates in a row mean the task has run out of new sources.
// Far above what a healthy task meets (dates has ~580,000 distinct sources,
// toy-lang billions), far below a hang.
constexpr int64_t kMaxDuplicatesInARow = 10000;

// The reverse task: 1..max_length symbols from a.., and the same reversed.
SentencePair random_reverse_pair(Generator& generator, const TaskOptions& options) {
  uint64_t length = 1 + generator.below(static_cast<uint64_t>(options.max_length));
  std::vector<std::string> symbols;
  for (uint64_t i = 0; i < length; ++i) {
    symbols.push_back(
        std::string(1, static_cast<char>('a' + generator.below(static_cast<uint64_t>(options.num_symbols)))));
  }
  SentencePair pair;
  for (size_t i = 0; i < symbols.size(); ++i) {
    pair.source += (i == 0 ? "" : " ") + symbols[i];
    pair.target += (i == 0 ? "" : " ") + symbols[symbols.size() - 1 - i];
  }
  return pair;
}

// Draws `count` pairs whose sources are not in `seen` yet, adding them to it.
// Each split has its own stream: the generator is seeded with a hash of
// (seed, stream), so the splits do not share random numbers.
std::vector<SentencePair> draw_split(const std::string& task, const char* split, int64_t count, uint64_t seed,
                                     uint64_t stream, const Sampler& sample,
                                     std::unordered_set<std::string>* seen) {
  Generator generator(Generator::hash(seed, stream));
  std::vector<SentencePair> pairs;
  pairs.reserve(static_cast<size_t>(count));
  int64_t duplicates_in_a_row = 0;
  while (static_cast<int64_t>(pairs.size()) < count) {
    SentencePair pair = sample(generator);
    if (seen->insert(pair.source).second) {
      pairs.push_back(std::move(pair));
      duplicates_in_a_row = 0;
    } else {
      ++duplicates_in_a_row;
      ATTN_CHECK(duplicates_in_a_row < kMaxDuplicatesInARow, "make_task(", task,
                 "): ran out of distinct sources after ", seen->size(), " (while drawing the ", split,
                 " split, ", pairs.size(), " of ", count,
                 "); ask for fewer examples or a larger task (max_length, num_symbols)");
    }
  }
  return pairs;
}

std::string known_tasks() {
  std::string list;
  for (const std::string& name : task_names()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

}  // namespace

std::vector<std::string> task_names() { return {"reverse", "dates", "toy-lang"}; }

TaskSplits make_task(const std::string& name, const TaskOptions& options) {
  Sampler sample;
  if (name == "reverse") {
    ATTN_CHECK(options.max_length >= 1, "make_task(reverse): max_length must be at least 1, got ",
               options.max_length);
    ATTN_CHECK(options.num_symbols >= 1 && options.num_symbols <= 26,
               "make_task(reverse): num_symbols must be in 1..26, got ", options.num_symbols);
    sample = [options](Generator& generator) { return random_reverse_pair(generator, options); };
  } else if (name == "dates") {
    sample = random_date_pair;
  } else if (name == "toy-lang") {
    sample = random_toy_lang_pair;
  } else {
    ATTN_CHECK(false, "unknown task \"", name, "\"; known tasks: ", known_tasks());
  }
  ATTN_CHECK(options.train_size >= 0 && options.valid_size >= 0 && options.test_size >= 0, "make_task(", name,
             "): split sizes must not be negative (train ", options.train_size, ", valid ",
             options.valid_size, ", test ", options.test_size, ")");

  // Test first, then validation, then training: the held-out sets depend only
  // on the seed, not on how much training data was asked for.
  std::unordered_set<std::string> seen;
  TaskSplits splits;
  splits.test = draw_split(name, "test", options.test_size, options.seed, 1, sample, &seen);
  splits.valid = draw_split(name, "valid", options.valid_size, options.seed, 2, sample, &seen);
  splits.train = draw_split(name, "train", options.train_size, options.seed, 3, sample, &seen);
  return splits;
}

}  // namespace attn::data
