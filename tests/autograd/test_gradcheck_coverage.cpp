// Gradcheck coverage that cannot drift: every backward node the engine can
// record has a gradcheck case, or an entry in gradcheck_exclusions() saying why
// not. No hand-kept list of ops takes part:
//
//   recorded: the library's sources are scanned for every call of
//             autograd::record(NAME, ...), the one door through which a Node
//             is made (autograd/engine.cpp), and the string literals of NAME
//             are collected with their file:line (`log ? "LogSoftmaxBackward"
//             : "SoftmaxBackward"` gives both). A name that is not a literal,
//             or a Node made anywhere but engine.cpp, fails the scan: it
//             could not be enumerated.
//   covered:  every case of autograd/gradcheck_cases.cpp is run once and the
//             graph it built is walked from the output (graph_node_names):
//             coverage comes from the nodes actually recorded, never from a
//             case's title.
//
// Each recorded name must be covered or excluded; each covered name must have
// been found by the scan (else the scan missed a recording site); each
// exclusion must name a recorded node that no case covers (else it is stale).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "autograd/gradcheck_cases.h"

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(ATTN_TEST_DATA_DIR) / "..";

// The library's folders (design.md's floors), where a node could be recorded.
const char* const kLibraryFolders[] = {"kernels", "tensor", "autograd", "nn", "data", "train"};

bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// `text` with every comment replaced by spaces (newlines kept, so offsets and
// line numbers stay those of the file); string and character literals kept.
std::string blank_comments(const std::string& text) {
  std::string out = text;
  size_t i = 0;
  while (i < out.size()) {
    if (out.compare(i, 2, "//") == 0) {
      while (i < out.size() && out[i] != '\n') out[i++] = ' ';
    } else if (out.compare(i, 2, "/*") == 0) {
      size_t end = out.find("*/", i + 2);
      end = end == std::string::npos ? out.size() : end + 2;
      for (; i < end; ++i) {
        if (out[i] != '\n') out[i] = ' ';
      }
    } else if (out[i] == 'R' && i + 1 < out.size() && out[i + 1] == '"' &&
               (i == 0 || !is_ident(out[i - 1]))) {
      // A raw string R"delim( ... )delim": skip it whole.
      size_t open = out.find('(', i + 2);
      if (open == std::string::npos) break;
      std::string close = ")" + out.substr(i + 2, open - i - 2) + "\"";
      size_t end = out.find(close, open);
      i = end == std::string::npos ? out.size() : end + close.size();
    } else if (out[i] == '"' || out[i] == '\'') {
      char quote = out[i++];
      while (i < out.size() && out[i] != quote) i += out[i] == '\\' ? 2 : 1;
      ++i;
    } else {
      ++i;
    }
  }
  return out;
}

int line_of(const std::string& text, size_t offset) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

struct Site {
  std::string file;  // relative to the project root
  int line;
};

std::string site_str(const std::vector<Site>& sites) {
  std::string out;
  for (const Site& s : sites) out += (out.empty() ? "" : ", ") + s.file + ":" + std::to_string(s.line);
  return out;
}

struct Scan {
  std::map<std::string, std::vector<Site>> names;  // node name -> where it is recorded
  std::vector<std::string> problems;               // what made the scan unable to enumerate
  int files = 0;
  int calls = 0;
};

// Adds the node names recorded in one file's text.
void scan_text(const std::string& source, const std::string& relative, Scan& scan) {
  const std::string text = blank_comments(source);
  ++scan.files;

  // A Node made anywhere but the engine's record() would escape the scan.
  static const std::regex make_node(
      R"((make_shared|make_unique)\s*<\s*(attn\s*::\s*)?(autograd\s*::\s*)?Node\s*>|\bnew\s+(autograd\s*::\s*)?Node\b)");
  if (relative != "autograd/engine.cpp") {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), make_node);
         it != std::sregex_iterator(); ++it) {
      scan.problems.push_back(relative + ":" + std::to_string(line_of(text, it->position())) +
                              ": makes a Node directly; record nodes through autograd::record()"
                              " so that the gradcheck coverage test can enumerate them");
    }
  }

  for (size_t at = text.find("record"); at != std::string::npos; at = text.find("record", at + 6)) {
    if ((at > 0 && is_ident(text[at - 1])) || (at + 6 < text.size() && is_ident(text[at + 6]))) continue;
    size_t paren = at + 6;
    while (paren < text.size() && std::isspace(static_cast<unsigned char>(text[paren]))) ++paren;
    if (paren >= text.size() || text[paren] != '(') continue;
    // `void record(const char* name, ...)`: the declaration, not a call.
    size_t before = at;
    while (before > 0 && std::isspace(static_cast<unsigned char>(text[before - 1]))) --before;
    if (before >= 4 && text.compare(before - 4, 4, "void") == 0) continue;
    ++scan.calls;
    // The first argument: up to the first comma outside brackets and literals.
    std::vector<std::pair<std::string, size_t>> literals;
    int depth = 0;
    size_t i = paren + 1;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"' || c == '\'') {
        size_t start = i++;
        while (i < text.size() && text[i] != c) i += text[i] == '\\' ? 2 : 1;
        if (c == '"') literals.emplace_back(text.substr(start + 1, i - start - 1), start);
      } else if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']' || c == '}') {
        if (depth-- == 0) break;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    std::string where = relative + ":" + std::to_string(line_of(text, at));
    if (literals.empty()) {
      scan.problems.push_back(where + ": record(" + text.substr(paren + 1, i - paren - 1) +
                              ", ...) names its node with no string literal; write the name"
                              " as a literal so that the gradcheck coverage test can see it");
    }
    for (const auto& [name, offset] : literals) {
      scan.names[name].push_back({relative, line_of(text, offset)});
    }
  }
}

