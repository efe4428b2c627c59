// Fuzzes the vocabulary loader, Vocab::load (data/vocab.cpp), which reads the
// PATH.src.vocab and PATH.tgt.vocab beside every model.
//
// Input: the whole file. Beyond "no crash", every message names the file, and
// a vocabulary that loads keeps its promises: ids and tokens map both ways,
// encode then decode gives the tokens back, and a save and load round trip
// changes nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/vocab.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const attn_fuzz::ScratchFile file("in.vocab");
  static const attn_fuzz::ScratchFile copy("copy.vocab");
  file.write(std::string(reinterpret_cast<const char*>(data), size));
  attn::data::Vocab vocab;
  try {
    vocab = attn::data::Vocab::load(file.path());
  } catch (const attn::Error& e) {
    attn_fuzz::check_names(e, file.path());
    return 0;
  }

  std::vector<std::string> words;  // the tokens after the specials
  for (int64_t id = 0; id < vocab.size(); ++id) {
    const std::string& token = vocab.token(id);
    attn_fuzz::check(vocab.id(token) == id, "token and id do not map both ways at id " +
                                                std::to_string(id));
    if (id >= attn::data::kNumSpecials) words.push_back(token);
  }
  attn_fuzz::check(vocab.decode(vocab.encode(words)) == words, "decode(encode(tokens)) != tokens");
  attn_fuzz::check(vocab.id("\n") == attn::data::kUnk, "a line break has an id");

  vocab.save(copy.path());
  attn_fuzz::check(attn::data::Vocab::load(copy.path()) == vocab, "a save and load changed it");
  return 0;
}
