// Parsing a subcommand's command line (train/cli/cli.h): cxxopts, with the
// flag named in every message, numbers read whole, multi-value flags joined
// (train/cli/arguments.h), and values from config files named by file and line.
#include <cstdlib>
#include <iostream>
#include <typeinfo>

#include "kernels/cpu/parallel.h"
#include "kernels/error.h"
#include "train/cli/arguments.h"
#include "train/cli/cli.h"
#include "train/options.h"

namespace attn::cli {
namespace {

// cxxopts's message for `error`, with the flag named where cxxopts names only
// the value it could not read ("--dim-emb: cannot read 'abc' as its value").
// `flag` receives the flag's long name when it was found.
std::string describe_parse_error(const cxxopts::exceptions::exception& error,
                                 const std::vector<std::string>& tokens, std::string& flag) {
  std::string message = error.what();
  // cxxopts says "Argument ‘abc’ failed to parse", naming the value but not
  // the flag it was given to: find the flag on the command line.
  const std::string head = "Argument " + cxxopts::LQUOTE, tail = cxxopts::RQUOTE + " failed to parse";
  if (dynamic_cast<const cxxopts::exceptions::incorrect_argument_type*>(&error) == nullptr ||
      message.compare(0, head.size(), head) != 0 || message.size() < head.size() + tail.size()) {
    return message;
  }
  const std::string value = message.substr(head.size(), message.size() - head.size() - tail.size());
  // The value as a whole, or one element of a comma-separated list (a vector option).
  auto holds = [&](const std::string& text) {
    if (text == value) return true;
    return text.find(',') != std::string::npos &&
           ("," + text + ",").find("," + value + ",") != std::string::npos;
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& argument = tokens[i];
    if (argument.size() < 2 || argument[0] != '-') continue;
    size_t equals = argument.find('=');
    std::string name = argument.substr(0, equals);
    if (equals != std::string::npos ? holds(argument.substr(equals + 1))
                                    : i + 1 < tokens.size() && holds(tokens[i + 1])) {
      flag = name.compare(0, 2, "--") == 0 ? name.substr(2) : name;
      return name + ": cannot read '" + value + "' as its value (" + message + ")";
    }
  }
  return message;
}

// Whether the option `key` holds a floating-point number (or a list of them).
bool holds_real(const cxxopts::ParseResult& args, const std::string& key) {
  for (int kind = 0; kind < 2; ++kind) {
    try {
      if (kind == 0) args[key].as<double>();
      if (kind == 1) args[key].as<std::vector<double>>();
      return true;
    } catch (const std::bad_cast&) {
    }
  }
  return false;
}

// cxxopts reads a number with std::stringstream, which stops at the first
// character it cannot use, so "--learn-rate 1.5x" would train at 1.5. Each
// number given is read again here, and must be used whole. Returns "" or the
// message naming the flag (its long name in `flag`).
std::string check_numbers_whole(const cxxopts::ParseResult& args, std::string& flag) {
  for (const cxxopts::KeyValue& option : args.arguments()) {
    if (!holds_real(args, option.key())) continue;
    std::string text = option.value() + ",";
    for (size_t begin = 0, comma; (comma = text.find(',', begin)) != std::string::npos; begin = comma + 1) {
      const std::string number = text.substr(begin, comma - begin);
      char* end = nullptr;
      std::strtod(number.c_str(), &end);
      if (number.empty() || end == nullptr || *end != '\0') {
        flag = option.key();
        return "--" + option.key() + ": cannot read '" + option.value() + "' as a number";
      }
    }
  }
  return "";
}

}  // namespace

int parse_command_line(cxxopts::Options& options, int argc, char** argv,
                       const std::vector<std::string>& groups, std::set<std::string>* given,
                       cxxopts::ParseResult* result) {
  // Multi-value flags written Marian's way (--train-sets a b) become --train-sets=a,b.
  const std::vector<std::string> tokens = flatten(split_arguments(options, {argv + 1, argv + argc}));
  return parse_command_line(options, tokens, groups, given, result);
}

int parse_command_line(cxxopts::Options& options, const std::vector<std::string>& tokens,
                       const std::vector<std::string>& groups, std::set<std::string>* given,
                       cxxopts::ParseResult* result,
                       const std::map<std::string, std::string>& origins) {
  std::string name = options.program();
  // A value from a config file is named by its file and line, as an attn::Error (exit 1).
  auto fail = [&](const std::string& flag, const std::string& message) {
    auto origin = origins.find(flag);
    if (origin != origins.end()) {
      const std::string dashes = "--" + flag + ": ";
      const std::string what = message.compare(0, dashes.size(), dashes) == 0
                                   ? message.substr(dashes.size()) : message;
      throw Error(origin->second + ": key '" + flag + "': " + what);
    }
    std::cerr << name << ": " << message << " (see " << name << " --help)\n";
    return 2;
  };
  std::vector<const char*> argv = {name.c_str()};
  for (const std::string& token : tokens) argv.push_back(token.c_str());
  try {
    cxxopts::ParseResult args = options.parse(static_cast<int>(argv.size()), argv.data());
    if (result) *result = args;
    if (args.count("help")) {
      std::cout << (groups.empty() ? options.help() : options.help(groups)) << "\n";
      return 0;
    }
    if (!args.unmatched().empty()) {
      std::cerr << name << ": unexpected argument '" << args.unmatched()[0] << "' (see " << name
                << " --help)\n";
      return 2;
    }
    std::string flag;
    if (std::string message = check_numbers_whole(args, flag); !message.empty()) {
      return fail(flag, message);
    }
    if (given) {
      for (const cxxopts::KeyValue& option : args.arguments()) given->insert(option.key());
    }
  } catch (const cxxopts::exceptions::exception& error) {
    std::string flag;
    const std::string message = describe_parse_error(error, tokens, flag);
    return fail(flag, message);
  }
  return -1;
}

void apply_cpu_threads(int64_t threads) {
  train::check_flag("--cpu-threads", threads, 0, kMaxCpuThreads,
                    "0 = ATTN_NUM_THREADS, or else every core");
  if (threads > 0) kernels::cpu::set_num_threads(static_cast<int>(threads));
}

}  // namespace attn::cli
