// The weights of one decode, packed once for the CPU's GEMM
// (kernels/packed_linear.h says why a decoder step wants them packed).
//
// A Transformer's decoder state owns a PackedWeights. Transformer::start()
// and step() open a PackedWeightsScope on it around their work, and inside
// that scope every product with a weight that runs without a graph
// (Linear::forward, and the few layers that call linear_in_scope with a
// weight of their own) multiplies by a packed copy, made the first time the
// decode needs it and kept until the state goes:
//
//   {
//     PackedWeightsScope scope(state->packed_weights);
//     ... Linear::forward(x) == linear_prepacked(x, <W packed>) ...
//   }
//
// Why a scope rather than packing inside Linear: a packed copy is a snapshot,
// and a Linear cannot know when its weight changes (an optimizer writes it in
// place). A decode is the span in which nothing changes the weights, and the
// next decode packs them again, so a model trained between two decodes is
// decoded with its new weights. The scope is per thread, like NoGradGuard.
// Where a graph must record the product (training), nothing is packed.
#pragma once

#include <cstdint>
#include <map>
#include <tuple>

#include "autograd/ops.h"

namespace attn::nn {

class PackedWeights {
 public:
  // The packed copy of (weight, bias), packed the first time it is asked
  // for. weight: (out, in); bias: (out) or undefined.
  const PackedLinear& get(const Tensor& weight, const Tensor& bias);
  // How many weights are packed, and the bytes their copies take.
  int64_t size() const { return static_cast<int64_t>(packs_.size()); }
  int64_t bytes() const;

 private:
  // A weight is found by where its numbers are and how they are laid out (a
  // row block of a larger weight starts where the weight does), and by its
  // bias. Each entry keeps its tensors alive, so no other weight can come to
  // live at the same address while the entry exists.
  // (weight's buffer, offset, rows, columns, row stride, column stride,
  //  bias's buffer, offset)
  using Key = std::tuple<const void*, int64_t, int64_t, int64_t, int64_t, int64_t, const void*,
                         int64_t>;
  std::map<Key, PackedLinear> packs_;
};

// While alive, makes `weights` the packed weights of this thread (the
// previous ones come back when it goes, so scopes nest).
class PackedWeightsScope {
 public:
  explicit PackedWeightsScope(PackedWeights& weights);
  ~PackedWeightsScope();
  PackedWeightsScope(const PackedWeightsScope&) = delete;
  PackedWeightsScope& operator=(const PackedWeightsScope&) = delete;

  // The packed weights of the innermost open scope on this thread, or null.
  static PackedWeights* current();

 private:
  PackedWeights* previous_;
};

// Whether linear_in_scope packs at all: on, unless ATTN_PACKED_WEIGHTS=0 is
// in the environment (to compare, or to rule the packed kernel out while
// debugging; decoding then multiplies through OpenBLAS, as training does).
bool packed_weights_enabled();
void set_packed_weights_enabled(bool enabled);

// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out),
// y = x W^T + b. attn::linear, except inside a PackedWeightsScope on the CPU
// when no graph records the product and packing is enabled: then
// linear_prepacked with the scope's packed copy of the weight.
Tensor linear_in_scope(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace attn::nn
