#include "tensor/shape.h"

#include <limits>
#include <sstream>

#include "kernels/error.h"

namespace attn {

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out << ", ";
    out << shape[i];
  }
  out << "]";
  return out.str();
}

void throw_size_overflow(const char* op, int64_t a, const char* sign, int64_t b,
                         const Shape& shape) {
  throw Error(detail::join_message(op, ": size arithmetic on shape ", shape_str(shape),
                                   " overflows int64: ", a, sign, b, " is beyond ",
                                   std::numeric_limits<int64_t>::max()));
}

int64_t shape_numel(const Shape& shape, const char* op) {
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    ATTN_CHECK(shape[d] >= 0, op, ": negative size ", shape[d], " at dim ", d, " of shape ",
               shape_str(shape), " (sizes must be >= 0)");
    n = checked_mul(n, shape[d], op, shape);
  }
  return n;
}

Shape contiguous_strides(const Shape& shape, const char* op) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    ATTN_CHECK(shape[i] >= 0, op, ": negative size ", shape[i], " at dim ", i, " of shape ",
               shape_str(shape), " (sizes must be >= 0)");
    // The stride of dim 0 is never multiplied further: only its neighbours' sizes count.
    if (i > 0) stride = checked_mul(stride, shape[i] > 0 ? shape[i] : 1, op, shape);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  // A scalar still accepts dim 0 / -1, as in PyTorch.
  int64_t range = ndim > 0 ? ndim : 1;
  ATTN_CHECK(dim >= -range && dim < range, op, ": dim ", dim,
             " is out of range for a tensor with ", ndim, " dims (expected in [", -range, ", ",
             range - 1, "])");
  return dim < 0 ? dim + range : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t ndim = a.size() > b.size() ? a.size() : b.size();
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    // i counts from the right.
    int64_t sa = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t sb = i < b.size() ? b[b.size() - 1 - i] : 1;
    ATTN_CHECK(sa == sb || sa == 1 || sb == 1, op, ": shapes ", shape_str(a), " and ",
               shape_str(b), " cannot be broadcast (size ", sa, " vs ", sb, " at dim ",
               static_cast<int64_t>(ndim - 1 - i), ")");
    out[ndim - 1 - i] = sa == 1 ? sb : sa;
  }
  return out;
}

}  // namespace attn
