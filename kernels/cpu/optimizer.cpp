// One parameter's optimizer update: the inner loops of PyTorch's
// single-tensor Adam, AdamW and SGD (torch/optim/adam.py, adamw.py, sgd.py).
//
// train/optim/optimizer.cpp owns the optimizers: their options, state, step counts
// and checkpoints. Once per step and parameter it computes the scalars in
// double, as PyTorch does in Python (AdamStep and SgdStep of kernels/optimizer.h),
// and calls one of these kernels, the CPU or the CUDA one
// (kernels/cuda/optimizer.cu) by the parameter's device. The arithmetic here
// is that of train/optim/optimizer.cpp's adam_update and sgd_update, operation by
// operation: each double scalar is rounded to T where it meets a tensor, and
// the operations come in the same order, so a float64 run still agrees with
// PyTorch to rounding (the golden test, tests/train/test_train_core.cpp).
//
// Adam (Kingma and Ba 2015, Algorithm 1, with PyTorch's placement of eps),
// t the parameter's step count, lr its learning rate:
//   g  = grad + weight_decay · p                   (Adam's L2 decay, when weight_decay != 0)
//   p  = p · (1 − lr · weight_decay)               (AdamW's decoupled decay instead;
//                                                    Loshchilov and Hutter 2019)
//   m  = β1 · m + (1 − β1) · g
//   v  = β2 · v + (1 − β2) · g²
//   p += −lr / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
//
// SGD with momentum μ, dampening τ (PyTorch's form, not Sutskever et al.'s):
//   d   = grad + weight_decay · p
//   buf = d at the first step, else μ · buf + (1 − τ) · d
//   d   = d + μ · buf (Nesterov) or buf
//   p  += −lr · d
//
// Every element is independent, so the loop is split over threads with
// parallel_for; each element's arithmetic is the same whoever computes it.
#include <cmath>
#include <cstdint>

#include "kernels/optimizer.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Rough operation counts per element, for parallel_for's decision.
constexpr int64_t kAdamCost = 16;
constexpr int64_t kSgdCost = 6;

}  // namespace

template <Device D, typename T>
void adam_step(int64_t n, T* p, const T* g_in, T* m, T* v, const AdamStep& s) {
  // The scalars, rounded to T where they meet a tensor (as adam_update does).
  const T neg_step_size = static_cast<T>(s.neg_step_size);
  const T bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
  const T beta1 = static_cast<T>(s.beta1);
  const T beta2 = static_cast<T>(s.beta2);
  const T one_minus_beta1 = static_cast<T>(1.0 - s.beta1);
  const T one_minus_beta2 = static_cast<T>(1.0 - s.beta2);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T shrink = static_cast<T>(s.shrink);  // AdamW's 1 − lr · weight_decay
  const bool decoupled = s.decoupled;
  const bool coupled_decay = !decoupled && s.weight_decay != 0;
  parallel_for(n, kAdamCost, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T g = g_in[i];
      if (coupled_decay) g = g + weight_decay * p[i];   // Adam: L2 through the gradient
      if (decoupled) p[i] = p[i] * shrink;              // AdamW: shrink the weight itself
      m[i] = m[i] * beta1 + one_minus_beta1 * g;        // first moment
      v[i] = v[i] * beta2 + (one_minus_beta2 * g) * g;  // second moment
      const T denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
      p[i] = p[i] + (neg_step_size * m[i]) / denom;
    }
  });
}

template <Device D, typename T>
void sgd_step(int64_t n, T* p, const T* g, T* buf, const SgdStep& s) {
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T momentum = static_cast<T>(s.momentum);
  const T keep = static_cast<T>(1.0 - s.dampening);
  const T neg_lr = static_cast<T>(-s.lr);
  const bool decay = s.weight_decay != 0;
  const bool use_momentum = s.momentum != 0;
  parallel_for(n, kSgdCost, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T d = g[i];
      if (decay) d = d + weight_decay * p[i];
      if (use_momentum) {
        buf[i] = s.first ? d : buf[i] * momentum + keep * d;
        d = s.nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] = p[i] + neg_lr * d;
    }
  });
}

// The CPU definitions of kernels/optimizer.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(adam_step, Device::CPU)
ATTN_INSTANTIATE_FLOATING(sgd_step, Device::CPU)

}  // namespace attn::kernels
