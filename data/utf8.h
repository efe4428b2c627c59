// UTF-8: checking text and walking it one code point at a time.
//
// Every string that enters attn::data from a file is checked here first, so
// the tokenizers and the vocabulary can assume well-formed UTF-8. The rules
// are the Unicode standard's (chapter 3, table 3-7): no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF. A byte that breaks them
// is reported with its offset, because "invalid UTF-8 at byte 17 (0xE9)" lets
// a learner find a Latin-1 file in seconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attn::data {

// The byte length (1..4) of the well-formed sequence starting at text[pos], or
// 0 when the bytes there are not valid UTF-8 (or pos is past the end).
int utf8_sequence_length(const std::string& text, size_t pos);

// The byte offset of the first invalid sequence in `text`, or std::string::npos
// when the whole string is well-formed.
size_t find_invalid_utf8(const std::string& text);

// Decodes the code point at text[pos] and stores its byte length in *length.
// Throws attn::Error naming `where` and the byte offset when the bytes are not
// valid UTF-8.
uint32_t decode_code_point(const std::string& text, size_t pos, int* length,
                           const std::string& where = "");

// Appends the UTF-8 encoding of `code_point` to `out`.
void append_utf8(uint32_t code_point, std::string* out);

// A one-line description of the invalid sequence at `pos`, for error messages:
// "invalid UTF-8 at byte 4 (0xE9 0x74); is it Latin-1? save it as UTF-8".
std::string describe_invalid_utf8(const std::string& text, size_t pos);

// True for the code points attn::data treats as spaces: ASCII whitespace and
// the Unicode spaces real corpora contain (no-break U+00A0, narrow no-break
// U+202F as in French "Cours !", thin and ideographic spaces, zero-width
// space, the byte-order mark).
bool is_space_code_point(uint32_t code_point);

// `text` without the spaces (as above) at either end. `text` must be valid UTF-8.
std::string trim_spaces(const std::string& text);

// At most `max_bytes` of `text`, cut at a code point boundary, with "..."
// appended when something was cut: for quoting a line in an error message.
std::string utf8_excerpt(const std::string& text, size_t max_bytes = 60);

}  // namespace attn::data
