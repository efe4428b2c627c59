// Config files in YAML (train/cli/config_file.h), with yaml-cpp: its nodes
// carry a Mark (line and column) that names where each key was written.
#include "train/cli/config_file.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>

#include <yaml-cpp/yaml.h>

#include "data/corpus.h"
#include "kernels/error.h"
#include "train/cli/arguments.h"
#include "train/cli/cli.h"

namespace attn::cli {
namespace {

// Options a config file cannot set: they say which files to read, or end the run.
const char* const kNotInFiles[] = {"config", "dump-config", "help"};

// Every option of `options`, group by group (in the order of `groups`, else
// cxxopts's), with its group.
struct KnownOption {
  std::string group;
  cxxopts::HelpOptionDetails details;
};
std::vector<KnownOption> known_options(const cxxopts::Options& options,
                                       const std::vector<std::string>& groups = {}) {
  std::vector<KnownOption> known;
  for (const std::string& group : groups.empty() ? options.groups() : groups) {
    for (const cxxopts::HelpOptionDetails& option : options.group_help(group).options) {
      if (!option.l.empty()) known.push_back({group, option});
    }
  }
  return known;
}

const cxxopts::HelpOptionDetails* find_option(const std::vector<KnownOption>& known,
                                              const std::string& name) {
  for (const KnownOption& option : known) {
    if (option.details.l.front() == name) return &option.details;
  }
  return nullptr;
}

std::string place(const std::string& path, const YAML::Mark& mark) {
  return path + ":" + std::to_string(mark.line + 1);
}

// The text of one key's value: a scalar as written, a sequence of scalars
// joined with commas (only for a flag that takes a list). `where` and `key`
// name it in errors.
std::string value_text(const YAML::Node& value, bool list, const std::string& where,
                       const std::string& key) {
  const std::string named = where + ": key '" + key + "'";
  ATTN_CHECK(!value.IsNull(), named, " has no value (write '' for an empty one)");
  if (value.IsScalar()) return value.Scalar();
  ATTN_CHECK(value.IsSequence(), named, ": expected a value, got a map (keys are flags "
             "of the command line, with no nesting)");
  ATTN_CHECK(list, named, ": expected one value, got a list (--", key, " takes one value)");
  std::string text;
  for (size_t i = 0; i < value.size(); ++i) {
    ATTN_CHECK(value[i].IsScalar(), named, ": element ", i + 1, " of the list is not a plain value");
    const std::string element = value[i].Scalar();
    // cxxopts splits the joined text on commas: one element must not hold one.
    ATTN_CHECK(element.find(',') == std::string::npos, named, ": element ", i + 1, " '", element,
               "' holds a comma, which would split it in two");
    text += (i == 0 ? "" : ",") + element;
  }
  return text;
}

// One file's settings, in the file's order.
std::vector<ConfigSetting> read_config_file(const std::string& path,
                                            const std::vector<KnownOption>& known,
                                            const cxxopts::Options& options) {
  data::check_input_file(path, "--config");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& error) {
    throw Error("--config " + place(path, error.mark) + ": not valid YAML: " + error.msg);
  } catch (const YAML::Exception& error) {
    throw Error("--config " + path + ": cannot read it: " + error.what());
  }
  std::vector<ConfigSetting> settings;
  if (root.IsNull()) return settings;  // an empty file sets nothing
  ATTN_CHECK(root.IsMap(), "--config ", place(path, root.Mark()), ": expected a map of flag "
             "names to values (such as 'dim-emb: 64'), got ",
             root.IsSequence() ? "a list" : "a single value");
  std::map<std::string, std::string> seen;  // key -> where, for keys given twice
  for (const auto& entry : root) {
    const std::string where = place(path, entry.first.Mark());
    ATTN_CHECK(entry.first.IsScalar(), where, ": expected a flag name as the key");
    const std::string key = entry.first.Scalar();
    const cxxopts::HelpOptionDetails* option = find_option(known, key);
    ATTN_CHECK(option != nullptr, where, ": unknown key '", key, "': not a flag of ",
               options.program(), " (keys are the long flag names without dashes; see ",
               options.program(), " --help)");
    for (const char* refused : kNotInFiles) {
      ATTN_CHECK(key != refused, where, ": key '", key, "' cannot be set in a config file (give ",
                 "it on the command line)");
    }
    ATTN_CHECK(seen.count(key) == 0, where, ": key '", key, "' is given twice (first at ",
               seen[key], ")");
    seen[key] = where;
    settings.push_back({key, value_text(entry.second, takes_list(options, key), where, key), where});
  }
  return settings;
}

// The value of an -c/--config argument as typed: "--config=a", {"--config", "a"}, "-ca", {"-c", "a"}.
std::string argument_value(const Argument& argument) {
  if (argument.tokens.size() >= 2) return argument.tokens[1];
  const std::string& token = argument.tokens.front();
  if (token.compare(0, 2, "--") == 0) {
    const size_t equals = token.find('=');
    return equals == std::string::npos ? "" : token.substr(equals + 1);
  }
  return token.size() > 2 ? token.substr(2) : "";
}

}  // namespace

