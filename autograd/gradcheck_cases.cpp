#include "autograd/gradcheck_cases.h"

#include <cmath>
#include <memory>

#include "autograd/node.h"
#include "kernels/cuda/runtime.h"

namespace attn {
namespace {

// A float64 leaf of `shape` with values in a comfortable range.
Tensor leaf(Generator& g, const Shape& shape) {
  return randn(shape, kFloat64, &g).requires_grad_();
}

// A float64 leaf with positive values (log, sqrt, pow's base, div's denominator).
Tensor positive_leaf(Generator& g, const Shape& shape) {
  Tensor x = rand(shape, kFloat64, &g) + 0.5;
  return x.detach().requires_grad_();
}

// A non-contiguous leaf: the transpose of a (cols, rows) buffer.
Tensor transposed_leaf(Generator& g, int64_t rows, int64_t cols) {
  return randn({cols, rows}, kFloat64, &g).transpose(0, 1).requires_grad_();
}

// A non-contiguous leaf: every other column of a wider buffer.
Tensor sliced_leaf(Generator& g, int64_t rows, int64_t cols) {
  return randn({rows, 2 * cols}, kFloat64, &g).slice(1, 0, 2 * cols, 2).requires_grad_();
}

Tensor int_tensor(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape);
}

// A float64 leaf whose values are multiples of 1/256 in about [-8, 8]: exact
// in float32, and still exact after a step of +-1/256 (see the "to_dtype" case).
Tensor dyadic_leaf(Generator& g, const Shape& shape) {
  std::vector<double> values = randn(shape, kFloat64, &g).to_vector<double>();
  for (double& v : values) v = std::round(v * 256.0) / 256.0;
  return from_vector(values, shape).requires_grad_();
}

using Inputs = std::vector<Tensor>;

std::vector<GradcheckCase> make_cases() {
  std::vector<GradcheckCase> cases;
  auto add_case = [&](std::string op, std::string shapes,
                      std::function<Inputs(Generator&)> make, GradcheckFn fn) {
    cases.push_back({std::move(op), std::move(shapes), std::move(make), std::move(fn)});
  };

  // --- element-wise binary, with broadcasting ---
  add_case("add", "(3,4) + (4)", [](Generator& g) { return Inputs{leaf(g, {3, 4}), leaf(g, {4})}; },
           [](const Inputs& x) { return x[0] + x[1]; });
  add_case("add", "(2,1,3) + (4,1)", [](Generator& g) {
             return Inputs{leaf(g, {2, 1, 3}), leaf(g, {4, 1})}; },
           [](const Inputs& x) { return add(x[0], x[1]); });
  add_case("sub", "(3,4)^T - (4,1)", [](Generator& g) {
             return Inputs{transposed_leaf(g, 4, 3), leaf(g, {4, 1})}; },
           [](const Inputs& x) { return x[0] - x[1]; });
  add_case("mul", "(2,3,4) * (3,1)", [](Generator& g) {
             return Inputs{leaf(g, {2, 3, 4}), leaf(g, {3, 1})}; },
           [](const Inputs& x) { return x[0] * x[1]; });
  add_case("mul", "sliced (3,4) * (3,4)", [](Generator& g) {
             return Inputs{sliced_leaf(g, 3, 4), leaf(g, {3, 4})}; },
           [](const Inputs& x) { return x[0] * x[1]; });
  add_case("div", "(3,4) / (1,4)", [](Generator& g) {
             return Inputs{leaf(g, {3, 4}), positive_leaf(g, {1, 4})}; },
           [](const Inputs& x) { return x[0] / x[1]; });
  add_case("pow", "(3,4) ^ (4)", [](Generator& g) {
             return Inputs{positive_leaf(g, {3, 4}), leaf(g, {4})}; },
           [](const Inputs& x) { return pow(x[0], x[1]); });
  add_case("maximum", "(3,4), (3,4)", [](Generator& g) {
             return Inputs{leaf(g, {3, 4}), leaf(g, {3, 4})}; },
           [](const Inputs& x) { return maximum(x[0], x[1]); });

  // --- element-wise unary and scalar variants ---
  add_case("neg", "(3,4)^T", [](Generator& g) { return Inputs{transposed_leaf(g, 3, 4)}; },
           [](const Inputs& x) { return -x[0]; });
  add_case("exp", "(2,3,4)", [](Generator& g) { return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return exp(x[0]); });
  add_case("log", "(3,4)", [](Generator& g) { return Inputs{positive_leaf(g, {3, 4})}; },
           [](const Inputs& x) { return log(x[0]); });
  add_case("sqrt", "(3,4)", [](Generator& g) { return Inputs{positive_leaf(g, {3, 4})}; },
           [](const Inputs& x) { return sqrt(x[0]); });
  add_case("tanh", "sliced (3,4)", [](Generator& g) { return Inputs{sliced_leaf(g, 3, 4)}; },
           [](const Inputs& x) { return tanh(x[0]); });
  add_case("sigmoid", "(5,1)", [](Generator& g) { return Inputs{leaf(g, {5, 1})}; },
           [](const Inputs& x) { return sigmoid(x[0]); });
  // relu's kink at 0 is not differentiable; inputs stay away from it.
  add_case("relu", "(4,5) away from 0", [](Generator& g) {
             Tensor x = randn({4, 5}, kFloat64, &g);
             Tensor away = x + masked_fill(zeros({4, 5}, kFloat64), lt(x, 0.0), -0.1) + 0.05;
             return Inputs{away.detach().requires_grad_()}; },
           [](const Inputs& x) { return relu(x[0]); });
  add_case("pow_scalar", "(3,4) ^ 3", [](Generator& g) { return Inputs{leaf(g, {3, 4})}; },
           [](const Inputs& x) { return pow(x[0], 3.0); });
  add_case("pow_scalar", "(3,4) ^ 2", [](Generator& g) { return Inputs{leaf(g, {3, 4})}; },
           [](const Inputs& x) { return x[0].pow(2.0); });
  add_case("scalar_ops", "2 - x/3 + x*4, 1/x", [](Generator& g) {
             return Inputs{positive_leaf(g, {3, 4})}; },
           [](const Inputs& x) { return 2.0 - x[0] / 3.0 + x[0] * 4.0 + 1.0 / x[0]; });

  // --- selection ---
  add_case("where", "cond (3,1), (3,4), (4)", [](Generator& g) {
             return Inputs{leaf(g, {3, 4}), leaf(g, {4})}; },
           [](const Inputs& x) {
             return where(int_tensor({1, 0, 1}, {3, 1}), x[0], x[1]); });
  add_case("masked_fill", "(2,3) mask (1,3)", [](Generator& g) {
             return Inputs{leaf(g, {2, 3})}; },
           [](const Inputs& x) { return masked_fill(x[0], int_tensor({0, 1, 0}, {1, 3}), -5.0); });

  // --- matmul ---
  add_case("matmul", "(3,4) @ (4,5)", [](Generator& g) {
             return Inputs{leaf(g, {3, 4}), leaf(g, {4, 5})}; },
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul", "(3,4)^T @ sliced (4,2)", [](Generator& g) {
             return Inputs{transposed_leaf(g, 3, 4), sliced_leaf(g, 4, 2)}; },
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul", "(2,3,4) @ (4,5) broadcast", [](Generator& g) {
             return Inputs{leaf(g, {2, 3, 4}), leaf(g, {4, 5})}; },
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul", "(2,1,3,4) @ (3,4,2) batch broadcast", [](Generator& g) {
             return Inputs{leaf(g, {2, 1, 3, 4}), leaf(g, {3, 4, 2})}; },
           [](const Inputs& x) { return matmul(x[0], x[1]); });
  add_case("matmul", "(4) @ (4,3), (3,4) @ (4)", [](Generator& g) {
             return Inputs{leaf(g, {4}), leaf(g, {4, 3})}; },
           [](const Inputs& x) { return matmul(x[0], x[1]) + matmul(x[1].t(), x[0]); });

  // --- reductions ---
  add_case("sum", "(2,3,4) all", [](Generator& g) { return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return x[0].sum(); });
  add_case("sum", "(2,3,4) dims {0,2} keepdim", [](Generator& g) {
             return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return sum(x[0], {0, 2}, true); });
  add_case("sum", "(3,4)^T dim 1", [](Generator& g) { return Inputs{transposed_leaf(g, 3, 4)}; },
           [](const Inputs& x) { return x[0].sum(1); });
  add_case("mean", "(2,3,4) dim -1", [](Generator& g) { return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return x[0].mean(-1); });
  add_case("mean", "(3,4) all", [](Generator& g) { return Inputs{leaf(g, {3, 4})}; },
           [](const Inputs& x) { return x[0].mean(); });
  add_case("max", "(3,5) dim 1", [](Generator& g) { return Inputs{leaf(g, {3, 5})}; },
           [](const Inputs& x) { return x[0].max(1); });
  add_case("max", "(4,3)^T dim 0 keepdim", [](Generator& g) {
             return Inputs{transposed_leaf(g, 4, 3)}; },
           [](const Inputs& x) { return x[0].max(0, true); });

  // --- softmax ---
  add_case("softmax", "(3,5) dim -1", [](Generator& g) { return Inputs{leaf(g, {3, 5})}; },
           [](const Inputs& x) { return softmax(x[0], -1); });
  add_case("softmax", "(2,4,3) dim 1", [](Generator& g) { return Inputs{leaf(g, {2, 4, 3})}; },
           [](const Inputs& x) { return softmax(x[0], 1); });
  add_case("log_softmax", "(3,5)^T dim -1", [](Generator& g) {
             return Inputs{transposed_leaf(g, 3, 5)}; },
           [](const Inputs& x) { return log_softmax(x[0], -1); });
  add_case("log_softmax", "(2,4,3) dim 0", [](Generator& g) {
             return Inputs{leaf(g, {2, 4, 3})}; },
           [](const Inputs& x) { return log_softmax(x[0], 0); });

  // --- shapes ---
  add_case("reshape", "(3,4)^T -> (2,6)", [](Generator& g) {
             return Inputs{transposed_leaf(g, 3, 4)}; },
           [](const Inputs& x) { return x[0].reshape({2, 6}) * x[0].reshape({2, 6}); });
  add_case("view", "(2,3,4) -> (6,-1)", [](Generator& g) { return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return x[0].view({6, -1}).pow(2.0); });
  add_case("transpose", "(2,3,4) 0<->2", [](Generator& g) { return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return x[0].transpose(0, 2) * 1.5; });
  add_case("permute", "(2,3,4) (1,2,0)", [](Generator& g) { return Inputs{leaf(g, {2, 3, 4})}; },
           [](const Inputs& x) { return x[0].permute({1, 2, 0}).pow(2.0); });
  add_case("narrow", "(4,5) dim 1 [1,4)", [](Generator& g) { return Inputs{leaf(g, {4, 5})}; },
           [](const Inputs& x) { return x[0].narrow(1, 1, 3).pow(2.0); });
  add_case("slice", "(6,3) dim 0 step 2", [](Generator& g) { return Inputs{leaf(g, {6, 3})}; },
           [](const Inputs& x) { return x[0].slice(0, 1, 6, 2).pow(2.0); });
  add_case("expand", "(3,1) -> (2,3,4)", [](Generator& g) { return Inputs{leaf(g, {3, 1})}; },
           [](const Inputs& x) { return x[0].expand({2, 3, 4}).pow(2.0); });
  add_case("squeeze", "(3,1,4) dim 1", [](Generator& g) { return Inputs{leaf(g, {3, 1, 4})}; },
           [](const Inputs& x) { return x[0].squeeze(1).pow(2.0); });
  add_case("unsqueeze", "(3,4) dim 1", [](Generator& g) { return Inputs{leaf(g, {3, 4})}; },
           [](const Inputs& x) { return x[0].unsqueeze(1).pow(2.0); });
  add_case("contiguous", "(3,4)^T", [](Generator& g) { return Inputs{transposed_leaf(g, 3, 4)}; },
           [](const Inputs& x) { return x[0].contiguous().pow(2.0); });

  // --- copies and conversions ---
  add_case("clone", "(3,4)^T", [](Generator& g) { return Inputs{transposed_leaf(g, 3, 4)}; },
           [](const Inputs& x) { return x[0].clone().pow(2.0); });
  add_case("clone", "(2,3) used twice", [](Generator& g) { return Inputs{leaf(g, {2, 3})}; },
           [](const Inputs& x) { return x[0].clone() * x[0]; });
  // float64 -> float32 -> float64 records ToDtypeBackward both ways (its rule
  // converts the gradient back to the source dtype). With the default step,
  // finite differences through float32 would measure float32's rounding
  // (about 6e-8 / 2e-6 = 3% of the derivative), not the rule. So the inputs are
  // multiples of 1/256, exact in float32, and the step is 1/256 too: x +- eps
  // stays exact, the round trip loses nothing, and the central difference of
  // the quadratic after it is exact. What remains is the analytic gradient's
  // own pass through float32 (relative 6e-8), inside the default rtol of 1e-6:
  // no tolerance is loosened, and a wrong rule is still off by O(1).
  const double dyadic_step = 1.0 / 256.0;
  cases.push_back({"to_dtype", "(3,4) f64 -> f32 * 2 -> f64, step 1/256",
                   [](Generator& g) { return Inputs{dyadic_leaf(g, {3, 4})}; },
                   [](const Inputs& x) {
                     return (x[0].to(kFloat32) * 2.0).to(kFloat64).pow(2.0); },
                   dyadic_step});
  cases.push_back({"to_dtype", "(4,3)^T f64 -> f32 -> f64, times x, step 1/256",
                   [](Generator& g) {
                     Tensor x = dyadic_leaf(g, {4, 3}).detach().transpose(0, 1);
                     return Inputs{x.requires_grad_()}; },
                   [](const Inputs& x) { return x[0].to(kFloat32).to(kFloat64) * x[0]; },
                   dyadic_step});
  // CPU -> CUDA -> CPU records ToDeviceBackward both ways. It can only run
  // with a GPU; without one, gradcheck_exclusions() says why it is skipped.
  if (kernels::cuda::is_available()) {
    add_case("to_device", "(3,4) cpu -> cuda -> cpu", [](Generator& g) {
               return Inputs{leaf(g, {3, 4})}; },
             [](const Inputs& x) { return x[0].to(kCUDA).to(kCPU).pow(2.0); });
  }
  add_case("cat", "(2,3), (3,4)^T, (2,3) dim 0", [](Generator& g) {
             return Inputs{leaf(g, {2, 3}), transposed_leaf(g, 4, 3)}; },
           [](const Inputs& x) { return cat({x[0], x[1], x[0]}, 0).pow(2.0); });
  add_case("stack", "(2,3) x2 dim 1", [](Generator& g) {
             return Inputs{leaf(g, {2, 3}), leaf(g, {2, 3})}; },
           [](const Inputs& x) { return stack({x[0], x[1]}, 1).pow(2.0); });
  add_case("split", "(5,3) size 2 dim 0", [](Generator& g) { return Inputs{leaf(g, {5, 3})}; },
           [](const Inputs& x) {
             std::vector<Tensor> parts = split(x[0], 2, 0);
             return parts[0].pow(2.0).sum() + parts[2].pow(3.0).sum() * parts[1].sum(); });
  add_case("index_select", "(4,3) dim 0 [2,0,2]", [](Generator& g) {
             return Inputs{leaf(g, {4, 3})}; },
           [](const Inputs& x) { return index_select(x[0], 0, int_tensor({2, 0, 2}, {3})).pow(2.0); });
  add_case("index_select", "(3,5)^T dim 1", [](Generator& g) {
             return Inputs{transposed_leaf(g, 5, 3)}; },
           [](const Inputs& x) { return index_select(x[0], 1, int_tensor({1, 1, 0}, {3})).pow(2.0); });

  // --- layers as functions ---
  add_case("embedding", "(6,4) ids (2,3) padding 0", [](Generator& g) {
             return Inputs{leaf(g, {6, 4})}; },
           [](const Inputs& x) {
             // The padding row gets no gradient by design, so the positions that
             // read it are masked out of the output: then finite differences
             // agree that it has none.
             Tensor ids = int_tensor({1, 5, 0, 3, 1, 0}, {2, 3});
             Tensor not_pad = ne(ids, 0.0).to(kFloat64).unsqueeze(-1);
             return embedding(x[0], ids, 0).pow(2.0) * not_pad; });
  add_case("dropout", "(4,5) p=0.3 seeded", [](Generator& g) { return Inputs{leaf(g, {4, 5})}; },
           [](const Inputs& x) {
             Generator mask_generator(7);  // the same mask on every call
             return dropout(x[0], 0.3, true, &mask_generator); });
  add_case("layer_norm", "(3,5) with gamma, beta", [](Generator& g) {
             return Inputs{leaf(g, {3, 5}), leaf(g, {5}), leaf(g, {5})}; },
           [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); });
  add_case("layer_norm", "(2,4,3)^T(1,2) no affine", [](Generator& g) {
             return Inputs{randn({2, 4, 3}, kFloat64, &g).transpose(1, 2).requires_grad_()}; },
           [](const Inputs& x) { return layer_norm(x[0], Tensor(), Tensor()); });
  add_case("cross_entropy", "(5,7) mean, ignore 0", [](Generator& g) {
             return Inputs{leaf(g, {5, 7})}; },
           [](const Inputs& x) {
             return cross_entropy(x[0], int_tensor({3, 0, 6, 1, 0}, {5}),
                                  CrossEntropyOptions().ignore(0)); });
  add_case("cross_entropy", "(4,6) smoothing 0.1, sum", [](Generator& g) {
             return Inputs{leaf(g, {4, 6})}; },
           [](const Inputs& x) {
             return cross_entropy(x[0], int_tensor({2, 5, 0, 1}, {4}),
                                  CrossEntropyOptions().smoothing(0.1).reduce(Reduction::Sum)); });
  add_case("cross_entropy", "(4,6)^T none", [](Generator& g) {
             return Inputs{transposed_leaf(g, 4, 6)}; },
           [](const Inputs& x) {
             return cross_entropy(x[0], int_tensor({2, 5, 0, 1}, {4}),
                                  CrossEntropyOptions().smoothing(0.2).reduce(Reduction::None)); });

  // --- recurrent cells ---
  add_case("unbind", "(2,4,3) dim 1, piece 2 unused", [](Generator& g) {
             return Inputs{leaf(g, {2, 4, 3})}; },
           [](const Inputs& x) {
             std::vector<Tensor> steps = unbind(x[0], 1);
             return steps[0] * steps[1] + steps[3].pow(2.0) + steps[0]; });
  add_case("unbind", "(4,3)^T dim 0", [](Generator& g) { return Inputs{transposed_leaf(g, 4, 3)}; },
           [](const Inputs& x) {
             std::vector<Tensor> rows = unbind(x[0], 0);
             return stack({rows[2], rows[0] * rows[1]}, 0).pow(2.0); });
  // H = 3, B = 2. gi is a step sliced out of a (B, T, 3H) projection, as the
  // sequence layers pass it: rows a stride apart.
  add_case("gru_cell_fused", "gi (2,9) sliced, gh (2,9), h (2,3)", [](Generator& g) {
             Tensor gi_all = randn({2, 2, 9}, kFloat64, &g);
             return Inputs{gi_all.select(1, 1).requires_grad_(), leaf(g, {2, 9}),
                           leaf(g, {2, 3})}; },
           [](const Inputs& x) { return gru_cell_fused(x[0], x[1], x[2]); });
  add_case("gru_cell_fused", "two steps, h reused", [](Generator& g) {
             return Inputs{leaf(g, {2, 9}), leaf(g, {2, 9}), leaf(g, {2, 3})}; },
           [](const Inputs& x) {
             Tensor h1 = gru_cell_fused(x[0], x[1], x[2]);
             return gru_cell_fused(x[1], x[0] * 0.5, h1); });
  add_case("lstm_cell_fused", "gates (2,12), c (2,3) -> [h|c]", [](Generator& g) {
             return Inputs{leaf(g, {2, 12}), leaf(g, {2, 3})}; },
           [](const Inputs& x) { return lstm_cell_fused(x[0], x[1]); });
  add_case("lstm_cell_fused", "two steps through h and c views", [](Generator& g) {
             return Inputs{leaf(g, {2, 12}), transposed_leaf(g, 2, 3)}; },
           [](const Inputs& x) {
             Tensor state = lstm_cell_fused(x[0], x[1]);
             Tensor h = state.narrow(1, 0, 3), c = state.narrow(1, 3, 3);
             Tensor gates = x[0] + cat({h, h, c, h}, 1);
             return lstm_cell_fused(gates, c).narrow(1, 0, 3) * 2.0 + c; });
  // B = 3, T = 4, H = 2; lengths {4, 2, 3}: padding on two rows, both directions.
  for (bool reverse : {false, true}) {
    add_case("gru_layer", reverse ? "gi (3,4,6) lengths {4,2,3}, reversed"
                                  : "gi (3,4,6) lengths {4,2,3}", [](Generator& g) {
               return Inputs{leaf(g, {3, 4, 6}), leaf(g, {6, 2}), leaf(g, {6}), leaf(g, {3, 2})}; },
             [reverse](const Inputs& x) {
               return gru_layer(x[0], x[1], x[2], x[3],
                                from_vector(std::vector<int64_t>{4, 2, 3}, {3}), reverse); });
  }
  for (bool reverse : {false, true}) {
    add_case("lstm_layer", reverse ? "gi (3,4,8) lengths {4,2,3}, reversed"
                                   : "gi (3,4,8) lengths {4,2,3}", [](Generator& g) {
               return Inputs{leaf(g, {3, 4, 8}), leaf(g, {8, 2}), leaf(g, {3, 2}),
                             leaf(g, {3, 2})}; },
             [reverse](const Inputs& x) {
               return lstm_layer(x[0], x[1], x[2], x[3],
                                 from_vector(std::vector<int64_t>{4, 2, 3}, {3}), reverse); });
  }
  // --- attention ---
  add_case("additive_attention_scores", "keys (2,3,4), query (2,4), v (4)", [](Generator& g) {
             return Inputs{leaf(g, {2, 3, 4}), leaf(g, {2, 4}), leaf(g, {4})}; },
           [](const Inputs& x) { return additive_attention_scores(x[0], x[1], x[2]); });
  // The fused decoders: T = 3 positions, B = 2 sentences of lengths {4, 2}
  // (S = 4: the second is padded), H = 2, A = 3, Hk = 4.
  add_case("bahdanau_decoder", "T 3, B 2, S 4 lengths {4, 2}, H 2, A 3, Hk 4", [](Generator& g) {
             Tensor w_ih = randn({6, 5 + 4}, kFloat64, &g);  // [W_emb | W_ctx], E = 5
             return Inputs{leaf(g, {3, 2, 6}), leaf(g, {2, 2}),
                           w_ih.narrow(1, 5, 4).requires_grad_(), leaf(g, {6, 2}), leaf(g, {6}),
                           leaf(g, {3, 2}), leaf(g, {3}), leaf(g, {2, 4, 3}), leaf(g, {2, 4, 4})}; },
           [](const Inputs& x) {
             return bahdanau_decoder(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8],
                                     from_vector(std::vector<int64_t>{4, 2}, {2})); });
  // T = 3, B = 2, lengths {4, 2} of S = 4, H = 2, Hk = 3.
  add_case("luong_decoder", "T 3, B 2, S 4 lengths {4, 2}, H 2, Hk 3", [](Generator& g) {
             Tensor w_ih = randn({8, 5 + 2}, kFloat64, &g);  // [W_emb | W_feed], E = 5
             return Inputs{leaf(g, {3, 2, 8}), leaf(g, {2, 2}), leaf(g, {2, 2}),
                           w_ih.narrow(1, 5, 2).requires_grad_(), leaf(g, {8, 2}),
                           leaf(g, {2, 5}), leaf(g, {2, 4, 2}), leaf(g, {2, 4, 3})}; },
           [](const Inputs& x) {
             return luong_decoder(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7],
                                  from_vector(std::vector<int64_t>{4, 2}, {2})); });
  add_case("flash_attention", "q (2,2,3,4), k v (2,2,5,4), key lengths {5, 2}", [](Generator& g) {
             return Inputs{leaf(g, {2, 2, 3, 4}), leaf(g, {2, 2, 5, 4}), leaf(g, {2, 2, 5, 4})}; },
           [](const Inputs& x) {
             return flash_attention(x[0], x[1], x[2], from_vector(std::vector<int64_t>{5, 2}, {2}));
           });
  add_case("flash_attention", "causal, q (1,2,4,3), k v (1,2,6,3)", [](Generator& g) {
             return Inputs{leaf(g, {1, 2, 4, 3}), leaf(g, {1, 2, 6, 3}), leaf(g, {1, 2, 6, 3})}; },
           [](const Inputs& x) { return flash_attention(x[0], x[1], x[2], Tensor(), true); });
  // Grouped heads (GQA, MQA): each kv head's gradient sums its group's.
  add_case("flash_attention", "GQA q (2,4,3,4) on k v (2,2,5,4), key lengths {5, 2}, causal",
           [](Generator& g) {
             return Inputs{leaf(g, {2, 4, 3, 4}), leaf(g, {2, 2, 5, 4}), leaf(g, {2, 2, 5, 4})}; },
           [](const Inputs& x) {
             return flash_attention(x[0], x[1], x[2], from_vector(std::vector<int64_t>{5, 2}, {2}),
                                    true);
           });
  add_case("flash_attention", "MQA q (1,3,4,2) on k v (1,1,4,2)", [](Generator& g) {
             return Inputs{leaf(g, {1, 3, 4, 2}), leaf(g, {1, 1, 4, 2}), leaf(g, {1, 1, 4, 2})}; },
           [](const Inputs& x) { return flash_attention(x[0], x[1], x[2]); });
  // Rotary positions: a rotation, so the backward is the rotation back.
  add_case("rope", "(2,3,5,4) offset 0", [](Generator& g) { return Inputs{leaf(g, {2, 3, 5, 4})}; },
           [](const Inputs& x) { return rope(x[0]).pow(2.0) * x[0]; });
  add_case("rope", "(1,2,3,6) transposed, offset 7, base 100", [](Generator& g) {
             return Inputs{randn({1, 3, 2, 6}, kFloat64, &g).transpose(1, 2).requires_grad_()}; },
           [](const Inputs& x) { return rope(x[0], 7, 100.0) * 1.5; });
  // The gradient only flows to visible scores; rows 2 of sentence 1 see 1
  // key, and the causal case with Tq < Tk has every bound of the prefix.
  add_case("masked_softmax", "(2,2,3,5) key lengths {5, 2}, scale 0.5", [](Generator& g) {
             return Inputs{leaf(g, {2, 2, 3, 5})}; },
           [](const Inputs& x) {
             return masked_softmax(x[0], from_vector(std::vector<int64_t>{5, 2}, {2}), false, 0.5);
           });
  add_case("masked_softmax", "causal, (1,2,3,5), lengths {4}", [](Generator& g) {
             return Inputs{leaf(g, {1, 2, 3, 5})}; },
           [](const Inputs& x) {
             return masked_softmax(x[0], from_vector(std::vector<int64_t>{4}, {1}), true, 1.0);
           });
  // linear: last, as each case's inputs are drawn under its index (a case
  // inserted earlier would give every later case new inputs).
  add_case("linear", "(2,3,4) (5,4) bias (5)", [](Generator& g) {
             return Inputs{leaf(g, {2, 3, 4}), leaf(g, {5, 4}), leaf(g, {5})}; },
           [](const Inputs& x) { return linear(x[0], x[1], x[2]); });
  add_case("linear", "(4,3)^T (2,3)^T no bias", [](Generator& g) {
             return Inputs{transposed_leaf(g, 4, 3), transposed_leaf(g, 2, 3)}; },
           [](const Inputs& x) { return linear(x[0], x[1]); });
  return cases;
}

}  // namespace

