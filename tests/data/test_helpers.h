// Helpers shared by the data/ tests: a temporary directory for broken files,
// the message of an expected attn::Error, small task options.
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "data/tasks.h"
#include "kernels/error.h"

namespace attn_data_test {

namespace fs = std::filesystem;

// A fresh directory for one test's files, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("attn_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  // Writes `bytes` exactly (binary) to NAME in the directory; returns its path.
  std::string write(const std::string& name, const std::string& bytes) const {
    std::string file = (path_ / name).string();
    std::ofstream out(file, std::ios::binary);
    out << bytes;
    return file;
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The message of the attn::Error that `body` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const attn::Error& error) {
    return error.what();
  }
  return "(no error)";
}

inline bool contains(const std::string& text, const std::string& piece) {
  return text.find(piece) != std::string::npos;
}

inline std::vector<std::string> split_spaces(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

// Splits small enough to generate in milliseconds.
inline attn::data::TaskOptions small_task(uint64_t seed) {
  attn::data::TaskOptions options;
  options.train_size = 2000;
  options.valid_size = 200;
  options.test_size = 300;
  options.seed = seed;
  return options;
}

}  // namespace attn_data_test
