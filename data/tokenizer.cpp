#include "data/tokenizer.h"

#include <cstdint>

#include "data/utf8.h"
#include "kernels/error.h"

namespace attn::data {

namespace {

// Punctuation that the word tokenizer splits off: all of ASCII's, plus the
// marks of European typography and a few full-width CJK ones.
bool is_punctuation(uint32_t c) {
  if (c < 0x80) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  }
  switch (c) {
    case 0x00A1:  // ¡
    case 0x00A2: case 0x00A3: case 0x00A5:  // ¢ £ ¥
    case 0x00A7:  // §
    case 0x00AB:  // «
    case 0x00B0:  // °
    case 0x00BB:  // »
    case 0x00BF:  // ¿
    case 0x2026:  // …
    case 0x2030:  // ‰
    case 0x2039: case 0x203A:  // ‹ ›
    case 0x20AC:  // €
    case 0x3001: case 0x3002:  // 、 。
    case 0xFF01:
    case 0xFF08:
    case 0xFF09:
    case 0xFF0C:
    case 0xFF1A:
    case 0xFF1B:
    case 0xFF1F:  // ！（），：；？
      return true;
    default:
      break;
  }
  return (c >= 0x2010 && c <= 0x2022) ||  // hyphens and dashes ‐ – —, quotes ‘ ’ ‚ “ ” „, † ‡ •
         (c >= 0x300C && c <= 0x300F);  // 「 」 『 』
}

bool is_word_character(uint32_t c) { return !is_space_code_point(c) && !is_punctuation(c); }
bool is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

// Whether the mark at position i stays inside the word around it (see the
// header): apostrophes and hyphens between word characters, '.' and ','
// between digits.
bool joins_word(const std::vector<uint32_t>& text, size_t i) {
  if (i == 0 || i + 1 >= text.size()) return false;
  uint32_t before = text[i - 1];
  uint32_t mark = text[i];
  uint32_t after = text[i + 1];
  if (mark == '\'' || mark == 0x2019 || mark == '-' || mark == 0x2010) {
    return is_word_character(before) && is_word_character(after);
  }
  if (mark == '.' || mark == ',') return is_ascii_digit(before) && is_ascii_digit(after);
  return false;
}

std::vector<uint32_t> decode_all(const std::string& text, const std::string& where) {
  std::vector<uint32_t> code_points;
  code_points.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    int length = 0;
    code_points.push_back(decode_code_point(text, pos, &length, where.empty() ? "tokenize" : where));
    pos += static_cast<size_t>(length);
  }
  return code_points;
}

bool is_one_of(const std::string& token, std::initializer_list<const char*> marks) {
  for (const char* mark : marks) {
    if (token == mark) return true;
  }
  return false;
}

// Marks written against the word before them.
bool is_closing(const std::string& token) {
  return is_one_of(token, {".", ",", "!", "?", ";", ":", ")", "]", "}", "%", "\xE2\x80\xA6" /* … */,
                           "\xC2\xBB" /* » */, "\xE2\x80\x9D" /* ” */, "\xE2\x80\x99" /* ’ */,
                           "\xE2\x80\xBA" /* › */, "\xE3\x80\x82" /* 。 */, "\xE3\x80\x81" /* 、 */});
}

// Marks written against the word after them.
bool is_opening(const std::string& token) {
  return is_one_of(token, {"(", "[", "{", "$", "\xC2\xAB" /* « */, "\xE2\x80\x9C" /* “ */,
                           "\xE2\x80\x9E" /* „ */, "\xE2\x80\x98" /* ‘ */, "\xE2\x80\xB9" /* ‹ */,
                           "\xC2\xBF" /* ¿ */, "\xC2\xA1" /* ¡ */});
}

}  // namespace

uint32_t lowercase_code_point(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return c;
  if (c <= 0xDE) return c == 0xD7 ? c : c + 32;  // Latin-1 À..Þ, except × (U+00D7)
  if (c >= 0x0100 && c <= 0x017F) {
    // Latin Extended-A pairs capital and small letters side by side; the pairs
    // start on an even code point except in Ĺ..ň and Ź..ž, which start odd.
    if (c == 0x0130) return 'i';     // İ: Turkish dotted capital I
    if (c == 0x0178) return 0x00FF;  // Ÿ -> ÿ, whose small form is in Latin-1
    if (c == 0x0131 || c == 0x0138 || c == 0x0149 || c == 0x017F) return c;  // ı ĸ ŉ ſ: no capital pair
    bool odd_pairs = (c >= 0x0139 && c <= 0x0148) || (c >= 0x0179 && c <= 0x017E);
    bool capital = odd_pairs ? (c % 2 == 1) : (c % 2 == 0);
    return capital ? c + 1 : c;
  }
  if ((c >= 0x0391 && c <= 0x03A9 && c != 0x03A2)) return c + 32;  // Greek Α..Ω
  if (c >= 0x0410 && c <= 0x042F) return c + 32;                   // Cyrillic А..Я
  if (c >= 0x0400 && c <= 0x040F) return c + 80;                   // Cyrillic Ѐ..Џ
  return c;
}

