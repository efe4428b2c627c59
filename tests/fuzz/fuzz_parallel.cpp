// Fuzzes the parallel-file corpus reader, read_parallel (data/corpus.cpp):
// two line-aligned files, as Multi30k's train.en and train.de.
//
// Input: the two files one after the other, split at the first NUL byte
// (which read_lines refuses anyway, so the source file loses nothing the
// target file and fuzz_tsv do not cover); no NUL: the target file is empty.
// Beyond "no crash", every message names one of the two files, and the pairs
// of files that load are as many as the lines, non-empty and trimmed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/utf8.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const attn_fuzz::ScratchFile source("in.src");
  static const attn_fuzz::ScratchFile target("in.tgt");
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const size_t split = bytes.find('\0');
  source.write(bytes.substr(0, split));
  target.write(split == std::string::npos ? std::string() : bytes.substr(split + 1));
  std::vector<attn::data::SentencePair> pairs;
  try {
    pairs = attn::data::read_parallel(source.path(), target.path());
  } catch (const attn::Error& e) {
    const std::string message = e.what();
    attn_fuzz::check(message.find(source.path()) != std::string::npos ||
                         message.find(target.path()) != std::string::npos,
                     "the message names neither file: " + message);
    return 0;
  }
  attn_fuzz::check(!pairs.empty() && pairs.size() == attn::data::read_lines(source.path()).size(),
                   "not one pair a line");
  for (const attn::data::SentencePair& pair : pairs) {
    attn_fuzz::check(!pair.source.empty() && !pair.target.empty(), "an empty side");
    attn_fuzz::check(attn::data::trim_spaces(pair.source) == pair.source &&
                         attn::data::trim_spaces(pair.target) == pair.target,
                     "a side is not trimmed");
  }
  return 0;
}
