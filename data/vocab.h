// Vocab: the map between tokens (strings) and ids (the integers a model sees).
//
// Four special tokens come first, at fixed ids, in every vocabulary:
//   <pad> = 0   fills short sentences up to the batch's length; the loss and
//               the attention masks ignore it
//   <unk> = 1   stands for any token the vocabulary does not hold
//   <s>   = 2   begins the decoder's input
//   </s>  = 3   ends a sentence; decoding stops when it is produced
// Then the tokens of the training data, most frequent first, ties broken by
// the token's bytes in ascending order, so the same data always gives the same
// ids (a std::unordered_map's order would differ between standard libraries).
//
// On disk a vocabulary is a UTF-8 text file with one token per line; the
// 0-based line number is the id, and lines 0-3 hold the specials. Tokens
// therefore cannot contain a line break, and cannot be empty.
//
//   auto vocab = attn::data::Vocab::build(tokenized_sentences, /*min_frequency=*/2);
//   vocab.encode({"the", "cat"})  ->  {4, 17}
//   vocab.save("model.src.vocab");
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace attn::data {

constexpr int64_t kPad = 0;
constexpr int64_t kUnk = 1;
constexpr int64_t kBos = 2;
constexpr int64_t kEos = 3;
constexpr const char* kPadToken = "<pad>";
constexpr const char* kUnkToken = "<unk>";
constexpr const char* kBosToken = "<s>";
constexpr const char* kEosToken = "</s>";
constexpr int64_t kNumSpecials = 4;

class Vocab {
 public:
  // A vocabulary of the four specials only.
  Vocab();

  // From a full token list whose first four entries are the specials in order
  // (what load() reads). Throws on wrong specials, duplicates, empty tokens or
  // tokens with a line break.
  explicit Vocab(std::vector<std::string> tokens);

  // Counts the tokens of `sentences` and keeps those seen at least
  // `min_frequency` times, most frequent first. `max_size` caps the size of
  // the whole vocabulary, specials included (0: no cap). Tokens spelled like a
  // special ("<unk>" in the text) are not added again: they map to the special.
  static Vocab build(const std::vector<std::vector<std::string>>& sentences,
                     int64_t min_frequency = 1, int64_t max_size = 0);

  // The id of `token`, or kUnk when the vocabulary does not hold it.
  int64_t id(const std::string& token) const;
  bool contains(const std::string& token) const;
  // The token with id `id`; throws when id is outside [0, size()).
  const std::string& token(int64_t id) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // All tokens, in id order (specials first).
  const std::vector<std::string>& tokens() const { return tokens_; }

  // tokens (n) -> ids (n); unknown tokens become kUnk. No <s> or </s> is
  // added: the batcher adds those where the model needs them.
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  // ids (n) -> tokens (m <= n): stops at the first </s>, skips <pad> and <s>.
  // Throws on an id outside the vocabulary.
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;

  // Writes one token per line to `path` (through path.tmp, renamed into place
  // so a crash never leaves half a vocabulary).
  void save(const std::string& path) const;
  // Reads a file written by save(). Throws attn::Error naming the file and the
  // line for a missing or empty file, wrong specials, an empty line or a
  // duplicate token.
  static Vocab load(const std::string& path);

  bool operator==(const Vocab& other) const { return tokens_ == other.tokens_; }
  bool operator!=(const Vocab& other) const { return !(*this == other); }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace attn::data
