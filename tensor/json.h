// A small JSON reader and writer: enough for the header of a safetensors file
// (tensor/safetensors.cpp) and for one-line JSON logs. Not a general library:
// values are kept as a plain tree, numbers as their text, and every error is
// an attn::Error naming the caller's context and the byte offset.
//
//   attn::json::Value header = attn::json::parse(text, "m.safetensors: bad JSON header", 8);
//   std::string line = "{\"note\":" + attn::json::quote(note) + "}";   // a JSONL log line
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace attn::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  std::string text;         // a String's value (UTF-8), a Number's literal ("24", "-1", "2.5"),
                            // or "true"/"false"
  std::vector<Value> items;                            // an Array's elements
  std::vector<std::pair<std::string, Value>> members;  // an Object's members, in order
  size_t offset = 0;  // where the value starts: base + index in the text, for messages
};

// "a number", "an object", ...: for messages such as "expected an array, got a string".
const char* kind_name(Value::Kind kind);

// Parses one JSON value, with only whitespace around it. Rejects duplicate
// keys, invalid UTF-8, lone surrogates and nesting deeper than 32 levels.
// Errors read "<context> at byte <base + index>: <what>".
Value parse(const std::string& text, const std::string& context, size_t base = 0);

// Appends s as a quoted JSON string: quotes, backslashes and control
// characters escaped, UTF-8 copied as is. s should be valid UTF-8.
void append_string(std::string& out, const std::string& s);
std::string quote(const std::string& s);

// The index of the first byte that is not part of valid UTF-8 (a stray
// continuation byte, an overlong form, a surrogate, beyond U+10FFFF), or
// std::string::npos when s is valid.
size_t find_invalid_utf8(const std::string& s);

}  // namespace attn::json
