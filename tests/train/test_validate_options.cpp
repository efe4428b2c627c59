// Options checked where they enter (train/validate_options.cpp, issue 15):
//   1. the defaults, and the Transformer's, pass;
//   2. each range, choice and relation throws naming the flag and the value;
//   3. a model file's metadata goes through the same checks, named by key:
//      from_metadata directly, and a file with a valid checksum whose
//      metadata says dim_emb = 10^11, through load_model;
//   4. data files: a directory given for a file, a missing validation set and
//      an empty training set are refused naming the flags.
// The command line itself, flag by flag, is tests/train/flags_test.sh.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "kernels/error.h"
#include "train/dataset.h"
#include "train/loaded_model.h"
#include "train/models.h"
#include "train/options.h"

namespace {

namespace train = attn::train;

// The message of the attn::Error `f` throws ("" and a failure if none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const attn::Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no attn::Error thrown";
  return "";
}

void expect_error(const std::function<void()>& f, const std::string& first, const std::string& second = "") {
  const std::string message = error_of(f);
  EXPECT_NE(message.find(first), std::string::npos) << "message lacks '" << first << "': " << message;
  EXPECT_NE(message.find(second), std::string::npos) << "message lacks '" << second << "': " << message;
}

std::string temp_dir() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = testing::TempDir() + "attn_flags_" + info->name();
  std::system(("rm -rf '" + dir + "'").c_str());
  ::mkdir(dir.c_str(), 0755);
  return dir + "/";
}

train::TrainOptions train_options() {
  train::TrainOptions options;
  options.model_path = "model.safetensors";
  return options;
}

TEST(ValidateOptions, DefaultsPass) {
  train::ModelOptions model;
  train::DataOptions data;
  train::TrainOptions train = train_options();
  EXPECT_NO_THROW(train::validate(model));
  EXPECT_NO_THROW(train::validate(data, model));
  EXPECT_NO_THROW(train::validate(train));
  // The paper's base Transformer, as `attn train --type transformer` fills it in.
  model.type = "transformer";
  train::apply_transformer_defaults(model, train, [](const std::string&) { return false; });
  EXPECT_NO_THROW(train::validate(model));
  EXPECT_NO_THROW(train::validate(data, model));
  EXPECT_NO_THROW(train::validate(train));
}

TEST(ValidateOptions, EachModelRangeNamesItsFlagAndValue) {
  auto with = [](const std::function<void(train::ModelOptions&)>& change) {
    train::ModelOptions options;
    change(options);
    return [options] { train::validate(options); };
  };
  expect_error(with([](auto& o) { o.dim_emb = 0; }), "--dim-emb", "got 0");
  expect_error(with([](auto& o) { o.dim_emb = 100000000000; }), "--dim-emb", "got 100000000000");
  expect_error(with([](auto& o) { o.dim_rnn = -3; }), "--dim-rnn", "-3");
  expect_error(with([](auto& o) { o.enc_depth = 0; }), "--enc-depth");
  expect_error(with([](auto& o) { o.dropout_rnn = 1.0; }), "--dropout-rnn", "a probability");
  expect_error(with([](auto& o) { o.type = "gpt"; }), "--type", "'gpt'");
  expect_error(with([](auto& o) { o.attention_window = -1; }), "--attention-window");
  // The Transformer's relations: d_model / heads, heads / kv heads.
  expect_error(with([](auto& o) { o.type = "transformer"; o.dim_emb = 10; o.transformer_heads = 4; }),
               "--dim-emb 10 is not divisible by --transformer-heads 4");
  expect_error(with([](auto& o) { o.type = "transformer"; o.transformer_kv_heads = 3; }),
               "--transformer-kv-heads", "got 3");
  expect_error(with([](auto& o) { o.type = "transformer"; o.transformer_kv_heads = 16; }),
               "--transformer-kv-heads", "got 16");
}

