// softmax and log_softmax, fused, with their derivatives.
//
//   y = softmax(x):      y_i = e^{x_i - m} / sum_k e^{x_k - m},  m = max_k x_k
//   dL/dx = y * (dL/dy - sum_k dL/dy_k y_k)           (the softmax Jacobian,
//                                                      diag(y) - y y^T, applied to dL/dy)
//   y = log_softmax(x):  y_i = x_i - m - log sum_k e^{x_k - m}
//   dL/dx = dL/dy - softmax(x) * sum_k dL/dy_k
// Both kernels use the output y, so the backward saves y and not x.
// (docs/02-autograd.md, "Softmax".)
#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "tensor/shape.h"
#include "kernels/masked_softmax.h"
#include "kernels/softmax.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;
using autograd::split_around;

namespace {

Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t d, bool log) {
  int64_t outer, n, inner;
  split_around(y.shape(), d, outer, n, inner);
  Tensor gc = g.contiguous();
  Tensor dx = autograd::empty_like_shape(y, y.shape());
  dispatch_floating(y.dtype(), y.device(), log ? "log_softmax backward" : "softmax backward",
                    [&](auto zero, auto device) {
                      using T = decltype(zero);
                      kernels::softmax_backward<device>(y.data_ptr<T>(), gc.data_ptr<T>(), outer, n,
                                                        inner, log, dx.data_ptr<T>());
                    });
  return dx;
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  // bfloat16 in: computed in float32, the result float32 (mixed precision's
  // rule for sums of many terms, autograd/autocast.h).
  if (x.dtype() == kBFloat16) return softmax_impl(x.to(kFloat32), dim, log);
  check_floating(name, x);
  int64_t d = wrap_dim(dim, x.dim(), name);
  int64_t outer, n, inner;
  split_around(x.shape(), d, outer, n, inner);
  Tensor input = x.detach().contiguous();
  Tensor out = autograd::empty_like_shape(x, x.shape());
  dispatch_floating(x.dtype(), input.device(), name, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::softmax_forward<device>(input.data_ptr<T>(), outer, n, inner, log, out.data_ptr<T>());
  });
  if (any_requires_grad({x})) {
    Tensor y = out.detach();
    record(log ? "LogSoftmaxBackward" : "SoftmaxBackward", out, {x}, [y, d, log](const Tensor& g) {
      return std::vector<Tensor>{softmax_backward(y, g, d, log)};
    });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

// --- masked_softmax: attention's weights in one kernel ---
//
//   y = softmax(scale * s) over the visible keys, 0 at hidden ones
//   dL/ds = scale * y * (dL/dy - sum_k dL/dy_k y_k)
// The softmax Jacobian above, times the scale by the chain rule; hidden keys
// have y = 0, so they get no gradient and the backward needs no mask
// (kernels/masked_softmax.h; Vaswani et al. 2017, eq. 1).

Tensor masked_softmax(const Tensor& scores, const Tensor& key_lengths, bool causal, double scale) {
  const char* op = "masked_softmax";
  check_floating(op, scores);
  ATTN_CHECK(scores.dim() >= 2, op, ": scores must be (..., Tq, Tk), got ", shape_str(scores.shape()));
  const int64_t tq = scores.size(-2), tk = scores.size(-1);
  int64_t batch = 1;
  if (key_lengths.defined()) {
    ATTN_CHECK(scores.dim() >= 3, op, ": with key_lengths the scores must be (B, ..., Tq, Tk), got ",
               shape_str(scores.shape()));
    batch = scores.size(0);
  }
  const Tensor lengths = autograd::checked_key_lengths(op, key_lengths, batch, tk, "scores",
                                                       scores.shape(), scores.device());
  const int64_t rows_per_batch = tq * tk > 0 && batch > 0 ? scores.numel() / (batch * tq * tk) : 0;
  Tensor input = scores.detach().contiguous();
  Tensor out = autograd::empty_like_shape(scores, scores.shape());
  if (out.numel() == 0) return out;
  dispatch_floating(scores.dtype(), input.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::masked_softmax_forward<device>(
        input.data_ptr<T>(), batch, rows_per_batch, tq, tk,
        lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr, causal, static_cast<T>(scale),
        out.data_ptr<T>());
  });
  if (any_requires_grad({scores})) {
    Tensor y = out.detach();
    record("MaskedSoftmaxBackward", out, {scores}, [y, scale](const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor dx = autograd::empty_like_shape(y, y.shape());
      const int64_t tk = y.size(-1), rows = y.numel() / tk;
      dispatch_floating(y.dtype(), y.device(), "masked_softmax backward", [&](auto zero, auto device) {
        using T = decltype(zero);
        kernels::masked_softmax_backward<device>(y.data_ptr<T>(), gc.data_ptr<T>(), rows, tk,
                                                 static_cast<T>(scale), dx.data_ptr<T>());
      });
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

Tensor Tensor::softmax(int64_t dim) const { return attn::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return attn::log_softmax(*this, dim); }

// The rest of Tensor's math methods, here so that every method has one home.
Tensor Tensor::exp() const { return attn::exp(*this); }
Tensor Tensor::log() const { return attn::log(*this); }
Tensor Tensor::sqrt() const { return attn::sqrt(*this); }
Tensor Tensor::tanh() const { return attn::tanh(*this); }
Tensor Tensor::sigmoid() const { return attn::sigmoid(*this); }
Tensor Tensor::relu() const { return attn::relu(*this); }
Tensor Tensor::pow(double exponent) const { return attn::pow(*this, exponent); }
Tensor Tensor::neg() const { return attn::neg(*this); }
Tensor Tensor::masked_fill(const Tensor& mask, double value) const {
  return attn::masked_fill(*this, mask, value);
}

}  // namespace attn
