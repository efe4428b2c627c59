// Bounded decoding for every model type (issue 15): an absolute cap on the
// output beside the relative one, on by default, and a clear message for an
// input longer than the cap or than the model can read.
//   1. an RNN (no length limit of its own): a 3000-token line is refused
//      naming its place and length, or cut to the cap with crop; the search
//      over the cut line stops at the cap, says so, and takes well under a
//      second of work;
//   2. a Transformer: its positional table (512 positions) bounds the source
//      and the output whatever the options say: a longer source is an
//      attn::Error naming the table (never a read past it), and greedy and
//      beam search stop at the table;
//   3. evaluate() counts the outputs that stopped at the cap.
// Both models are small and random, with the output bias of </s> pushed far
// down so that no output ends before its limit.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/vocab.h"
#include "kernels/error.h"
#include "kernels/generator.h"
#include "nn/rnnsearch.h"
#include "nn/transformer.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"
#include "train/evaluate.h"

namespace {

namespace nn = attn::nn;
namespace decode = attn::decode;
using attn::Tensor;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const attn::Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no attn::Error thrown";
  return "";
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string message = error_of(f);
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "message lacks '" << part << "': " << message;
  }
}

// Pushes </s> out of reach, so that every output runs to its limit.
void never_end(nn::Module& model) {
  bool found = false;
  for (auto& [name, parameter] : model.named_parameters()) {
    if (name != "output.bias") continue;
    attn::NoGradGuard no_grad;
    parameter.data_ptr<float>()[attn::data::kEos] -= 100.0f;
    found = true;
  }
  EXPECT_TRUE(found) << "no output.bias";
}

std::shared_ptr<nn::RNNSearch> small_rnn() {
  attn::manual_seed(3);
  nn::RNNSearchOptions options(/*source_vocab=*/11, /*target_vocab=*/11);
  options.embedding_size = 8;
  options.hidden_size = 8;
  options.attention_size = 8;
  auto model = std::make_shared<nn::RNNSearch>(options);
  model->eval();
  never_end(*model);
  return model;
}

std::shared_ptr<nn::Transformer> small_transformer() {
  attn::manual_seed(3);
  nn::TransformerOptions options(11, 11);
  options.set_d_model(8).set_num_heads(2).set_d_ff(8).set_layers(1, 1).set_dropout(0.0);
  auto model = std::make_shared<nn::Transformer>(options);
  model->eval();
  never_end(*model);
  return model;
}

// A line of `length` tokens, ids 4..10 (no specials).
std::vector<int64_t> long_line(int64_t length) {
  std::vector<int64_t> ids(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) ids[i] = 4 + i % 7;
  return ids;
}

