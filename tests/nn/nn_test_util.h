// Small helpers shared by the tests of nn/: the message of an expected
// attn::Error, a tensor's values as doubles, a lengths tensor from a list,
// the tiny Transformers' batch.
#pragma once

#include <attn/attn.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attn_test {

// The message of the attn::Error that `body` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const attn::Error& error) {
    return error.what();
  }
  return "(no error)";
}

// Every element of `t`, in row-major order, as double.
inline std::vector<double> values_of(const attn::Tensor& t) {
  return t.detach().to(attn::kFloat64).contiguous().to_vector<double>();
}

// {5, 3} -> int64 tensor (2), as the models' source_lengths.
inline attn::Tensor lengths_of(const std::vector<int64_t>& values) {
  return attn::from_vector(values, {static_cast<int64_t>(values.size())});
}

// The batch of the tiny Transformers of test_transformer.cpp and
// test_fused_attention.cpp (source vocabulary 13, target 11): three
// sentences of lengths 5, 3, 4, padded with 0; six target positions.
struct TransformerBatch {
  attn::Tensor source = attn::from_vector(
      std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 0, 0, 11, 12, 5, 6, 0}, {3, 5});
  attn::Tensor lengths = lengths_of({5, 3, 4});
  attn::Tensor target = attn::from_vector(
      std::vector<int64_t>{1, 4, 5, 6, 7, 8, 1, 8, 7, 6, 5, 4, 1, 9, 10, 3, 2, 0}, {3, 6});
};

}  // namespace attn_test
