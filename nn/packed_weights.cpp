// PackedWeights, its scope, and the linear that uses them (nn/packed_weights.h).
#include "nn/packed_weights.h"

#include <cstdlib>
#include <string>

#include "autograd/node.h"

namespace attn::nn {
namespace {

thread_local PackedWeights* current_weights = nullptr;

// Off with ATTN_PACKED_WEIGHTS=0 in the environment, read once.
bool& enabled_flag() {
  static bool enabled = [] {
    const char* value = std::getenv("ATTN_PACKED_WEIGHTS");
    return value == nullptr || std::string(value) != "0";
  }();
  return enabled;
}

}  // namespace

const PackedLinear& PackedWeights::get(const Tensor& weight, const Tensor& bias) {
  ATTN_CHECK(weight.defined() && weight.dim() == 2,
             "PackedWeights: weight must be (out, in), got ",
             weight.defined() ? shape_str(weight.shape()) : "undefined");
  const Key key{weight.unsafe_impl()->storage.get(), weight.offset(), weight.size(0),
                weight.size(1), weight.stride(0), weight.stride(1),
                bias.defined() ? bias.unsafe_impl()->storage.get() : nullptr,
                bias.defined() ? bias.offset() : 0};
  auto found = packs_.find(key);
  if (found == packs_.end()) found = packs_.emplace(key, linear_prepack(weight, bias)).first;
  return found->second;
}

int64_t PackedWeights::bytes() const {
  int64_t total = 0;
  for (const auto& entry : packs_) {
    const Tensor& packed = entry.second.packed;
    if (packed.defined()) total += packed.numel() * static_cast<int64_t>(element_size(packed.dtype()));
  }
  return total;
}

PackedWeightsScope::PackedWeightsScope(PackedWeights& weights) : previous_(current_weights) {
  current_weights = &weights;
}

PackedWeightsScope::~PackedWeightsScope() { current_weights = previous_; }

PackedWeights* PackedWeightsScope::current() { return current_weights; }

bool packed_weights_enabled() { return enabled_flag(); }

void set_packed_weights_enabled(bool enabled) { enabled_flag() = enabled; }

Tensor linear_in_scope(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  PackedWeights* weights = current_weights;
  if (weights == nullptr || !enabled_flag() || !weight.defined() || weight.device() != kCPU ||
      autograd::any_requires_grad({x, weight, bias})) {
    return linear(x, weight, bias);
  }
  return linear_prepacked(x, weights->get(weight, bias));
}

}  // namespace attn::nn
