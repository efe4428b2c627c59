#include "data/vocab.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

#include "data/corpus.h"
#include "data/utf8.h"
#include "kernels/error.h"

namespace attn::data {

namespace {

const std::vector<std::string>& special_tokens() {
  static const std::vector<std::string> specials = {kPadToken, kUnkToken, kBosToken, kEosToken};
  return specials;
}

// What a token must be to survive a trip through the one-token-per-line file.
// Returns an empty string when fine, else the reason.
std::string token_problem(const std::string& token) {
  if (token.empty()) return "an empty token";
  if (token.find('\n') != std::string::npos || token.find('\r') != std::string::npos)
    return "a token with a line break (\"" + utf8_excerpt(token) + "\")";
  if (token.find('\0') != std::string::npos) return "a token with a NUL byte";
  size_t bad = find_invalid_utf8(token);
  if (bad != std::string::npos) return "a token with " + describe_invalid_utf8(token, bad);
  return "";
}

}  // namespace

Vocab::Vocab() : Vocab(special_tokens()) {}

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  const std::vector<std::string>& specials = special_tokens();
  ATTN_CHECK(tokens_.size() >= specials.size(), "Vocab: ", tokens_.size(),
             " tokens given; a vocabulary starts with the 4 specials <pad>, <unk>, <s>, </s>");
  for (size_t i = 0; i < specials.size(); ++i) {
    ATTN_CHECK(tokens_[i] == specials[i], "Vocab: id ", i, " must be ", specials[i], " but is \"",
               utf8_excerpt(tokens_[i]), "\"");
  }
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    std::string problem = token_problem(tokens_[i]);
    ATTN_CHECK(problem.empty(), "Vocab: id ", i, " is ", problem);
    auto inserted = ids_.emplace(tokens_[i], static_cast<int64_t>(i));
    ATTN_CHECK(inserted.second, "Vocab: duplicate token \"", tokens_[i], "\" at ids ",
               inserted.first->second, " and ", i);
  }
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, int64_t min_frequency,
                   int64_t max_size) {
  ATTN_CHECK(min_frequency >= 1, "Vocab::build: min_frequency must be at least 1, got ", min_frequency);
  ATTN_CHECK(max_size == 0 || max_size >= kNumSpecials,
             "Vocab::build: max_size must be 0 (no cap) or at least ", kNumSpecials, " (the specials), got ",
             max_size);
  std::unordered_map<std::string, int64_t> counts;
  for (size_t s = 0; s < sentences.size(); ++s) {
    for (const std::string& token : sentences[s]) {
      std::string problem = token_problem(token);
      ATTN_CHECK(problem.empty(), "Vocab::build: sentence ", s, " has ", problem);
      ++counts[token];
    }
  }
  for (const std::string& special : special_tokens()) counts.erase(special);

  std::vector<std::pair<std::string, int64_t>> kept;
  for (auto& entry : counts) {
    if (entry.second >= min_frequency) kept.emplace_back(entry.first, entry.second);
  }
  // Frequency descending, then the token ascending: a total order, so the ids
  // do not depend on the hash map's iteration order.
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return a.first < b.first;
  });
  if (max_size > 0 && static_cast<int64_t>(kept.size()) > max_size - kNumSpecials) {
    kept.resize(static_cast<size_t>(max_size - kNumSpecials));
  }
  std::vector<std::string> tokens = special_tokens();
  for (auto& entry : kept) tokens.push_back(std::move(entry.first));
  return Vocab(std::move(tokens));
}

int64_t Vocab::id(const std::string& token) const {
  auto found = ids_.find(token);
  return found == ids_.end() ? kUnk : found->second;
}

bool Vocab::contains(const std::string& token) const { return ids_.count(token) != 0; }

const std::string& Vocab::token(int64_t id) const {
  ATTN_CHECK(id >= 0 && id < size(), "Vocab::token: id ", id, " is outside the vocabulary [0, ", size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& token : tokens) ids.push_back(id(token));
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  for (int64_t id : ids) {
    if (id == kEos) break;
    if (id == kPad || id == kBos) continue;
    tokens.push_back(token(id));
  }
  return tokens;
}

void Vocab::save(const std::string& path) const {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    ATTN_CHECK(out.is_open(), "Vocab::save: cannot write ", temporary, " (", std::strerror(errno), ")");
    for (const std::string& token : tokens_) out << token << '\n';
    out.flush();
    ATTN_CHECK(out.good(), "Vocab::save: error while writing ", temporary, " (", std::strerror(errno), ")");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    std::remove(temporary.c_str());
    ATTN_CHECK(false, "Vocab::save: cannot rename ", temporary, " to ", path, " (", std::strerror(error),
               ")");
  }
}

Vocab Vocab::load(const std::string& path) {
  // read_lines names file and line for invalid UTF-8 or a NUL byte, strips
  // "\r" and a byte-order mark, and throws for a missing file.
  std::vector<std::string> lines = read_lines(path);
  const std::vector<std::string>& specials = special_tokens();
  ATTN_CHECK(!lines.empty(), path,
             ": empty vocabulary file; it must start with the lines <pad>, <unk>, <s>, </s>");
  // Editors number lines from 1; ids count from 0. Messages give both.
  auto where = [&](size_t index) {
    return path + ":" + std::to_string(index + 1) + " (id " + std::to_string(index) + ")";
  };
  for (size_t i = 0; i < specials.size(); ++i) {
    ATTN_CHECK(i < lines.size(), path, ": only ", lines.size(),
               " lines; a vocabulary file starts with the lines <pad>, <unk>, <s>, </s>");
    ATTN_CHECK(lines[i] == specials[i], where(i), ": expected the special token ", specials[i],
               " but found \"", utf8_excerpt(lines[i]),
               "\"; the first lines must be <pad>, <unk>, <s>, </s>");
  }
  std::unordered_map<std::string, size_t> first_line;
  for (size_t i = 0; i < lines.size(); ++i) {
    ATTN_CHECK(!lines[i].empty(), where(i), ": empty line (every line holds one token)");
    // read_lines splits at "\n" only: a lone "\r" inside a line is left for
    // the constructor to refuse, and its message would not name the file.
    std::string problem = token_problem(lines[i]);
    ATTN_CHECK(problem.empty(), where(i), ": ", problem);
    auto inserted = first_line.emplace(lines[i], i);
    ATTN_CHECK(inserted.second, where(i), ": duplicate token \"", utf8_excerpt(lines[i]),
               "\", already on line ", inserted.first->second + 1);
  }
  return Vocab(std::move(lines));
}

}  // namespace attn::data