TEST(ValidateOptions, DataAndTrainingRangesAndRelations) {
  train::ModelOptions model;
  train::DataOptions data;
  data.mini_batch = 0;
  expect_error([&] { train::validate(data, model); }, "--mini-batch", "got 0");
  data = {};
  data.vocab_max_size = 3;
  expect_error([&] { train::validate(data, model); }, "--vocab-max-size", "got 3");
  data = {};
  data.tokenizer = "bpe";
  expect_error([&] { train::validate(data, model); }, "--tokenizer", "'bpe'");
  // A Transformer's positional table: <s> + 511 target tokens at most.
  data = {};
  data.max_length = 512;
  model.type = "transformer";
  expect_error([&] { train::validate(data, model); }, "--max-length", "got 512");
  data.max_length = 0;  // "keep every pair" cannot hold for a Transformer either
  expect_error([&] { train::validate(data, model); }, "--max-length", "got 0");

  auto with = [](const std::function<void(train::TrainOptions&)>& change) {
    train::TrainOptions options = train_options();
    change(options);
    return [options] { train::validate(options); };
  };
  // The frequencies: 0 is "never" (the modulo in the loop is guarded), -1 is refused.
  for (const char* flag : {"--disp-freq", "--valid-freq", "--save-freq"}) {
    const std::string name = flag;
    auto set = [name](train::TrainOptions& o, int64_t value) {
      (name == "--disp-freq" ? o.disp_freq : name == "--valid-freq" ? o.valid_freq : o.save_freq) = value;
    };
    EXPECT_NO_THROW(with([&](auto& o) { set(o, 0); })()) << flag;
    expect_error(with([&](auto& o) { set(o, -1); }), flag, "got -1");
    expect_error(with([&](auto& o) { set(o, int64_t{1} << 40); }), flag);
  }
  expect_error(with([](auto& o) { o.model_path = ""; }), "--model");
  expect_error(with([](auto& o) { o.learn_rate = 0; }), "--learn-rate", "got 0");
  expect_error(with([](auto& o) { o.learn_rate = std::numeric_limits<double>::infinity(); }),
               "--learn-rate", "inf");
  expect_error(with([](auto& o) { o.label_smoothing = 1.5; }), "--label-smoothing", "1.5");
  expect_error(with([](auto& o) { o.optimizer = "lamb"; }), "--optimizer", "'lamb'");
  expect_error(with([](auto& o) { o.optimizer_params = {0.9, 1.0, 1e-8}; }), "--optimizer-params beta2");
  expect_error(with([](auto& o) { o.optimizer_params = {0.9, 0.98}; }), "--optimizer-params", "three");
  expect_error(with([](auto& o) { o.after = "0u"; }), "--after", "'0u'");
  expect_error(with([](auto& o) { o.valid_metrics = "bleu,meteor"; }), "--valid-metrics", "meteor");
  expect_error(with([](auto& o) { o.lr_decay_freq = 10; }), "--lr-decay-freq 10", "--lr-schedule constant");
  expect_error(with([](auto& o) { o.lr_schedule = "halving"; o.valid_freq = 0; }), "--lr-decay-freq",
               "--valid-freq");
  EXPECT_NO_THROW(with([](auto& o) { o.lr_schedule = "halving"; o.lr_decay_freq = 100; })());
  expect_error(with([](auto& o) { o.dump_graph = "/no/such/folder/g.dot"; }), "--dump-graph",
               "/no/such/folder");
}

// The metadata of a small, valid model, as `attn train` writes it.
std::map<std::string, std::string> valid_metadata(const std::string& type) {
  train::ModelOptions options;
  options.type = type;
  options.dim_emb = 8;
  options.dim_rnn = 8;
  options.transformer_heads = 2;
  options.transformer_dim_ffn = 8;
  options.source_vocab_size = 12;
  options.target_vocab_size = 12;
  return options.to_metadata();
}

