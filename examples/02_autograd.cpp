// Chapter 02, autograd (docs/02-autograd.md): run it while you read.
//
//   ./build/release/examples/example_02_autograd [--dot graph.dot]
//
// Builds a two-layer network that learns XOR, prints the graph that the
// forward pass recorded, runs backward(), and checks one gradient against a
// finite difference computed by hand. Then: gradients accumulate, NoGradGuard
// switches recording off, a few steps of gradient descent, and attn::gradcheck.
// Every section checks what it shows; the program returns 1 if any check fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <attn/attn.h>

namespace {

using attn::Shape;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

// Tensors print over several lines, aligned to start at column 0.
void show(const std::string& label, const Tensor& t) { std::cout << label << ":\n" << t << "\n"; }

// Prints the graph under `node`, one op per line, children indented: the same
// walk as the engine's (autograd/engine.cpp), through Node::next_edges().
void print_graph(const std::shared_ptr<attn::autograd::Node>& node,
                 const std::map<const attn::TensorImpl*, std::string>& names, int depth) {
  std::printf("  %*s%s -> %s\n", 2 * depth, "", node->name().c_str(),
              attn::shape_str(node->output_shape()).c_str());
  for (const attn::autograd::Edge& edge : node->next_edges()) {
    if (edge.node) {
      print_graph(edge.node, names, depth + 1);
    } else if (edge.leaf) {
      auto found = names.find(edge.leaf.get());
      std::printf("  %*sleaf %s %s (its .grad is filled in)\n", 2 * depth + 2, "",
                  found == names.end() ? "?" : found->second.c_str(),
                  attn::shape_str(edge.leaf->shape).c_str());
    } else {
      std::printf("  %*s(an input that needs no gradient)\n", 2 * depth + 2, "");
    }
  }
}

double relative_error(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(b), 1e-12);
}

}  // namespace

