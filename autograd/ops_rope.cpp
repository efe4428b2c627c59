// Rotary position embedding as one op (kernels/rope.h; Su et al. 2021,
// "RoFormer", section 3.2): the vector at position p = offset + t is turned,
// pair of dimensions by pair, by the angles p theta_i:
//
//     y = R^D_{Theta,p} x,    R^D_{Theta,p} = diag(R(p theta_1), ..., R(p theta_{D/2}))
//                             R(a) = [cos a  -sin a; sin a  cos a]       (RoFormer eq. 15)
//
// computed pair by pair as eq. 34 writes it, without forming the matrix.
// Queries and keys are turned before their dot product; since R(a)^T R(b) =
// R(b - a), a query turned at m and a key turned at n meet as
//     (R_m q)^T (R_n k) = q^T R_{n-m} k                                  (eq. 16)
// which depends on the positions only through n - m: relative positions,
// though each vector was only told its own absolute one.
//
// Backward. y = R x is linear in x with the orthogonal matrix R, so
//     dL/dx = R^T dL/dy = R(-p theta) dL/dy
// (R(a)^T = R(-a) for every block of eq. 15): the gradient is the upstream
// gradient turned back by the same angles, the same kernel with inverse =
// true. No input is saved: the angles are a function of the positions alone.
#include "autograd/op_helpers.h"
#include "kernels/rope.h"
#include "tensor/dispatch.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

namespace {

// x: (..., T, D) -> a new contiguous tensor, every (T, D) slice turned by
// +p theta_i (inverse = false) or -p theta_i (inverse = true), p = offset + t.
Tensor rotate(const Tensor& x, int64_t offset, double base, bool inverse) {
  Tensor input = x.detach().contiguous();
  Tensor out = autograd::empty_like_shape(x, x.shape());
  const int64_t length = x.size(-2), D = x.size(-1);
  const int64_t rows = length * D > 0 ? x.numel() / (length * D) : 0;
  if (out.numel() == 0) return out;
  dispatch_floating(x.dtype(), x.device(), "rope", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::rope_rotate<device>(rows, length, D, offset, base, inverse, input.data_ptr<T>(),
                                 out.data_ptr<T>());
  });
  return out;
}

}  // namespace

Tensor rope(const Tensor& x, int64_t offset, double base) {
  const char* op = "rope";
  check_floating(op, x);
  ATTN_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0, op,
             ": x must be (..., T, D) with D even (dimensions are turned in pairs), got ",
             shape_str(x.shape()));
  ATTN_CHECK(offset >= 0, op, ": offset (the position of x's first step) must be >= 0, got ",
             offset, " for x ", shape_str(x.shape()));
  ATTN_CHECK(base > 1.0, op, ": base must be > 1 (RoFormer's is 10000), got ", base);
  Tensor out = rotate(x, offset, base, /*inverse=*/false);                 // (..., T, D)
  if (any_requires_grad({x})) {
    record("RopeBackward", out, {x}, [offset, base](const Tensor& g) {
      return std::vector<Tensor>{rotate(g, offset, base, /*inverse=*/true)};  // R^T g
    });
  }
  return out;
}

}  // namespace attn
