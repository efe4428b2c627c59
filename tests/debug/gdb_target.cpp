// A tiny program for tests/debug/gdb_printers_test.sh: it builds a graph,
// runs backward with the gradient norms recorded, and stops in inspect(),
// where gdb prints the tensors, the autograd nodes and a Shape through the
// pretty-printers of scripts/gdb/attn_printers.py.
#include <iostream>

#include <attn/attn.h>

using attn::Tensor;

// Kept out of line so that gdb can break on it by name.
__attribute__((noinline)) void inspect(const Tensor& loss, const Tensor& w, const Tensor& view) {
  std::cout << loss.debug_string() << "\n" << w.debug_string() << "\n" << view.debug_string() << "\n";
}

int main() {
  Tensor x = attn::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = attn::from_vector(std::vector<float>{1, 0, -1, 2, 0.5f, 1}, {3, 2}).requires_grad_();
  Tensor y = attn::matmul(x, w);  // (2, 2)
  Tensor loss = (y * y).sum();
  {
    attn::autograd::RecordGradNormsGuard record;
    loss.backward();
  }
  Tensor view = x.transpose(0, 1).select(0, 2);  // x[:, 2]: offset 2, stride 3
  inspect(loss, w, view);
  return 0;
}
