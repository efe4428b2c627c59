// Looking at the autograd graph from outside: Tensor::debug_string() for one
// tensor, and dump_graph() for the whole graph behind a loss, as Graphviz DOT.
//
// The graph of docs/02-autograd.md is made of Node objects (autograd/node.h)
// joined by edges; a training step of a translator builds thousands of them.
// dump_graph() writes every node reachable from a tensor with its op name, the
// shape and dtype of the tensor that op produced and, when recorded, the norm
// of the gradient that flowed into it, plus one box per leaf (a parameter)
// with its name, shape and gradient norm. Render it with Debian's graphviz:
//
//   attn::autograd::RecordGradNormsGuard record;   // norms of inner nodes too
//   loss.backward();
//   attn::dump_graph(loss, "step.dot", {model.named_parameters()});
//   $ dot -Tsvg step.dot -o step.svg
//
// `attn train --dump-graph step.dot` does exactly this for the first update
// (train_step in train/train_step.cpp), and docs/debugging.md shows one rendered.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace attn {

struct GraphDumpOptions {
  // Names for leaves, e.g. Module::named_parameters(); unnamed leaves are
  // labelled "leaf".
  std::vector<std::pair<std::string, Tensor>> named_leaves = {};
  // Refuse graphs larger than this rather than write a file no viewer opens.
  int64_t max_nodes = 20000;
};

// The graph behind `root` (any tensor; usually the loss), in DOT. Gradient
// norms are shown where known: a leaf's from its .grad, an op node's when the
// last backward ran under RecordGradNormsGuard. Throws attn::Error naming the
// count when the graph has more than options.max_nodes nodes, and when `root`
// is undefined or has no graph (it does not require grad).
std::string graph_to_dot(const Tensor& root, const GraphDumpOptions& options = {});

// graph_to_dot() written to `path`; throws attn::Error naming the path if the
// file cannot be written.
void dump_graph(const Tensor& root, const std::string& path,
                const GraphDumpOptions& options = {});

namespace autograd {

// sqrt(sum of t's squares), without recording a graph: the norm dump_graph
// shows, for a node's incoming gradient and for a leaf's .grad.
double l2_norm(const Tensor& t);

// Whether backward() stores ||dL/d(output)|| in each node it runs (Node::grad_norm).
bool grad_norms_recorded();

// While one is alive, backward() records each node's incoming gradient norm.
class RecordGradNormsGuard {
 public:
  RecordGradNormsGuard();
  ~RecordGradNormsGuard();
  RecordGradNormsGuard(const RecordGradNormsGuard&) = delete;
  RecordGradNormsGuard& operator=(const RecordGradNormsGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace autograd
}  // namespace attn
