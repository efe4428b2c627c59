// Grouping command-line tokens into options (train/cli/arguments.h).
#include "train/cli/arguments.h"

#include <cstdlib>
#include <map>

namespace attn::cli {
namespace {

// String flags whose value is a comma-separated list. Flags stored as a
// std::vector (--optimizer-params, --config) need no entry: cxxopts says so.
const char* const kListFlags[] = {"train-sets", "valid-sets", "test-sets", "valid-metrics"};

// What split_arguments needs to know of each option.
struct OptionShape {
  std::string name;     // the long name
  bool takes_value;     // false for switches (and options with an implicit value)
  bool list;            // takes_list
};

// Every option of `options`, by long name and by short letter.
struct OptionTable {
  std::map<std::string, OptionShape> by_name;
  std::map<std::string, std::string> long_of_short;  // "m" -> "model"

  explicit OptionTable(const cxxopts::Options& options) {
    for (const std::string& group : options.groups()) {
      for (const cxxopts::HelpOptionDetails& option : options.group_help(group).options) {
        if (option.l.empty()) continue;
        const std::string& name = option.l.front();
        // A switch, or an option with an implicit value, does not take the next token.
        const bool takes_value = !option.is_boolean && !option.has_implicit;
        bool list = option.is_container;
        for (const char* flag : kListFlags) list = list || name == flag;
        by_name[name] = {name, takes_value, list};
        if (!option.s.empty()) long_of_short[option.s] = name;
      }
    }
  }

  const OptionShape* find(const std::string& name) const {
    auto found = by_name.find(name);
    return found == by_name.end() ? nullptr : &found->second;
  }
};

// "-1", "-0.5", "-1e-9": a value, not an option.
bool is_number(const std::string& token) {
  char* end = nullptr;
  std::strtod(token.c_str(), &end);
  return !token.empty() && end != nullptr && *end == '\0';
}

bool looks_like_option(const std::string& token) {
  return token.size() > 1 && token[0] == '-' && !is_number(token);
}

}  // namespace

bool takes_list(const cxxopts::Options& options, const std::string& name) {
  const OptionTable table(options);  // named: find() points into it
  const OptionShape* shape = table.find(name);
  return shape != nullptr && shape->list;
}

std::vector<Argument> split_arguments(const cxxopts::Options& options,
                                      const std::vector<std::string>& tokens) {
  const OptionTable table(options);
  std::vector<Argument> arguments;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (token == "--") {  // the rest are not options: left for cxxopts to name
      for (; i < tokens.size(); ++i) arguments.push_back({"", {tokens[i]}});
      break;
    }
    // The option's name, and whether its value is inside the token
    // ("--name=value", "-mPATH").
    std::string name;
    bool value_inside = false;
    if (token.size() > 2 && token.compare(0, 2, "--") == 0) {
      const size_t equals = token.find('=');
      name = token.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
      value_inside = equals != std::string::npos;
    } else if (looks_like_option(token)) {
      auto found = table.long_of_short.find(token.substr(1, 1));
      if (found != table.long_of_short.end()) name = found->second;
      value_inside = token.size() > 2;
    }
    const OptionShape* shape = table.find(name);
    if (shape == nullptr) {  // a stray argument or an unknown option: cxxopts names it
      arguments.push_back({"", {token}});
      continue;
    }
    Argument argument{shape->name, {token}};
    if (!value_inside && shape->takes_value) {
      // The next token is the value, whatever it looks like (as cxxopts reads
      // it); a list takes the tokens after it too, up to the next option.
      std::vector<std::string> values;
      if (i + 1 < tokens.size()) values.push_back(tokens[++i]);
      while (shape->list && i + 1 < tokens.size() && !looks_like_option(tokens[i + 1]) &&
             tokens[i + 1] != "--") {
        values.push_back(tokens[++i]);
      }
      if (values.size() <= 1) {
        argument.tokens.insert(argument.tokens.end(), values.begin(), values.end());
      } else {
        std::string joined;
        for (const std::string& value : values) joined += (joined.empty() ? "" : ",") + value;
        argument.tokens = {"--" + shape->name + "=" + joined};
      }
    }
    arguments.push_back(std::move(argument));
  }
  return arguments;
}

std::vector<std::string> flatten(const std::vector<Argument>& arguments) {
  std::vector<std::string> tokens;
  for (const Argument& argument : arguments) {
    tokens.insert(tokens.end(), argument.tokens.begin(), argument.tokens.end());
  }
  return tokens;
}

}  // namespace attn::cli
