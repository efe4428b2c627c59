// Optimizers: SGD (with momentum), Adam and AdamW, named and configured as in
// libtorch and updating exactly as PyTorch's single-tensor code does
// (torch/optim/sgd.py, adam.py, adamw.py of PyTorch 1.13).
//
//   attn::optim::Adam optimizer(model.parameters(), attn::optim::AdamOptions(1e-3));
//   for (...) {
//     optimizer.zero_grad();
//     auto loss = ...;
//     loss.backward();
//     optimizer.step();
//   }
//
// Parameters are float32 or float64 CPU tensors, contiguous (nn::Module makes
// them so); the constructor checks. A parameter whose grad is undefined at a
// step is skipped, as in PyTorch: its moments and its own step count stay put.
//
// For checkpoints, state() hands back every moment and counter as named
// tensors ("adam.exp_avg.3" is the first moment of parameter 3) and
// load_state() puts them back, so that a resumed run continues bit for bit.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace attn::optim {

// The base: the parameters in order, the learning rate, the update count.
class Optimizer {
 public:
  Optimizer(std::vector<Tensor> parameters, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient. Runs without autograd.
  virtual void step() = 0;
  // Drops every parameter's gradient (set to none, PyTorch's default), so the
  // next backward starts from nothing and skipped parameters stay skipped.
  void zero_grad();

  // The learning rate of the next step(); a schedule sets it before each step.
  double lr() const { return lr_; }
  void set_lr(double lr);

  const std::vector<Tensor>& parameters() const { return parameters_; }
  // How many times step() has run (parameters without a grad do not change it).
  int64_t step_count() const { return step_count_; }

  // "sgd", "adam", "adamw": the prefix of the names in state().
  virtual std::string name() const = 0;

  // Everything a resumed run needs, as named tensors: "<name>.step_count" (an
  // int64 scalar) and the per-parameter buffers of the subclass, named
  // "<name>.<buffer>.<parameter index>". Buffers a parameter has not needed yet
  // (no step with a gradient) are absent, as in PyTorch. The tensors are copies.
  std::map<std::string, Tensor> state() const;
  // Restores what state() returned. Throws naming the entry when a name is
  // unknown (another optimizer, more parameters) or a shape or dtype differs
  // from its parameter's.
  void load_state(const std::map<std::string, Tensor>& state);

 protected:
  // A per-parameter buffer, one slot per parameter; undefined until first used.
  struct Buffer {
    std::string name;            // "exp_avg", "momentum_buffer", "step"
    std::vector<Tensor> slots;   // parallel to parameters_
  };
  // Subclasses register their buffers once, in the constructor.
  void add_buffer(const std::string& buffer_name);
  Buffer& buffer(const std::string& buffer_name);

  // The gradient of parameter i ready for a raw loop (contiguous, the
  // parameter's dtype and shape), or undefined when it has none this step.
  Tensor gradient(size_t i) const;

  std::vector<Tensor> parameters_;
  std::vector<Buffer> buffers_;
  double lr_;
  int64_t step_count_ = 0;
};

// --- SGD ---------------------------------------------------------------------

struct SGDOptions {
  double lr = 0.1;             // no default in PyTorch; 0.1 is a common start
  double momentum = 0.0;       // 0.9 is usual; 0 is plain SGD
  double dampening = 0.0;      // scales the new gradient into the buffer by (1 - dampening)
  double weight_decay = 0.0;   // L2 penalty: grad += weight_decay * param
  bool nesterov = false;       // Sutskever et al. 2013; needs momentum > 0, dampening 0

  explicit SGDOptions(double lr = 0.1) : lr(lr) {}
  SGDOptions& set_lr(double v) { lr = v; return *this; }
  SGDOptions& set_momentum(double v) { momentum = v; return *this; }
  SGDOptions& set_dampening(double v) { dampening = v; return *this; }
  SGDOptions& set_weight_decay(double v) { weight_decay = v; return *this; }
  SGDOptions& set_nesterov(bool v) { nesterov = v; return *this; }
};

// d = g + wd * p;  buf = d (first step) or momentum * buf + (1 - dampening) * d;
// d = nesterov ? d + momentum * buf : buf;  p -= lr * d.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> parameters, SGDOptions options = SGDOptions());
  void step() override;
  std::string name() const override { return "sgd"; }
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
};

// --- Adam and AdamW -------------------------------------------------------------

struct AdamOptions {
  double lr = 1e-3;            // Kingma and Ba 2015, Algorithm 1
  double beta1 = 0.9;          // decay of the first moment (mean of gradients)
  double beta2 = 0.999;        // decay of the second moment (mean of squared gradients)
  double eps = 1e-8;           // added to sqrt(second moment), after bias correction
  double weight_decay = 0.0;   // L2 penalty added to the gradient (coupled, unlike AdamW)

  explicit AdamOptions(double lr = 1e-3) : lr(lr) {}
  AdamOptions& set_lr(double v) { lr = v; return *this; }
  AdamOptions& set_betas(double b1, double b2) { beta1 = b1; beta2 = b2; return *this; }
  AdamOptions& set_eps(double v) { eps = v; return *this; }
  AdamOptions& set_weight_decay(double v) { weight_decay = v; return *this; }
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay =
      1e-2;  // decoupled: p *= 1 - lr * weight_decay (Loshchilov and Hutter 2019)

  explicit AdamWOptions(double lr = 1e-3) : lr(lr) {}
  AdamWOptions& set_lr(double v) { lr = v; return *this; }
  AdamWOptions& set_betas(double b1, double b2) { beta1 = b1; beta2 = b2; return *this; }
  AdamWOptions& set_eps(double v) { eps = v; return *this; }
  AdamWOptions& set_weight_decay(double v) { weight_decay = v; return *this; }
};

// Per parameter, with its own step count t:
//   g += wd * p (Adam) | p *= 1 - lr * wd (AdamW)
//   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> parameters, AdamOptions options = AdamOptions());
  void step() override;
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }

 protected:
  // AdamW's constructor: the same update with the decay moved out of the gradient.
  Adam(std::vector<Tensor> parameters, const AdamOptions& options, bool decoupled);

  AdamOptions options_;
  bool decoupled_ = false;  // true for AdamW
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> parameters, AdamWOptions options = AdamWOptions());
};

}  // namespace attn::optim
