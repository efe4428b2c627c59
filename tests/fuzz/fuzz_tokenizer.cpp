// Fuzzes the tokenizers (data/tokenizer.cpp, word, char and space) and the UTF-8
// walking under them (data/utf8.cpp), through which every sentence passes.
//
// Input: one byte of settings, then the text. Settings bit 0: char (1) or
// word (0); bit 1: lowercase; bit 2: space (whatever bit 0 says).
//
// These take text, not files, so the promises are sharper than "no crash":
// - attn has two UTF-8 validators (data/utf8.cpp for text, tensor/json.cpp for
//   JSON, one floor apart); they must agree on every input, to the byte;
// - valid UTF-8 never throws, invalid UTF-8 always throws attn::Error naming
//   the caller's `where`;
// - every token is non-empty valid UTF-8 without a space; a char token is one
//   code point; detokenize works on what tokenize gave; for space, tokenizing
//   what detokenize wrote gives the same tokens;
// - trim_spaces and utf8_excerpt keep text valid.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "data/utf8.h"
#include "fuzz_common.h"
#include "tensor/json.h"

namespace {

using attn_fuzz::check;

bool valid(const std::string& s) { return attn::data::find_invalid_utf8(s) == std::string::npos; }

bool has_space(const std::string& token) {
  for (size_t pos = 0; pos < token.size();) {
    int length = 0;
    const uint32_t code_point = attn::data::decode_code_point(token, pos, &length);
    if (attn::data::is_space_code_point(code_point)) return true;
    pos += static_cast<size_t>(length);
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool space = data[0] & 4, char_level = !space && (data[0] & 1), lowercase = data[0] & 2;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const attn::data::Tokenizer tokenizer(
      space        ? attn::data::TokenizerKind::kSpace
      : char_level ? attn::data::TokenizerKind::kChar
                   : attn::data::TokenizerKind::kWord,
      lowercase);

  const size_t bad = attn::data::find_invalid_utf8(text);
  check(bad == attn::json::find_invalid_utf8(text),
        "data/utf8 and tensor/json disagree on where the UTF-8 is invalid");
  if (bad != std::string::npos) {
    try {
      tokenizer.tokenize(text, "fuzz.txt:1");
      attn_fuzz::fail("invalid UTF-8 was tokenized");
    } catch (const attn::Error& e) {
      const std::string where =
          "fuzz.txt:1: invalid UTF-8 at byte " + std::to_string(bad + 1) + " ";
      check(std::string(e.what()).rfind(where, 0) == 0,
            "the message does not say where (" + where + "): " + e.what());
    }
    return 0;
  }

  // Valid text: nothing below may throw (an escaping exception is a finding).
  const std::vector<std::string> tokens = tokenizer.tokenize(text, "fuzz.txt:1");
  for (const std::string& token : tokens) {
    check(!token.empty() && valid(token), "an empty or invalid token");
    check(!has_space(token), "a token holds a space");
    if (char_level) {
      int length = 0;
      attn::data::decode_code_point(token, 0, &length);
      check(static_cast<size_t>(length) == token.size(),
            "a char token of more than one code point");
    }
  }
  const std::string back = tokenizer.detokenize(tokens);
  check(valid(back), "detokenize made invalid UTF-8");
  // Tokenizing what detokenize wrote stays valid and finite (no promise of equality:
  // "Va !" comes back "Va!"), except for space, whose round trip is exact.
  const std::vector<std::string> again = tokenizer.tokenize(back);
  check(!space || again == tokens, "space: tokenize(detokenize(tokens)) differs from tokens");

  const std::string trimmed = attn::data::trim_spaces(text);
  check(valid(trimmed) && trimmed.size() <= text.size(), "trim_spaces broke the text");
  for (size_t max_bytes : {size_t{0}, size_t{1}, size_t{5}, size_t{60}}) {
    check(valid(attn::data::utf8_excerpt(text, max_bytes)), "utf8_excerpt cut a code point");
  }
  return 0;
}