std::vector<ConfigSetting> read_config_files(const std::vector<std::string>& paths,
                                             const cxxopts::Options& options) {
  const std::vector<KnownOption> known = known_options(options);
  std::vector<ConfigSetting> merged;
  for (const std::string& path : paths) {
    for (ConfigSetting& setting : read_config_file(path, known, options)) {
      bool replaced = false;
      for (ConfigSetting& earlier : merged) {
        if (earlier.key == setting.key) {
          earlier = setting;  // the later file wins, and is the place named
          replaced = true;
        }
      }
      if (!replaced) merged.push_back(std::move(setting));
    }
  }
  return merged;
}

MergedCommandLine merge_config_files(const cxxopts::Options& options,
                                     const std::vector<std::string>& tokens) {
  const std::vector<Argument> arguments = split_arguments(options, tokens);
  std::vector<std::string> paths;
  std::set<std::string> given;  // the long names the command line gives
  bool help = false;
  for (const Argument& argument : arguments) {
    given.insert(argument.name);
    help = help || argument.name == "help";
    if (argument.name != "config") continue;
    const std::string value = argument_value(argument) + ",";
    for (size_t begin = 0, comma; (comma = value.find(',', begin)) != std::string::npos; begin = comma + 1) {
      ATTN_CHECK(comma > begin, "--config: expected one or more YAML files, got '",
                 argument_value(argument), "'");
      paths.push_back(value.substr(begin, comma - begin));
    }
  }
  MergedCommandLine merged;
  if (!help) {
    for (const ConfigSetting& setting : read_config_files(paths, options)) {
      if (given.count(setting.key)) continue;  // the command line wins
      merged.tokens.push_back("--" + setting.key + "=" + setting.value);
      merged.origins[setting.key] = setting.where;
    }
  }
  for (const std::string& token : flatten(arguments)) merged.tokens.push_back(token);
  return merged;
}

void add_config_options(cxxopts::Options& options) {
  options.add_options("Config files")
      ("c,config", "read settings from YAML files: keys are these flags' long names (beam-size: 4), "
       "lists are YAML lists; several files merge in order, and flags given here win over them",
       cxxopts::value<std::vector<std::string>>())
      ("dump-config", "print the settings in effect as YAML (loadable with --config) and exit");
}

int parse_with_config_files(cxxopts::Options& options, int argc, char** argv, std::set<std::string>* given) {
  const MergedCommandLine line = merge_config_files(options, {argv + 1, argv + argc});
  cxxopts::ParseResult parsed;
  if (int exit_code = parse_command_line(options, line.tokens, {}, given, &parsed, line.origins);
      exit_code >= 0) {
    return exit_code;
  }
  if (parsed.count("dump-config")) {
    std::cout << dump_config(options, parsed);
    return 0;
  }
  return -1;
}

std::string number_text(double value) {
  char text[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {  // 4000, not 4e+03
    std::snprintf(text, sizeof text, "%.0f", value);
    return text;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

std::string dump_config(const cxxopts::Options& options, const cxxopts::ParseResult& parsed,
                        const std::vector<std::string>& groups,
                        const std::map<std::string, std::string>& overrides,
                        const std::set<std::string>& leave_out) {
  // The values given, by key: the last one for a single value, all of them
  // (joined) for a list given more than once.
  std::map<std::string, std::string> given;
  for (const cxxopts::KeyValue& option : parsed.arguments()) {
    std::string& text = given[option.key()];
    text = takes_list(options, option.key()) && !text.empty() ? text + "," + option.value()
                                                              : option.value();
  }
  YAML::Emitter out;
  out << YAML::Comment(options.program() + ": the settings in effect; " + options.program() +
                       " --config FILE reads them back");
  out << YAML::BeginMap;
  std::string group;
  for (const KnownOption& option : known_options(options, groups)) {
    const std::string& key = option.details.l.front();
    bool skip = false;
    for (const char* refused : kNotInFiles) skip = skip || key == refused;
    if (skip || leave_out.count(key)) continue;
    std::string value;
    if (overrides.count(key)) {
      value = overrides.at(key);
    } else if (given.count(key)) {
      value = given.at(key);
    } else if (option.details.has_default) {
      value = option.details.default_value;
    } else if (option.details.is_boolean) {
      value = "false";  // a switch not given
    } else {
      continue;  // no value: not given, no default
    }
    if (option.group != group) {
      group = option.group;
      out << YAML::Newline << YAML::Comment(group.empty() ? "Options" : group);
    }
    out << YAML::Key << key << YAML::Value;
    if (!takes_list(options, key)) {
      out << value;
      continue;
    }
    out << YAML::Flow << YAML::BeginSeq;
    const std::string text = value + ",";
    for (size_t begin = 0, comma; !value.empty() && (comma = text.find(',', begin)) != std::string::npos;
         begin = comma + 1) {
      out << text.substr(begin, comma - begin);
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  ATTN_CHECK(out.good(), "--dump-config: cannot write the settings as YAML: ", out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace attn::cli
