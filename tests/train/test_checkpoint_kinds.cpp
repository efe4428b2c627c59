// Checkpoints that know what they are (train/checkpoint.h): a file given in
// the wrong place is named for what it holds, a resumed run with settings
// that change the meaning of its saved data position is refused naming the
// file, the setting and both values, and files written before these keys
// existed still load.
//
// The runs are real `attn train` runs (train::Trainer) of a tiny RNNsearch on
// the reverse task, a few updates each, so the checks go through the same
// code as the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>

#include "attn.h"  // ATTN_VERSION
#include "kernels/error.h"
#include "tensor/safetensors.h"
#include "train/checkpoint.h"
#include "train/loaded_model.h"
#include "train/options.h"
#include "train/trainer.h"

namespace attn::train {
namespace {

namespace fs = std::filesystem;

// Files written by attn at commit ed3e9a3, before checkpoints recorded their
// kind, version and settings:
//   attn train --type bahdanau --task reverse --task-train-size 40 --task-max-length 4
//     --dim-emb 4 --dim-rnn 4 --dim-att 4 --mini-batch 8 --after 3u --valid-freq 3
//     --valid-max-sentences 8 --disp-freq 3 --quiet --model old.safetensors
const std::string kOldCheckpoint = std::string(ATTN_TEST_DATA_DIR) + "/train/old_checkpoint/";

// A fresh folder per test.
std::string temp_dir() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(testing::TempDir()) /
                 (std::string("attn_kinds_") + info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string() + "/";
}

// The options of the tiny run above, writing to `model_path`.
struct Config {
  ModelOptions model;
  DataOptions data;
  TrainOptions train;
};

Config tiny(const std::string& model_path, const std::string& type = "bahdanau") {
  Config c;
  c.model.type = type;
  c.model.dim_emb = 4;
  c.model.dim_rnn = 4;
  c.model.dim_att = 4;
  c.data.task = "reverse";
  c.data.task_train_size = 40;
  c.data.task_max_length = 4;
  c.data.mini_batch = 8;
  c.train.model_path = model_path;
  c.train.after = "3u";
  c.train.valid_freq = 3;
  c.train.valid_max_sentences = 8;
  c.train.valid_samples = 0;
  c.train.disp_freq = 3;
  c.train.quiet = true;
  return c;
}

// Runs `attn train` with `c`, its log kept out of the test's output.
int train(const Config& c) {
  std::ostringstream log;
  std::streambuf* saved = std::cout.rdbuf(log.rdbuf());
  try {
    int code = Trainer(c.model, c.data, c.train).run();
    std::cout.rdbuf(saved);
    return code;
  } catch (...) {
    std::cout.rdbuf(saved);
    throw;
  }
}

// Runs f, which must throw attn::Error, and returns the message.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no attn::Error thrown";
  return "";
}

// Every needle is in the message.
void expect_all(const std::string& message, std::initializer_list<std::string> needles) {
  for (const std::string& needle : needles) {
    EXPECT_NE(message.find(needle), std::string::npos) << "'" << needle << "' not in: " << message;
  }
}

TEST(CheckpointKinds, EveryFileRecordsItsKindVersionAndSettings) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  ASSERT_EQ(train(tiny(path)), 0);
  Checkpoint checkpoint = load_checkpoint(path);
  EXPECT_EQ(checkpoint.kind, kModelKind);
  EXPECT_EQ(checkpoint.version, ATTN_VERSION);
  EXPECT_EQ(checkpoint.state.settings.at("type"), "bahdanau");
  EXPECT_EQ(checkpoint.state.settings.at("mini-batch"), "8");
  EXPECT_EQ(checkpoint.state.settings.at("seed"), "1234");
  EXPECT_EQ(checkpoint.state.settings.at("task-train-size"), "40");
  EXPECT_EQ(checkpoint.state.settings.at("train-data").find("40 pairs (fingerprint "), 0u);
  // The attn.* keys are the checkpoint's own: the caller's metadata comes back without them.
  for (const auto& [key, value] : checkpoint.metadata) EXPECT_NE(key.rfind("attn.", 0), 0u) << key;
  SafetensorsFile model = load_safetensors(path);
  EXPECT_EQ(model.metadata.at("attn.kind"), "model");
  EXPECT_EQ(model.metadata.at("attn.setting.mini-batch"), "8");
  EXPECT_EQ(load_safetensors(path + ".state.safetensors").metadata.at("attn.version"), ATTN_VERSION);
  Checkpoint best = load_checkpoint_weights(best_model_path(path));
  EXPECT_EQ(best.kind, kBestModelKind);
  EXPECT_EQ(best.version, ATTN_VERSION);
}

