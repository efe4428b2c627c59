// attn::Tensor: an n-dimensional array with a dtype, a device, and (when it
// takes part in autograd) a link to the op that made it.
//
// A Tensor is a cheap handle: copying it shares the same data, like
// torch::Tensor. The data lives in a Storage; the tensor is a view onto it
// described by (shape, strides, offset) — see tensor/shape.h.
//
// Methods that run ops (x.sum(), x.transpose(0, 1), a + b) are declared here
// and defined beside their backward rules in autograd/, so the folders'
// arrows stay pointing down (design.md, "The house").
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace attn {

namespace autograd {
class Node;  // autograd/node.h; tensor/ only holds the pointer
}

// How to make a new tensor: element type, device, whether autograd tracks it.
// Converts implicitly from a DType or a Device, so zeros({2, 3}, kFloat64) works
// as in libtorch.
struct TensorOptions {
  DType dtype_ = kFloat32;       // the default element type
  Device device_ = kCPU;         // the default device
  bool requires_grad_ = false;   // leaves are untracked unless asked

  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}   // NOLINT: implicit on purpose
  TensorOptions(Device d) : device_(d) {} // NOLINT: implicit on purpose

  TensorOptions& dtype(DType d) { dtype_ = d; return *this; }
  TensorOptions& device(Device d) { device_ = d; return *this; }
  TensorOptions& requires_grad(bool r = true) { requires_grad_ = r; return *this; }
};

// The shared state behind a Tensor handle. Learners meet it in the debugger;
// code uses the Tensor methods.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;        // in elements, one per dim
  int64_t offset = 0;   // in elements, where element (0, 0, ...) lives
  DType dtype = kFloat32;

  // Autograd. A leaf is a tensor the user made with requires_grad; its gradient
  // accumulates in `grad`. A non-leaf was made by an op and points to that op's
  // backward node in `grad_fn`.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

class Tensor {
 public:
  // An undefined tensor: what grad() returns before any backward.
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // A new, uninitialised, contiguous tensor. Throws attn::Error naming `op`,
  // the shape and the bytes when a size is negative, a count overflows, or
  // the buffer would be larger than max_allocation_bytes() (tensor/storage.h).
  static Tensor empty(const Shape& shape, TensorOptions options = {}, const char* op = "empty");

  bool defined() const { return impl_ != nullptr; }

  // --- shape and layout ---
  const Shape& shape() const { return checked().shape; }
  const Shape& sizes() const { return shape(); }  // libtorch's name
  int64_t size(int64_t dim) const;                // negative dims count from the end
  const Shape& strides() const { return checked().strides; }
  int64_t stride(int64_t dim) const;
  int64_t offset() const { return checked().offset; }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const { return checked().dtype; }
  Device device() const { return checked().storage->device(); }
  bool is_contiguous() const;
  bool is_cuda() const { return device() == kCUDA; }
  // This tensor's dtype and device, to make another like it: zeros(s, t.options()).
  TensorOptions options() const { return TensorOptions(dtype()).device(device()); }
  // True when both are views of the same buffer.
  bool shares_storage_with(const Tensor& other) const;

  // --- data access (CPU tensors) ---
  // Pointer to element (0, 0, ...). Throws if T does not match dtype().
  template <typename T> T* data_ptr() const;
  // The single value of a one-element tensor, converted to T.
  template <typename T = double> T item() const;
  // Copies the elements out in row-major order (any layout, any device).
  template <typename T> std::vector<T> to_vector() const;

  // --- autograd ---
  // Marks a leaf tensor as a parameter whose gradient backward() should fill in.
  Tensor& requires_grad_(bool requires_grad = true);
  bool requires_grad() const { return checked().requires_grad; }
  bool is_leaf() const { return checked().grad_fn == nullptr; }
  // The accumulated gradient, or an undefined tensor before the first backward.
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  // Drops the gradient (set to none, as PyTorch's zero_grad does by default).
  void zero_grad() const;
  // The node of the op that made this tensor (nullptr for leaves).
  const std::shared_ptr<autograd::Node>& grad_fn() const { return checked().grad_fn; }
  // Computes gradients of this tensor with respect to every leaf that requires
  // them. A scalar needs no argument; otherwise pass dL/dthis of the same shape.
  // Defined in autograd/engine.cpp.
  void backward(const Tensor& gradient = Tensor()) const;
  // Same data, cut off from the graph.
  Tensor detach() const;

  // --- conversion and copies (defined in tensor/tensor.cpp) ---
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(kCPU); }
  Tensor cuda() const { return to(kCUDA); }
  // A contiguous copy (tracked by autograd).
  Tensor clone() const;
  // This tensor if already contiguous, else a contiguous copy (tracked).
  Tensor contiguous() const;

  // --- in-place updates, outside autograd (optimizers, initialisers) ---
  // Throw if the tensor needs grad and grad mode is on, as PyTorch does for leaves.
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // src broadcasts to this tensor's shape

  // --- views (autograd/ops_shape.cpp); none of them copies data ---
  Tensor view(const Shape& shape) const;     // needs a compatible layout
  Tensor reshape(const Shape& shape) const;  // views when it can, copies otherwise
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-d tensor
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // narrow, then drop the dim
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // --- reductions (autograd/ops_reduce.cpp) ---
  Tensor sum() const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  Tensor max(int64_t dim, bool keepdim = false) const;  // the values
  Tensor argmax(int64_t dim, bool keepdim = false) const;

  // --- math (autograd/ops_elementwise.cpp) ---
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(double exponent) const;
  Tensor neg() const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor masked_fill(const Tensor& mask, double value) const;

  // Multi-line text in PyTorch's style; what operator<< prints.
  std::string to_string() const;

  // One line for a debugger: shape, strides, offset, dtype, device, autograd
  // state (requires_grad, whether a gradient is present, the op that made it)
  // and the first values in logical order; a CUDA tensor's values are copied
  // to the host for it. From gdb: `printf "%s\n", t.debug_string().c_str()`.
  // Defined in autograd/graph_dump.cpp, because it names the grad_fn's op.
  std::string debug_string(int64_t max_values = 8) const;

  // The name of the op that made this tensor ("MatmulBackward"), or "" for a
  // leaf. Defined in autograd/graph_dump.cpp: tensor/ holds the node only
  // through a forward declaration and never includes autograd/.
  std::string grad_fn_name() const;

  TensorImpl* unsafe_impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  TensorImpl& checked() const {
    ATTN_CHECK(impl_ != nullptr, "use of an undefined Tensor (for example grad() before backward())");
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// A view onto `base`'s storage with a new shape, strides and offset. The
// building block of every view op; autograd is wired by the caller. Throws
// when the view would reach outside base's buffer or its sizes overflow.
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// Throws naming `op` unless the two tensors share a device and a dtype.
void check_same(const char* op, const Tensor& a, const Tensor& b);
// Throws naming `op` unless `t` is floating point (float32 or float64).
void check_floating(const char* op, const Tensor& t);

}  // namespace attn
