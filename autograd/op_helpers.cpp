#include "autograd/op_helpers.h"
#include "kernels/copy.h"

namespace attn::autograd {

Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape strides(out_shape.size(), 0);
  size_t lead = out_shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i) {
    strides[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  return strides;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (!grad.defined() || grad.shape() == shape) return grad;
  // Dims that broadcasting prepended are summed away; dims stretched from
  // size 1 are summed with keepdim so the result has `shape` exactly.
  size_t lead = grad.shape().size() - shape.size();
  Shape dims;
  for (size_t d = 0; d < grad.shape().size(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && grad.shape()[d] != 1)) {
      dims.push_back(static_cast<int64_t>(d));
    }
  }
  Tensor summed = dims.empty() ? grad : sum(grad, dims, true);
  return summed.reshape(shape);
}

void split_around(const Shape& shape, int64_t d, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= shape[k];
  n = shape.empty() ? 1 : shape[d];
  for (int64_t k = d + 1; k < static_cast<int64_t>(shape.size()); ++k) inner *= shape[k];
}

void check_max_dims(const char* op, const Tensor& t) {
  ATTN_CHECK(t.dim() <= kernels::kMaxDims, op, ": tensors of at most ", kernels::kMaxDims,
             " dims are supported, got shape ", shape_str(t.shape()));
}

Tensor empty_like_shape(const Tensor& like, const Shape& shape) {
  return Tensor::empty(shape, TensorOptions(like.dtype()).device(like.device()));
}

Tensor checked_key_lengths(const char* op, const Tensor& key_lengths, int64_t B, int64_t Tk,
                           const char* what, const Shape& shape, Device device) {
  if (!key_lengths.defined()) return Tensor();
  ATTN_CHECK(key_lengths.dtype() == kInt64 && key_lengths.shape() == Shape({B}), op,
             ": key_lengths must be int64 (B) = (", B, ") for ", what, " ", shape_str(shape),
             ", got ", dtype_name(key_lengths.dtype()), " ", shape_str(key_lengths.shape()));
  for (int64_t n : key_lengths.to_vector<int64_t>()) {
    ATTN_CHECK(n >= 0 && n <= Tk, op, ": key length ", n, " is outside [0, ", Tk, "] for ", what,
               " ", shape_str(shape));
  }
  return key_lengths.to(device).contiguous();
}

Tensor rows_of(const Tensor& t) {
  Tensor d = t.detach();
  return d.stride(d.dim() - 1) == 1 ? d : d.contiguous();
}

}  // namespace attn::autograd
