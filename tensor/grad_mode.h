// Grad mode: whether ops record the graph. NoGradGuard turns recording off for
// a scope (evaluation, optimizer updates, the backward pass itself).
#pragma once

namespace attn {

// Lives on the tensor floor, below autograd, because creating a tensor asks it
// whether the result may require grad (tensor/tensor.cpp); the engine
// (autograd/engine.cpp) turns it off while it runs the backward pass.
// Per thread: each thread records its own graph.
class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// While one is alive, ops build no graph: results do not require grad.
//   { attn::NoGradGuard no_grad; auto logits = model.forward(x); }
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) {
    GradMode::set_enabled(false);
  }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace attn
