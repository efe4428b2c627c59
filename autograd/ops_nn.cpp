// The ops that layers are built from: linear, embedding, dropout, layer_norm
// and cross_entropy, each a fused kernel with its own backward rule.
#include <cmath>

#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "kernels/cross_entropy.h"
#include "kernels/copy.h"
#include "kernels/index.h"
#include "kernels/layer_norm.h"
#include "autograd/autocast.h"
#include "kernels/matmul.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "kernels/cuda/runtime.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

// --- linear ---

namespace {

// C (M, N) = op(A) @ op(B) + beta C, one matrix, on A's device (kernels/matmul.h).
void gemm_2d(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const Tensor& A,
             int64_t lda, const Tensor& B, int64_t ldb, double beta, Tensor& C) {
  dispatch_floating(A.dtype(), A.device(), "linear", [&](auto zero, auto device) {
    using T = decltype(zero);
    autograd::gemm<device>(trans_a, trans_b, 1, M, N, K, T(1), A.data_ptr<T>(), lda, 0,
                          B.data_ptr<T>(), ldb, 0, static_cast<T>(beta), C.data_ptr<T>(), N, 0);
  });
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_same("linear", x, weight);
  check_floating("linear", x);
  if (bias.defined()) check_same("linear", x, bias);
  ATTN_CHECK(weight.dim() == 2, "linear: weight must be (out, in), got ",
             shape_str(weight.shape()));
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "linear: input must be (..., ",
             in_features, ") for weight ", shape_str(weight.shape()), ", got ",
             shape_str(x.shape()));
  ATTN_CHECK(!bias.defined() || bias.shape() == Shape({out_features}), "linear: bias must be (",
             out_features, ") for weight ", shape_str(weight.shape()), ", got ",
             shape_str(bias.shape()));
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  const int64_t N = x.numel() / std::max<int64_t>(in_features, 1);
  if (N == 0 || in_features == 0) {  // nothing to multiply: the plain ops handle the edge
    Tensor y = matmul(x, weight.t());
    return bias.defined() ? y + bias : y;
  }
  // (..., in) -> (N, in): one GEMM however many leading dims there are.
  Tensor rows = x.detach().reshape({N, in_features}).contiguous();  // (N, in)
  Tensor w = weight.detach().contiguous();                           // (out, in)
  Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();  // (out)
  Tensor out = autograd::empty_like_shape(x, {N, out_features});     // (N, out)
  // As BLAS's addmm: every row of out starts as the bias, and the GEMM adds
  // x W^T onto it (beta = 1), so the bias costs no pass of its own.
  if (b.defined()) {
    const int64_t shape[2] = {N, out_features}, strides[2] = {0, 1};  // row broadcast
    dispatch_floating(x.dtype(), x.device(), "linear", [&](auto zero, auto device) {
      using T = decltype(zero);
      kernels::copy_strided<device>(2, shape, b.data_ptr<T>(), strides, out.data_ptr<T>());
    });
  }
  gemm_2d(false, true, N, out_features, in_features, rows, in_features, w, in_features,
          b.defined() ? 1.0 : 0.0, out);
  out = out.view(out_shape);
  if (any_requires_grad({x, weight, bias})) {
    // y = x W^T + b, with g = dL/dy (N, out):
    //   dL/dx = g W        (N, in)
    //   dL/dW = g^T x      (out, in): W's own layout, so a weight used at many
    //                      time steps accumulates contiguous gradients
    //   dL/db = sum over the N rows of g   (out)
    const bool x_needs = x.requires_grad(), w_needs = weight.requires_grad();
    const bool b_needs = bias.defined() && bias.requires_grad();
    Tensor x_saved = w_needs ? rows : Tensor(), w_saved = x_needs ? w : Tensor();
    record("LinearBackward", out, {x, weight, bias},
           [x_saved, w_saved, x_needs, w_needs, b_needs, x_shape = x.shape(), N, in_features,
            out_features](const Tensor& grad_out) {
             Tensor g = grad_out.reshape({N, out_features}).contiguous();  // (N, out)
             Tensor dx, dw, db;
             if (x_needs) {
               dx = Tensor::empty({N, in_features}, g.options());
               gemm_2d(false, false, N, in_features, out_features, g, out_features, w_saved,
                       in_features, 0.0, dx);
               dx = dx.view(x_shape);
             }
             if (w_needs) {
               dw = Tensor::empty({out_features, in_features}, g.options());
               gemm_2d(true, false, out_features, in_features, N, g, out_features, x_saved,
                       in_features, 0.0, dw);
             }
             if (b_needs) {
               db = Tensor::empty({out_features}, g.options());
               dispatch_floating(g.dtype(), g.device(), "linear backward",
                                 [&](auto zero, auto device) {
                                   using T = decltype(zero);
                                   kernels::sum_reduce<device>(g.data_ptr<T>(), 1, N, out_features,
                                                               db.data_ptr<T>());
                                 });
             }
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return out;
}

// --- embedding ---

Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx) {
  ATTN_CHECK(weight.dim() == 2, "embedding: weight must be (V, D), got shape ",
             shape_str(weight.shape()));
  ATTN_CHECK(ids.dtype() == kInt64, "embedding: ids must be int64, got ",
             dtype_name(ids.dtype()), " of shape ", shape_str(ids.shape()));
  check_floating("embedding", weight);
  int64_t vocab = weight.size(0), dim = weight.size(1);
  ATTN_CHECK(ids.device() == weight.device(), "embedding: ids are on ", device_name(ids.device()),
             " but the weight ", shape_str(weight.shape()), " is on ", device_name(weight.device()));
  Tensor flat_ids = ids.contiguous().reshape({-1});
  if (flat_ids.is_cuda()) {
    // Checked on the GPU and reported at the next copy to the host, so the
    // step does not wait here (kernels/cuda/runtime.h, check_ids_later).
    kernels::cuda::check_ids_later(flat_ids.data_ptr<int64_t>(), flat_ids.numel(), vocab, -1,
                                   "embedding: ids " + shape_str(ids.shape()) +
                                       " hold ids outside the vocabulary [0, " +
                                       std::to_string(vocab) + ")");
  } else {
    const int64_t* id = flat_ids.data_ptr<int64_t>();
    for (int64_t j = 0; j < flat_ids.numel(); ++j) {
      ATTN_CHECK(id[j] >= 0 && id[j] < vocab, "embedding: id ", id[j], " at position ", j,
                 " of ids ", shape_str(ids.shape()), " is outside the vocabulary [0, ", vocab,
                 ")");
    }
  }
  Tensor table = weight.detach().contiguous();
  Shape out_shape = ids.shape();
  out_shape.push_back(dim);
  Tensor out = autograd::empty_like_shape(weight, out_shape);
  dispatch_floating(weight.dtype(), table.device(), "embedding", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::index_select<device>(table.data_ptr<T>(), 1, vocab, dim, flat_ids.data_ptr<int64_t>(),
                                  flat_ids.numel(), out.data_ptr<T>());
  });
  if (any_requires_grad({weight})) {
    // dL/dW[v] = sum of dL/dout[j] over the positions j where ids[j] == v
    // (a scatter-add); the padding row gets nothing, so it stays as initialised.
    record("EmbeddingBackward", out, {weight},
           [flat_ids, vocab, dim, padding_idx](const Tensor& g) {
             Tensor grad = zeros({vocab, dim}, g.options());
             Tensor gc = g.contiguous();
             dispatch_floating(g.dtype(), gc.device(), "embedding backward",
                               [&](auto zero, auto device) {
                                 using T = decltype(zero);
                                 kernels::index_add<device>(gc.data_ptr<T>(), 1, flat_ids.numel(),
                                                            dim, flat_ids.data_ptr<int64_t>(),
                                                            padding_idx, vocab, grad.data_ptr<T>());
                               });
             return std::vector<Tensor>{grad};
           });
  }
  return out;
}

// --- dropout ---

Tensor dropout(const Tensor& x, double p, bool training, Generator* generator) {
  ATTN_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  check_floating("dropout", x);
  // Inverted dropout (Srivastava et al. 2014, as PyTorch): keep with
  // probability 1 - p and scale by 1/(1-p) now, so evaluation needs no change.
  //   y = x * m,   m_i = (u_i > p) / (1 - p),   u_i uniform in [0, 1)
  // u_i is the generator's (offset + i)-th number, the one attn::rand would
  // draw; the kernel draws it on the fly and stores no mask.
  Generator& gen = generator ? *generator : default_generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  gen.set_state(seed, offset + static_cast<uint64_t>(x.numel()));
  const double scale = 1.0 / (1.0 - p);
  // y = x * m, or the same mask applied to a gradient: one kernel for both.
  auto apply_mask = [seed, offset, p, scale](const Tensor& in) {
    Tensor input = in.contiguous();
    Tensor out = autograd::empty_like_shape(in, in.shape());
    dispatch_floating(in.dtype(), in.device(), "dropout", [&](auto zero, auto device) {
      using T = decltype(zero);
      kernels::dropout<device>(seed, offset, input.numel(), static_cast<T>(p),
                               static_cast<T>(scale), input.data_ptr<T>(), out.data_ptr<T>());
    });
    return out;
  };
  Tensor out = apply_mask(x.detach());
  if (any_requires_grad({x})) {
    // dL/dx = m * dL/dy: the same mask, drawn again from (seed, offset).
    record("DropoutBackward", out, {x}, [apply_mask](const Tensor& g) {
      return std::vector<Tensor>{apply_mask(g)};
    });
  }
  return out;
}

// --- layer_norm ---

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  // bfloat16 in: computed in float32, the result float32 (autograd/autocast.h).
  if (x.dtype() == kBFloat16 || (gamma.defined() && gamma.dtype() == kBFloat16) ||
      (beta.defined() && beta.dtype() == kBFloat16)) {
    auto up = [](const Tensor& t) {
      return t.defined() && t.dtype() == kBFloat16 ? t.to(kFloat32) : t;
    };
    return layer_norm(up(x), up(gamma), up(beta), eps);
  }
  check_floating("layer_norm", x);
  ATTN_CHECK(x.dim() >= 1, "layer_norm: expected at least 1 dim, got a scalar");
  int64_t cols = x.size(-1);
  int64_t rows = x.numel() / std::max<int64_t>(cols, 1);
  for (const Tensor* p : {&gamma, &beta}) {
    if (!p->defined()) continue;
    check_same("layer_norm", x, *p);
    ATTN_CHECK(p->shape() == Shape{cols}, "layer_norm: weight and bias must be (", cols,
               ") for input ", shape_str(x.shape()), ", got ", shape_str(p->shape()));
  }
  Tensor input = x.detach().contiguous();
  Tensor g = gamma.defined() ? gamma.detach().contiguous() : Tensor();
  Tensor b = beta.defined() ? beta.detach().contiguous() : Tensor();
  Tensor out = autograd::empty_like_shape(x, x.shape());
  Tensor mean = Tensor::empty({rows}, x.options());
  Tensor rstd = Tensor::empty({rows}, x.options());
  dispatch_floating(x.dtype(), input.device(), "layer_norm", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::layer_norm_forward<device>(
        input.data_ptr<T>(), g.defined() ? g.data_ptr<T>() : nullptr,
        b.defined() ? b.data_ptr<T>() : nullptr, rows, cols, static_cast<T>(eps), out.data_ptr<T>(),
        mean.data_ptr<T>(), rstd.data_ptr<T>());
  });
  if (any_requires_grad({x, gamma, beta})) {
    // With xhat = (x - mean) * rstd and y = gamma * xhat + beta:
    //   dL/dbeta  = sum over rows of dL/dy
    //   dL/dgamma = sum over rows of dL/dy * xhat
    //   dL/dx     = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = dL/dy * gamma
    // (Ba et al. 2016; derivation in docs/02-autograd.md, "LayerNorm".)
    record("LayerNormBackward", out, {x, gamma, beta},
           [input, g, b, mean, rstd, rows, cols](const Tensor& grad_out) {
             Tensor dy = grad_out.contiguous();
             Tensor dx = Tensor::empty(input.shape(), input.options());
             Tensor dgamma = g.defined() ? Tensor::empty({cols}, input.options()) : Tensor();
             Tensor dbeta = b.defined() ? Tensor::empty({cols}, input.options()) : Tensor();
             dispatch_floating(input.dtype(), dy.device(), "layer_norm backward",
                               [&](auto zero, auto device) {
                                 using T = decltype(zero);
                                 kernels::layer_norm_backward<device>(
                                     dy.data_ptr<T>(), input.data_ptr<T>(),
                                     g.defined() ? g.data_ptr<T>() : nullptr, mean.data_ptr<T>(),
                                     rstd.data_ptr<T>(), rows, cols, dx.data_ptr<T>(),
                                     dgamma.defined() ? dgamma.data_ptr<T>() : nullptr,
                                     dbeta.defined() ? dbeta.data_ptr<T>() : nullptr);
                               });
             return std::vector<Tensor>{dx, dgamma, dbeta};
           });
  }
  return out;
}