TEST(ValidateOptions, ModelMetadataIsCheckedByKey) {
  for (const std::string type : {"bahdanau", "transformer"}) {
    SCOPED_TRACE(type);
    EXPECT_NO_THROW(train::ModelOptions::from_metadata(valid_metadata(type)));
    auto with = [&](const std::string& key, const std::string& value) {
      std::map<std::string, std::string> metadata = valid_metadata(type);
      metadata[key] = value;
      return [metadata] { train::ModelOptions::from_metadata(metadata); };
    };
    expect_error(with("model.dim_emb", "100000000000"), "key 'model.dim_emb'", "got 100000000000");
    expect_error(with("model.dim_emb", "99999999999999999999"), "model.dim_emb", "fits in 64 bits");
    expect_error(with("model.dim_rnn", "0"), "key 'model.dim_rnn'", "got 0");
    expect_error(with("model.dropout_rnn", "nan"), "key 'model.dropout_rnn'", "nan");
    expect_error(with("model.source_vocab_size", "0"), "model.source_vocab_size", "got 0");
    expect_error(with("model.type", "gru"), "key 'model.type'", "'gru'");
  }
  auto transformer_with = [](const std::string& key, const std::string& value) {
    std::map<std::string, std::string> metadata = valid_metadata("transformer");
    metadata[key] = value;
    return [metadata] { train::ModelOptions::from_metadata(metadata); };
  };
  expect_error(transformer_with("model.transformer_heads", "3"), "key 'model.dim_emb'",
               "key 'model.transformer_heads'");
  expect_error(transformer_with("model.pre_ln", "yes"), "model.pre_ln", "'yes'");
}

// A file whose checksum is right but whose metadata says dim_emb = 10^11: the
// checksum proves the bytes are the ones written, not that they make sense.
TEST(ValidateOptions, ModelFileWithAbsurdSizesIsRefusedBeforeAnyTensor) {
  const std::string dir = temp_dir();
  std::map<std::string, std::string> metadata = valid_metadata("bahdanau");
  train::TextPipeline pipeline;
  const std::vector<std::vector<std::string>> sentences = {std::vector<std::string>{"a", "b"}};
  pipeline.source_vocab = attn::data::Vocab::build(sentences);
  pipeline.target_vocab = attn::data::Vocab::build(sentences);
  for (auto& [key, value] : pipeline.to_metadata()) metadata[key] = value;
  train::ModelOptions options = train::ModelOptions::from_metadata(metadata);
  options.source_vocab_size = pipeline.source_vocab.size();
  options.target_vocab_size = pipeline.target_vocab.size();
  for (auto& [key, value] : options.to_metadata()) metadata[key] = value;
  const std::string path = dir + "m.safetensors";
  train::make_model(options)->save(path, metadata);
  EXPECT_NO_THROW(train::load_model(path));

  metadata["model.dim_emb"] = "100000000000";
  train::make_model(options)->save(path, metadata);  // the old weights, a checksum over the new metadata
  expect_error([&] { train::load_model(path); }, "key 'model.dim_emb'", "got 100000000000");
}

TEST(ValidateOptions, DataFilesAreNamedByTheirFlag) {
  const std::string dir = temp_dir();
  train::DataOptions data;
  // A directory where a file is expected: std::ifstream would read it as empty.
  expect_error([&] { train::load_pairs(data, train::Split::Train, dir, ""); }, "--train-tsv " + dir,
               "is a directory");
  expect_error([&] { train::load_pairs(data, train::Split::Valid, "", dir + "," + dir); }, "--valid-sets",
               "is a directory");
  expect_error([&] { train::load_pairs(data, train::Split::Test, dir + "none.tsv", ""); }, "--test-tsv",
               "none.tsv");
  // No validation data for a run on files: the flags that would give it.
  expect_error([&] { train::load_pairs(data, train::Split::Valid, "", ""); }, "--valid-tsv", "--valid-sets");
  expect_error([&] { train::load_pairs(data, train::Split::Train, "a.tsv", "a,b"); }, "--train-tsv",
               "--train-sets");
  // A reader's own message keeps its file and line, with the flag in front.
  {
    std::ofstream(dir + "bad.tsv") << "a\tb\nno tab\n";
  }
  expect_error([&] { train::load_pairs(data, train::Split::Train, dir + "bad.tsv", ""); },
               "--train-tsv: ", "bad.tsv:2");
  // An empty training set.
  data.train_tsv = dir + "bad.tsv";
  expect_error([&] { train::build_pipeline(data, {}); }, "--train-tsv " + dir + "bad.tsv", "no sentence pairs");
  // The helpers for the other commands' paths.
  expect_error([&] { attn::data::check_input_file(dir, "--input"); }, "--input " + dir, "is a directory");
  expect_error([&] { attn::data::check_output_file(dir, "--output"); }, "--output " + dir, "is a directory");
  expect_error([&] { attn::data::check_output_file(dir + "no/x.txt", "--output"); }, "--output",
               "does not exist");
}

}  // namespace