int main(int argc, char** argv) {
  section("1. The chain rule on one line");
  // L = sum(a*b + a):  dL/da = b + 1,  dL/db = a. a is used twice, so its two
  // contributions (b through the product, 1 through the sum) add up.
  Tensor a = attn::from_vector(std::vector<double>{1, 2, 3}, {3}).requires_grad_();
  Tensor b = attn::from_vector(std::vector<double>{4, 5, 6}, {3}).requires_grad_();
  Tensor L = (a * b + a).sum();
  show("L", L);
  L.backward();
  show("a.grad()", a.grad());
  show("b.grad()", b.grad());
  check(a.grad().to_vector<double>() == std::vector<double>{5, 6, 7}, "dL/da = b + 1");
  check(b.grad().to_vector<double>() == std::vector<double>{1, 2, 3}, "dL/db = a");

  section("2. A backward rule with a Jacobian: softmax");
  // y = softmax(z), L = sum(y * w). The Jacobian dy_k/dz_j = y_k (delta_kj - y_j)
  // applied to dL/dy = w gives dL/dz = y * (w - <w, y>) (autograd/ops_softmax.cpp).
  Tensor z = attn::from_vector(std::vector<double>{1, 2, 3}, {3}).requires_grad_();
  Tensor weights = attn::from_vector(std::vector<double>{1, -1, 2}, {3});
  Tensor y = attn::softmax(z, 0);
  Tensor softmax_loss = (y * weights).sum();
  softmax_loss.backward();
  show("y = softmax(z)", y);
  show("z.grad()", z.grad());
  std::vector<double> yv = y.to_vector<double>(), wv = weights.to_vector<double>();
  double dot = yv[0] * wv[0] + yv[1] * wv[1] + yv[2] * wv[2];
  double worst = 0;
  for (int k = 0; k < 3; ++k) {
    worst = std::max(worst, std::abs(z.grad().to_vector<double>()[k] - yv[k] * (wv[k] - dot)));
  }
  check(worst < 1e-12, "z.grad() = y * (w - <w, y>), to rounding");
  double grad_total = 0;
  for (double g : z.grad().to_vector<double>()) grad_total += g;
  check(std::abs(grad_total) < 1e-12, "and sums to 0: adding a constant to z changes nothing");

  section("3. A tiny network: two layers on the four XOR points");
  // x (4, 2), target (4): class 1 when exactly one input is 1.
  Tensor x = attn::from_vector(std::vector<double>{0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor target = attn::from_vector(std::vector<int64_t>{0, 1, 1, 0}, {4});
  attn::Generator generator(1);
  Tensor W1 = attn::randn({2, 8}, attn::kFloat64, &generator).requires_grad_();  // (2, 8)
  Tensor b1 = attn::zeros({8}, attn::kFloat64).requires_grad_();                  // (8)
  Tensor W2 = attn::randn({8, 2}, attn::kFloat64, &generator).requires_grad_();  // (8, 2)
  Tensor b2 = attn::zeros({2}, attn::kFloat64).requires_grad_();                  // (2)
  std::vector<Tensor> params = {W1, b1, W2, b2};
  std::map<const attn::TensorImpl*, std::string> names = {
      {W1.unsafe_impl(), "W1"}, {b1.unsafe_impl(), "b1"},
      {W2.unsafe_impl(), "W2"}, {b2.unsafe_impl(), "b2"}};

  // logits = tanh(x W1 + b1) W2 + b2;  loss = mean cross-entropy over the 4 rows.
  auto network = [&](const Tensor& inputs, const std::vector<Tensor>& p) {
    Tensor h = attn::tanh(attn::matmul(inputs, p[0]) + p[1]);  // (4, 8)
    Tensor logits = attn::matmul(h, p[2]) + p[3];              // (4, 2)
    return attn::cross_entropy(logits, target);                // ()
  };
  auto forward = [&](const std::vector<Tensor>& p) { return network(x, p); };
  Tensor loss = forward(params);
  show("loss", loss);

  section("4. The graph the forward pass recorded (grad_fn names)");
  print_graph(loss.grad_fn(), names, 0);
  check(loss.grad_fn()->name() == "CrossEntropyBackward", "the loss was made by CrossEntropyBackward");
  check(W1.is_leaf() && W1.grad_fn() == nullptr, "W1 is a leaf: no grad_fn");
  check(!x.requires_grad(), "x is data: it needs no gradient, so its edge is empty");

  section("5. backward()");
  loss.backward();
  for (size_t i = 0; i < params.size(); ++i) {
    show(names[params[i].unsafe_impl()] + ".grad()", params[i].grad());
    check(params[i].grad().shape() == params[i].shape(),
          names[params[i].unsafe_impl()] + ".grad() has its parameter's shape");
  }
  // Each row of dloss/dlogits is (softmax - onehot) / 4, which sums to 0, and
  // b2 is broadcast over the rows, so b2's gradient (summed over rows by
  // sum_to) also sums to 0.
  std::vector<double> db2 = b2.grad().to_vector<double>();
  check(std::abs(db2[0] + db2[1]) < 1e-12, "the two entries of b2.grad() sum to 0");

  section("6. One gradient by hand: central differences");
  // dL/dW1[0][1] ~ (L(W1 + eps e) - L(W1 - eps e)) / (2 eps), error O(eps^2).
  // The forward passes run under NoGradGuard: they only need values.
  double analytic = W1.grad().to_vector<double>()[1];
  double* w = W1.data_ptr<double>() + 1;  // W1[0][1]: offset 0 + 0*8 + 1*1
  auto loss_at = [&](double value) {
    attn::NoGradGuard no_grad;
    double saved = *w;
    *w = value;
    double result = forward(params).item<double>();
    *w = saved;
    return result;
  };
  double w0 = *w;
  std::printf("  analytic dL/dW1[0][1] = %.12f\n", analytic);
  std::printf("  %8s  %-17s  %-7s   %-17s  %-7s\n", "eps", "central", "rel err", "forward",
              "rel err");
  double central_error[4];
  const double steps[4] = {1e-2, 1e-4, 1e-6, 1e-10};
  for (int k = 0; k < 4; ++k) {
    double eps = steps[k];
    double central = (loss_at(w0 + eps) - loss_at(w0 - eps)) / (2 * eps);
    double one_sided = (loss_at(w0 + eps) - loss_at(w0)) / eps;
    central_error[k] = relative_error(central, analytic);
    std::printf("  %8.0e  %.15f  %.1e   %.15f  %.1e\n", eps, central, central_error[k],
                one_sided, relative_error(one_sided, analytic));
  }
  check(central_error[2] < 1e-7, "at eps = 1e-6 (float64) the two agree to better than 1e-7");
  check(central_error[1] < central_error[0] * 1e-2,
        "eps 100x smaller: central error ~10^4x smaller (it is O(eps^2))");
  check(central_error[3] > central_error[2], "eps = 1e-10 is worse again: rounding error ~ 1e-16/eps");
  {
    // The same check in float32: rounding error ~ 6e-8 * |L| / eps swamps it.
    std::vector<Tensor> p32;
    for (const Tensor& p : params) p32.push_back(p.detach().to(attn::kFloat32));
    Tensor x32 = x.to(attn::kFloat32);
    float* w32 = p32[0].data_ptr<float>() + 1;
    const float saved = *w32;
    double best32 = 1.0;
    std::printf("  float32:\n");
    for (float eps : {1e-2f, 1e-4f, 1e-6f}) {
      *w32 = saved + eps;
      double plus = network(x32, p32).item<double>();
      *w32 = saved - eps;
      double minus = network(x32, p32).item<double>();
      *w32 = saved;
      double central32 = (plus - minus) / (2.0 * static_cast<double>(eps));
      best32 = std::min(best32, relative_error(central32, analytic));
      std::printf("  %8.0e  %.15f  %.1e\n", static_cast<double>(eps), central32,
                  relative_error(central32, analytic));
    }
    check(best32 > 1e-6, "in float32 no step meets gradcheck's 1e-6 bar: checks run in float64");
  }

  section("7. Gradients accumulate until you clear them");
  Tensor v = attn::from_vector(std::vector<double>{1, 2}, {2}).requires_grad_();
  (v * 3.0).sum().backward();
  (v * 3.0).sum().backward();  // a second graph, a second backward: += 3 again
  show("after two backward() calls: v.grad()", v.grad());
  check(v.grad().to_vector<double>() == std::vector<double>{6, 6}, "3 + 3 = 6: grads add up");
  v.zero_grad();
  check(!v.grad().defined(), "zero_grad() drops the gradient (undefined until the next backward)");
  try {
    loss.backward();  // loss's graph was freed by the backward of section 5
    check(false, "a second backward through a freed graph should throw");
  } catch (const attn::Error& error) {
    std::printf("  loss.backward() again throws: %s\n", error.what());
    check(true, "a second backward through the same graph is refused");
  }

  section("8. NoGradGuard, and gradient descent with it");
  {
    attn::NoGradGuard no_grad;
    Tensor eval_loss = forward(params);
    show("under NoGradGuard", eval_loss);
    check(!eval_loss.requires_grad() && eval_loss.grad_fn() == nullptr,
          "no graph is recorded under NoGradGuard");
  }
  double first_loss = 0, last_loss = 0;
  const double learning_rate = 0.5;
  for (int step = 0; step <= 300; ++step) {
    for (const Tensor& p : params) p.zero_grad();
    Tensor step_loss = forward(params);
    step_loss.backward();
    {
      // p -= lr * dL/dp: an in-place update must not be recorded (and copy_
      // refuses to run on a parameter while grad mode is on).
      attn::NoGradGuard no_grad;
      for (Tensor& p : params) p.copy_(p - p.grad() * learning_rate);
    }
    if (step == 0) first_loss = step_loss.item<double>();
    last_loss = step_loss.item<double>();
    if (step % 100 == 0) std::printf("  step %3d  loss %.6f\n", step, last_loss);
  }
  Tensor predicted;
  {
    attn::NoGradGuard no_grad;
    Tensor h = attn::tanh(attn::matmul(x, W1) + b1);
    predicted = (attn::matmul(h, W2) + b2).argmax(1);
  }
  show("predicted classes", predicted);
  check(last_loss < first_loss / 10, "300 steps cut the loss by more than 10x");
  check(predicted.to_vector<int64_t>() == target.to_vector<int64_t>(), "XOR is learned");

  section("9. attn::gradcheck: section 6 for every element of every parameter");
  attn::GradcheckResult result = attn::gradcheck(forward, params);
  std::printf("  max abs error %.3e, max rel error %.3e: %s\n", result.max_abs_error,
              result.max_rel_error, result.passed ? "pass" : result.message.c_str());
  check(result.passed, "the whole network passes gradcheck in float64");

  section("10. The graph as a picture: attn::dump_graph (autograd/graph_dump.h)");
  // One more forward and backward, this time recording each node's incoming
  // gradient norm, then the graph in Graphviz's DOT language. With --dot FILE
  // it is also written to FILE; `dot -Tsvg FILE -o graph.svg` draws it
  // (docs/debugging.md, section 6, shows the picture).
  for (const Tensor& p : params) p.zero_grad();
  Tensor picture_loss = forward(params);
  {
    attn::autograd::RecordGradNormsGuard record;
    picture_loss.backward();
  }
  attn::GraphDumpOptions named;
  named.named_leaves = {{"W1", W1}, {"b1", b1}, {"W2", W2}, {"b2", b2}};
  std::string graph = attn::graph_to_dot(picture_loss, named);
  std::printf("%s", graph.c_str());
  if (argc == 3 && std::string(argv[1]) == "--dot") {
    attn::dump_graph(picture_loss, argv[2], named);
    std::printf("  written to %s; draw it with: dot -Tsvg %s -o graph.svg\n", argv[2], argv[2]);
  }
  auto occurrences = [&](const std::string& what) {
    int n = 0;
    for (size_t at = graph.find(what); at != std::string::npos; at = graph.find(what, at + 1)) ++n;
    return n;
  };
  check(occurrences("shape=box") == 6 && occurrences("shape=ellipse") == 4,
        "6 op nodes (matmul, add, tanh, matmul, add, cross-entropy) and 4 named leaves");
  check(graph.find("CrossEntropyBackward\\n[] float64\\n|grad| 1\"") != std::string::npos,
        "the root received dL/dL = 1");

  std::printf("\n%s: %d check(s) failed\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