// --- cross_entropy ---

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  // bfloat16 logits: the loss is computed in float32 (autograd/autocast.h).
  if (logits.dtype() == kBFloat16) return cross_entropy(logits.to(kFloat32), target, options);
  check_floating("cross_entropy", logits);
  ATTN_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, V), got shape ",
             shape_str(logits.shape()), " (flatten (B, T, V) with reshape({-1, V}))");
  ATTN_CHECK(target.dtype() == kInt64 && target.dim() == 1 && target.size(0) == logits.size(0),
             "cross_entropy: target must be int64 (N) = (", logits.size(0), "), got ",
             dtype_name(target.dtype()), " of shape ", shape_str(target.shape()),
             " for logits ", shape_str(logits.shape()));
  ATTN_CHECK(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0,
             "cross_entropy: label_smoothing must be in [0, 1], got ", options.label_smoothing);
  int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor x = logits.detach().contiguous();
  Tensor t = target.contiguous();
  ATTN_CHECK(t.device() == x.device(), "cross_entropy: target is on ", device_name(t.device()),
             " but the logits ", shape_str(x.shape()), " are on ", device_name(x.device()));
  if (t.is_cuda()) {
    kernels::cuda::check_ids_later(t.data_ptr<int64_t>(), rows, classes, options.ignore_index,
                                   "cross_entropy: targets (" + std::to_string(rows) +
                                       ") hold values outside [0, " + std::to_string(classes) +
                                       ") that are not the ignore_index " +
                                       std::to_string(options.ignore_index));
  } else {
    const int64_t* ids = t.data_ptr<int64_t>();
    for (int64_t r = 0; r < rows; ++r) {
      ATTN_CHECK(ids[r] == options.ignore_index || (ids[r] >= 0 && ids[r] < classes),
                 "cross_entropy: target ", ids[r], " at row ", r, " is outside [0, ", classes,
                 ") and is not the ignore_index ", options.ignore_index);
    }
  }
  Tensor loss = Tensor::empty({rows}, x.options());
  Tensor lse = Tensor::empty({rows}, x.options());
  dispatch_floating(x.dtype(), x.device(), "cross_entropy", [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::cross_entropy_forward<device>(
        x.data_ptr<T>(), t.data_ptr<int64_t>(), rows, classes, options.ignore_index,
        static_cast<T>(options.label_smoothing), loss.data_ptr<T>(), lse.data_ptr<T>());
  });
  Tensor out;
  // For the mean: the rows that count, counted where the targets are (a
  // scalar tensor, so the GPU never reports a number back mid-step).
  Tensor counted;
  {
    NoGradGuard no_grad;
    if (options.reduction == Reduction::None) {
      out = loss;
    } else {
      out = sum(loss);
      if (options.reduction == Reduction::Mean) {
        // All rows ignored: 0 / 0 = NaN, as PyTorch gives.
        counted = sum(ne(t, static_cast<double>(options.ignore_index)).to(x.dtype()));
        out = out / counted;
      }
    }
  }
  if (any_requires_grad({logits})) {
    // dL/dlogits[r] = dL/dloss[r] * (softmax(x_r) - (1 - eps) onehot(t_r) - eps / V)
    Reduction reduction = options.reduction;
    record("CrossEntropyBackward", out, {logits},
           [x, t, lse, options, reduction, counted, rows, classes](const Tensor& g) {
             // dL/dloss[r]: g itself, or g (/ count for the mean) for every row.
             Tensor row_grad = reduction == Reduction::None ? g.contiguous()
                               : reduction == Reduction::Sum
                                   ? g.reshape({1}).expand({rows}).contiguous()
                                   : (g / counted).reshape({1}).expand({rows}).contiguous();
             Tensor dx = Tensor::empty({rows, classes}, x.options());
             dispatch_floating(x.dtype(), x.device(), "cross_entropy backward",
                               [&](auto zero, auto device) {
                                 using T = decltype(zero);
                                 kernels::cross_entropy_backward<device>(
                                     x.data_ptr<T>(), t.data_ptr<int64_t>(), lse.data_ptr<T>(),
                                     row_grad.data_ptr<T>(), rows, classes, options.ignore_index,
                                     static_cast<T>(options.label_smoothing), dx.data_ptr<T>());
                               });
             return std::vector<Tensor>{dx};
           });
  }
  return out;
}

}  // namespace attn
