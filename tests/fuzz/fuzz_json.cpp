// Fuzzes the JSON reader (tensor/json.cpp): the header of every safetensors
// file and every line of a metrics log go through it.
//
// Input: any bytes, parsed as one JSON document. Beyond "no crash", a parsed
// value must survive a round trip: written back with json::append_string
// (the writer the safetensors header and the logs use) and parsed again, it
// gives the same tree; every string in it is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "tensor/json.h"

namespace {

using attn::json::Value;

// The value as JSON text again: strings through the library's writer,
// numbers and booleans as their kept text.
void write(const Value& value, std::string& out) {
  switch (value.kind) {
    case Value::Kind::Null: out += "null"; break;
    case Value::Kind::Bool:
    case Value::Kind::Number: out += value.text; break;
    case Value::Kind::String: attn::json::append_string(out, value.text); break;
    case Value::Kind::Array:
      out += '[';
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i > 0) out += ',';
        write(value.items[i], out);
      }
      out += ']';
      break;
    case Value::Kind::Object:
      out += '{';
      for (size_t i = 0; i < value.members.size(); ++i) {
        if (i > 0) out += ',';
        attn::json::append_string(out, value.members[i].first);
        out += ':';
        write(value.members[i].second, out);
      }
      out += '}';
      break;
  }
}

bool same(const Value& a, const Value& b) {
  if (a.kind != b.kind || a.text != b.text || a.items.size() != b.items.size() ||
      a.members.size() != b.members.size()) {
    return false;
  }
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (!same(a.items[i], b.items[i])) return false;
  }
  for (size_t i = 0; i < a.members.size(); ++i) {
    if (a.members[i].first != b.members[i].first || !same(a.members[i].second, b.members[i].second))
      return false;
  }
  return true;
}

void check_strings_are_utf8(const Value& value) {
  if (value.kind == Value::Kind::String) {
    attn_fuzz::check(attn::json::find_invalid_utf8(value.text) == std::string::npos,
                     "a parsed string is not valid UTF-8");
  }
  for (const Value& item : value.items) check_strings_are_utf8(item);
  for (const auto& [key, member] : value.members) {
    attn_fuzz::check(attn::json::find_invalid_utf8(key) == std::string::npos,
                     "a parsed key is not valid UTF-8");
    check_strings_are_utf8(member);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Value value;
  try {
    value = attn::json::parse(text, "fuzz.json", 8);
  } catch (const attn::Error& e) {
    // Errors read "<context> at byte <offset>: <what>".
    const std::string message = e.what();
    attn_fuzz::check(message.rfind("fuzz.json at byte ", 0) == 0,
                     "a JSON error without the context and the offset: " + message);
    return 0;
  }
  check_strings_are_utf8(value);
  std::string again;
  write(value, again);
  Value reparsed;
  try {
    reparsed = attn::json::parse(again, "fuzz.json (written back)");
  } catch (const attn::Error& e) {
    attn_fuzz::fail(std::string("the written-back value does not parse: ") + e.what());
  }
  attn_fuzz::check(same(value, reparsed), "the value changed in a write and parse round trip");
  return 0;
}
