// data/: batches (padding, masks, <s> and </s>), the batch iterator's
// shuffling, token budget, length filter and exact resume.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/batch.h"
#include "data/tasks.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

#include "test_helpers.h"

namespace {

using attn::data::SentencePair;
using attn::data::Tokenizer;
using attn::data::TokenizerKind;
using attn::data::Vocab;
using Tokens = std::vector<std::string>;
using Ids = std::vector<int64_t>;
using namespace attn_data_test;

// ---------------------------------------------------------------- batches

TEST(Batch, PaddingLengthsAndSpecials) {
  const int64_t a = 10, b = 11, c = 12, d = 13, e = 14, x = 20, y = 21, z = 22;
  std::vector<Ids> sources = {{a, b, c}, {d, e}};
  std::vector<Ids> targets = {{x, y}, {z}};
  attn::data::Batch batch = attn::data::make_batch(sources, targets, {0, 1});
  const int64_t pad = attn::data::kPad, bos = attn::data::kBos, eos = attn::data::kEos;
  EXPECT_EQ(batch.size(), 2);
  EXPECT_EQ(batch.source.shape(), (attn::Shape{2, 3}));
  EXPECT_EQ(batch.source.dtype(), attn::kInt64);
  EXPECT_EQ(batch.source.to_vector<int64_t>(), (Ids{a, b, c, d, e, pad}));
  // The batch carries no mask: the models build it from the lengths
  // (data/batch.h); tests/train/test_translator.cpp (MaskLeak, GreedyDecode)
  // checks theirs from a batch like this one. The lengths mark the real cells.
  EXPECT_EQ(batch.source_lengths.to_vector<int64_t>(), (Ids{3, 2}));
  EXPECT_EQ(batch.target_input.shape(), (attn::Shape{2, 3}));
  EXPECT_EQ(batch.target_input.to_vector<int64_t>(), (Ids{bos, x, y, bos, z, pad}));
  EXPECT_EQ(batch.target_output.to_vector<int64_t>(), (Ids{x, y, eos, z, eos, pad}));
  EXPECT_EQ(batch.target_tokens, 5);
  EXPECT_EQ(batch.indices, (std::vector<size_t>{0, 1}));

  attn::data::Batch reordered = attn::data::make_batch(sources, targets, {1});
  EXPECT_EQ(reordered.source.to_vector<int64_t>(), (Ids{d, e}));
  EXPECT_EQ(reordered.target_output.to_vector<int64_t>(), (Ids{z, eos}));

  attn::data::Batch no_target = attn::data::make_batch(sources, {}, {0, 1});
  EXPECT_TRUE(no_target.source.defined());
  EXPECT_FALSE(no_target.target_input.defined());
  EXPECT_TRUE(contains(error_of([&] { attn::data::make_batch(sources, targets, {}); }), "no examples"));
  EXPECT_TRUE(contains(error_of([&] { attn::data::make_batch({{}}, {{x}}, {0}); }), "empty source"));
}

// A corpus of n pairs with lengths that vary: source i has 1 + i % 13 tokens,
// target i has 1 + (i * 7) % 17.
void make_corpus(size_t n, std::vector<Ids>* sources, std::vector<Ids>* targets) {
  for (size_t i = 0; i < n; ++i) {
    sources->push_back(Ids(1 + i % 13, 4 + static_cast<int64_t>(i % 50)));
    targets->push_back(Ids(1 + (i * 7) % 17, 4 + static_cast<int64_t>(i % 30)));
  }
}

// Every batch of the current epoch, from the iterator's position to the end.
std::vector<attn::data::Batch> drain(attn::data::BatchIterator* batches) {
  std::vector<attn::data::Batch> out;
  while (batches->has_next()) out.push_back(batches->next());
  return out;
}

TEST(Batch, EpochCoversEveryExampleOnce) {
  std::vector<Ids> sources, targets;
  make_corpus(1000, &sources, &targets);
  attn::data::BatchOptions options;
  options.mini_batch = 32;
  options.maxi_batch = 4;
  attn::data::BatchIterator batches(sources, targets, options);
  std::vector<int> seen(1000, 0);
  for (const attn::data::Batch& batch : drain(&batches)) {
    EXPECT_LE(batch.size(), 32);
    for (size_t index : batch.indices) ++seen[index];
    // The batch's tensors hold exactly the examples it names.
    std::vector<int64_t> lengths = batch.source_lengths.to_vector<int64_t>();
    for (size_t row = 0; row < batch.indices.size(); ++row) {
      EXPECT_EQ(lengths[row], static_cast<int64_t>(sources[batch.indices[row]].size()));
    }
  }
  for (int count : seen) ASSERT_EQ(count, 1);
  EXPECT_EQ(batches.position(), batches.num_batches());
  EXPECT_TRUE(contains(error_of([&] { batches.next(); }), "next_epoch"));
  batches.next_epoch();
  EXPECT_EQ(batches.epoch(), 1);
  EXPECT_EQ(batches.position(), 0);
  EXPECT_TRUE(batches.has_next());
}

TEST(Batch, TokenBudgetIsRespected) {
  std::vector<Ids> sources, targets;
  make_corpus(1000, &sources, &targets);
  attn::data::BatchOptions options;
  options.mini_batch_words = 200;
  attn::data::BatchIterator batches(sources, targets, options);
  int64_t total = 0;
  int64_t count = 0;
  for (const attn::data::Batch& batch : drain(&batches)) {
    EXPECT_LE(batch.target_output.numel(), 200);  // padded target tokens, </s> included
    total += batch.target_output.numel();
    count += batch.size();
  }
  EXPECT_EQ(count, 1000);
  // Sorting within pools keeps padding low, so batches fill most of the budget.
  EXPECT_GT(total, batches.num_batches() * 150);
}

TEST(Batch, SortingWithinPoolsReducesPadding) {
  std::vector<Ids> sources, targets;
  make_corpus(2000, &sources, &targets);
  auto padding = [&](int64_t maxi_batch) {
    attn::data::BatchOptions options;
    options.mini_batch = 16;
    options.maxi_batch = maxi_batch;
    attn::data::BatchIterator batches(sources, targets, options);
    int64_t pad = 0;
    for (const attn::data::Batch& batch : drain(&batches))
      pad += batch.target_output.numel() - batch.target_tokens;
    return pad;
  };
  EXPECT_LT(padding(100) * 5, padding(1));
}

TEST(Batch, SameSeedSameOrderAndSeekResumes) {
  std::vector<Ids> sources, targets;
  make_corpus(500, &sources, &targets);
  attn::data::BatchOptions options;
  options.mini_batch = 16;
  options.maxi_batch = 3;
  options.seed = 42;
  attn::data::BatchIterator first(sources, targets, options);
  attn::data::BatchIterator second(sources, targets, options);
  EXPECT_EQ(first.plan(), second.plan());
  std::vector<std::vector<size_t>> epoch0 = first.plan();
  first.next_epoch();
  EXPECT_NE(first.plan(), epoch0);  // a new shuffle each epoch
  options.seed = 43;
  EXPECT_NE(attn::data::BatchIterator(sources, targets, options).plan(), epoch0);

  // Uninterrupted: epoch 2 from start to end. Resumed: a fresh iterator
  // seeks to epoch 2, batch 5, as a restarted run would.
  options.seed = 42;
  attn::data::BatchIterator uninterrupted(sources, targets, options);
  uninterrupted.seek(2, 0);
  std::vector<attn::data::Batch> all = drain(&uninterrupted);
  attn::data::BatchIterator resumed(sources, targets, options);
  resumed.seek(2, 5);
  EXPECT_EQ(resumed.epoch(), 2);
  EXPECT_EQ(resumed.position(), 5);
  std::vector<attn::data::Batch> rest = drain(&resumed);
  ASSERT_EQ(rest.size() + 5, all.size());
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].indices, all[i + 5].indices);
    EXPECT_EQ(rest[i].source.to_vector<int64_t>(), all[i + 5].source.to_vector<int64_t>());
    EXPECT_EQ(rest[i].target_input.to_vector<int64_t>(), all[i + 5].target_input.to_vector<int64_t>());
  }
  resumed.next_epoch();
  uninterrupted.next_epoch();
  EXPECT_EQ(resumed.plan(), uninterrupted.plan());
  EXPECT_TRUE(contains(error_of([&] { resumed.seek(0, 10000); }), "position 10000"));
}

