// Config files: the settings of a run in YAML, read as if typed on the
// command line (Marian's -c/--config and --dump-config).
//
//   # run.yml                         attn train --config run.yml --after 20e
//   type: transformer
//   dim-emb: 256
//   train-sets: [corpus.de, corpus.en]
//   optimizer-params: [0.9, 0.98, 1e-9]
//   after: 10e
//
// A key is a flag's long name and its value what the flag takes; a list is a
// YAML sequence (or the flag's comma-separated text). The reader knows no flag
// by itself: it turns each key into the token "--key=value" and hands the
// tokens to the same cxxopts parser as the command line, so that every flag,
// including one added tomorrow, is a key, with the same types, defaults and
// checks. Several files merge in order, a later file replacing a key of an
// earlier one, and a flag on the command line replaces both.
//
// Each token remembers the file and line it came from, so that an unknown key
// or a value of the wrong type is named where it was written:
//   run.yml:3: key 'dim-emb': cannot read 'abc' as its value
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <cxxopts.hpp>

namespace attn::cli {

// One key of a config file, as the command line would say it.
struct ConfigSetting {
  std::string key;    // the flag's long name, "dim-emb"
  std::string value;  // its text; a sequence joined with commas ("0.9,0.98,1e-9")
  std::string where;  // "run.yml:3": the file and the key's line (1-based)
};

// Reads the files in order; a key of a later file replaces the same key of an
// earlier one (and keeps the later place). Throws attn::Error naming the file,
// and the line where there is one, for: a file that cannot be read, YAML that
// does not parse, a top level that is not a map of keys to values, a key that
// is no long flag of `options` (or one a file cannot set: config,
// dump-config, help), a key given twice in one file, a key with no value, a
// map as a value, and a list for a flag that takes one value.
std::vector<ConfigSetting> read_config_files(const std::vector<std::string>& paths,
                                             const cxxopts::Options& options);

// A command line with the config files it names folded in.
struct MergedCommandLine {
  // What cxxopts parses: "--key=value" for each setting of the files that the
  // command line does not give itself, then the command line's own tokens
  // (multi-value flags joined, train/cli/arguments.h).
  std::vector<std::string> tokens;
  // Where each setting taken from a file was written: "dim-emb" -> "run.yml:3".
  std::map<std::string, std::string> origins;
};

// `tokens` are the arguments after the subcommand's name. The files are the
// values of -c/--config (several, space- or comma-separated, or the flag
// repeated). With --help among the tokens, no file is read.
MergedCommandLine merge_config_files(const cxxopts::Options& options,
                                     const std::vector<std::string>& tokens);

// The settings in effect, as a YAML config file that --config reads back to the
// same settings: every option of `options`, group by group in the order of
// `groups` (--help's; empty: cxxopts's), each group under a comment with its name. A key's value is, first found: `overrides` (values
// the program worked out after parsing, such as a Transformer's defaults), the
// value given (command line or config file), the option's default. Left out:
// options that have none of these, help, config and dump-config, and the
// options named in `leave_out`.
std::string dump_config(const cxxopts::Options& options, const cxxopts::ParseResult& parsed,
                        const std::vector<std::string>& groups = {},
                        const std::map<std::string, std::string>& overrides = {},
                        const std::set<std::string>& leave_out = {});

// -c/--config and --dump-config for a subcommand that decodes (attn translate,
// attn eval): the two options, then the parse that honours them. Config files
// merge under the command line as for attn train; with --dump-config the
// settings in effect are printed as YAML and parse_with_config_files returns
// 0. Returns -1 when the command should go on, or the exit code of
// parse_command_line (train/cli/cli.h), whose `given` it fills.
void add_config_options(cxxopts::Options& options);
int parse_with_config_files(cxxopts::Options& options, int argc, char** argv, std::set<std::string>* given);

// The shortest text that reads back as exactly `value` ("0.001", not
// "0.0010000000000000000208"): for the numbers in `overrides`.
std::string number_text(double value);

}  // namespace attn::cli
