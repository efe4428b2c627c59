// Config files and Marian-style lists (train/cli/config_file.h,
// train/cli/arguments.h): the tokens split as cxxopts reads them, space- and
// comma-separated lists alike, files merged in order, the command line
// winning, every error named by file, line and key, and --dump-config read
// back to the same settings.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "train/cli/arguments.h"
#include "train/cli/cli.h"
#include "train/cli/config_file.h"

namespace attn::cli {
namespace {

// A small command line with each kind of option `attn train` has: numbers, a
// string, a switch, a switch with a default, a string list and a number list.
struct Settings {
  int64_t dim_emb = 128;
  double learn_rate = 0.001;
  std::string type = "bahdanau";
  std::string model;
  bool pre_ln = false;
  bool input_feed = true;
  std::string train_sets;               // a comma-separated string list (kListFlags)
  std::vector<double> optimizer_params; // a std::vector list
  std::vector<std::string> config;
};

cxxopts::Options make_options(Settings& s) {
  cxxopts::Options options("attn train", "test");
  options.add_options("Config files")
      ("c,config", "files", cxxopts::value(s.config))
      ("dump-config", "dump", cxxopts::value<bool>());
  options.add_options("Model")
      ("type", "type", cxxopts::value(s.type)->default_value(s.type))
      ("m,model", "model", cxxopts::value(s.model))
      ("dim-emb", "size", cxxopts::value(s.dim_emb)->default_value("128"))
      ("pre-ln", "switch", cxxopts::value(s.pre_ln))
      ("input-feed", "switch on by default", cxxopts::value(s.input_feed)->default_value("true")->implicit_value("true"));
  options.add_options("Training")
      ("learn-rate", "rate", cxxopts::value(s.learn_rate)->default_value("0.001"))
      ("train-sets", "files", cxxopts::value(s.train_sets))
      ("optimizer-params", "numbers", cxxopts::value(s.optimizer_params))
      ("h,help", "help");
  return options;
}

const std::vector<std::string> kGroups = {"Config files", "Model", "Training"};

// Parses `tokens` (with config files) into a fresh Settings; fails the test on an exit code.
Settings parse(const std::vector<std::string>& tokens, std::string* dumped = nullptr) {
  Settings s;
  cxxopts::Options options = make_options(s);
  MergedCommandLine line = merge_config_files(options, tokens);
  cxxopts::ParseResult parsed;
  const int code = parse_command_line(options, line.tokens, kGroups, nullptr, &parsed, line.origins);
  EXPECT_EQ(code, -1);
  if (dumped) *dumped = dump_config(options, parsed, kGroups);
  return s;
}

// A file in the test's temporary folder holding `text`; returns its path.
std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "attn_config_test_" + name;
  std::ofstream(path) << text;
  return path;
}

// The message of the attn::Error that `body` throws ("" when none).
template <typename Body>
std::string error_of(Body body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

// --- splitting the tokens ------------------------------------------------------------

TEST(Arguments, ListFlagsCollectTheirValuesUpToTheNextOption) {
  Settings s;
  cxxopts::Options options = make_options(s);
  std::vector<Argument> arguments = split_arguments(
      options, {"--train-sets", "a.de", "a.en", "--optimizer-params", "0.9", "0.98", "-1e-9",
                "--dim-emb", "64", "-m", "x.safetensors", "--pre-ln", "stray"});
  ASSERT_EQ(arguments.size(), 6u);
  EXPECT_EQ(arguments[0].name, "train-sets");
  EXPECT_EQ(arguments[0].tokens, std::vector<std::string>({"--train-sets=a.de,a.en"}));
  // A negative number is a value, not an option.
  EXPECT_EQ(arguments[1].tokens, std::vector<std::string>({"--optimizer-params=0.9,0.98,-1e-9"}));
  EXPECT_EQ(arguments[2].tokens, std::vector<std::string>({"--dim-emb", "64"}));
  EXPECT_EQ(arguments[3].name, "model");  // the short name, by its long one
  EXPECT_EQ(arguments[3].tokens, std::vector<std::string>({"-m", "x.safetensors"}));
  // A switch takes no value: what follows it is a stray argument for cxxopts to name.
  EXPECT_EQ(arguments[4].tokens, std::vector<std::string>({"--pre-ln"}));
  EXPECT_EQ(arguments[5].name, "");
  EXPECT_EQ(arguments[5].tokens, std::vector<std::string>({"stray"}));
}

TEST(Arguments, OneValueAndTheCommaFormAreLeftAsTyped) {
  Settings s;
  cxxopts::Options options = make_options(s);
  const std::vector<std::string> tokens = {"--train-sets=a,b", "--optimizer-params", "0.9,0.98,1e-9",
                                           "--learn-rate", "-1", "--type", "--dim-emb"};
  // The first value is taken whatever it looks like, as cxxopts takes it (--type's value here).
  EXPECT_EQ(flatten(split_arguments(options, tokens)), tokens);
  EXPECT_TRUE(takes_list(options, "train-sets"));
  EXPECT_TRUE(takes_list(options, "optimizer-params"));
  EXPECT_FALSE(takes_list(options, "dim-emb"));
}

TEST(Arguments, SpaceAndCommaSeparatedListsParseAlike) {
  Settings spaced = parse({"--train-sets", "a.de", "a.en", "--optimizer-params", "0.9", "0.98", "1e-9"});
  Settings commas = parse({"--train-sets", "a.de,a.en", "--optimizer-params", "0.9,0.98,1e-9"});
  EXPECT_EQ(spaced.train_sets, "a.de,a.en");
  EXPECT_EQ(spaced.train_sets, commas.train_sets);
  EXPECT_EQ(spaced.optimizer_params, std::vector<double>({0.9, 0.98, 1e-9}));
  EXPECT_EQ(spaced.optimizer_params, commas.optimizer_params);
}

// --- reading and merging files -------------------------------------------------------

TEST(ConfigFile, FilesMergeInOrderAndTheCommandLineWins) {
  const std::string first = write_file("first.yml", "dim-emb: 32\ntype: luong\nlearn-rate: 0.5\n");
  const std::string second = write_file("second.yml", "# a comment\ndim-emb: 64\npre-ln: true\n");
  Settings s = parse({"--config", first, second, "--learn-rate", "0.25"});
  EXPECT_EQ(s.dim_emb, 64);          // the later file
  EXPECT_EQ(s.type, "luong");        // only in the first
  EXPECT_TRUE(s.pre_ln);             // only in the second
  EXPECT_EQ(s.learn_rate, 0.25);     // the command line over both
  // The repeated flag and the comma form name the same files in the same order.
  EXPECT_EQ(parse({"-c", first, "-c", second}).dim_emb, 64);
  EXPECT_EQ(parse({"--config=" + second + "," + first}).dim_emb, 32);

  Settings tmp;
  cxxopts::Options options = make_options(tmp);
  MergedCommandLine line = merge_config_files(options, {"-c", first, second, "--type", "s2s"});
  EXPECT_EQ(line.origins.at("dim-emb"), second + ":2");  // the winner's place
  EXPECT_EQ(line.origins.count("type"), 0u);            // the command line's own
}

TEST(ConfigFile, ListsAreYamlSequencesOrCommaText) {
  const std::string path = write_file(
      "lists.yml", "train-sets: [a.de, a.en]\noptimizer-params:\n  - 0.9\n  - 0.98\n  - 1e-9\n");
  Settings s = parse({"--config", path});
  EXPECT_EQ(s.train_sets, "a.de,a.en");
  EXPECT_EQ(s.optimizer_params, std::vector<double>({0.9, 0.98, 1e-9}));
  EXPECT_EQ(parse({"-c", write_file("text.yml", "train-sets: a.de,a.en\n")}).train_sets, "a.de,a.en");
}

TEST(ConfigFile, AnUnknownKeyIsNamedWithItsFileAndLine) {
  const std::string path = write_file("unknown.yml", "dim-emb: 32\n\n# comment\ndim-embb: 64\n");
  const std::string message = error_of([&] { parse({"--config", path}); });
  EXPECT_NE(message.find(path + ":4"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'dim-embb'"), std::string::npos) << message;
}

TEST(ConfigFile, AWrongTypeIsNamedWithItsFileLineAndKey) {
  auto expect_named = [](const std::string& name, const std::string& text, const std::string& line,
                         const std::string& key) {
    const std::string path = write_file(name, text);
    Settings s;
    cxxopts::Options options = make_options(s);
    const std::string message = error_of([&] {
      MergedCommandLine merged = merge_config_files(options, {"--config", path});
      parse_command_line(options, merged.tokens, kGroups, nullptr, nullptr, merged.origins);
    });
    EXPECT_NE(message.find(path + ":" + line), std::string::npos) << name << ": " << message;
    EXPECT_NE(message.find("'" + key + "'"), std::string::npos) << name << ": " << message;
  };
  expect_named("word.yml", "type: s2s\ndim-emb: abc\n", "2", "dim-emb");          // not a number
  expect_named("part.yml", "learn-rate: 1.5x\n", "1", "learn-rate");            // a number in part
  expect_named("switch.yml", "\n\npre-ln: maybe\n", "3", "pre-ln");              // not a switch value
  expect_named("element.yml", "optimizer-params: [0.9, x, 1]\n", "1", "optimizer-params");
  expect_named("list.yml", "type: s2s\ndim-emb: [1, 2]\n", "2", "dim-emb");     // a list for one value
  expect_named("map.yml", "dim-emb:\n  size: 3\n", "1", "dim-emb");              // a map
  expect_named("null.yml", "dim-emb:\n", "1", "dim-emb");                        // no value
  expect_named("twice.yml", "dim-emb: 1\ndim-emb: 2\n", "2", "dim-emb");         // given twice
  expect_named("config.yml", "config: other.yml\n", "1", "config");              // not in a file
}

TEST(ConfigFile, BadFilesAreNamed) {
  const std::string missing = ::testing::TempDir() + "attn_config_test_missing.yml";
  std::remove(missing.c_str());
  EXPECT_NE(error_of([&] { parse({"-c", missing}); }).find(missing), std::string::npos);
  const std::string syntax = write_file("syntax.yml", "dim-emb: 3\n  x: : y\n");
  EXPECT_NE(error_of([&] { parse({"-c", syntax}); }).find(syntax + ":2"), std::string::npos);
  const std::string list = write_file("toplist.yml", "- dim-emb\n");
  EXPECT_NE(error_of([&] { parse({"-c", list}); }).find("expected a map"), std::string::npos);
  // An empty file sets nothing; --help reads no file at all.
  EXPECT_EQ(parse({"-c", write_file("empty.yml", "")}).dim_emb, 128);
  Settings s;
  cxxopts::Options options = make_options(s);
  EXPECT_NO_THROW(merge_config_files(options, {"--help", "-c", missing}));
}

// --- --dump-config -------------------------------------------------------------------

TEST(ConfigFile, DumpedSettingsReadBackTheSame) {
  std::string dumped;
  Settings original = parse({"--type", "transformer", "--dim-emb", "64", "--pre-ln", "--input-feed=false",
                             "--train-sets", "a b.de", "a.en", "--optimizer-params", "0.9", "0.98",
                             "1e-9", "--learn-rate", "0.0007", "-m", "x.safetensors"},
                            &dumped);
  EXPECT_NE(dumped.find("dim-emb: 64"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("# Model"), std::string::npos) << dumped;       // groups as comments
  EXPECT_EQ(dumped.find("\nconfig:"), std::string::npos) << dumped;   // not a key of a file
  EXPECT_EQ(dumped.find("dump-config:"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find("help:"), std::string::npos) << dumped;
  const std::string path = write_file("dumped.yml", dumped);
  std::string again;
  Settings read = parse({"--config", path}, &again);
  EXPECT_EQ(again, dumped);
  EXPECT_EQ(read.type, original.type);
  EXPECT_EQ(read.dim_emb, original.dim_emb);
  EXPECT_EQ(read.pre_ln, true);
  EXPECT_EQ(read.input_feed, false);
  EXPECT_EQ(read.train_sets, "a b.de,a.en");
  EXPECT_EQ(read.optimizer_params, original.optimizer_params);
  EXPECT_EQ(read.learn_rate, original.learn_rate);
  EXPECT_EQ(read.model, "x.safetensors");
  // Defaults are written too, and a switch never given is false.
  std::string defaults;
  parse({}, &defaults);
  EXPECT_NE(defaults.find("learn-rate: 0.001"), std::string::npos) << defaults;
  EXPECT_NE(defaults.find("pre-ln: false"), std::string::npos) << defaults;
  EXPECT_EQ(defaults.find("model:"), std::string::npos) << defaults;  // no value, no default
}

TEST(ConfigFile, OverridesWinInTheDump) {
  Settings s;
  cxxopts::Options options = make_options(s);
  cxxopts::ParseResult parsed;
  ASSERT_EQ(parse_command_line(options, std::vector<std::string>{"--dim-emb", "16"}, kGroups, nullptr,
                               &parsed),
            -1);
  const std::string dumped = dump_config(options, parsed, kGroups, {{"learn-rate", "0.5"}});
  EXPECT_NE(dumped.find("learn-rate: 0.5"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("dim-emb: 16"), std::string::npos) << dumped;
}

TEST(ConfigFile, NumberTextIsShortAndExact) {
  EXPECT_EQ(number_text(0.001), "0.001");
  EXPECT_EQ(number_text(0.1), "0.1");
  EXPECT_EQ(number_text(4000), "4000");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::stod(number_text(third)), third);
}

}  // namespace
}  // namespace attn::cli
