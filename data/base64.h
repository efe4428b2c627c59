// Base64 (RFC 4648, section 4): any bytes as printable ASCII, 4 characters for
// every 3 bytes, '=' padding the last group.
//
// Why attn needs it: a model file's metadata is JSON text (safetensors'
// "__metadata__" holds strings, and JSON strings must be valid UTF-8), but a
// SentencePiece model is binary (a serialized protocol buffer). Base64 lets
// those bytes travel inside the metadata, so that the model file alone is
// enough to translate (train/dataset.cpp, "data.spm_model").
//
//   encode_base64("attn")      -> "YXR0bg=="
//   decode_base64("YXR0bg==")  -> "attn"
#pragma once

#include <string>

namespace attn::data {

// bytes (n) -> text (4 * ceil(n / 3) characters of A-Z a-z 0-9 + / =).
std::string encode_base64(const std::string& bytes);

// text -> bytes. Throws attn::Error naming `where` and the offset for a
// character outside the alphabet, a length that is not a multiple of 4, or
// padding anywhere but at the end.
std::string decode_base64(const std::string& text, const std::string& where = "base64");

}  // namespace attn::data
