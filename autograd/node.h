// The autograd graph: one Node per op that ran on tensors needing gradients.
//
// When an op runs, it records a Node on its output holding (1) the op's name,
// e.g. "MatmulBackward", (2) one edge per input saying where that input's
// gradient must go, and (3) the backward rule: a function from dL/d(output) to
// dL/d(each input). backward() walks these nodes from the loss back to the
// leaves (autograd/engine.cpp).
//
// In the debugger: print `*x.impl_->grad_fn` to see which op made x, and its
// `next_edges_` to walk further back.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace attn::autograd {

class Node;

// Where the gradient for one input of an op goes: into the node that made that
// input, or, for a leaf that requires grad, into the leaf's .grad. Both empty
// for an input that needs no gradient (an integer mask, a constant).
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;

  bool needs_grad() const { return node != nullptr || leaf != nullptr; }
};

// Receives dL/d(output) and returns dL/d(input) for each edge, in order. An
// entry may be an undefined Tensor where that input needs no gradient.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

class Node {
 public:
  Node(std::string name, std::vector<Edge> next_edges, BackwardFn backward,
       Shape output_shape, DType output_dtype, Device output_device)
      : name_(std::move(name)),
        next_edges_(std::move(next_edges)),
        backward_(std::move(backward)),
        output_shape_(std::move(output_shape)),
        output_dtype_(output_dtype),
        output_device_(output_device) {}

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const Shape& output_shape() const { return output_shape_; }
  DType output_dtype() const { return output_dtype_; }
  Device output_device() const { return output_device_; }

  // Runs the backward rule; throws if the graph was already freed.
  std::vector<Tensor> apply(const Tensor& grad_output);

  // Drops the tensors the backward rule saved, as soon as it has run: the
  // graph's memory goes back before backward() even returns.
  void release() { backward_ = nullptr; released_ = true; }
  bool released() const { return released_; }

  // ||dL/d(output)||_2 as the engine handed it to this node in the last
  // backward, or -1 when it was not recorded: the engine records it only while
  // a RecordGradNormsGuard is alive (autograd/graph_dump.h), because it costs a
  // reduction per node (and a device-to-host copy on the GPU).
  double grad_norm() const { return grad_norm_; }
  void set_grad_norm(double norm) { grad_norm_ = norm; }

 private:
  std::string name_;
  std::vector<Edge> next_edges_;
  BackwardFn backward_;
  Shape output_shape_;
  DType output_dtype_;
  Device output_device_;
  bool released_ = false;
  double grad_norm_ = -1;
};

// True when grad mode is on and any of the inputs needs a gradient: only then
// is it worth recording a node.
bool any_requires_grad(std::initializer_list<Tensor> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches a node named `name` to `output`, with one edge per input, and marks
// the output as requiring grad. Ops call this right after computing their
// forward, passing the backward rule as a lambda that captures what it needs:
//
//   Tensor out = ...forward...;
//   if (autograd::any_requires_grad({a, b}))
//     autograd::record("MulBackward", out, {a, b}, [a, b](const Tensor& g) {
//       return std::vector<Tensor>{g * b, g * a};  // d(ab)/da = b, d(ab)/db = a
//     });
void record(const char* name, Tensor& output, const std::vector<Tensor>& inputs,
            BackwardFn backward);

}  // namespace attn::autograd