std::string lowercase_text(const std::string& text, const std::string& where) {
  std::string out;
  out.reserve(text.size());
  for (uint32_t c : decode_all(text, where)) append_utf8(lowercase_code_point(c), &out);
  return out;
}

Tokenizer::Tokenizer(TokenizerKind kind, bool lowercase) : kind_(kind), lowercase_(lowercase) {
  ATTN_CHECK(kind != TokenizerKind::kSentencePiece,
             "the spm tokenizer needs its SentencePiece model: use Tokenizer::sentencepiece(model)");
}

Tokenizer Tokenizer::from_name(const std::string& name, bool lowercase) {
  if (name == "word") return Tokenizer(TokenizerKind::kWord, lowercase);
  if (name == "char") return Tokenizer(TokenizerKind::kChar, lowercase);
  if (name == "space") return Tokenizer(TokenizerKind::kSpace, lowercase);
  ATTN_CHECK(name != "spm", "the spm tokenizer needs its SentencePiece model, not only its name");
  ATTN_CHECK(false, "unknown tokenizer \"", name, "\"; known tokenizers: word, char, space, spm");
  return Tokenizer();  // not reached
}

Tokenizer Tokenizer::sentencepiece(SentencePieceModel model, bool lowercase) {
  ATTN_CHECK(!model.empty(), "the spm tokenizer needs a SentencePiece model, got none");
  Tokenizer tokenizer(TokenizerKind::kWord, lowercase);
  tokenizer.kind_ = TokenizerKind::kSentencePiece;
  tokenizer.model_ = std::move(model);
  return tokenizer;
}

std::string Tokenizer::name() const {
  switch (kind_) {
    case TokenizerKind::kWord: return "word";
    case TokenizerKind::kChar: return "char";
    case TokenizerKind::kSpace: return "space";
    case TokenizerKind::kSentencePiece: return "spm";
  }
  return "word";  // not reached
}

std::vector<std::string> Tokenizer::tokenize(const std::string& text, const std::string& where) const {
  std::vector<uint32_t> code_points = decode_all(text, where);
  if (lowercase_) {
    for (uint32_t& c : code_points) c = lowercase_code_point(c);
  }
  std::vector<std::string> tokens;

  if (kind_ == TokenizerKind::kSentencePiece) {
    // Checked (and lowercased) above; the pieces are the model's business.
    if (!lowercase_) return model_.encode(text);
    std::string lowered;
    for (uint32_t c : code_points) append_utf8(c, &lowered);
    return model_.encode(lowered);
  }

  if (kind_ == TokenizerKind::kSpace) {
    std::string token;
    for (uint32_t c : code_points) {
      if (is_space_code_point(c)) {
        if (!token.empty()) tokens.push_back(std::move(token));
        token.clear();
      } else {
        append_utf8(c, &token);
      }
    }
    if (!token.empty()) tokens.push_back(std::move(token));
    return tokens;
  }

  if (kind_ == TokenizerKind::kChar) {
    bool pending_space = false;  // a space run waits until a character follows it
    for (uint32_t c : code_points) {
      if (is_space_code_point(c)) {
        pending_space = !tokens.empty();
        continue;
      }
      if (pending_space) tokens.push_back(kSpaceToken);
      pending_space = false;
      std::string token;
      append_utf8(c, &token);
      tokens.push_back(std::move(token));
    }
    return tokens;
  }

  std::string word;
  auto flush = [&]() {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (size_t i = 0; i < code_points.size(); ++i) {
    uint32_t c = code_points[i];
    if (is_space_code_point(c)) {
      flush();
    } else if (is_punctuation(c) && !joins_word(code_points, i)) {
      flush();
      std::string mark;
      append_utf8(c, &mark);
      tokens.push_back(std::move(mark));
    } else {
      append_utf8(c, &word);
    }
  }
  flush();
  return tokens;
}

std::string Tokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string text;
  if (kind_ == TokenizerKind::kSentencePiece) return model_.decode(tokens);
  if (kind_ == TokenizerKind::kSpace) {
    for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
    return text;
  }
  if (kind_ == TokenizerKind::kChar) {
    for (const std::string& token : tokens) text += token == kSpaceToken ? " " : token;
    return text;
  }
  // A slash joins both neighbours ("05/03/2014", "and/or"). Straight quotes
  // look the same at both ends, so they alternate: the first
  // opens (glued to the next word), the second closes (glued to the previous).
  bool double_quote_open = false;
  bool single_quote_open = false;
  bool glue_next = false;  // the previous token opened something
  for (const std::string& token : tokens) {
    bool glue_left = is_closing(token) || token == "/" || (token == "\"" && double_quote_open) ||
                     (token == "'" && single_quote_open);
    if (!text.empty() && !glue_left && !glue_next) text += ' ';
    text += token;
    glue_next = is_opening(token) || token == "/" || (token == "\"" && !double_quote_open) ||
                (token == "'" && !single_quote_open);
    if (token == "\"") double_quote_open = !double_quote_open;
    if (token == "'") single_quote_open = !single_quote_open;
  }
  return text;
}

}  // namespace attn::data
