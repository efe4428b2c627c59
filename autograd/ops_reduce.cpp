// Reductions and their derivatives: sum, mean, max.
//
// A reduction sees its input as (outer, n, inner) around the reduced dim
// (kernels/reduce.h). Backward of a sum copies the gradient to every summed
// element; backward of a max sends it to the one element that won.
#include <algorithm>

#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "kernels/reduce.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;
using autograd::split_around;

namespace {

// Sorted, wrapped, duplicate-free dims.
Shape normalize_dims(const Shape& dims, int64_t ndim, const char* op) {
  Shape out;
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  ATTN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": dim repeated in ",
             shape_str(dims));
  return out;
}

Shape reduced_shape(const Shape& shape, const Shape& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// The forward of sum over sorted dims, no autograd: one kernel call per dim,
// from the last dim to the first so earlier dim numbers stay valid.
Tensor sum_forward(const Tensor& x, const Shape& dims) {
  Tensor current = x.detach().contiguous();
  for (size_t i = dims.size(); i-- > 0;) {
    int64_t outer, n, inner;
    split_around(current.shape(), dims[i], outer, n, inner);
    Shape next_shape = current.shape();
    if (!next_shape.empty()) next_shape[dims[i]] = 1;
    Tensor next = Tensor::empty(next_shape, current.options());
    dispatch_floating(x.dtype(), current.device(), "sum", [&](auto zero, auto device) {
      using T = decltype(zero);
      kernels::sum_reduce<device>(current.data_ptr<T>(), outer, n, inner, next.data_ptr<T>());
    });
    current = next;
  }
  return current;
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
  check_floating("sum", x);
  Shape dims = normalize_dims(dims_in, x.dim(), "sum");
  Shape kept = reduced_shape(x.shape(), dims, true);
  Tensor out = sum_forward(x, dims).view(reduced_shape(x.shape(), dims, keepdim));
  if (any_requires_grad({x})) {
    // d(sum_k x_k)/dx_j = 1: every summed element gets the gradient of the sum.
    record("SumBackward", out, {x}, [kept, shape = x.shape()](const Tensor& g) {
      return std::vector<Tensor>{g.reshape(kept).expand(shape)};
    });
  }
  return out;
}

Tensor sum(const Tensor& x) {
  Shape all(static_cast<size_t>(x.dim()));
  for (int64_t d = 0; d < x.dim(); ++d) all[d] = d;
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, const Shape& dims_in, bool keepdim) {
  Shape dims = normalize_dims(dims_in, x.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  ATTN_CHECK(count > 0, "mean: mean over an empty dim of shape ", shape_str(x.shape()));
  // mean = sum / count; its gradient is g / count on every element.
  return sum(x, dims, keepdim) * (1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& x) {
  ATTN_CHECK(x.numel() > 0, "mean: mean of an empty tensor of shape ", shape_str(x.shape()));
  return sum(x) * (1.0 / static_cast<double>(x.numel()));
}

namespace {

// values and argmax of x along d, keepdim shape.
void max_forward(const Tensor& x, int64_t d, Tensor& values, Tensor& indices) {
  ATTN_CHECK(x.numel() > 0, "max: max of an empty tensor of shape ", shape_str(x.shape()));
  Tensor input = x.detach().contiguous();
  int64_t outer, n, inner;
  split_around(x.shape(), d, outer, n, inner);
  Shape kept = x.shape();
  if (!kept.empty()) kept[d] = 1;
  values = Tensor::empty(kept, x.options());
  indices = Tensor::empty(kept, TensorOptions(kInt64).device(x.device()));
  dispatch_floating(x.dtype(), input.device(), "max", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::max_reduce<device>(input.data_ptr<T>(), outer, n, inner, values.data_ptr<T>(),
                                indices.data_ptr<int64_t>());
  });
}

}  // namespace

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = wrap_dim(dim, x.dim(), "max");
  Tensor values, indices;
  max_forward(x, d, values, indices);
  Shape out_shape = reduced_shape(x.shape(), {d}, keepdim);
  Tensor out = values.view(out_shape);
  if (any_requires_grad({x})) {
    // d max_k x_k / dx_j = 1 for the first j attaining the max, 0 elsewhere.
    record("MaxBackward", out, {x}, [indices, d, shape = x.shape()](const Tensor& g) {
      int64_t outer, n, inner;
      split_around(shape, d, outer, n, inner);
      Tensor grad = Tensor::empty(shape, g.options());
      Tensor gc = g.contiguous();
      dispatch_floating(g.dtype(), gc.device(), "max backward", [&](auto zero, auto device) {
        using T = decltype(zero);
        kernels::max_reduce_backward<device>(gc.data_ptr<T>(), indices.data_ptr<int64_t>(), outer,
                                             n, inner, grad.data_ptr<T>());
      });
      return std::vector<Tensor>{grad};
    });
  }
  return out;
}

Tensor max(const Tensor& x) { return max(x.reshape({-1}), 0, false); }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = wrap_dim(dim, x.dim(), "argmax");
  Tensor values, indices;
  max_forward(x, d, values, indices);
  return indices.view(reduced_shape(x.shape(), {d}, keepdim));
}

// --- the methods on Tensor ---
Tensor Tensor::sum() const { return attn::sum(*this); }
Tensor Tensor::sum(int64_t dim, bool keepdim) const { return attn::sum(*this, {dim}, keepdim); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return attn::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return attn::mean(*this); }
Tensor Tensor::mean(int64_t dim, bool keepdim) const { return attn::mean(*this, {dim}, keepdim); }
Tensor Tensor::max() const { return attn::max(*this); }
Tensor Tensor::max(int64_t dim, bool keepdim) const { return attn::max(*this, dim, keepdim); }
Tensor Tensor::argmax(int64_t dim, bool keepdim) const { return attn::argmax(*this, dim, keepdim); }

}  // namespace attn
