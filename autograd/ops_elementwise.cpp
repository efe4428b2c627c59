// Element-wise ops and their derivatives.
//
// Binary ops broadcast (tensor/shape.h). Their backward first computes the
// gradient at the broadcast shape, then sums it back to each input's shape with
// sum_to: an input used k times receives the sum of k gradients.
#include <cmath>

#include "autograd/op_helpers.h"
#include "kernels/elementwise.h"
#include "tensor/dispatch.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;
using autograd::sum_to;

namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

// Which of a binary op's two inputs want a gradient: a backward rule computes
// only those (a broadcast constant, such as masked_fill's fill value or a
// positional table, would otherwise cost a full-size product and a sum).
struct NeedsGrad {
  bool a, b;
};
NeedsGrad needs_grad(const Tensor& a, const Tensor& b) {
  return {a.requires_grad(), b.requires_grad()};
}

Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_same(name, a, b);
  check_floating(name, a);
  autograd::check_max_dims(name, a);
  autograd::check_max_dims(name, b);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = autograd::empty_like_shape(a, out_shape);
  Shape a_strides = autograd::broadcast_strides(a, out_shape);
  Shape b_strides = autograd::broadcast_strides(b, out_shape);
  int ndim = static_cast<int>(out_shape.size());
  dispatch_floating(a.dtype(), a.device(), name, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::binary<device>(op, ndim, out_shape.data(), a.data_ptr<T>(), a_strides.data(),
                            b.data_ptr<T>(), b_strides.data(), out.data_ptr<T>());
  });
  return out;
}

Tensor unary_forward(UnaryOp op, const char* name, const Tensor& x) {
  check_floating(name, x);
  Tensor input = x.detach().contiguous();
  Tensor out = autograd::empty_like_shape(x, x.shape());
  dispatch_floating(x.dtype(), input.device(), name, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::unary<device>(op, x.numel(), input.data_ptr<T>(), out.data_ptr<T>());
  });
  return out;
}

Tensor scalar_forward(BinaryOp op, const char* name, const Tensor& x, double s) {
  check_floating(name, x);
  Tensor input = x.detach().contiguous();
  Tensor out = autograd::empty_like_shape(x, x.shape());
  dispatch_floating(x.dtype(), input.device(), name, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::binary_scalar<device>(op, x.numel(), input.data_ptr<T>(), static_cast<T>(s),
                                   out.data_ptr<T>());
  });
  return out;
}

}  // namespace