TEST(Batch, MaxLengthFilterAndValidationOrder) {
  std::vector<Ids> sources = {{4}, {4, 5, 6, 7}, {4, 5}, {4}, {4, 5}};
  std::vector<Ids> targets = {{4, 5}, {4}, {4, 5, 6, 7, 8}, {4}, {4, 5, 6}};
  attn::data::BatchOptions options;
  options.mini_batch = 2;
  options.max_length = 3;
  options.shuffle = false;
  attn::data::BatchIterator batches(sources, targets, options);
  EXPECT_EQ(batches.num_filtered(), 2);  // example 1 (source 4 long) and 2 (target 5 long)
  EXPECT_EQ(batches.num_examples(), 3);
  std::vector<attn::data::Batch> all = drain(&batches);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].indices, (std::vector<size_t>{0, 3}));  // original order, unsorted
  EXPECT_EQ(all[1].indices, (std::vector<size_t>{4}));
  batches.next_epoch();
  EXPECT_EQ(drain(&batches)[0].indices, (std::vector<size_t>{0, 3}));  // the same every epoch

  options.max_length = 0;  // no filter
  EXPECT_EQ(attn::data::BatchIterator(sources, targets, options).num_filtered(), 0);
  options.max_length = 0;
  std::string message = error_of([&] { attn::data::BatchIterator(sources, {{4}}, options); });
  EXPECT_TRUE(contains(message, "5 sources but 1 targets")) << message;
  options.max_length = 1;
  options.shuffle = true;
  message = error_of([&] { attn::data::BatchIterator({{4, 5}}, {{4}}, options); });
  EXPECT_TRUE(contains(message, "no examples")) << message;
}

