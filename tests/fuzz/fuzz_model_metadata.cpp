// Fuzzes the model metadata loader, ModelOptions::from_metadata
// (train/options.cpp): what rebuilds a model from the "__metadata__" strings
// of its file. (fuzz_safetensors reaches it through whole files; here the
// fuzzer works on the keys and values directly, which goes deeper faster.)
//
// Input: text, one edit a line, applied to the metadata a default model
// writes (ModelOptions::to_metadata):
//   key=value    sets key (a new key, or a known one to a new value)
//   -key         removes key
//   transformer  (the first line only) starts from a Transformer's metadata
// so that seeds read as what they test, and the fuzzer's mutations stay near
// the keys the loader knows.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "fuzz_common.h"
#include "train/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  attn::train::ModelOptions start;
  size_t pos = 0;
  if (text.compare(0, 12, "transformer\n") == 0) {
    start.type = "transformer";
    pos = 12;
  }
  std::map<std::string, std::string> metadata = start.to_metadata();
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t equals = line.find('=');
    if (!line.empty() && line[0] == '-') {
      metadata.erase(line.substr(1));
    } else if (equals != std::string::npos) {
      metadata[line.substr(0, equals)] = line.substr(equals + 1);
    }
  }
  attn::train::ModelOptions options;
  try {
    options = attn::train::ModelOptions::from_metadata(metadata);
  } catch (const attn::Error& e) {
    // Every refusal names the key ("model metadata: key 'model.dim_emb' ...").
    const std::string message = e.what();
    attn_fuzz::check(message.find("model.") != std::string::npos,
                     "a metadata error that names no key: " + message);
    return 0;
  }
  // What a loaded model writes into its next checkpoint must load again.
  try {
    attn::train::ModelOptions::from_metadata(options.to_metadata());
  } catch (const attn::Error& e) {
    attn_fuzz::fail(std::string("metadata that loaded does not load after a save: ") + e.what());
  }
  return 0;
}
