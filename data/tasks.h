// Built-in tasks: small translation problems generated from a seed, so that a
// learner can train a translator with no download.
//
//   reverse   a b c d            ->  d c b a
//             The sanity check: a model with attention learns it in a minute;
//             one without attention struggles as sequences grow.
//   dates     march 5th , 2014   ->  2 0 1 4 - 0 3 - 0 5
//             Dates as people write them, 16 formats, to ISO 8601 (data/dates.h).
//   toy-lang  the big dog sees a cat  ->  ka wafu gora nu miso miru
//             English to an invented verb-final language (data/toy_lang.h).
//
// Every example is a SentencePair of space-separated tokens, ready for the
// word tokenizer. The three splits are disjoint: no source string appears
// twice, within a split or across splits, so the test score measures
// generalisation and not memory. Each split draws from its own stream of the
// seed (test first, then validation, then training), so changing train_size
// leaves the validation and test sets as they were.
//
//   attn::data::TaskOptions options;
//   options.seed = 7;
//   attn::data::TaskSplits dates = attn::data::make_task("dates", options);
//   dates.train[0]   // {"the 1st of april 1974", "1 9 7 4 - 0 4 - 0 1"}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"

namespace attn::data {

struct TaskOptions {
  int64_t train_size = 20000;  // training pairs
  int64_t valid_size = 500;    // validation pairs
  int64_t test_size = 1000;    // test pairs
  uint64_t seed = 1234;        // same seed, same three splits, on every machine
  int64_t max_length = 10;     // reverse: sequences of 1..max_length symbols
  int64_t num_symbols = 26;    // reverse: symbols drawn from the first num_symbols of a..z
};

struct TaskSplits {
  std::vector<SentencePair> train;
  std::vector<SentencePair> valid;
  std::vector<SentencePair> test;
};

// The splits of task `name` (one of task_names()). Throws attn::Error listing
// the known tasks for an unknown name, and when the task cannot produce that
// many distinct sources (reverse with a tiny max_length, for instance).
TaskSplits make_task(const std::string& name, const TaskOptions& options = {});

// "reverse", "dates", "toy-lang".
std::vector<std::string> task_names();

}  // namespace attn::data
