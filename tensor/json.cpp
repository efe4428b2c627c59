// A small JSON reader and writer (tensor/json.h).
//
// The reader is recursive descent: one function per kind of value, each
// starting at pos_ and leaving pos_ after the value. It accepts all of JSON
// (RFC 8259) so that callers can say precisely what was wrong ("shape must
// hold integers, got 2.5") instead of failing at the first unexpected
// character, and refuses what is not JSON with the byte offset.
#include "tensor/json.h"

#include <cstdio>
#include <cstring>
#include <set>

#include "kernels/error.h"

namespace attn::json {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid
// (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF).
size_t utf8_sequence_length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t length = 0;
  uint32_t code = 0;
  if ((c & 0xE0) == 0xC0) { length = 2; code = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { length = 3; code = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { length = 4; code = c & 0x07; }
  else return 0;
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  const uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

// Appends code point `code` (at most U+10FFFF) encoded as UTF-8.
void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// A recursive-descent reader; positions in messages are base + index in text.
class JsonReader {
 public:
  JsonReader(const std::string& context, const std::string& text, size_t base)
      : context_(context), text_(text), base_(base) {}

  Value parse_document() {
    skip_space();
    Value value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  // Deeper nesting than a header or a log line needs; the limit keeps "[[[[..." from
  // overflowing the stack.
  static constexpr int kMaxDepth = 32;

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t pos, const std::string& what) const {
    throw Error(context_ + " at byte " + std::to_string(base_ + pos) + ": " + what);
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void expect(char c) {
    if (pos_ >= text_.size()) fail(std::string("expected '") + c + "' but the text ends");
    if (text_[pos_] != c) fail(std::string("expected '") + c + "', found '" + text_[pos_] + "'");
    ++pos_;
  }

  void expect_word(const char* word) {
    size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0)
      fail("unexpected character '" + std::string(1, peek()) + "'");
    pos_ += n;
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail("nested more than " + std::to_string(kMaxDepth) + " levels deep");
    if (pos_ >= text_.size()) fail("expected a value but the text ends");
    Value value;
    value.offset = base_ + pos_;
    char c = text_[pos_];
    if (c == '{') {
      value.kind = Value::Kind::Object;
      parse_object(value, depth);
    } else if (c == '[') {
      value.kind = Value::Kind::Array;
      parse_array(value, depth);
    } else if (c == '"') {
      value.kind = Value::Kind::String;
      value.text = parse_string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = Value::Kind::Number;
      value.text = parse_number();
    } else if (c == 't' || c == 'f') {
      value.kind = Value::Kind::Bool;
      value.text = c == 't' ? "true" : "false";
      expect_word(value.text.c_str());
    } else if (c == 'n') {
      expect_word("null");
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    return value;
  }

  void parse_object(Value& object, int depth) {
    expect('{');
    skip_space();
    if (peek() == '}') { ++pos_; return; }
    // The keys seen so far, for duplicates: a set, because a scan of the
    // members would make a header of n keys cost n^2 / 2 comparisons, hours
    // for a hostile file of a million keys.
    std::set<std::string> keys;
    while (true) {
      skip_space();
      size_t key_pos = pos_;
      if (peek() != '"') fail("expected a quoted key");
      std::string key = parse_string();
      if (!keys.insert(key).second) fail_at(key_pos, "the key '" + key + "' appears twice");
      skip_space();
      expect(':');
      skip_space();
      object.members.emplace_back(key, parse_value(depth + 1));
      skip_space();
      if (peek() == ',') { ++pos_; continue; }
      expect('}');
      return;
    }
  }

  void parse_array(Value& array, int depth) {
    expect('[');
    skip_space();
    if (peek() == ']') { ++pos_; return; }
    while (true) {
      skip_space();
      array.items.push_back(parse_value(depth + 1));
      skip_space();
      if (peek() == ',') { ++pos_; continue; }
      expect(']');
      return;
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("\\u needs four hex digits");
    uint32_t code = 0;
    for (int k = 0; k < 4; ++k) {
      char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') code |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') code |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') code |= static_cast<uint32_t>(h - 'A' + 10);
      else fail("\\u needs four hex digits");
    }
    return code;
  }

  // A quoted string with JSON's escapes; \uXXXX (surrogate pairs included)
  // becomes UTF-8. Raw bytes must be valid UTF-8 and not control characters.
  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("a string is not closed before the text ends");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') { ++pos_; return out; }
      if (c < 0x20) fail("a control character inside a string (write it as an escape)");
      if (c == '\\') {
        ++pos_;
        char e = peek();
        ++pos_;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t code = parse_hex4();
            if (code >= 0xD800 && code <= 0xDBFF) {  // a high surrogate: a low one must follow
              if (text_.compare(pos_, 2, "\\u") != 0)
                fail("a lone UTF-16 surrogate in a \\u escape");
              pos_ += 2;
              uint32_t low = parse_hex4();
              if (low < 0xDC00 || low > 0xDFFF) fail("a lone UTF-16 surrogate in a \\u escape");
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else if (code >= 0xDC00 && code <= 0xDFFF) {
              fail("a lone UTF-16 surrogate in a \\u escape");
            }
            append_utf8(out, code);
            break;
          }
          default: fail_at(pos_ - 2, "unknown escape in a string");
        }
        continue;
      }
      size_t length = utf8_sequence_length(text_, pos_);
      if (length == 0) fail("invalid UTF-8 inside a string");
      out.append(text_, pos_, length);
      pos_ += length;
    }
  }

  // JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  // Kept as text; the caller decides whether it wanted an integer.
  std::string parse_number() {
    size_t start = pos_;
    const auto digits = [&]() {
      size_t first = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == first) fail("a number needs digits here");
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') fail("a number with a leading zero");
    } else {
      digits();
    }
    if (peek() == '.') { ++pos_; digits(); }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    return text_.substr(start, pos_ - start);
  }

  const std::string& context_;
  const std::string& text_;
  size_t base_;
  size_t pos_ = 0;
};

}  // namespace

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::Null: return "null";
    case Value::Kind::Bool: return "a boolean";
    case Value::Kind::Number: return "a number";
    case Value::Kind::String: return "a string";
    case Value::Kind::Array: return "an array";
    case Value::Kind::Object: return "an object";
  }
  return "?";
}

size_t find_invalid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    size_t length = utf8_sequence_length(s, i);
    if (length == 0) return i;
    i += length;
  }
  return std::string::npos;
}

void append_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);  // UTF-8 passes through as is
    }
  }
  out += '"';
}

std::string quote(const std::string& s) {
  std::string out;
  append_string(out, s);
  return out;
}

Value parse(const std::string& text, const std::string& context, size_t base) {
  return JsonReader(context, text, base).parse_document();
}

}  // namespace attn::json