TEST(Batch, EndToEndFromATask) {
  attn::data::TaskSplits dates = attn::data::make_task("dates", small_task(9));
  Tokenizer tokenizer(TokenizerKind::kWord, true);
  std::vector<Tokens> source_tokens, target_tokens;
  for (const SentencePair& pair : dates.train) {
    source_tokens.push_back(tokenizer.tokenize(pair.source));
    target_tokens.push_back(tokenizer.tokenize(pair.target));
  }
  Vocab source_vocab = Vocab::build(source_tokens);
  Vocab target_vocab = Vocab::build(target_tokens);
  EXPECT_EQ(target_vocab.size(), 4 + 11);  // the digits and "-"
  std::vector<Ids> sources, targets;
  for (size_t i = 0; i < source_tokens.size(); ++i) {
    sources.push_back(source_vocab.encode(source_tokens[i]));
    targets.push_back(target_vocab.encode(target_tokens[i]));
  }
  attn::data::BatchIterator batches(sources, targets, {});
  attn::data::Batch batch = batches.next();
  EXPECT_EQ(batch.target_output.size(1), 11);  // 10 characters and </s>
  size_t first = batch.indices[0];
  Ids row = batch.target_output.select(0, 0).to_vector<int64_t>();
  EXPECT_EQ(tokenizer.detokenize(target_vocab.decode(row)), tokenizer.detokenize(target_tokens[first]));
  EXPECT_EQ(target_vocab.decode(row), target_tokens[first]);
}

}  // namespace
