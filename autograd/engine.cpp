// The backward engine: reverse-mode automatic differentiation.
//
// backward() on a loss L does three things:
//   1. Collect every node reachable from L's grad_fn and count, for each node,
//      how many edges point to it (how many gradients it will receive).
//   2. Walk the nodes in reverse topological order, starting with dL/dL = 1: a
//      node runs only once all gradient contributions to its output have been
//      summed (the chain rule adds the paths: dL/dx = sum over uses of x).
//   3. Hand each contribution to the next node, or add it to a leaf's .grad.
// Nodes release their saved tensors as soon as they have run, and a second
// backward through them throws. See docs/02-autograd.md.
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/grad_mode.h"
#include "autograd/graph_dump.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "tensor/dispatch.h"

namespace attn {
namespace autograd {

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  ATTN_CHECK(!released_, name_,
             ": trying to backward through the graph a second time; the graph is freed by the "
             "first backward() (run the forward pass again to build a new one)");
  return backward_(grad_output);
}

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

namespace {

Edge edge_to(const Tensor& input) {
  Edge edge;
  if (!input.defined() || !input.requires_grad()) return edge;
  if (input.grad_fn()) {
    edge.node = input.grad_fn();
  } else {
    edge.leaf = input.impl_ptr();
  }
  return edge;
}

// True if `impl`, held `refs` times by the caller, is held by no one else and
// is a plain, dense buffer that nothing else views: then the engine may keep
// it as a gradient, or add into it, and no other code can see the difference.
bool owned_dense(const std::shared_ptr<TensorImpl>& impl, long refs) {
  const TensorImpl& g = *impl;
  size_t numel = 1;
  for (int64_t n : g.shape) numel *= static_cast<size_t>(n);
  return impl.use_count() == refs && g.storage.use_count() == 1 && !g.grad_fn &&
         !g.requires_grad && g.offset == 0 && Tensor(impl).is_contiguous() &&
         g.storage->nbytes() == numel * element_size(g.dtype);
}

// True if `grad` can become a leaf's .grad as it is (writing into that .grad
// later, an optimizer or zero_grad, then surprises no one).
bool adoptable(const Tensor& grad, const TensorImpl& leaf) {
  const TensorImpl& g = *grad.unsafe_impl();
  return owned_dense(grad.impl_ptr(), 1) && g.dtype == leaf.dtype && g.shape == leaf.shape;
}

// sum + g, written into sum's own buffer when only the engine holds it (a
// gradient it made or adopted) and g has its shape, dtype and device: a
// weight used at every time step receives one gradient per step, and a new
// buffer for each partial sum cost 7-9% of an RNN's step. Otherwise a new sum.
std::shared_ptr<TensorImpl> accumulated(std::shared_ptr<TensorImpl> sum, const Tensor& g) {
  Tensor s(sum);  // a second handle, counted below
  if (!owned_dense(sum, 2) || g.shape() != s.shape() || g.dtype() != s.dtype() ||
      g.device() != s.device()) {
    return (s + g).impl_ptr();
  }
  const Shape& shape = s.shape();
  const Shape s_strides = s.strides(), g_strides = g.strides();
  dispatch_floating(s.dtype(), s.device(), "backward (accumulate)", [&](auto zero, auto device) {
    using T = decltype(zero);
    T* out = s.data_ptr<T>();
    kernels::binary<device>(kernels::BinaryOp::Add, static_cast<int>(shape.size()), shape.data(),
                            out, s_strides.data(), g.data_ptr<T>(), g_strides.data(), out);
  });
  return sum;
}

// dL/dleaf += grad. The first contribution becomes the leaf's gradient: adopted
// when no one else holds it (the common case: a fresh tensor made by a
// backward function), else stored as a fresh copy, so that later accumulation
// never writes into a tensor some other code still holds. Adopting saves a
// copy of every parameter's gradient each step.
void accumulate_into_leaf(TensorImpl& leaf, Tensor grad) {
  if (!leaf.grad) {
    if (adoptable(grad, leaf)) {
      leaf.grad = grad.impl_ptr();
    } else {
      leaf.grad = grad.detach().clone().impl_ptr();
    }
    return;
  }
  leaf.grad = accumulated(std::move(leaf.grad), grad);
}

}  // namespace

void record(const char* name, Tensor& output, const std::vector<Tensor>& inputs,
            BackwardFn backward) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& input : inputs) edges.push_back(edge_to(input));
  TensorImpl& out = *output.unsafe_impl();
  out.grad_fn = std::make_shared<Node>(name, std::move(edges), std::move(backward), out.shape,
                                       out.dtype, out.storage->device());
  out.requires_grad = true;
}

}  // namespace autograd

