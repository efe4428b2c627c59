#include "data/utf8.h"

#include <cstdio>

#include "kernels/error.h"

namespace attn::data {

int utf8_sequence_length(const std::string& text, size_t pos) {
  if (pos >= text.size()) return 0;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char b0 = byte(pos);
  if (b0 < 0x80) return 1;
  // Table 3-7: the allowed range of the second byte depends on the first, which
  // is how overlong forms, surrogates and values above U+10FFFF are excluded.
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(pos + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!continuation(pos + 1) || !continuation(pos + 2)) return 0;
    unsigned char b1 = byte(pos + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!continuation(pos + 1) || !continuation(pos + 2) || !continuation(pos + 3)) return 0;
    unsigned char b1 = byte(pos + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // 0x80..0xC1 (continuation or overlong lead) and 0xF5..0xFF
}

size_t find_invalid_utf8(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII runs are the common case; skip them a byte at a time without the call.
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    int length = utf8_sequence_length(text, pos);
    if (length == 0) return pos;
    pos += static_cast<size_t>(length);
  }
  return std::string::npos;
}

uint32_t decode_code_point(const std::string& text, size_t pos, int* length,
                           const std::string& where) {
  int n = utf8_sequence_length(text, pos);
  ATTN_CHECK(n > 0, where.empty() ? "" : where + ": ", describe_invalid_utf8(text, pos));
  *length = n;
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(text[i])); };
  switch (n) {
    case 1: return byte(pos);
    case 2: return ((byte(pos) & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
    case 3: return ((byte(pos) & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
    default:
      return ((byte(pos) & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) |
             ((byte(pos + 2) & 0x3F) << 6) | (byte(pos + 3) & 0x3F);
  }
}

void append_utf8(uint32_t code_point, std::string* out) {
  ATTN_CHECK(code_point <= 0x10FFFF && !(code_point >= 0xD800 && code_point <= 0xDFFF),
             "append_utf8: U+", std::hex, code_point, " is not a Unicode scalar value");
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string describe_invalid_utf8(const std::string& text, size_t pos) {
  if (pos >= text.size()) return "invalid UTF-8: truncated sequence at the end of the text";
  std::string bytes;
  for (size_t i = pos; i < text.size() && i < pos + 4; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%s0x%02X", i == pos ? "" : " ",
                  static_cast<unsigned>(static_cast<unsigned char>(text[i])));
    bytes += hex;
  }
  // A lone byte in 0xA0..0xFF followed by ASCII is the signature of Latin-1 or
  // Windows-1252 text, by far the most common way a corpus ends up invalid.
  return "invalid UTF-8 at byte " + std::to_string(pos + 1) + " (" + bytes +
         "); is the text Latin-1 or Windows-1252? save it as UTF-8";
}

bool is_space_code_point(uint32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return true;
  if (c < 0x80) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 ||
         c == 0xFEFF;
}

std::string trim_spaces(const std::string& text) {
  size_t begin = 0;
  size_t end = 0;  // one past the last non-space code point
  bool seen_content = false;
  size_t pos = 0;
  while (pos < text.size()) {
    int length = 0;
    uint32_t c = decode_code_point(text, pos, &length);
    if (!is_space_code_point(c)) {
      if (!seen_content) begin = pos;
      seen_content = true;
      end = pos + static_cast<size_t>(length);
    }
    pos += static_cast<size_t>(length);
  }
  return seen_content ? text.substr(begin, end - begin) : std::string();
}

std::string utf8_excerpt(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  // Step back over continuation bytes so the cut lands on a code point boundary.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

}  // namespace attn::data
