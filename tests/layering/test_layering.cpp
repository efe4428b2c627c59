// The floors of the house only point down: every `#include "folder/..."` in
// the library's folders names a folder its floor may see.
//
// kLayers below is the one place where the allowed arrows are written down;
// docs/README.md ("The floors") draws the same picture. A new include that
// points up fails this test with the file, the line and the arrow:
//   tensor/print.cpp:13: tensor may not include autograd/node.h
//   (tensor sees kernels, tensor)
// The fix is never to add an arrow here without changing the picture: move
// the piece down (as Device, DType, Error and Generator moved to kernels/, and
// GradMode to tensor/), or declare it below and define it above (as
// Tensor::grad_fn_name() is declared in tensor/tensor.h and defined in
// autograd/graph_dump.cpp).
//
// Only includes in quotes are read (system headers come in <...>), in every
// .h, .cpp, .cu and .cuh file of the library folders, comments skipped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(ATTN_TEST_DATA_DIR) / "..";

// Each library folder and the folders its files may include, its own first.
// kernels < tensor < autograd < nn; data beside nn (it needs tensors, never
// modules or the graph); train on top.
const std::map<std::string, std::set<std::string>> kLayers = {
    {"kernels", {"kernels"}},
    {"tensor", {"tensor", "kernels"}},
    {"autograd", {"autograd", "tensor", "kernels"}},
    {"nn", {"nn", "autograd", "tensor", "kernels"}},
    {"data", {"data", "tensor", "kernels"}},
    {"train", {"train", "nn", "data", "autograd", "tensor", "kernels"}},
};

struct Violation {
  std::string file;  // relative to the root, "tensor/print.cpp"
  int line;
  std::string included;
  std::string message() const {
    const std::string from = file.substr(0, file.find('/'));
    std::string allowed;
    for (const auto& folder : kLayers.at(from)) allowed += (allowed.empty() ? "" : ", ") + folder;
    return file + ":" + std::to_string(line) + ": " + from + " may not include " + included +
           " (" + from + " sees " + allowed + ")";
  }
};

bool is_source(const fs::path& path) {
  const auto ext = path.extension().string();
  return ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".cuh";
}

// The includes of one file that point outside what its folder may see.
// `relative` is the file's path from the root; its first part names the floor.
std::vector<Violation> check_file(const std::string& relative, std::istream& in) {
  const std::string from = relative.substr(0, relative.find('/'));
  const auto& allowed = kLayers.at(from);
  static const std::regex include_line(R"(^\s*#\s*include\s*"([^"/]+)/([^"]+)\")");
  std::vector<Violation> found;
  std::string text;
  bool in_block_comment = false;
  for (int number = 1; std::getline(in, text); ++number) {
    if (in_block_comment) {
      if (text.find("*/") != std::string::npos) in_block_comment = false;
      continue;
    }
    if (text.find("/*") != std::string::npos && text.find("*/") == std::string::npos &&
        text.find("#include") == std::string::npos) {
      in_block_comment = true;
      continue;
    }
    std::smatch match;
    if (!std::regex_search(text, match, include_line)) continue;
    const std::string folder = match[1];
    // Only the library's own folders are floors; "tests/...", "cblas.h" in
    // quotes and the like are someone else's business.
    if (!kLayers.count(folder)) continue;
    if (!allowed.count(folder)) {
      found.push_back({relative, number, folder + "/" + std::string(match[2])});
    }
  }
  return found;
}

std::vector<Violation> check_tree(const fs::path& root) {
  std::vector<Violation> found;
  for (const auto& [folder, allowed] : kLayers) {
    if (!fs::exists(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      if (!entry.is_regular_file() || !is_source(entry.path())) continue;
      std::ifstream in(entry.path());
      const auto relative = fs::relative(entry.path(), root).generic_string();
      for (auto& v : check_file(relative, in)) found.push_back(std::move(v));
    }
  }
  return found;
}

TEST(Layering, EveryIncludePointsDown) {
  const auto found = check_tree(kRoot);
  std::string report;
  for (const auto& v : found) report += "  " + v.message() + "\n";
  EXPECT_TRUE(found.empty()) << found.size() << " include(s) point to a higher floor:\n" << report;
}

TEST(Layering, TheTreeHasEveryFloor) {
  // A check that reads no file passes for the wrong reason.
  int files = 0;
  for (const auto& [folder, allowed] : kLayers) {
    ASSERT_TRUE(fs::is_directory(kRoot / folder)) << folder << "/ is missing under " << kRoot;
    for (const auto& entry : fs::recursive_directory_iterator(kRoot / folder)) {
      files += entry.is_regular_file() && is_source(entry.path());
    }
  }
  EXPECT_GT(files, 100);
}

TEST(Layering, SelfTestNamesFileLineAndArrow) {
  // Upward includes must be caught; downward, sideways-allowed, system and
  // commented-out ones must not.
  std::istringstream print(
      "// tensor printing\n"
      "#include <cmath>\n"
      "#include \"kernels/dtype.h\"\n"
      "#include \"autograd/node.h\"\n"
      "/*\n"
      "#include \"nn/module.h\"\n"
      "*/\n"
      "  #  include \"train/trainer.h\"\n");
  auto found = check_file("tensor/print.cpp", print);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].message(),
            "tensor/print.cpp:4: tensor may not include autograd/node.h (tensor sees kernels, tensor)");
  EXPECT_EQ(found[1].line, 8);
  EXPECT_EQ(found[1].included, "train/trainer.h");

  std::istringstream data("#include \"nn/module.h\"\n#include \"tensor/tensor.h\"\n");
  found = check_file("data/batch.cpp", data);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].included, "nn/module.h");

  std::istringstream kernels("#include \"tensor/tensor.h\"\n#include \"kernels/error.h\"\n");
  found = check_file("kernels/cpu/softmax.cpp", kernels);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].file, "kernels/cpu/softmax.cpp");

  std::istringstream train("#include \"nn/module.h\"\n#include \"data/batch.h\"\n");
  EXPECT_TRUE(check_file("train/trainer.cpp", train).empty());
}

}  // namespace