// One sentence as a (1, S) batch.
struct OneSentence {
  Tensor source, lengths;
};
OneSentence batch_of(const std::vector<int64_t>& ids) {
  const int64_t S = static_cast<int64_t>(ids.size());
  return {attn::from_vector(ids, {1, S}), attn::from_vector(std::vector<int64_t>{S}, {1})};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(BoundedDecoding, LongLineToAnRnnIsRefusedOrCutAndTheOutputCapped) {
  auto model = small_rnn();
  decode::BeamSearchOptions options;  // the defaults: factor 3, offset 10, cap 512
  EXPECT_EQ(options.max_length, decode::kDefaultMaxLength);
  const decode::LengthCap cap = decode::length_cap(*model, options);
  EXPECT_EQ(cap.tokens, 512);
  EXPECT_EQ(cap.reason, "--max-length 512");

  std::vector<int64_t> ids = long_line(3000);
  expect_error([&] { decode::fit_source(ids, cap, /*crop=*/false, "stdin:7"); },
               {"stdin:7", "3000 tokens", "--max-length 512", "--max-length-crop"});
  EXPECT_EQ(ids.size(), 3000u);  // refused, not cut
  EXPECT_TRUE(decode::fit_source(ids, cap, /*crop=*/true, "stdin:7"));
  EXPECT_EQ(ids.size(), 512u);
  std::vector<int64_t> short_ids = long_line(20);
  EXPECT_FALSE(decode::fit_source(short_ids, cap, /*crop=*/false, "stdin:8"));

  // The cut line decodes to the cap, no further, and says it stopped there.
  const OneSentence one = batch_of(ids);
  const auto start = std::chrono::steady_clock::now();
  decode::BeamSearchResult result = decode::beam_search(*model, one.source, one.lengths, options);
  const double seconds = seconds_since(start);
  ASSERT_EQ(result.nbest.size(), 1u);
  EXPECT_EQ(result.nbest[0][0].tokens.size(), 512u);  // 3 * 512 + 10 by the factor; the cap wins
  EXPECT_TRUE(result.nbest[0][0].reached_max_length);
  std::printf("beam 5 over 512 source tokens, 512 output steps: %.2f s\n", seconds);
  EXPECT_LT(seconds, 10.0);  // about 0.2 s in a Release build; generous for sanitizers

  // --max-length 0: no cap of its own, the relative limit alone (3 * 600 + 10 is
  // more than a short test should run, so the factor is lowered).
  const OneSentence too_long = batch_of(long_line(600));
  options.max_length = 0;
  options.max_length_factor = 0.1;
  decode::BeamSearchResult free = decode::beam_search(*model, too_long.source, too_long.lengths, options);
  EXPECT_EQ(free.nbest[0][0].tokens.size(), 70u);  // floor(0.1 * 600) + 10
  EXPECT_TRUE(free.nbest[0][0].reached_max_length);
}

TEST(BoundedDecoding, TransformerPositionalTableBoundsSourceAndOutput) {
  auto model = small_transformer();
  EXPECT_EQ(decode::model_max_length(*model), 512);
  decode::BeamSearchOptions options;
  options.max_length = 1000;  // more than the table: the table wins
  decode::LengthCap cap = decode::length_cap(*model, options);
  EXPECT_EQ(cap.tokens, 512);
  EXPECT_NE(cap.reason.find("positional table"), std::string::npos) << cap.reason;
  options.max_length = 0;
  EXPECT_EQ(decode::length_cap(*model, options).tokens, 512);

  std::vector<int64_t> ids = long_line(600);
  expect_error([&] { decode::fit_source(ids, cap, false, "input.txt:3"); },
               {"input.txt:3", "600 tokens", "positional table"});
  // Past the table, the model itself refuses (before any read past its rows).
  const OneSentence too_long = batch_of(ids);
  expect_error([&] { model->start(too_long.source, too_long.lengths); },
               {"Transformer", "600 positions", "positional table holds 512"});
  const Tensor target = attn::from_vector(long_line(513), {1, 513});
  const OneSentence short_source = batch_of(long_line(5));
  expect_error([&] { model->forward(short_source.source, short_source.lengths, target); },
               {"target_input has 513 positions", "512"});

  // Greedy asked for 10000 tokens stops at the table, and counts the sentence as cut.
  decode::DecodeResult greedy =
      decode::greedy_decode(*model, short_source.source, short_source.lengths, 10000, false);
  EXPECT_EQ(greedy.tokens[0].size(), 512u);
  EXPECT_EQ(greedy.reached_max_length, 1);
  // Beam search with a factor that allows 1000 * 5 + 10 tokens stops at the table too.
  options.max_length = 0;
  options.max_length_factor = 1000;
  options.beam_size = 2;
  options.need_attention = false;
  decode::BeamSearchResult beam =
      decode::beam_search(*model, short_source.source, short_source.lengths, options);
  EXPECT_EQ(beam.nbest[0][0].tokens.size(), 512u);
  EXPECT_TRUE(beam.nbest[0][0].reached_max_length);
}

TEST(BoundedDecoding, EvaluateCountsOutputsCutAtTheCap) {
  auto model = small_rnn();
  attn::train::EncodedPairs set;
  for (int64_t length : {3, 40}) {
    set.pairs.push_back({"source", "target"});
    set.sources.push_back(long_line(length));
    set.targets.push_back(long_line(2));
  }
  attn::train::EvaluateOptions options;  // greedy, as validation runs
  options.beam.max_length = 16;          // both outputs run into it (</s> is out of reach)
  attn::train::ValidationResult result = attn::train::evaluate(*model, set, options);
  EXPECT_EQ(result.reached_max_length, 2);
  options.beam.beam_size = 2;            // beam search counts the same way
  result = attn::train::evaluate(*model, set, options);
  EXPECT_EQ(result.reached_max_length, 2);
  // A transformer cannot read a pair past its table: named, with the pair.
  auto transformer = small_transformer();
  set.sources[1] = long_line(600);
  expect_error([&] { attn::train::evaluate(*transformer, set, attn::train::EvaluateOptions()); },
               {"sentence pair 2", "600 source", "512 positions"});
}

TEST(BoundedDecoding, OptionsOutOfRangeNameTheFlag) {
  decode::BeamSearchOptions options;
  options.max_length = decode::kMaxOutputLength + 1;
  expect_error([&] { decode::check_beam_search_options(options); }, {"--max-length", "65537"});
  options = {};
  options.max_length = -1;
  expect_error([&] { decode::check_beam_search_options(options); }, {"--max-length", "-1"});
  options = {};
  options.beam_size = decode::kMaxBeamSize + 1;
  expect_error([&] { decode::check_beam_search_options(options); }, {"--beam-size", "1025"});
  options = {};
  options.max_length_factor = 1e300;
  expect_error([&] { decode::check_beam_search_options(options); }, {"--max-length-factor"});
}

}  // namespace
