// The `attn` command line: one binary, one subcommand per job (Marian's style).
// Each subcommand lives in its own file as `int run_NAME(int argc, char** argv)`,
// receiving the arguments after the subcommand's name.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <cxxopts.hpp>

namespace attn::cli {

// Parses a subcommand's arguments. Returns -1 when the command should go on;
// otherwise the exit code to return at once: 0 after printing --help (with
// `groups`, if any), 2 after an unknown option or a stray argument, with a
// message naming it. `given`, when not null, receives the long names of the
// options on the command line (so a default can depend on what was not said);
// `result`, when not null, the parsed values. A value cxxopts cannot read, or
// reads only in part ("1.5x" for a number), is named with its flag, exit 2.
int parse_command_line(cxxopts::Options& options, int argc, char** argv,
                       const std::vector<std::string>& groups = {},
                       std::set<std::string>* given = nullptr,
                       cxxopts::ParseResult* result = nullptr);

int run_gradcheck(int argc, char** argv);
int run_train(int argc, char** argv);
int run_translate(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_plot(int argc, char** argv);

}  // namespace attn::cli
