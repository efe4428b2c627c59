// Shape ops and their derivatives: views, joins, gathers, copies.
//
// A view (reshape, transpose, narrow, expand, ...) moves no data: it makes a
// new (shape, strides, offset) over the same storage (tensor/shape.h). Its
// backward moves the gradient back into the input's shape: the inverse view
// for reshape and transpose, padding with zeros for narrow, summing the copies
// for expand.
#include <algorithm>
#include <numeric>

#include "autograd/op_helpers.h"
#include "kernels/copy.h"
#include "kernels/cuda/runtime.h"
#include "kernels/index.h"
#include "tensor/dispatch.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

// --- copies ---

namespace {

// A contiguous copy of t's elements (no autograd).
Tensor copy_contiguous(const Tensor& t) {
  autograd::check_max_dims("contiguous", t);
  Tensor out = autograd::empty_like_shape(t, t.shape());
  if (t.numel() == 0) return out;
  dispatch_all(t.dtype(), t.device(), [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::copy_strided<device>(static_cast<int>(t.dim()), t.shape().data(), t.data_ptr<T>(),
                                  t.strides().data(), out.data_ptr<T>());
  });
  return out;
}

}  // namespace

Tensor Tensor::clone() const {
  Tensor out = copy_contiguous(*this);
  if (any_requires_grad({*this})) {
    // d clone(x)/dx = 1
    record("CloneBackward", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  }
  return out;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor input = detach().contiguous();
  Tensor out = Tensor::empty(shape(), TensorOptions(target).device(device()));
  dispatch_all(dtype(), input.device(), [&](auto from_zero, auto device) {
    using From = decltype(from_zero);
    dispatch_all(target, [&](auto to_zero) {
      using To = decltype(to_zero);
      if constexpr (!std::is_same_v<From, To>) {
        kernels::convert<device>(numel(), input.data_ptr<From>(), out.data_ptr<To>());
      }
    });
  });
  if (is_floating(target) && any_requires_grad({*this})) {
    // The gradient converts back to the input's dtype.
    DType source = dtype();
    record("ToDtypeBackward", out, {*this},
           [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  ATTN_CHECK(target != kCUDA || kernels::cuda::is_available(), "to(cuda): cannot move a tensor of shape ",
             shape_str(shape()), " to the GPU: ", kernels::cuda::why_unavailable());
  Tensor input = detach().contiguous();
  Tensor out = Tensor::empty(shape(), TensorOptions(dtype()).device(target));
  size_t nbytes = static_cast<size_t>(numel()) * element_size(dtype());
  const char* src = static_cast<const char*>(input.unsafe_impl()->storage->data()) +
                    input.offset() * element_size(dtype());
  if (target == kCUDA) {
    kernels::cuda::copy_host_to_device(out.unsafe_impl()->storage->data(), src, nbytes);
  } else {
    kernels::cuda::copy_device_to_host(out.unsafe_impl()->storage->data(), src, nbytes);
  }
  if (any_requires_grad({*this})) {
    Device source = device();
    record("ToDeviceBackward", out, {*this},
           [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
  }
  return out;
}

// --- views ---

namespace {

// The strides a view of shape `target` would need over x's layout, or an empty
// Shape when no view is possible (then reshape must copy). Walks groups of dims
// that are contiguous among themselves, as PyTorch's computeStride does.
Shape view_strides(const Tensor& x, const Shape& target) {
  if (x.is_contiguous()) return contiguous_strides(target);
  const Shape& shape = x.shape();
  const Shape& strides = x.strides();
  Shape out(target.size());
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    // A chunk is a run of dims laid out one after another in memory; it ends
    // where the next dim to the left jumps by something else.
    bool chunk_ends =
        d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= target[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return {};  // a target dim straddles two chunks
    if (d > 0) {
      chunk_base_stride = strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return {};
  return out;
}

Shape infer_shape(const Tensor& x, const Shape& shape, const char* op) {
  Shape out = shape;
  int64_t known = 1;
  int64_t infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      ATTN_CHECK(infer_at < 0, op, ": only one size may be -1, got ", shape_str(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      ATTN_CHECK(out[i] >= 0, op, ": invalid size in ", shape_str(shape));
      known = checked_mul(known, out[i], op, shape);
    }
  }
  if (infer_at >= 0) {
    ATTN_CHECK(known > 0 && x.numel() % known == 0, op, ": cannot reshape ",
               shape_str(x.shape()), " into ", shape_str(shape));
    out[infer_at] = x.numel() / known;
  }
  ATTN_CHECK(shape_numel(out) == x.numel(), op, ": cannot reshape ", shape_str(x.shape()), " (",
             x.numel(), " elements) into ", shape_str(shape), " (", shape_numel(out),
             " elements)");
  return out;
}

// Records the backward of a view that only rearranges: the gradient is reshaped back.
void record_reshape_backward(Tensor& out, const Tensor& x) {
  record("ReshapeBackward", out, {x}, [shape = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(shape)};
  });
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape target = infer_shape(*this, shape, "view");
  Shape strides = view_strides(*this, target);
  ATTN_CHECK(!strides.empty() || target.empty(), "view: a tensor of shape ",
             shape_str(this->shape()), " and strides ", shape_str(this->strides()),
             " cannot be viewed as ", shape_str(target),
             " without a copy; use reshape() (or contiguous() first)");
  Tensor out = make_view(*this, target, strides, offset());
  if (any_requires_grad({*this})) record_reshape_backward(out, *this);
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape target = infer_shape(*this, shape, "reshape");
  Shape strides = view_strides(*this, target);
  if (strides.empty() && !target.empty()) return clone().view(target);
  Tensor out = make_view(*this, target, strides, offset());
  if (any_requires_grad({*this})) record_reshape_backward(out, *this);
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t start = wrap_dim(start_dim, dim(), "flatten");
  int64_t end = wrap_dim(end_dim, dim(), "flatten");
  ATTN_CHECK(start <= end, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape target;
  for (int64_t d = 0; d < start; ++d) target.push_back(shape()[d]);
  int64_t merged = 1;
  for (int64_t d = start; d <= end; ++d) merged *= shape()[d];
  target.push_back(merged);
  for (int64_t d = end + 1; d < dim(); ++d) target.push_back(shape()[d]);
  return reshape(target);
}

Tensor Tensor::permute(const Shape& dims) const {
  ATTN_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: got ", dims.size(),
             " dims ", shape_str(dims), " for a tensor of shape ", shape_str(shape()));
  Shape new_shape(dims.size()), new_strides(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    ATTN_CHECK(!seen[d], "permute: dim ", d, " repeated in ", shape_str(dims));
    seen[d] = true;
    new_shape[i] = shape()[d];
    new_strides[i] = strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(*this, new_shape, new_strides, offset());
  if (any_requires_grad({*this})) {
    // The gradient of a permutation is the inverse permutation.
    record("PermuteBackward", out, {*this},
           [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
  }
  return out;
}

Tensor permute(const Tensor& x, const Shape& dims) { return x.permute(dims); }

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  int64_t d0 = wrap_dim(dim0, dim(), "transpose");
  int64_t d1 = wrap_dim(dim1, dim(), "transpose");
  Shape order(static_cast<size_t>(dim()));
  std::iota(order.begin(), order.end(), 0);
  if (dim() > 0) std::swap(order[d0], order[d1]);
  return permute(order);
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) { return x.transpose(dim0, dim1); }

Tensor Tensor::t() const {
  ATTN_CHECK(dim() == 2, "t: expected a 2-d tensor, got shape ", shape_str(shape()));
  return transpose(0, 1);
}

Tensor Tensor::narrow(int64_t dim_, int64_t start, int64_t length) const {
  int64_t d = wrap_dim(dim_, dim(), "narrow");
  ATTN_CHECK(dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  if (start < 0) start += shape()[d];
  // Compared without forming start + length, which a huge start would overflow.
  ATTN_CHECK(start >= 0 && length >= 0 && start <= shape()[d] && length <= shape()[d] - start,
             "narrow: ", length, " elements from ", start, " are out of bounds for dim ", d,
             " of shape ", shape_str(shape()));
  Shape new_shape = shape();
  new_shape[d] = length;
  Tensor out = make_view(*this, new_shape, strides(), offset() + start * strides()[d]);
  if (any_requires_grad({*this})) {
    // The slice's gradient goes back to its place; elsewhere the gradient is 0.
    record("NarrowBackward", out, {*this}, [full_shape = shape(), d, start](const Tensor& g) {
      Tensor grad = zeros(full_shape, TensorOptions(g.dtype()).device(g.device()));
      Tensor window = grad.narrow(d, start, g.shape()[d]);
      window.copy_(g);
      return std::vector<Tensor>{grad};
    });
  }
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  return x.narrow(dim, start, length);
}

Tensor Tensor::slice(int64_t dim_, int64_t start, int64_t end, int64_t step) const {
  int64_t d = wrap_dim(dim_, dim(), "slice");
  ATTN_CHECK(step >= 1, "slice: step must be positive, got ", step);
  int64_t size = shape()[d];
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  if (step == 1) return narrow(d, start, end - start);
  // A stepped slice: narrow, then multiply the stride (still a view).
  Tensor window = narrow(d, start, end - start);
  Shape new_shape = window.shape(), new_strides = window.strides();
  new_shape[d] = end == start ? 0 : (end - start - 1) / step + 1;  // no overflow for a huge step
  if (new_shape[d] > 1) new_strides[d] = checked_mul(new_strides[d], step, "slice", shape());
  Tensor out = make_view(window, new_shape, new_strides, window.offset());
  if (any_requires_grad({window})) {
    record("SliceBackward", out, {window}, [shape = window.shape(), d, step](const Tensor& g) {
      Tensor grad = zeros(shape, g.options());
      Tensor strided = make_view(grad, g.shape(), [&] {
        Shape s = grad.strides();
        s[d] *= step;
        return s;
      }(), 0);
      strided.copy_(g);
      return std::vector<Tensor>{grad};
    });
  }
  return out;
}

Tensor Tensor::select(int64_t dim_, int64_t index) const {
  int64_t d = wrap_dim(dim_, dim(), "select");
  int64_t size = shape()[d];
  ATTN_CHECK(index >= -size && index < size, "select: index ", index,
             " is out of range for dim ", d, " of shape ", shape_str(shape()));
  if (index < 0) index += size;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& target_shape) const {
  ATTN_CHECK(target_shape.size() >= shape().size(), "expand: cannot expand shape ",
             shape_str(shape()), " to fewer dims ", shape_str(target_shape));
  Shape new_shape = target_shape;
  Shape new_strides(target_shape.size(), 0);
  size_t lead = target_shape.size() - shape().size();
  for (size_t i = 0; i < shape().size(); ++i) {
    int64_t want = target_shape[lead + i];
    int64_t have = shape()[i];
    if (want == -1) want = have;
    ATTN_CHECK(want == have || have == 1, "expand: the size ", have, " at dim ", i,
               " of shape ", shape_str(shape()), " cannot become ", want, " (target ",
               shape_str(target_shape), "); only size-1 dims expand");
    new_shape[lead + i] = want;
    new_strides[lead + i] = have == want && have != 1 ? strides()[i] : 0;
    if (have == 1 && want == 1) new_strides[lead + i] = strides()[i];
  }
  Tensor out = make_view(*this, new_shape, new_strides, offset());
  if (any_requires_grad({*this})) {
    // Every copy of an element got a gradient; the element gets their sum.
    record("ExpandBackward", out, {*this}, [shape = shape()](const Tensor& g) {
      return std::vector<Tensor>{autograd::sum_to(g, shape)};
    });
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) { return x.expand(shape); }

Tensor Tensor::squeeze(int64_t dim_) const {
  int64_t d = wrap_dim(dim_, dim(), "squeeze");
  if (dim() == 0 || shape()[d] != 1) return *this;  // PyTorch: a no-op
  Shape new_shape = shape(), new_strides = strides();
  new_shape.erase(new_shape.begin() + d);
  new_strides.erase(new_strides.begin() + d);
  Tensor out = make_view(*this, new_shape, new_strides, offset());
  if (any_requires_grad({*this})) record_reshape_backward(out, *this);
  return out;
}

Tensor squeeze(const Tensor& x, int64_t dim) { return x.squeeze(dim); }

Tensor Tensor::unsqueeze(int64_t dim_) const {
  int64_t d = wrap_dim(dim_, dim() + 1, "unsqueeze");
  Shape new_shape = shape(), new_strides = strides();
  int64_t stride = d < dim() ? shape()[d] * strides()[d] : 1;
  new_shape.insert(new_shape.begin() + d, 1);
  new_strides.insert(new_strides.begin() + d, stride);
  Tensor out = make_view(*this, new_shape, new_strides, offset());
  if (any_requires_grad({*this})) record_reshape_backward(out, *this);
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t dim) { return x.unsqueeze(dim); }

// --- joins ---

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  ATTN_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor& first = tensors[0];
  int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_same("cat", first, t);
    bool compatible = t.dim() == first.dim();
    for (int64_t k = 0; compatible && k < t.dim(); ++k) {
      if (k != d && t.shape()[k] != first.shape()[k]) compatible = false;
    }
    ATTN_CHECK(compatible, "cat: tensor ", i, " has shape ", shape_str(t.shape()),
               " but tensor 0 has shape ", shape_str(first.shape()),
               "; all sizes must match except along dim ", d);
    out_shape[d] = checked_add(out_shape[d], t.shape()[d], "cat", t.shape());
  }
  Tensor out = autograd::empty_like_shape(first, out_shape);
  int64_t start = 0;
  Shape lengths;
  for (const Tensor& t : tensors) {
    Tensor window = out.detach().narrow(d, start, t.shape()[d]);
    {
      NoGradGuard no_grad;
      window.copy_(t);
    }
    lengths.push_back(t.shape()[d]);
    start += t.shape()[d];
  }
  if (any_requires_grad(tensors)) {
    // Each input's gradient is its own window of the output's gradient.
    record("CatBackward", out, tensors, [d, lengths](const Tensor& g) {
      std::vector<Tensor> grads;
      int64_t offset = 0;
      for (int64_t length : lengths) {
        grads.push_back(g.narrow(d, offset, length));
        offset += length;
      }
      return grads;
    });
  }
  return out;
}

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) { return cat(tensors, dim); }

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  ATTN_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (size_t i = 0; i < tensors.size(); ++i) {
    ATTN_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
               shape_str(tensors[i].shape()), " but tensor 0 has shape ",
               shape_str(tensors[0].shape()), "; stack needs equal shapes");
    expanded.push_back(tensors[i].unsqueeze(d));
  }
  return cat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "split");
  ATTN_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  std::vector<Tensor> pieces;
  for (int64_t start = 0; start < x.shape()[d]; start += split_size) {
    pieces.push_back(x.narrow(d, start, std::min(split_size, x.shape()[d] - start)));
  }
  return pieces;
}

// --- gathers ---

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  ATTN_CHECK(index.dtype() == kInt64 && index.dim() == 1, "index_select: the index must be a "
             "1-d int64 tensor, got ", dtype_name(index.dtype()), " of shape ",
             shape_str(index.shape()));
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor src = x.detach().contiguous();
  // The index follows the input to its device (a decoder's state mixes GPU
  // tensors with host-side lengths, all reordered by one beam index).
  Tensor idx = index.to(x.device()).contiguous();
  int64_t src_n = x.dim() == 0 ? 1 : x.shape()[d];
  if (idx.is_cuda()) {
    // Checked on the GPU, reported at the next copy to the host (check_ids_later).
    kernels::cuda::check_ids_later(idx.data_ptr<int64_t>(), idx.numel(), src_n, -1,
                                   "index_select: the index holds values out of range for dim " +
                                       std::to_string(d) + " of size " + std::to_string(src_n) +
                                       " (input shape " + shape_str(x.shape()) + ")");
  } else {
    const int64_t* ids = idx.data_ptr<int64_t>();
    for (int64_t j = 0; j < idx.numel(); ++j) {
      ATTN_CHECK(ids[j] >= 0 && ids[j] < src_n, "index_select: index ", ids[j], " at position ",
                 j, " is out of range for dim ", d, " of size ", src_n, " (input shape ",
                 shape_str(x.shape()), ")");
    }
  }
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= x.shape()[k];
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= x.shape()[k];
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[d] = idx.numel();
  Tensor out = autograd::empty_like_shape(x, out_shape);
  dispatch_all(x.dtype(), src.device(), [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::index_select<device>(src.data_ptr<T>(), outer, src_n, inner, idx.data_ptr<int64_t>(),
                                  idx.numel(), out.data_ptr<T>());
  });
  if (any_requires_grad({x})) {
    // Each selected row's gradient is added back where it came from; a row
    // selected twice receives both (index_add, in order: deterministic).
    record("IndexSelectBackward", out, {x},
           [idx, outer, src_n, inner, shape = x.shape()](const Tensor& g) {
             Tensor grad = zeros(shape, g.options());
             Tensor gc = g.contiguous();
             dispatch_floating(g.dtype(), gc.device(), "index_select backward",
                               [&](auto zero, auto device) {
                                 using T = decltype(zero);
                                 kernels::index_add<device>(gc.data_ptr<T>(), outer, idx.numel(),
                                                            inner, idx.data_ptr<int64_t>(), -1,
                                                            src_n, grad.data_ptr<T>());
                               });
             return std::vector<Tensor>{grad};
           });
  }
  return out;
}

}  // namespace attn