TEST(CheckpointKinds, ResumingAnotherModelTypeNamesBothTypes) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  ASSERT_EQ(train(tiny(path, "luong")), 0);
  const std::string message = error_of([&] { train(tiny(path, "bahdanau")); });
  expect_all(message, {path + " holds a luong model", "bahdanau", "--type luong"});
  // The refusal leaves the checkpoint as it was: the right type resumes.
  Config again = tiny(path, "luong");
  again.train.after = "5u";
  EXPECT_EQ(train(again), 0);
  EXPECT_EQ(load_checkpoint(path).state.update, 5);
}

TEST(CheckpointKinds, ResumingWithOtherBatchingNamesTheSettingAndBothValues) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  const std::string state_path = path + ".state.safetensors";
  ASSERT_EQ(train(tiny(path)), 0);
  struct Change {
    std::function<void(Config&)> apply;
    std::string saved, given;  // as the message writes them
  };
  const Change changes[] = {
      {[](Config& c) { c.data.mini_batch = 16; }, "--mini-batch 8", "--mini-batch 16"},
      {[](Config& c) { c.data.mini_batch_words = 40; }, "--mini-batch-words 0", "--mini-batch-words 40"},
      {[](Config& c) { c.data.max_length = 3; }, "--max-length 100", "--max-length 3"},
      {[](Config& c) { c.train.seed = 7; }, "--seed 1234", "--seed 7"},
      {[](Config& c) { c.data.task_train_size = 50; }, "--task-train-size 40", "--task-train-size 50"},
      {[](Config& c) { c.data.task_max_length = 5; }, "--task-max-length 4", "--task-max-length 5"},
      {[](Config& c) { c.data.tokenizer = "char"; }, "--tokenizer word", "--tokenizer char"},
      {[](Config& c) { c.data.lowercase = true; }, "--lowercase 0", "--lowercase 1"},
      {[](Config& c) { c.data.vocab_min_frequency = 2; }, "--vocab-min-freq 1", "--vocab-min-freq 2"},
      {[](Config& c) { c.data.vocab_max_size = 10; }, "--vocab-max-size 0", "--vocab-max-size 10"},
  };
  for (const Change& change : changes) {
    Config changed = tiny(path);
    changed.train.after = "6u";
    change.apply(changed);
    const std::string message = error_of([&] { train(changed); });
    SCOPED_TRACE(change.given);
    expect_all(message, {state_path, "saved with " + change.saved, "this run has " + change.given,
                         "Resume with " + change.saved});
  }
  // Flags the position does not depend on may change: a longer run resumes.
  Config longer = tiny(path);
  longer.train.after = "6u";
  longer.train.valid_freq = 2;
  longer.train.learn_rate = 0.01;
  EXPECT_EQ(train(longer), 0);
  EXPECT_EQ(load_checkpoint(path).state.update, 6);
}

