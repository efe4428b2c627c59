// The command line's tokens, grouped into options before cxxopts reads them.
//
// Marian's flags that take several values take them space-separated:
//   --train-sets corpus.de corpus.en   --optimizer-params 0.9 0.98 1e-9
// cxxopts reads one token per value and splits a list on commas, so
// `--train-sets a b` would leave `b` as a stray argument. split_arguments
// walks the tokens once, as cxxopts will, and joins the values that follow a
// multi-value flag with commas ("--train-sets=a,b"). The comma-separated
// form is still accepted: it is what cxxopts reads in the end.
//
// The same grouping serves config files (train/cli/config_file.h): knowing
// which option each token belongs to is what lets a flag on the command line
// replace the same key of a config file.
#pragma once

#include <string>
#include <vector>

#include <cxxopts.hpp>

namespace attn::cli {

// One option as given: its long name, and the tokens that say it
// ({"--dim-emb", "64"}, {"--train-sets=a,b"} or {"-m", "x.safetensors"}).
// `name` is "" for a token that is no known option (a stray argument, or a
// misspelt flag, which cxxopts then names in its error).
struct Argument {
  std::string name;
  std::vector<std::string> tokens;
};

// Whether --name takes a list: an option cxxopts stores in a std::vector (its
// values arrive comma-separated), or one of the string flags that hold a
// comma-separated list (kListFlags in arguments.cpp: --train-sets,
// --valid-sets, --test-sets, --valid-metrics).
bool takes_list(const cxxopts::Options& options, const std::string& name);

// The tokens after the subcommand's name (argv[1..]), grouped into options in
// order. A multi-value flag written as `--flag a b c` (its values up to the
// next option) becomes one argument {"--flag=a,b,c"}; a single value is left
// as typed. After the first value, a token that starts with - ends the list unless it
// is a number (`--optimizer-params 0.9 0.98 -1` keeps the -1). The first value
// is taken whatever it looks like, as cxxopts takes it.
std::vector<Argument> split_arguments(const cxxopts::Options& options,
                                      const std::vector<std::string>& tokens);

// The arguments' tokens, in order: what cxxopts parses.
std::vector<std::string> flatten(const std::vector<Argument>& arguments);

}  // namespace attn::cli
