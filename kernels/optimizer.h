// One parameter's optimizer update, fused: the inner loops of PyTorch's
// torch/optim/adam.py, adamw.py and sgd.py. train/optim/optimizer.cpp computes the
// scalars once per step and calls these per parameter.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/optimizer.cpp and kernels/cuda/optimizer.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// The scalars of one Adam or AdamW step, computed in double as PyTorch
// computes them in Python.
struct AdamStep {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double neg_step_size = 0;          // -lr / (1 - beta1^t)
  double bias_correction2_sqrt = 1;  // sqrt(1 - beta2^t)
  double weight_decay = 0;           // Adam: added to the gradient (L2)
  double shrink = 1;                 // AdamW: p *= 1 - lr * weight_decay first
  bool decoupled = false;            // AdamW
};

struct SgdStep {
  double lr = 0.1, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first = false;  // the momentum buffer holds nothing yet (PyTorch clones d into it)
};

// p, g, m (exp_avg), v (exp_avg_sq): n elements each; p, m and v are updated.
template <Device D, typename T>
void adam_step(int64_t n, T* p, const T* g, T* m, T* v, const AdamStep& s);

// p, g, buf: n elements; buf may be null when momentum is 0.
template <Device D, typename T>
void sgd_step(int64_t n, T* p, const T* g, T* buf, const SgdStep& s);

}  // namespace attn::kernels