// --- binary ---

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, "add", a, b);
  if (any_requires_grad({a, b})) {
    // d(a + b)/da = 1, d(a + b)/db = 1
    record("AddBackward", out, {a, b},
           [sa = a.shape(), sb = b.shape(), needs = needs_grad(a, b)](const Tensor& g) {
      return std::vector<Tensor>{needs.a ? sum_to(g, sa) : Tensor(),
                                 needs.b ? sum_to(g, sb) : Tensor()};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, "sub", a, b);
  if (any_requires_grad({a, b})) {
    // d(a - b)/da = 1, d(a - b)/db = -1
    record("SubBackward", out, {a, b},
           [sa = a.shape(), sb = b.shape(), needs = needs_grad(a, b)](const Tensor& g) {
      return std::vector<Tensor>{needs.a ? sum_to(g, sa) : Tensor(),
                                 needs.b ? sum_to(-g, sb) : Tensor()};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, "mul", a, b);
  if (any_requires_grad({a, b})) {
    // d(ab)/da = b, d(ab)/db = a
    Tensor a_saved = a.detach(), b_saved = b.detach();
    record("MulBackward", out, {a, b}, [a_saved, b_saved, needs = needs_grad(a, b)](const Tensor& g) {
      return std::vector<Tensor>{needs.a ? sum_to(g * b_saved, a_saved.shape()) : Tensor(),
                                 needs.b ? sum_to(g * a_saved, b_saved.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, "div", a, b);
  if (any_requires_grad({a, b})) {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    Tensor a_saved = a.detach(), b_saved = b.detach();
    record("DivBackward", out, {a, b}, [a_saved, b_saved, needs = needs_grad(a, b)](const Tensor& g) {
      Tensor ga = g / b_saved;
      return std::vector<Tensor>{needs.a ? sum_to(ga, a_saved.shape()) : Tensor(),
                                 needs.b ? sum_to(-ga * a_saved / b_saved, b_saved.shape())
                                         : Tensor()};
    });
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Pow, "pow", a, b);
  if (any_requires_grad({a, b})) {
    // d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
    // (ln a is only taken when b needs a gradient: a may be negative otherwise.)
    Tensor a_saved = a.detach(), b_saved = b.detach(), out_saved = out.detach();
    bool b_needs_grad = b.requires_grad();
    record("PowBackward", out, {a, b}, [a_saved, b_saved, out_saved, b_needs_grad](const Tensor& g) {
      Tensor ga = sum_to(g * b_saved * pow(a_saved, b_saved - 1.0), a_saved.shape());
      Tensor gb = b_needs_grad ? sum_to(g * out_saved * log(a_saved), b_saved.shape()) : Tensor();
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Maximum, "maximum", a, b);
  if (any_requires_grad({a, b})) {
    // The gradient goes to the larger input; on a tie, half to each (as PyTorch).
    Tensor a_saved = a.detach(), b_saved = b.detach();
    record("MaximumBackward", out, {a, b}, [a_saved, b_saved](const Tensor& g) {
      Tensor a_wins = gt(a_saved - b_saved, 0.0).to(g.dtype());
      Tensor tie = eq(a_saved - b_saved, 0.0).to(g.dtype());
      Tensor share_a = a_wins + tie * 0.5;
      return std::vector<Tensor>{sum_to(g * share_a, a_saved.shape()),
                                 sum_to(g * (1.0 - share_a), b_saved.shape())};
    });
  }
  return out;
}

// --- unary ---

Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Neg, "neg", x);
  if (any_requires_grad({x})) {
    // d(-x)/dx = -1
    record("NegBackward", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{-g}; });
  }
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Exp, "exp", x);
  if (any_requires_grad({x})) {
    // d e^x/dx = e^x: the output itself
    Tensor y = out.detach();
    record("ExpBackward", out, {x}, [y](const Tensor& g) { return std::vector<Tensor>{g * y}; });
  }
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log, "log", x);
  if (any_requires_grad({x})) {
    // d ln x/dx = 1/x
    Tensor x_saved = x.detach();
    record("LogBackward", out, {x},
           [x_saved](const Tensor& g) { return std::vector<Tensor>{g / x_saved}; });
  }
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sqrt, "sqrt", x);
  if (any_requires_grad({x})) {
    // d sqrt(x)/dx = 1 / (2 sqrt(x))
    Tensor y = out.detach();
    record("SqrtBackward", out, {x},
           [y](const Tensor& g) { return std::vector<Tensor>{g / (y * 2.0)}; });
  }
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Tanh, "tanh", x);
  if (any_requires_grad({x})) {
    // d tanh(x)/dx = 1 - tanh(x)^2
    Tensor y = out.detach();
    record("TanhBackward", out, {x},
           [y](const Tensor& g) { return std::vector<Tensor>{g * (1.0 - y * y)}; });
  }
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sigmoid, "sigmoid", x);
  if (any_requires_grad({x})) {
    // d sigma(x)/dx = sigma(x) (1 - sigma(x))
    Tensor y = out.detach();
    record("SigmoidBackward", out, {x},
           [y](const Tensor& g) { return std::vector<Tensor>{g * y * (1.0 - y)}; });
  }
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Relu, "relu", x);
  if (any_requires_grad({x})) {
    // d relu(x)/dx = 1 where x > 0, else 0 (0 at x = 0, as PyTorch); y > 0
    // exactly where x > 0, so the output tells, in one kernel pass.
    Tensor y = out.detach();
    record("ReluBackward", out, {x}, [y](const Tensor& g) {
      Tensor grad = g.contiguous();
      Tensor dx = autograd::empty_like_shape(grad, grad.shape());
      dispatch_floating(grad.dtype(), grad.device(), "relu backward", [&](auto zero, auto device) {
        using T = decltype(zero);
        kernels::relu_backward<device>(grad.numel(), y.data_ptr<T>(), grad.data_ptr<T>(),
                                       dx.data_ptr<T>());
      });
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

Tensor& relu_(Tensor& x) {
  check_floating("relu_", x);
  // In place would overwrite what a backward reads (the input of whoever made
  // x, or relu's own output): only for tensors outside any graph.
  ATTN_CHECK(!(GradMode::is_enabled() && x.requires_grad()), "relu_: x ", shape_str(x.shape()),
             " requires a gradient; in place is for tensors outside the graph (use relu)");
  ATTN_CHECK(x.is_contiguous(), "relu_: x ", shape_str(x.shape()), " must be contiguous");
  dispatch_floating(x.dtype(), x.device(), "relu_", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::unary<device>(UnaryOp::Relu, x.numel(), x.data_ptr<T>(), x.data_ptr<T>());
  });
  return x;
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor out = scalar_forward(BinaryOp::Pow, "pow", x, exponent);
  if (any_requires_grad({x})) {
    // d x^p/dx = p x^(p-1)
    Tensor x_saved = x.detach();
    record("PowScalarBackward", out, {x}, [x_saved, exponent](const Tensor& g) {
      if (exponent == 2.0) return std::vector<Tensor>{g * x_saved * 2.0};
      return std::vector<Tensor>{g * pow(x_saved, exponent - 1.0) * exponent};
    });
  }
  return out;
}

// --- scalar variants ---

Tensor add(const Tensor& x, double s) {
  Tensor out = scalar_forward(BinaryOp::Add, "add", x, s);
  if (any_requires_grad({x})) {
    // d(x + s)/dx = 1
    record("AddScalarBackward", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  }
  return out;
}

Tensor mul(const Tensor& x, double s) {
  Tensor out = scalar_forward(BinaryOp::Mul, "mul", x, s);
  if (any_requires_grad({x})) {
    // d(x s)/dx = s
    record("MulScalarBackward", out, {x},
           [s](const Tensor& g) { return std::vector<Tensor>{g * s}; });
  }
  return out;
}

Tensor rsub(const Tensor& x, double s) { return add(neg(x), s); }

Tensor rdiv(const Tensor& x, double s) {
  // s / x = s * x^-1
  return mul(pow(x, -1.0), s);
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& x, double s) { return add(x, s); }
Tensor operator-(const Tensor& x, double s) { return add(x, -s); }
Tensor operator*(const Tensor& x, double s) { return mul(x, s); }
Tensor operator/(const Tensor& x, double s) { return mul(x, 1.0 / s); }
Tensor operator+(double s, const Tensor& x) { return add(x, s); }
Tensor operator-(double s, const Tensor& x) { return rsub(x, s); }
Tensor operator*(double s, const Tensor& x) { return mul(x, s); }
Tensor operator/(double s, const Tensor& x) { return rdiv(x, s); }

// --- comparisons (no gradient) ---

namespace {

Tensor compare(kernels::CompareOp op, const Tensor& x, double s) {
  Tensor input = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.options());
  dispatch_all(x.dtype(), input.device(), [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::compare_scalar<device>(op, x.numel(), input.data_ptr<T>(), static_cast<T>(s),
                                    out.data_ptr<T>());
  });
  return out.dtype() == kInt64 ? out : out.to(kInt64);
}

}  // namespace

Tensor eq(const Tensor& x, double s) { return compare(kernels::CompareOp::Eq, x, s); }
Tensor ne(const Tensor& x, double s) { return compare(kernels::CompareOp::Ne, x, s); }
Tensor lt(const Tensor& x, double s) { return compare(kernels::CompareOp::Lt, x, s); }
Tensor gt(const Tensor& x, double s) { return compare(kernels::CompareOp::Gt, x, s); }

// --- selection ---

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  ATTN_CHECK(condition.dtype() == kInt64, "where: the condition must be int64 (0/1), got ",
             dtype_name(condition.dtype()), " of shape ", shape_str(condition.shape()));
  check_same("where", a, b);
  ATTN_CHECK(condition.device() == a.device(), "where: the condition ",
             shape_str(condition.shape()), " is on ", device_name(condition.device()),
             " but the values ", shape_str(a.shape()), " are on ", device_name(a.device()));
  check_floating("where", a);
  Shape out_shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), "where"),
                                     condition.shape(), "where");
  Tensor out = autograd::empty_like_shape(a, out_shape);
  Shape cs = autograd::broadcast_strides(condition, out_shape);
  Shape as = autograd::broadcast_strides(a, out_shape);
  Shape bs = autograd::broadcast_strides(b, out_shape);
  dispatch_floating(a.dtype(), condition.device(), "where", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::where<device>(static_cast<int>(out_shape.size()), out_shape.data(),
                           condition.data_ptr<int64_t>(), cs.data(), a.data_ptr<T>(), as.data(),
                           b.data_ptr<T>(), bs.data(), out.data_ptr<T>());
  });
  if (any_requires_grad({a, b})) {
    // The gradient flows to whichever input was chosen, element by element.
    // (masked_fill's fill value is a constant: only x's side is computed.)
    Tensor cond = condition;
    record("WhereBackward", out, {a, b},
           [cond, sa = a.shape(), sb = b.shape(), needs = needs_grad(a, b)](const Tensor& g) {
             Tensor zero = zeros({}, g.options());
             return std::vector<Tensor>{needs.a ? sum_to(where(cond, g, zero), sa) : Tensor(),
                                        needs.b ? sum_to(where(cond, zero, g), sb) : Tensor()};
           });
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  ATTN_CHECK(mask.dtype() == kInt64, "masked_fill: the mask must be int64 (nonzero = fill), got ",
             dtype_name(mask.dtype()), " of shape ", shape_str(mask.shape()));
  Shape out_shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  ATTN_CHECK(out_shape == x.shape(), "masked_fill: mask of shape ", shape_str(mask.shape()),
             " does not broadcast to the input's shape ", shape_str(x.shape()));
  // where(mask, value, x): the filled positions get no gradient, which is what
  // makes a masked attention score invisible to training.
  return where(mask, full({}, value, x.options()), x);
}

}  // namespace attn
