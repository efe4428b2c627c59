// The course names code, and the code must still be there: every path and
// every function a chapter (docs/*.md, README.md) names in `backticks` exists.
// Rename a function or move a file without updating the chapters and this
// test names the chapter, the line and the name that drifted.
//
// What counts as naming code, in inline backticks outside ``` blocks:
//   a path   `nn/transformer.h`, `examples/09_transformer.cpp:95`: starts with
//            one of the project's folders; it must exist (a `:suffix` and text
//            after a space are dropped). Placeholders with < or * are skipped.
//   a call   `to_string()`, `attn::matmul(a, b)`, `x.transpose(0, 1)`: the
//            last name must appear in the source followed by `(`.
//   a name   `nn::Translator`, `Node::apply`: every part must appear in the
//            source as a word.
// Not checked: names of 1-2 characters (`H(q)`), other libraries' names
// (`std::`, `torch.`, `F.`, `np.`), and exercise names a learner is asked to
// write, which start with `my_`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(ATTN_TEST_DATA_DIR) / "..";

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every identifier in the project's code, and those written just before a '('.
struct SourceIndex {
  std::set<std::string> words;
  std::set<std::string> called;

  void add(const std::string& text) {
    size_t i = 0;
    while (i < text.size()) {
      unsigned char c = text[i];
      if (std::isalpha(c) || c == '_') {
        size_t start = i;
        while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
        std::string word = text.substr(start, i - start);
        size_t j = i;
        while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
        if (j < text.size() && text[j] == '(') called.insert(word);
        words.insert(std::move(word));
      } else {
        ++i;
      }
    }
  }
};

SourceIndex index_sources() {
  SourceIndex index;
  for (const char* dir : {"tensor", "autograd", "nn", "data", "train", "kernels", "tests",
                          "examples", "bench", "scripts"}) {
    for (const auto& entry : fs::recursive_directory_iterator(kRoot / dir)) {
      if (!entry.is_regular_file()) continue;
      // This test's own sample of drifted names must not count as source.
      if (entry.path().parent_path().filename() == "docs") continue;
      std::string ext = entry.path().extension().string();
      if (ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".py" || ext == ".sh" ||
          ext == ".cmake" || ext.empty()) {
        index.add(read(entry.path()));
      }
    }
  }
  index.add(read(kRoot / "attn.h"));
  index.add(read(kRoot / "CMakeLists.txt"));
  return index;
}

struct Finding {
  int line;
  std::string token, why;
};

// The problems in one markdown text: inline code spans outside fenced blocks.
std::vector<Finding> check_markdown(const std::string& text, const SourceIndex& index) {
  static const std::vector<std::string> kFolders = {
      "tensor/", "autograd/", "nn/", "data/", "train/", "kernels/", "tests/",
      "docs/", "examples/", "bench/", "scripts/", ".ci/"};
  static const std::regex kCode(R"(`([^`]+)`)");
  // (qualifiers)(name)(optional argument list): attn::nn::f, x.f(1), Node::apply
  static const std::regex kNamed(R"(((?:[A-Za-z_]\w*(?:::|\.|->))*)([A-Za-z_~]\w*)(\(.*\))?)");
  static const std::regex kQualifier(R"(([A-Za-z_]\w*)::)");
  std::vector<Finding> findings;
  std::istringstream lines(text);
  std::string line;
  bool fenced = false;
  for (int number = 1; std::getline(lines, line); ++number) {
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line.compare(first, 3, "```") == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    for (std::sregex_iterator it(line.begin(), line.end(), kCode), end; it != end; ++it) {
      std::string token = (*it)[1].str();
      bool is_path = false;
      for (const std::string& folder : kFolders) is_path = is_path || token.rfind(folder, 0) == 0;
      if (is_path) {
        std::string path = token.substr(0, token.find_first_of(": "));
        if (path.find_first_of("<*") != std::string::npos) continue;
        if (!fs::exists(kRoot / path)) findings.push_back({number, token, "no such file or folder"});
        continue;
      }
      std::smatch match;
      if (!std::regex_match(token, match, kNamed)) continue;
      std::string qualifiers = match[1].str(), name = match[2].str();
      bool is_call = match[3].matched;
      if (qualifiers.empty() && !is_call) continue;  // a plain word: not a claim about code
      for (const char* foreign : {"std::", "torch.", "F.", "np.", "math."}) {
        if (token.rfind(foreign, 0) == 0) name.clear();
      }
      if (name.size() < 3 || name.rfind("my_", 0) == 0) continue;
      if (is_call && index.called.count(name) == 0) {
        findings.push_back({number, token, "no function '" + name + "(' in the source"});
      } else if (!is_call && index.words.count(name) == 0) {
        findings.push_back({number, token, "no name '" + name + "' in the source"});
      }
      for (std::sregex_iterator q(qualifiers.begin(), qualifiers.end(), kQualifier), qend; q != qend; ++q) {
        std::string part = (*q)[1].str();
        if (part.size() >= 3 && index.words.count(part) == 0) {
          findings.push_back({number, token, "no name '" + part + "' in the source"});
        }
      }
    }
  }
  return findings;
}

std::vector<fs::path> chapters() {
  std::vector<fs::path> files = {kRoot / "README.md"};
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    if (entry.path().extension() == ".md") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(DocsDrift, EveryPathAndFunctionAChapterNamesExists) {
  SourceIndex index = index_sources();
  int checked_files = 0;
  for (const fs::path& file : chapters()) {
    ++checked_files;
    for (const Finding& f : check_markdown(read(file), index)) {
      ADD_FAILURE() << fs::relative(file, kRoot).string() << ":" << f.line << ": `" << f.token
                    << "`: " << f.why;
    }
  }
  EXPECT_GE(checked_files, 15);  // README.md and the chapters: the glob found them
}

// Every chapter NN-*.md links its own program examples/NN_*.cpp, and that
// program is an attn_example() of examples/CMakeLists.txt, so ctest builds
// and runs it. Chapter 00, the tour, lives in docs/README.md.
TEST(DocsDrift, EveryChapterHasItsOwnExampleThatCtestRuns) {
  const std::string registry = read(kRoot / "examples" / "CMakeLists.txt");
  std::vector<std::pair<std::string, fs::path>> chapters = {{"00", kRoot / "docs" / "README.md"}};
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[0])) &&
        std::isdigit(static_cast<unsigned char>(name[1])) && name[2] == '-') {
      chapters.push_back({name.substr(0, 2), entry.path()});
    }
  }
  EXPECT_GE(chapters.size(), 15u);  // 00 to 14
  for (const auto& [number, file] : chapters) {
    const std::string text = read(file);
    const std::regex own("examples/(" + number + R"(_\w+\.cpp))");
    std::smatch match;
    if (!std::regex_search(text, match, own)) {
      ADD_FAILURE() << fs::relative(file, kRoot).string() << " links no examples/" << number
                    << "_*.cpp of its own";
      continue;
    }
    const std::string source = match[1].str();
    EXPECT_TRUE(fs::exists(kRoot / "examples" / source)) << "examples/" << source;
    EXPECT_NE(registry.find(" " + source + ")"), std::string::npos)
        << "examples/" << source << " (linked by " << fs::relative(file, kRoot).string()
        << ") is not an attn_example() in examples/CMakeLists.txt, so ctest does not run it";
  }
}

// The checker itself: names that do not exist are found, names that do pass.
TEST(DocsDrift, TheCheckCatchesDrift) {
  SourceIndex index = index_sources();
  std::string doc =
      "Real: `nn/transformer.h`, `examples/09_transformer.cpp:95`, `attn::matmul(a, b)`,\n"
      "`Node::apply`, `x.transpose(0, 1)`, `std::nothing_here()`, `my_softmax(x)`.\n"
      "```\n`nn/inside_a_fence.cpp` is not checked\n```\n"
      "Drifted: `nn/renamed.cpp`, `attn::no_such_function(x)`, `NoSuchClass::apply`.\n";
  std::vector<Finding> findings = check_markdown(doc, index);
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].token, "nn/renamed.cpp");
  EXPECT_EQ(findings[1].token, "attn::no_such_function(x)");
  EXPECT_EQ(findings[2].token, "NoSuchClass::apply");
  EXPECT_EQ(findings[2].line, 6);
}

}  // namespace