Scan scan_sources() {
  Scan scan;
  for (const char* folder : kLibraryFolders) {
    fs::path dir = kRoot / folder;
    if (!fs::is_directory(dir)) {
      scan.problems.push_back(std::string("no folder ") + dir.string());
      continue;
    }
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() ||
          (ext != ".h" && ext != ".hpp" && ext != ".cpp" && ext != ".cc" && ext != ".cu" &&
           ext != ".cuh")) {
        continue;
      }
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream buffer;
      buffer << in.rdbuf();
      scan_text(buffer.str(), fs::relative(entry.path(), kRoot).generic_string(), scan);
    }
  }
  return scan;
}

const Scan& sources() {
  static const Scan scan = scan_sources();
  return scan;
}

// Node name -> the cases whose graphs contain it ("matmul (3,4) @ (4,5)").
std::map<std::string, std::vector<std::string>> covered_nodes() {
  std::map<std::string, std::vector<std::string>> covered;
  const std::vector<attn::GradcheckCase>& cases = attn::gradcheck_cases();
  for (size_t index = 0; index < cases.size(); ++index) {
    attn::Generator generator(1000 + index);
    for (const std::string& name : attn::case_node_names(cases[index], generator)) {
      covered[name].push_back(cases[index].op + " " + cases[index].shapes);
    }
  }
  return covered;
}

TEST(GradcheckCoverage, SourceScanFindsTheRecordedNodes) {
  const Scan& scan = sources();
  for (const std::string& problem : scan.problems) ADD_FAILURE() << problem;
  // The scan must not silently find nothing (a moved folder, a renamed helper).
  EXPECT_GE(scan.files, 50) << "source files scanned under " << kRoot;
  EXPECT_GE(scan.calls, 40) << "record(...) calls found";
  EXPECT_GE(scan.names.size(), 40u) << "node names found";
  for (const char* known : {"MatmulBackward", "SoftmaxBackward", "LogSoftmaxBackward",
                            "CloneBackward", "ToDtypeBackward", "ToDeviceBackward",
                            "UnbindStepBackward"}) {
    EXPECT_TRUE(scan.names.count(known)) << "the scan did not find " << known;
  }
  for (const auto& [name, sites] : scan.names) {
    EXPECT_TRUE(name.size() > 8 && name.compare(name.size() - 8, 8, "Backward") == 0)
        << "node \"" << name << "\" (" << site_str(sites) << ") does not end in Backward";
  }
}

// The scanner on a made-up file: what it must find, skip, and refuse.
TEST(GradcheckCoverage, ScannerFindsLiteralsAndRefusesWhatItCannotEnumerate) {
  Scan scan;
  scan_text("void record(const char* name, Tensor& output);\n"            // a declaration
            "// record(\"InACommentBackward\", out, {x}, f);\n"          // a comment
            "/* record(\"InABlockBackward\", ...) */ int record_count;\n" // not a call
            "  autograd::record(log ? \"LogFooBackward\"\n"
            "                       : \"FooBackward\", out, {x}, [](const Tensor& g) {\n"
            "    return std::vector<Tensor>{g}; });\n"
            "  record(name, out, {x}, f);\n"                                   // not a literal
            "  auto n = std::make_shared<autograd::Node>(\"BarBackward\");\n",
            "autograd/ops_made_up.cpp", scan);
  EXPECT_EQ(scan.calls, 2);
  ASSERT_EQ(scan.names.size(), 2u);
  EXPECT_EQ(site_str(scan.names["LogFooBackward"]), "autograd/ops_made_up.cpp:4");
  EXPECT_EQ(site_str(scan.names["FooBackward"]), "autograd/ops_made_up.cpp:5");
  ASSERT_EQ(scan.problems.size(), 2u);
  EXPECT_NE(scan.problems[0].find("ops_made_up.cpp:8: makes a Node directly"), std::string::npos)
      << scan.problems[0];
  EXPECT_NE(scan.problems[1].find("ops_made_up.cpp:7: record(name, ...) names its node with no"
                                  " string literal"), std::string::npos)
      << scan.problems[1];
}

