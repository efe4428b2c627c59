// Uses the installed headers and library: a forward and backward pass of a
// small softmax regression, checked against values worked out by hand.
#include <attn/attn.h>

#include <cmath>
#include <iostream>

int main() {
  // logits = x @ w with w = 0: the softmax is uniform over 3 classes, so
  // dL/dw = x^T (softmax - onehot) / N.
  attn::Tensor x = attn::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  attn::Tensor w = attn::zeros({2, 3}).requires_grad_();
  attn::Tensor target = attn::from_vector(std::vector<int64_t>{0, 2}, {2});
  attn::Tensor loss = attn::cross_entropy(attn::matmul(x, w), target);
  loss.backward();
  std::cout << "loss " << loss.item() << "\n" << w.grad() << "\n";
  bool ok = std::abs(loss.item() - std::log(3.0)) < 1e-6;
  // Row 0 of dL/dw: (1*(1/3-1) + 3*(1/3)) / 2, (1/3 + 3/3) / 2, (1/3 + 3*(1/3-1)) / 2
  std::vector<float> g = w.grad().to_vector<float>();
  ok = ok && std::abs(g[0] - (1.0 * (1.0 / 3 - 1) + 3.0 / 3) / 2) < 1e-6;
  ok = ok && std::abs(g[2] - (1.0 / 3 + 3.0 * (1.0 / 3 - 1)) / 2) < 1e-6;
  std::cout << (ok ? "install-tree consumer: ok" : "install-tree consumer: WRONG VALUES") << "\n";
  return ok ? 0 : 1;
}
