// Reading and writing named tensors in the safetensors format, so attn's
// weights open in PyTorch (safetensors.torch.load_file) and other tools.
//
// The file: an 8-byte little-endian header length N, then N bytes of JSON
//   {"__metadata__": {"key": "value", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the raw little-endian data of every tensor, back to back; offsets are
// relative to the end of the header. (https://github.com/huggingface/safetensors)
#pragma once

#include <map>
#include <string>

#include "tensor/tensor.h"

namespace attn {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;           // CPU, contiguous
  std::map<std::string, std::string> metadata;     // the "__metadata__" strings
};

// Writes to path + ".tmp", then renames over path, so a crash mid-write never
// leaves a half-written file under the real name.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Loads and validates: the header length fits the file and 100 MB, the JSON
// parses, every dtype is known (F32, F64, I64, BF16), every shape has at most 8 dims
// whose sizes multiply within int64 (overflow-checked) and matches its byte
// range, the ranges lie inside the file and do not overlap. Throws attn::Error
// naming the file, what is wrong and the values.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace attn