const std::vector<GradcheckCase>& gradcheck_cases() {
  static const std::vector<GradcheckCase> cases = make_cases();
  return cases;
}

std::set<std::string> graph_node_names(const Tensor& output) {
  std::set<std::string> names;
  if (!output.defined() || !output.grad_fn()) return names;
  // Depth-first over the nodes, each visited once (a node can be reached along
  // several paths: x used twice, split's pieces, an LSTM's h and c).
  std::vector<std::shared_ptr<autograd::Node>> stack = {output.grad_fn()};
  std::set<const autograd::Node*> seen = {output.grad_fn().get()};
  while (!stack.empty()) {
    std::shared_ptr<autograd::Node> node = stack.back();
    stack.pop_back();
    names.insert(node->name());
    for (const autograd::Edge& edge : node->next_edges()) {
      if (edge.node && seen.insert(edge.node.get()).second) stack.push_back(edge.node);
    }
  }
  return names;
}

std::set<std::string> case_node_names(const GradcheckCase& c, Generator& generator) {
  return graph_node_names(c.fn(c.make_inputs(generator)));
}

const std::vector<GradcheckExclusion>& gradcheck_exclusions() {
  static const std::vector<GradcheckExclusion> exclusions = [] {
    std::vector<GradcheckExclusion> list;
    // The "to_device" case copies CPU -> CUDA -> CPU, which needs a GPU; with
    // one, the case runs and this entry is absent (so the coverage test then
    // demands the case's graph contain ToDeviceBackward).
    if (!kernels::cuda::is_available()) {
      list.push_back({"ToDeviceBackward",
                      "needs a GPU to copy CPU -> CUDA -> CPU; here: " +
                          kernels::cuda::why_unavailable()});
    }
    return list;
  }();
  return exclusions;
}

}  // namespace attn
