// Fuzzes the tab-separated corpus reader, read_tsv (data/corpus.cpp), and
// read_lines under it (which the vocabulary and parallel readers share).
//
// Input: the whole file. Beyond "no crash", every message names the file, and
// the pairs of a file that loads keep the header's promises: both sides
// non-empty, trimmed, valid UTF-8, without a line break or a NUL; the source
// without a tab.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/utf8.h"
#include "fuzz_common.h"

namespace {

void check_side(const std::string& text, const char* side) {
  const std::string what = std::string("a ") + side + " ";
  attn_fuzz::check(!text.empty(), what + "is empty");
  attn_fuzz::check(attn::data::find_invalid_utf8(text) == std::string::npos,
                   what + "is not valid UTF-8");
  attn_fuzz::check(text.find_first_of(std::string("\n\0", 2)) == std::string::npos,
                   what + "holds a line break or a NUL");
  attn_fuzz::check(attn::data::trim_spaces(text) == text, what + "is not trimmed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const attn_fuzz::ScratchFile file("in.tsv");
  file.write(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<attn::data::SentencePair> pairs;
  try {
    pairs = attn::data::read_tsv(file.path());
  } catch (const attn::Error& e) {
    attn_fuzz::check_names(e, file.path());
    return 0;
  }
  // read_tsv refuses an empty file and a line without a pair, so one pair a line.
  attn_fuzz::check(!pairs.empty() && pairs.size() == attn::data::read_lines(file.path()).size(),
                   "not one pair a line");
  for (const attn::data::SentencePair& pair : pairs) {
    check_side(pair.source, "source");
    check_side(pair.target, "target");
    attn_fuzz::check(pair.source.find('\t') == std::string::npos, "a source holds a tab");
  }
  return 0;
}
