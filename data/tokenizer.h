// Tokenizer: text -> tokens, and tokens -> text.
//
// Four kinds (--tokenizer). The first three are rules simple enough to read in
// one sitting; the fourth is learned from the training text.
//
// word  Splits on whitespace (ASCII and Unicode spaces), then splits every
//       punctuation mark off as a token of its own:
//         "Hello, world!"          -> Hello , world !
//         "«Bonjour !»"            -> « Bonjour ! »
//         "¿Qué hora es?"          -> ¿ Qué hora es ?
//       Three marks stay inside a word, where splitting would break it apart:
//       - apostrophes (' and ’) between two word characters: "don't", "it's",
//         "l'homme", "aujourd'hui" stay whole. Moses splits them ("don 't",
//         "l' homme"); keeping them whole is the choice of many NMT tutorials
//         and keeps detokenization exact. A leading or trailing apostrophe is
//         a quote and is split off ("'hi'" -> ' hi ').
//       - hyphens between two word characters: "well-known", "est-ce",
//         "twenty-first".
//       - '.' and ',' between two ASCII digits: "3.14", "1,000".
//       Optional lowercasing covers ASCII, Latin-1 (À..Þ), Latin Extended-A
//       (Ā..ž), basic Greek and Cyrillic, through a small mapping: enough for
//       the European languages of Tatoeba and Multi30k, not full Unicode
//       case folding (ß stays ß, İ becomes i).
//
// char  Splits into Unicode code points (not grapheme clusters: an "e"
//       followed by a combining accent is two tokens). A run of whitespace
//       becomes one visible token "▁" (U+2581, as SentencePiece writes it);
//       leading and trailing whitespace is dropped. Lowercasing as above.
//         "Go on." -> G o ▁ o n .
//
// space Splits on whitespace only (ASCII and Unicode spaces, as word does) and
//       leaves everything else alone, for text that is tokenized already or
//       whose tokens carry punctuation: "I_TURN_LEFT I_WALK" -> I_TURN_LEFT
//       I_WALK (word would cut it into I _ TURN _ LEFT I _ WALK). Joey NMT's
//       "space", and what Marian does without SentencePiece. Exact:
//       tokenize(detokenize(tokens)) == tokens, and detokenize(tokenize(text))
//       is the text with its whitespace runs made one space and its ends trimmed.
//
// spm   SentencePiece subword pieces (data/sentencepiece.h), from a model
//       learned on the training text (`attn train --tokenizer spm`) or given
//       (--spm-model). Made with Tokenizer::sentencepiece(model), not from a
//       name alone: the pieces are the model's.
//         "Unbelievable, isn't it?" -> ▁Un believ able , ▁isn ' t ▁it ?
//       (which pieces depends on the model).
//
// detokenize() undoes tokenize() as well as it can: for char it is exact up
// to whitespace runs; for space it joins with one space; for spm it is
// SentencePiece's decode (exact up to its NFKC normalisation); for word it
// joins with spaces, then removes the space before closing marks
// (. , ! ? ; : ) ] } » ” …), after opening ones (( [ { « “ ¿ ¡) and on both
// sides of "/", pairing straight quotes in order. French spacing before "!" is not restored: "Va !" comes back "Va!".
//
// Invalid UTF-8 input throws attn::Error naming where (the caller's `where`,
// such as "train.tsv:12", and the byte offset).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/sentencepiece.h"

namespace attn::data {

enum class TokenizerKind { kWord, kChar, kSpace, kSentencePiece };

class Tokenizer {
 public:
  // word, char or space (spm needs its model: sentencepiece() below).
  explicit Tokenizer(TokenizerKind kind = TokenizerKind::kWord, bool lowercase = false);

  // "word", "char" or "space" (what the command line's --tokenizer takes);
  // "spm" throws, saying that the model is needed.
  static Tokenizer from_name(const std::string& name, bool lowercase = false);
  // The spm tokenizer over `model` (which must not be empty). With
  // `lowercase`, text is lowercased before SentencePiece sees it, so the
  // model should have been trained on lowercased text (train/dataset.cpp does).
  static Tokenizer sentencepiece(SentencePieceModel model, bool lowercase = false);

  // text (UTF-8) -> tokens (n >= 0; none for blank text). `where` prefixes the
  // error message for invalid UTF-8.
  std::vector<std::string> tokenize(const std::string& text, const std::string& where = "") const;
  // tokens -> text, as described above.
  std::string detokenize(const std::vector<std::string>& tokens) const;

  TokenizerKind kind() const { return kind_; }
  bool lowercase() const { return lowercase_; }
  std::string name() const;  // "word", "char", "space" or "spm"
  // The SentencePiece model of an spm tokenizer; empty for the others.
  const SentencePieceModel& sentencepiece_model() const { return model_; }

 private:
  TokenizerKind kind_;
  bool lowercase_;
  SentencePieceModel model_;  // spm only; shared between copies (it is immutable)
};

// The lowercase of one code point under the small mapping described above;
// code points outside it are returned unchanged.
uint32_t lowercase_code_point(uint32_t code_point);
// `text` with every code point lowercased as above. Throws attn::Error naming
// `where` for invalid UTF-8.
std::string lowercase_text(const std::string& text, const std::string& where = "");

// What the char tokenizer writes for whitespace: "▁" (U+2581).
constexpr const char* kSpaceToken = "\xE2\x96\x81";

}  // namespace attn::data