TEST(GradcheckCoverage, EveryRecordedNodeHasACaseOrAReason) {
  const Scan& scan = sources();
  ASSERT_FALSE(scan.names.empty());
  std::map<std::string, std::vector<std::string>> covered = covered_nodes();
  std::map<std::string, std::string> excluded;
  for (const attn::GradcheckExclusion& e : attn::gradcheck_exclusions()) excluded[e.node] = e.reason;

  int missing = 0;
  for (const auto& [name, sites] : scan.names) {
    if (covered.count(name) || excluded.count(name)) continue;
    ++missing;
    ADD_FAILURE() << "no gradcheck case covers " << name << " (recorded at " << site_str(sites)
                  << "): no case's graph contains it. Add a case to "
                     "autograd/gradcheck_cases.cpp, or an entry with the reason to "
                     "gradcheck_exclusions()";
  }
  for (const auto& [name, cases] : covered) {
    EXPECT_TRUE(scan.names.count(name))
        << "the graph of case '" << cases.front() << "' contains " << name
        << ", which the source scan did not find: the scan misses a recording site";
  }
  for (const auto& [name, reason] : excluded) {
    EXPECT_TRUE(scan.names.count(name)) << "stale exclusion: " << name << " is recorded nowhere";
    EXPECT_FALSE(covered.count(name)) << "stale exclusion: " << name << " is covered by case '"
                                      << (covered.count(name) ? covered[name].front() : "") << "'";
    EXPECT_FALSE(reason.empty()) << "the exclusion of " << name << " gives no reason";
  }

  int n_covered = 0;
  for (const auto& [name, sites] : scan.names) n_covered += covered.count(name) ? 1 : 0;
  std::cout << "[coverage] " << scan.names.size() << " node names recorded in " << scan.calls
            << " record() calls over " << scan.files << " files; " << n_covered
            << " covered by " << attn::gradcheck_cases().size() << " cases, " << excluded.size()
            << " excluded, " << missing << " missing\n";
  for (const auto& [name, reason] : excluded) {
    std::cout << "[coverage] excluded " << name << ": " << reason << "\n";
  }
}

TEST(GradcheckCoverage, EveryCaseBuildsAGraph) {
  const std::vector<attn::GradcheckCase>& cases = attn::gradcheck_cases();
  for (size_t index = 0; index < cases.size(); ++index) {
    attn::Generator generator(1000 + index);
    EXPECT_FALSE(attn::case_node_names(cases[index], generator).empty())
        << "case " << cases[index].op << " " << cases[index].shapes << " records no node";
  }
}

// The walk sees every node, once, along shared paths too: y = x*x + exp(x).sum().
TEST(GradcheckCoverage, GraphWalkFindsEveryNode) {
  attn::Tensor x = attn::randn({2, 3}, attn::kFloat64).requires_grad_();
  attn::Tensor y = (x * x).sum() + attn::exp(x).sum();
  EXPECT_EQ(attn::graph_node_names(y),
            (std::set<std::string>{"AddBackward", "MulBackward", "SumBackward", "ExpBackward"}));
  EXPECT_TRUE(attn::graph_node_names(x).empty());
}

// ToDtypeBackward's rule, exactly: the gradient comes back in the input's dtype
// with the same values (the "to_dtype" gradcheck case checks it numerically).
TEST(GradcheckCoverage, ToDtypeBackwardReturnsTheSourceDtype) {
  attn::Tensor x64 = attn::from_vector(std::vector<double>{1.5, -2.0, 0.25}, {3}).requires_grad_();
  attn::Tensor y32 = x64.to(attn::kFloat32);
  EXPECT_EQ(y32.grad_fn_name(), "ToDtypeBackward");
  (y32 * 3.0).sum().backward();
  ASSERT_EQ(x64.grad().dtype(), attn::kFloat64);
  EXPECT_EQ(x64.grad().to_vector<double>(), (std::vector<double>{3.0, 3.0, 3.0}));

  attn::Tensor x32 = attn::from_vector(std::vector<float>{1.5f, -2.0f}, {2}).requires_grad_();
  attn::Tensor y64 = x32.to(attn::kFloat64);
  EXPECT_EQ(y64.grad_fn_name(), "ToDtypeBackward");
  (y64 * 0.5).sum().backward();
  ASSERT_EQ(x32.grad().dtype(), attn::kFloat32);
  EXPECT_EQ(x32.grad().to_vector<float>(), (std::vector<float>{0.5f, 0.5f}));
}

}  // namespace
