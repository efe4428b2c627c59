// Grad mode: whether ops record the graph. NoGradGuard turns recording off for
// a scope (evaluation, optimizer updates, the backward pass itself).
#pragma once

namespace attn {
namespace autograd {

class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

}  // namespace autograd

// While one is alive, ops build no graph: results do not require grad.
//   { attn::NoGradGuard no_grad; auto logits = model.forward(x); }
class NoGradGuard {
 public:
  NoGradGuard() : previous_(autograd::GradMode::is_enabled()) {
    autograd::GradMode::set_enabled(false);
  }
  ~NoGradGuard() { autograd::GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace attn
