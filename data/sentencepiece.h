// SentencePiece: subword pieces learned from the training text (Kudo and
// Richardson 2018, https://github.com/google/sentencepiece), through Debian's
// libsentencepiece-dev.
//
// A word tokenizer gives every word its own id, so a corpus of 30,000 sentences
// has a vocabulary of tens of thousands of words, most of them seen once or
// twice, and any new word at test time is <unk>. Subwords cut rare words into
// frequent pieces ("▁unbelievable" -> "▁un" "believ" "able"), so a vocabulary
// of a few thousand pieces spells every word of the training text, and most
// new ones. SentencePiece works on raw text: a space becomes part of the piece
// after it ("▁" U+2581), so decoding is concatenation, with no rules about
// where spaces went:
//   encode("Hello world.")            -> ▁Hello ▁world .
//   decode({"▁Hello", "▁world", "."}) -> "Hello world."
//
// Two ways to learn the pieces (--spm-type):
//   unigram  (SentencePiece's default; Kudo 2018) starts from many candidate
//            pieces and drops those that least help a unigram language model
//            explain the text, until --spm-vocab-size remain; a sentence is
//            then cut into its most probable pieces.
//   bpe      (Sennrich et al. 2016) starts from characters and merges the most
//            frequent adjacent pair, again and again, until the vocabulary is full.
//
// SentencePiece normalises text first (NFKC: full-width letters, ligatures and
// compatibility forms become their plain forms; runs of spaces become one), so
// decode(encode(text)) is the normalised text, which for ordinary text is the
// text itself. A character the model never saw comes back as itself.
//
// The model is a binary protocol buffer of a few hundred kilobytes (most of it
// the normalisation table). attn keeps its bytes inside the model file
// (train/dataset.cpp), so `attn translate` needs nothing else.
//
// Optional: a build without libsentencepiece-dev compiles
// data/sentencepiece_unavailable.cpp instead, where every function below
// except sentencepiece_available() throws attn::Error saying how to get it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attn::data {

// Whether this build has SentencePiece (CMake: "sentencepiece: on").
bool sentencepiece_available();

struct SentencePieceOptions {
  std::string model_type = "unigram";  // unigram (SentencePiece's default) | bpe
  int64_t vocab_size = 8000;           // pieces, SentencePiece's <unk> <s> </s> included
};

class SentencePieceModel {
 public:
  // No model: encode and decode throw. Assign one from train(), from_bytes() or load().
  SentencePieceModel() = default;

  // Learns the pieces from `sentences` (UTF-8, one sentence each). Throws
  // attn::Error with SentencePiece's own reason when it cannot, such as a
  // vocabulary larger than the text has pieces for ("Vocabulary size too high
  // (8000). Please set it to a value <= 1234."). Deterministic: the same
  // sentences and options give the same model.
  static SentencePieceModel train(const std::vector<std::string>& sentences,
                                  const SentencePieceOptions& options);
  // From the serialized model (what bytes() returns and spm_train writes as
  // NAME.model). Throws naming `where` when the bytes are not a model.
  static SentencePieceModel from_bytes(const std::string& bytes, const std::string& where);
  // From a file written by spm_train (or save()); throws naming the file.
  static SentencePieceModel load(const std::string& path);
  // Writes bytes() to `path`, so that the model can be given to spm_encode.
  void save(const std::string& path) const;

  // text (UTF-8) -> pieces (n >= 0; none for blank text).
  std::vector<std::string> encode(const std::string& text) const;
  // pieces -> text: the pieces joined, "▁" read as a space, the leading one
  // dropped. A piece the model does not hold is copied as it is.
  std::string decode(const std::vector<std::string>& pieces) const;

  bool empty() const { return impl_ == nullptr; }
  // The serialized model: what the model file stores.
  const std::string& bytes() const;
  // Pieces in the model, its <unk> <s> </s> included.
  int64_t size() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace attn::data
