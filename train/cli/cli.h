// The `attn` command line: one binary, one subcommand per job (Marian's style).
// Each subcommand lives in its own file as `int run_NAME(int argc, char** argv)`,
// receiving the arguments after the subcommand's name.
#pragma once

#include <cstdint>
#include <map>
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
// Multi-value flags may take their values space-separated, Marian's way
// (`--train-sets a b` reads as `--train-sets a,b`: train/cli/arguments.h).
int parse_command_line(cxxopts::Options& options, int argc, char** argv,
                       const std::vector<std::string>& groups = {},
                       std::set<std::string>* given = nullptr,
                       cxxopts::ParseResult* result = nullptr);
// The same for tokens already grouped (the arguments after the subcommand's
// name, as merge_config_files returns them, train/cli/config_file.h). A value
// of a flag in `origins` (flag -> "run.yml:3") came from a config file: one
// it cannot read throws attn::Error naming the file, the line and the key.
int parse_command_line(cxxopts::Options& options, const std::vector<std::string>& tokens,
                       const std::vector<std::string>& groups, std::set<std::string>* given,
                       cxxopts::ParseResult* result,
                       const std::map<std::string, std::string>& origins = {});

// --cpu-threads N (train, translate, eval): the threads of attn's CPU kernels.
// 0 keeps the default, the ATTN_NUM_THREADS environment variable or else the
// number of cores (kernels/cpu/parallel.h); the flag wins over the variable.
// Throws attn::Error naming the flag for a value out of 0..kMaxCpuThreads.
constexpr int64_t kMaxCpuThreads = 1024;
void apply_cpu_threads(int64_t threads);

int run_gradcheck(int argc, char** argv);
int run_train(int argc, char** argv);
int run_translate(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_plot(int argc, char** argv);

}  // namespace attn::cli
