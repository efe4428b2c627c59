#include "data/corpus.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/utf8.h"
#include "kernels/error.h"

namespace attn::data {

namespace {

// The whole file as bytes. Corpora for teaching fit in memory many times over
// (Multi30k's training side is 2 MB), and one read makes line handling simple.
std::string read_file_bytes(const std::string& path) {
  check_input_file(path);
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), path, ": cannot open (", std::strerror(errno), ")");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  ATTN_CHECK(!in.bad(), path, ": read error (", std::strerror(errno), ")");
  return bytes.str();
}

std::string location(const std::string& path, size_t line_number) {
  return path + ":" + std::to_string(line_number);
}

}  // namespace

void check_input_file(const std::string& path, const std::string& what) {
  const std::string name = (what.empty() ? "" : what + " ") + path;
  ATTN_CHECK(!path.empty(), what.empty() ? "" : what + ": ", "expected a file name, got ''");
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  ATTN_CHECK(std::filesystem::exists(status), name, ": cannot open (no such file)");
  ATTN_CHECK(!std::filesystem::is_directory(status), name, ": is a directory, not a file");
}

void check_output_file(const std::string& path, const std::string& what) {
  const std::string name = (what.empty() ? "" : what + " ") + path;
  ATTN_CHECK(!path.empty(), what.empty() ? "" : what + ": ", "expected a file name, got ''");
  std::error_code error;
  ATTN_CHECK(!std::filesystem::is_directory(path, error), name, ": is a directory, expected a file name");
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  ATTN_CHECK(folder.empty() || std::filesystem::is_directory(folder, error), name, ": the folder ",
             folder.string(), " does not exist");
}

std::vector<std::string> read_lines(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  size_t start = 0;
  if (bytes.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;  // the UTF-8 byte-order mark
  // UTF-16 files (what some Windows editors save as "Unicode") start with a
  // byte-order mark FF FE or FE FF and are full of NUL bytes; say so at once
  // rather than reporting a NUL on line 1.
  bool utf16 = bytes.size() >= 2 &&
               ((bytes[0] == '\xFF' && bytes[1] == '\xFE') || (bytes[0] == '\xFE' && bytes[1] == '\xFF'));
  ATTN_CHECK(!utf16, path,
             ": the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8");

  std::vector<std::string> lines;
  size_t line_number = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    std::string line = bytes.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t nul = line.find('\0');
    ATTN_CHECK(nul == std::string::npos, location(path, line_number), ": NUL byte at byte ", nul + 1,
               " of the line; is this a binary or UTF-16 file? attn reads UTF-8 text");
    size_t bad = find_invalid_utf8(line);
    ATTN_CHECK(bad == std::string::npos, location(path, line_number), ": ", describe_invalid_utf8(line, bad));
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<SentencePair> read_tsv(const std::string& path) {
  std::vector<std::string> lines = read_lines(path);
  ATTN_CHECK(!lines.empty(), path, ": empty file (expected lines of source<TAB>target)");
  std::vector<SentencePair> pairs;
  pairs.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    size_t tab = line.find('\t');
    ATTN_CHECK(tab != std::string::npos, location(path, i + 1), ": no tab in \"", utf8_excerpt(line),
               "\" (expected source<TAB>target)");
    size_t second_tab = line.find('\t', tab + 1);
    size_t target_end = second_tab == std::string::npos ? line.size() : second_tab;
    SentencePair pair;
    pair.source = trim_spaces(line.substr(0, tab));
    pair.target = trim_spaces(line.substr(tab + 1, target_end - tab - 1));
    ATTN_CHECK(!pair.source.empty(), location(path, i + 1), ": empty source (nothing before the tab)");
    ATTN_CHECK(!pair.target.empty(), location(path, i + 1), ": empty target (nothing after the tab)");
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

std::vector<SentencePair> read_parallel(const std::string& source_path,
                                        const std::string& target_path) {
  std::vector<std::string> sources = read_lines(source_path);
  std::vector<std::string> targets = read_lines(target_path);
  ATTN_CHECK(!sources.empty(), source_path, ": empty file (expected one source sentence per line)");
  ATTN_CHECK(!targets.empty(), target_path, ": empty file (expected one target sentence per line)");
  // A count mismatch is checked before any single line: when the files are
  // out of step, every later line pairs the wrong sentences, and that is the
  // mistake to report.
  ATTN_CHECK(sources.size() == targets.size(), "read_parallel: ", source_path, " has ", sources.size(),
             " lines but ", target_path, " has ", targets.size(),
             " lines; the two files must be line-aligned (line i of one translates line i of the other)");
  std::vector<SentencePair> pairs;
  pairs.reserve(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    SentencePair pair{trim_spaces(sources[i]), trim_spaces(targets[i])};
    ATTN_CHECK(!pair.source.empty(), location(source_path, i + 1), ": empty line (its translation in ",
               target_path, " is \"", utf8_excerpt(pair.target), "\")");
    ATTN_CHECK(!pair.target.empty(), location(target_path, i + 1), ": empty line (its source in ",
               source_path, " is \"", utf8_excerpt(pair.source), "\")");
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

}  // namespace attn::data