TEST(CheckpointKinds, OtherTrainingDataIsNamedByItsFingerprintAMovedFileIsNot) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  const std::string tsv = dir + "train.tsv", moved = dir + "moved.tsv";
  std::string pairs;
  for (int i = 0; i < 12; ++i) pairs += "a b " + std::to_string(i) + "\t" + std::to_string(i) + " b a\n";
  std::ofstream(tsv) << pairs;
  Config c = tiny(path);
  c.data.task.clear();
  c.data.train_tsv = c.data.valid_tsv = tsv;
  ASSERT_EQ(train(c), 0);

  // The same file with one line changed: the data differ, though the flags do not.
  std::ofstream(tsv) << pairs << "x y\ty x\n";
  Config resumed = c;
  resumed.train.after = "5u";
  const std::string message = error_of([&] { train(resumed); });
  expect_all(message, {path + ".state.safetensors", "saved with training data of 12 pairs (fingerprint ",
                       "this run has training data of 13 pairs (fingerprint ", "--train-tsv"});

  // The same pairs under another name are the same data.
  std::ofstream(moved) << pairs;
  resumed.data.train_tsv = moved;
  EXPECT_EQ(train(resumed), 0);
  EXPECT_EQ(load_checkpoint(path).state.update, 5);
}

TEST(CheckpointKinds, AStateFileGivenAsTheModelSaysWhichModelToGive) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  const std::string state_path = path + ".state.safetensors";
  ASSERT_EQ(train(tiny(path)), 0);
  // attn train --model m.safetensors.state.safetensors
  expect_all(error_of([&] { train(tiny(state_path)); }),
             {state_path, "is a training-state file", "not a model", "give --model " + path});
  // attn translate / eval --model m.safetensors.state.safetensors
  expect_all(error_of([&] { load_model(state_path); }),
             {state_path, "is a training-state file", "not a model", "give --model " + path});
  // The pending state a save leaves when it dies half way is the same kind of file.
  fs::copy_file(state_path, state_path + ".new");
  expect_all(error_of([&] { load_model(state_path + ".new"); }),
             {state_path + ".new", "is a training-state file", "give --model " + path});
}

TEST(CheckpointKinds, AModelFileInTheStatesPlaceIsNamed) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  const std::string state_path = path + ".state.safetensors";
  ASSERT_EQ(train(tiny(path)), 0);
  fs::copy_file(path, state_path, fs::copy_options::overwrite_existing);
  expect_all(error_of([&] { load_checkpoint(path); }),
             {state_path, "is a model file", "not the training state of " + path});
  expect_all(error_of([&] { train(tiny(path)); }), {state_path, "is a model file"});
}

TEST(CheckpointKinds, TheBestModelTranslatesButIsNotResumed) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  const std::string best = best_model_path(path);
  ASSERT_EQ(train(tiny(path)), 0);
  ASSERT_TRUE(fs::exists(best));
  EXPECT_NO_THROW(load_model(best));  // attn translate / eval --model m.best.safetensors
  expect_all(error_of([&] { train(tiny(best)); }),
             {best, "is a best-model file", "no training state", "give --model " + path});
  // Checksummed like the checkpoint: an altered byte is found.
  std::string bytes;
  {
    std::ifstream in(best, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 2] ^= 0x01;
  std::ofstream(best, std::ios::binary) << bytes;
  expect_all(error_of([&] { load_model(best); }), {best, "checksum mismatch"});
}

TEST(CheckpointKinds, WeightsOfAnotherTypeThanTheMetadataSaysAreNamed) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  ASSERT_EQ(train(tiny(path, "bahdanau")), 0);
  // A file that claims to be luong but holds bahdanau's weights, checksum and all
  // (a hand-made file, as Module::save writes without a checksum).
  SafetensorsFile file = load_safetensors(path);
  file.metadata["model.type"] = "luong";
  file.metadata.erase("attn.checksum");
  save_safetensors(dir + "claims_luong.safetensors", file.tensors, file.metadata);
  expect_all(error_of([&] { load_model(dir + "claims_luong.safetensors"); }),
             {dir + "claims_luong.safetensors", "says it holds a luong model",
              "weights are not that model's"});
  // A file of plain weights without attn's metadata names the file and the key.
  file.metadata.clear();
  save_safetensors(dir + "plain.safetensors", file.tensors, file.metadata);
  expect_all(error_of([&] { load_model(dir + "plain.safetensors"); }),
             {dir + "plain.safetensors", "model.type", "is missing"});
}

