// Fuzzes the safetensors reader (tensor/safetensors.cpp), the one door every
// model and checkpoint comes in through, and behind it the model metadata
// loader (ModelOptions::from_metadata, train/options.cpp) that `attn
// translate --model` feeds with the file's "__metadata__".
//
// Input: the whole file. Beyond "no crash", every message names the file,
// and a file that loads is written back with save_safetensors and loads again
// to the same tensors, bit for bit, and the same metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "fuzz_common.h"
#include "tensor/safetensors.h"
#include "train/options.h"

namespace {

bool same_bytes(const attn::Tensor& a, const attn::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const size_t n = static_cast<size_t>(a.numel()) * attn::element_size(a.dtype());
  return n == 0 || std::memcmp(a.unsafe_impl()->storage->data(), b.unsafe_impl()->storage->data(),
                               n) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const attn_fuzz::ScratchFile file("in.safetensors");
  static const attn_fuzz::ScratchFile copy("copy.safetensors");
  file.write(std::string(reinterpret_cast<const char*>(data), size));
  attn::SafetensorsFile loaded;
  try {
    loaded = attn::load_safetensors(file.path());
  } catch (const attn::Error& e) {
    attn_fuzz::check_names(e, file.path());
    return 0;
  }

  // A file that loads holds contiguous CPU tensors that fit in the file.
  int64_t bytes = 0;
  for (const auto& [name, tensor] : loaded.tensors) {
    attn_fuzz::check(tensor.is_contiguous() && tensor.offset() == 0,
                     "tensor '" + name + "' is not contiguous");
    bytes += tensor.numel() * static_cast<int64_t>(attn::element_size(tensor.dtype()));
  }
  attn_fuzz::check(bytes <= static_cast<int64_t>(size),
                   "the tensors hold more bytes than the file");

  // Written back, it loads again to the same thing.
  attn::save_safetensors(copy.path(), loaded.tensors, loaded.metadata);
  attn::SafetensorsFile again = attn::load_safetensors(copy.path());
  attn_fuzz::check(again.metadata == loaded.metadata, "the metadata changed in a round trip");
  attn_fuzz::check(again.tensors.size() == loaded.tensors.size(), "a round trip lost a tensor");
  for (const auto& [name, tensor] : loaded.tensors) {
    auto found = again.tensors.find(name);
    attn_fuzz::check(found != again.tensors.end() && same_bytes(tensor, found->second),
                     "tensor '" + name + "' changed in a round trip");
  }

  // What `attn translate --model` does next with the metadata.
  try {
    attn::train::ModelOptions::from_metadata(loaded.metadata);
  } catch (const attn::Error&) {
  }
  return 0;
}
