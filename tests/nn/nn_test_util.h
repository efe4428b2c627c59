// Small helpers shared by the tests of nn/: the message of an expected
// attn::Error, a tensor's values as doubles, a lengths tensor from a list.
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

}  // namespace attn_test