TEST(CheckpointKinds, FilesWrittenBeforeTheKeysExistedStillLoadAndResume) {
  const std::string dir = temp_dir(), path = dir + "old.safetensors";
  for (const char* name : {"old.safetensors", "old.safetensors.state.safetensors", "old.best.safetensors"})
    fs::copy_file(kOldCheckpoint + name, dir + name);
  SafetensorsFile raw = load_safetensors(path);
  ASSERT_EQ(raw.metadata.count("attn.kind"), 0u) << "the fixture must be an old file";
  ASSERT_EQ(raw.metadata.count("attn.version"), 0u);

  Checkpoint old = load_checkpoint(path);
  EXPECT_EQ(old.kind, "");
  EXPECT_EQ(old.version, "");
  EXPECT_EQ(old.state.update, 3);
  EXPECT_TRUE(old.state.settings.empty());
  EXPECT_NO_THROW(load_model(path));                   // attn translate --model old.safetensors
  EXPECT_NO_THROW(load_model(dir + "old.best.safetensors"));  // Module::save's file, no checksum

  // Resumed with other batching: the position (batch 3 of epoch 1) is past
  // the end of a 2-batch epoch; without saved settings the message says
  // which flags may differ, naming the state file.
  Config other = tiny(path);
  other.data.mini_batch = 32;
  other.train.after = "6u";
  expect_all(error_of([&] { train(other); }),
             {path + ".state.safetensors", "position 3", "--mini-batch"});

  // With its own settings it resumes, and from then on records them.
  Config same = tiny(path);
  same.train.after = "6u";
  EXPECT_EQ(train(same), 0);
  Checkpoint resumed = load_checkpoint(path);
  EXPECT_EQ(resumed.state.update, 6);
  EXPECT_EQ(resumed.kind, kModelKind);
  EXPECT_EQ(resumed.state.settings.at("mini-batch"), "8");
}

TEST(CheckpointKinds, ChangedSettingComparesOnlyWhatBothHold) {
  EXPECT_EQ(changed_setting({}, {{"seed", "1"}}).name, "");
  EXPECT_EQ(changed_setting({{"seed", "1"}}, {}).name, "");
  EXPECT_EQ(changed_setting({{"seed", "1"}, {"old-only", "x"}}, {{"seed", "1"}, {"new-only", "y"}}).name,
            "");
  ChangedSetting changed = changed_setting({{"mini-batch", "8"}, {"seed", "1"}},
                                           {{"mini-batch", "16"}, {"seed", "1"}});
  EXPECT_EQ(changed.name, "mini-batch");
  EXPECT_EQ(changed.saved, "8");
  EXPECT_EQ(changed.given, "16");
}

TEST(CheckpointKinds, TheCheckpointsOwnKeysAreReserved) {
  const std::string dir = temp_dir(), path = dir + "m.safetensors";
  ASSERT_EQ(train(tiny(path)), 0);
  std::shared_ptr<nn::Translator> model = load_model(path).model;
  for (const char* key : {"attn.kind", "attn.version", "attn.setting.seed", "attn.anything"}) {
    expect_all(error_of([&] { save_checkpoint(dir + "x.safetensors", *model, {{key, "1"}}, {}); }),
               {dir + "x.safetensors", key, "reserved"});
  }
  expect_all(error_of([&] { save_best_model(dir + "b.safetensors", *model, {{"attn.kind", "x"}}, {}); }),
             {"save_best_model", dir + "b.safetensors", "attn.kind", "reserved"});
}

}  // namespace
}  // namespace attn::train