void Tensor::backward(const Tensor& gradient) const {
  using autograd::Edge;
  using autograd::Node;
  ATTN_CHECK(requires_grad(), "backward: the tensor of shape ", shape_str(shape()),
             " does not require grad (did you forget requires_grad_() on a parameter, or run "
             "the forward pass under NoGradGuard?)");
  Tensor seed = gradient;
  if (!seed.defined()) {
    ATTN_CHECK(numel() == 1, "backward: a gradient argument is needed for a non-scalar tensor"
               " of shape ", shape_str(shape()), " (call loss.backward() on a scalar)");
    seed = full(shape(), 1.0, TensorOptions(dtype()).device(device()));
  }
  ATTN_CHECK(seed.shape() == shape(), "backward: gradient of shape ", shape_str(seed.shape()),
             " for a tensor of shape ", shape_str(shape()));
  NoGradGuard no_grad;  // the backward pass itself is not recorded

  if (!grad_fn()) {  // a leaf: its gradient is the seed itself
    autograd::accumulate_into_leaf(*unsafe_impl(), std::move(seed));
    return;
  }

  // 1. Reachable nodes and how many gradients each will receive.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack = {grad_fn().get()};
  pending[grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->next_edges()) {
      if (!edge.node) continue;
      auto found = pending.find(edge.node.get());
      if (found == pending.end()) {
        pending[edge.node.get()] = 1;
        stack.push_back(edge.node.get());
      } else {
        found->second += 1;
      }
    }
  }

  // 2. Run nodes whose gradient is complete, starting from the root.
  std::unordered_map<Node*, Tensor> grads;
  grads[grad_fn().get()] = seed;
  std::vector<Node*> ready = {grad_fn().get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad_output = grads[node];
    grads.erase(node);
    if (autograd::grad_norms_recorded()) {  // for dump_graph (autograd/graph_dump.h)
      node->set_grad_norm(autograd::l2_norm(grad_output));
    }
    std::vector<Tensor> input_grads = node->apply(grad_output);
    ATTN_CHECK(input_grads.size() == node->next_edges().size(), node->name(),
               ": backward returned ", input_grads.size(), " gradients for ",
               node->next_edges().size(), " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& edge = node->next_edges()[i];
      Tensor g = std::move(input_grads[i]);  // moved: a leaf may adopt it (accumulate_into_leaf)
      if (!edge.needs_grad()) continue;
      if (edge.leaf) {
        if (g.defined()) autograd::accumulate_into_leaf(*edge.leaf, std::move(g));
        continue;
      }
      Node* next = edge.node.get();
      if (g.defined()) {
        ATTN_CHECK(g.shape() == next->output_shape(), node->name(), ": gradient of shape ",
                   shape_str(g.shape()), " for an input of shape ",
                   shape_str(next->output_shape()), " (produced by ", next->name(), ")");
        ATTN_DEBUG_CHECK(g.dtype() == next->output_dtype(), node->name(), ": gradient of dtype ",
                         dtype_name(g.dtype()), " for an input of dtype ",
                         dtype_name(next->output_dtype()));
        auto found = grads.find(next);
        if (found == grads.end()) {
          grads[next] = std::move(g);
        } else {
          std::shared_ptr<TensorImpl> sum = found->second.impl_ptr();
          found->second = Tensor();  // the engine's only handle is now `sum`
          found->second = Tensor(autograd::accumulated(std::move(sum), g));
        }
      }
      if (--pending[next] == 0) {
        // A node all of whose uses gave no gradient still has to release.
        if (grads.find(next) == grads.end()) {
          grads[next] = zeros(next->output_shape(),
                              TensorOptions(next->output_dtype()).device(next->output_device()));
        }
        ready.push_back(next);
      }
    }
    node->release();
  }
}

}  // namespace attn
