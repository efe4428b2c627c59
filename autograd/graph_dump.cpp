// Tensor::debug_string() and dump_graph(): the graph of autograd/node.h made
// visible, for a debugger session or for Graphviz (autograd/graph_dump.h).
#include "autograd/graph_dump.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "tensor/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace attn {
namespace autograd {
namespace {
thread_local bool record_grad_norms = false;
}  // namespace

bool grad_norms_recorded() { return record_grad_norms; }

double l2_norm(const Tensor& t) {
  NoGradGuard no_grad;
  Tensor d = t.detach();
  return std::sqrt((d * d).sum().item<double>());
}

RecordGradNormsGuard::RecordGradNormsGuard() : previous_(record_grad_norms) {
  record_grad_norms = true;
}
RecordGradNormsGuard::~RecordGradNormsGuard() { record_grad_norms = previous_; }

}  // namespace autograd

namespace {

// Up to `count` values of `t` in logical (row-major) order, as text. A view is
// read through its strides by contiguous(); a CUDA tensor is copied first.
std::string first_values(const Tensor& t, int64_t count) {
  NoGradGuard no_grad;
  Tensor flat = t.detach().to(kCPU).contiguous().reshape({t.numel()});
  int64_t n = std::min<int64_t>(count, flat.numel());
  std::ostringstream out;
  out << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0) out << ", ";
    char buffer[32];
    switch (t.dtype()) {
      case kFloat32: std::snprintf(buffer, sizeof buffer, "%.6g", flat.data_ptr<float>()[i]); break;
      case kFloat64: std::snprintf(buffer, sizeof buffer, "%.10g", flat.data_ptr<double>()[i]); break;
      case kBFloat16:
        std::snprintf(buffer, sizeof buffer, "%.4g", double(float(flat.data_ptr<BFloat16>()[i])));
        break;
      case kInt64:
        std::snprintf(buffer, sizeof buffer, "%lld",
                      static_cast<long long>(flat.data_ptr<int64_t>()[i]));
        break;
    }
    out << buffer;
  }
  if (flat.numel() > n) out << ", ...";
  out << "]";
  return out.str();
}

std::string format_norm(double norm) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", norm);
  return buffer;
}

// DOT strings are double-quoted; a name inside one needs only these escapes
// (labels then join the escaped parts with DOT's \n line break).
std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

// One line: what `p t` in gdb cannot show without the printers of
// scripts/gdb/attn_printers.py.
std::string Tensor::grad_fn_name() const { return grad_fn() ? grad_fn()->name() : std::string(); }

std::string Tensor::debug_string(int64_t max_values) const {
  if (!defined()) return "Tensor(undefined)";
  const TensorImpl& impl = *unsafe_impl();
  std::ostringstream out;
  out << "Tensor shape=" << shape_str(impl.shape) << " strides=" << shape_str(impl.strides)
      << " offset=" << impl.offset << " dtype=" << dtype_name(impl.dtype)
      << " device=" << device_name(device())
      << " requires_grad=" << (impl.requires_grad ? "true" : "false")
      << " grad=" << (impl.grad ? shape_str(impl.grad->shape) : std::string("none"))
      << " grad_fn=" << (impl.grad_fn ? impl.grad_fn->name() : std::string("none"))
      << " values=" << first_values(*this, max_values);
  return out.str();
}

std::string graph_to_dot(const Tensor& root, const GraphDumpOptions& options) {
  using autograd::Edge;
  using autograd::Node;
  ATTN_CHECK(root.defined(), "dump_graph: the tensor is undefined");
  ATTN_CHECK(root.grad_fn() != nullptr, "dump_graph: the tensor of shape ",
             shape_str(root.shape()), " has no graph (it is a leaf, or was computed under "
             "NoGradGuard or from tensors that do not require grad)");
  std::unordered_map<const TensorImpl*, std::string> leaf_names;
  for (const auto& [name, tensor] : options.named_leaves) {
    if (tensor.defined()) leaf_names[tensor.unsafe_impl()] = name;
  }

  // Number every node and leaf in the order of a depth-first walk from the
  // root, so that the same graph always gives the same file.
  std::unordered_map<const Node*, int64_t> node_ids;
  std::unordered_map<const TensorImpl*, int64_t> leaf_ids;
  std::vector<const Node*> nodes = {root.grad_fn().get()};
  std::vector<const TensorImpl*> leaves;
  node_ids[nodes[0]] = 0;
  std::vector<const Node*> stack = {nodes[0]};
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->next_edges()) {
      if (edge.node && node_ids.count(edge.node.get()) == 0) {
        node_ids[edge.node.get()] = static_cast<int64_t>(nodes.size());
        nodes.push_back(edge.node.get());
        stack.push_back(edge.node.get());
      } else if (edge.leaf && leaf_ids.count(edge.leaf.get()) == 0) {
        leaf_ids[edge.leaf.get()] = static_cast<int64_t>(leaves.size());
        leaves.push_back(edge.leaf.get());
      }
      ATTN_CHECK(static_cast<int64_t>(nodes.size() + leaves.size()) <= options.max_nodes,
                 "dump_graph: the graph has more than ", options.max_nodes,
                 " nodes; raise GraphDumpOptions::max_nodes or dump a smaller step");
    }
  }

  // Edges point the way the forward pass ran: from an input to the op using it.
  std::ostringstream dot;
  dot << "digraph autograd {\n"
      << "  rankdir=BT;\n"
      << "  node [fontname=\"Helvetica\", fontsize=10];\n";
  for (const Node* node : nodes) {
    std::string label = escape(node->name()) + "\\n" + shape_str(node->output_shape()) + " " +
                        dtype_name(node->output_dtype());
    if (node->grad_norm() >= 0) label += "\\n|grad| " + format_norm(node->grad_norm());
    dot << "  n" << node_ids[node] << " [shape=box, style=filled, fillcolor="
        << (node == nodes[0] ? "\"#f4a582\"" : "\"#f7f7f7\"") << ", label=\""
        << label << "\"];\n";
  }
  for (const TensorImpl* leaf : leaves) {
    auto named = leaf_names.find(leaf);
    std::string label = named == leaf_names.end() ? "leaf" : escape(named->second);
    label += "\\n" + shape_str(leaf->shape) + " " + dtype_name(leaf->dtype);
    if (leaf->grad) label += "\\n|grad| " + format_norm(autograd::l2_norm(Tensor(leaf->grad)));
    dot << "  l" << leaf_ids[leaf] << " [shape=ellipse, style=filled, fillcolor=\"#92c5de\", "
        << "label=\"" << label << "\"];\n";
  }
  for (const Node* node : nodes) {
    for (const Edge& edge : node->next_edges()) {
      if (edge.node) dot << "  n" << node_ids[edge.node.get()] << " -> n" << node_ids[node] << ";\n";
      if (edge.leaf) dot << "  l" << leaf_ids[edge.leaf.get()] << " -> n" << node_ids[node] << ";\n";
    }
  }
  dot << "}\n";
  return dot.str();
}

void dump_graph(const Tensor& root, const std::string& path, const GraphDumpOptions& options) {
  std::string dot = graph_to_dot(root, options);
  std::ofstream out(path);
  ATTN_CHECK(out.good(), "dump_graph: cannot open ", path, " for writing");
  out << dot;
  out.close();
  ATTN_CHECK(out.good(), "dump_graph: writing ", path, " failed");
}

}  // namespace attn
