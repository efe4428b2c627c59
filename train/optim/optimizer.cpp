// The optimizers of train/optim/optimizer.h.
//
// Each update is a plain loop over the raw float (or double) buffers of a
// parameter, its gradient and its moments: one pass, no temporaries, and the
// formula readable line by line. The loops follow PyTorch's single-tensor code
// operation by operation (same order, scalars rounded to the parameter's type
// as PyTorch does), so that a float64 run agrees with PyTorch to rounding and
// the golden test (tests/train/test_train_core.cpp) can hold us to it.
#include "train/optim/optimizer.h"

#include <cmath>
#include <utility>

#include "tensor/grad_mode.h"
#include "kernels/optimizer.h"
#include "tensor/dispatch.h"
#include "tensor/creation.h"

namespace attn::optim {

// --- the base ----------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> parameters, double lr)
    : parameters_(std::move(parameters)), lr_(lr) {
  ATTN_CHECK(std::isfinite(lr) && lr >= 0,
             "optimizer: the learning rate must be finite and >= 0, got ", lr);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    ATTN_CHECK(p.defined(), "optimizer: parameter ", i, " is an undefined tensor");
    ATTN_CHECK(p.dtype() == kFloat32 || p.dtype() == kFloat64, "optimizer: parameter ", i, " is ",
               p.dtype(), "; only float32 and float64 tensors can be trained");
    ATTN_CHECK(p.is_contiguous(), "optimizer: parameter ", i, " of shape ", shape_str(p.shape()),
               " is not contiguous; the updates loop over its raw buffer");
    ATTN_CHECK(p.is_leaf(), "optimizer: parameter ", i, " is not a leaf (it was made by an op); ",
               "optimize the tensor you created, not a result computed from it");
    for (size_t j = 0; j < i; ++j) {
      ATTN_CHECK(!p.shares_storage_with(parameters_[j]) || p.offset() != parameters_[j].offset(),
                 "optimizer: parameters ", j, " and ", i,
                 " are the same tensor; it would be updated twice");
    }
  }
}

void Optimizer::zero_grad() {
  for (const Tensor& p : parameters_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  ATTN_CHECK(std::isfinite(lr) && lr >= 0, name(),
             ": the learning rate must be finite and >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::add_buffer(const std::string& buffer_name) {
  buffers_.push_back(Buffer{buffer_name, std::vector<Tensor>(parameters_.size())});
}

Optimizer::Buffer& Optimizer::buffer(const std::string& buffer_name) {
  for (Buffer& b : buffers_) {
    if (b.name == buffer_name) return b;
  }
  throw Error(name() + ": no buffer '" + buffer_name + "' (a bug in the optimizer)");
}

Tensor Optimizer::gradient(size_t i) const {
  const Tensor& p = parameters_[i];
  Tensor g = p.grad();
  if (!g.defined()) return g;
  ATTN_CHECK(g.device() == p.device() && g.dtype() == p.dtype() && g.shape() == p.shape(), name(),
             ": the gradient of parameter ", i, " is ", g.dtype(), " ", shape_str(g.shape()),
             " on ", g.device(), " but the parameter is ", p.dtype(), " ", shape_str(p.shape()),
             " on ", p.device());
  return g.is_contiguous() ? g : g.detach().contiguous();
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> out;
  out[name() + ".step_count"] = from_vector(std::vector<int64_t>{step_count_}, {});
  for (const Buffer& b : buffers_) {
    for (size_t i = 0; i < b.slots.size(); ++i) {
      if (!b.slots[i].defined()) continue;
      out[name() + "." + b.name + "." + std::to_string(i)] = b.slots[i].detach().clone();
    }
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state) {
  const std::string prefix = name() + ".";
  auto count = state.find(prefix + "step_count");
  ATTN_CHECK(count != state.end(), name(), ".load_state: '", prefix, "step_count' is missing; the ",
             "state was saved by another optimizer (its names: '",
             state.empty() ? std::string("none") : state.begin()->first, "', ...)");
  ATTN_CHECK(count->second.dtype() == kInt64 && count->second.numel() == 1, name(),
             ".load_state: '", prefix, "step_count' must be one int64");
  // Checked in full before anything changes, so a bad state leaves the optimizer as it was.
  std::vector<Buffer> restored = buffers_;
  for (Buffer& b : restored) b.slots.assign(parameters_.size(), Tensor());
  for (const auto& [key, value] : state) {
    if (key == prefix + "step_count") continue;
    // "<name>.<buffer>.<index>"
    size_t last_dot = key.rfind('.');
    ATTN_CHECK(key.compare(0, prefix.size(), prefix) == 0 && last_dot != std::string::npos &&
                   last_dot > prefix.size(),
               name(), ".load_state: unexpected entry '", key, "'");
    const std::string buffer_name = key.substr(prefix.size(), last_dot - prefix.size());
    const std::string index_text = key.substr(last_dot + 1);
    Buffer* target = nullptr;
    for (Buffer& b : restored) {
      if (b.name == buffer_name) target = &b;
    }
    ATTN_CHECK(target != nullptr, name(), ".load_state: unexpected entry '", key, "' (", name(),
               " keeps no buffer '", buffer_name, "')");
    size_t index = 0;
    bool digits = !index_text.empty() && index_text.size() < 10;
    for (char c : index_text) {
      digits = digits && c >= '0' && c <= '9';
      if (digits) index = index * 10 + static_cast<size_t>(c - '0');
    }
    ATTN_CHECK(digits && index < parameters_.size(), name(), ".load_state: entry '", key,
               "' names parameter ", index_text, " but the optimizer has ", parameters_.size());
    const Tensor& p = parameters_[index];
    if (buffer_name == "step") {
      ATTN_CHECK(value.dtype() == kInt64 && value.numel() == 1, name(), ".load_state: '", key,
                 "' must be one int64");
    } else {
      ATTN_CHECK(value.dtype() == p.dtype() && value.shape() == p.shape(), name(), ".load_state: '",
                 key, "' is ", value.dtype(), " ", shape_str(value.shape()), " but parameter ",
                 index, " is ", p.dtype(), " ", shape_str(p.shape()));
    }
    // The moments live beside their parameter (on the GPU when it is); the step count on the host.
    target->slots[index] = buffer_name == "step" ? value.detach().cpu().clone()
                                                 : value.detach().to(p.device()).clone();
  }
  // A parameter's buffers come together (Adam's step, m and v) or not at all.
  for (size_t i = 0; i < parameters_.size(); ++i) {
    for (const Buffer& b : restored) {
      ATTN_CHECK(b.slots[i].defined() == restored[0].slots[i].defined(), name(),
                 ".load_state: parameter ", i, " has '", restored[0].name, "' but not '", b.name,
                 "' or the other way round; the state is incomplete");
    }
  }
  buffers_ = std::move(restored);
  step_count_ = count->second.item<int64_t>();
}

// --- SGD -------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> parameters, SGDOptions options)
    : Optimizer(std::move(parameters), options.lr), options_(options) {
  ATTN_CHECK(options.momentum >= 0 && options.weight_decay >= 0 && options.dampening >= 0,
             "SGD: momentum (", options.momentum, "), dampening (", options.dampening,
             ") and weight_decay (", options.weight_decay, ") must be >= 0");
  ATTN_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
             "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (as in PyTorch)");
  add_buffer("momentum_buffer");
}

void SGD::step() {
  NoGradGuard no_grad;
  Buffer& momentum = buffer("momentum_buffer");
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Tensor g = gradient(i);
    if (!g.defined()) continue;  // no gradient this step: leave it alone, as PyTorch does
    Tensor& p = parameters_[i];
    bool first = false;
    if (options_.momentum != 0 && !momentum.slots[i].defined()) {
      momentum.slots[i] = Tensor::empty(p.shape(), p.options());
      first = true;
    }
    kernels::SgdStep step;
    step.lr = lr_;
    step.momentum = options_.momentum;
    step.dampening = options_.dampening;
    step.weight_decay = options_.weight_decay;
    step.nesterov = options_.nesterov;
    step.first = first;
    dispatch_floating(p.dtype(), p.device(), "SGD", [&](auto zero, auto device) {
      using T = decltype(zero);
      T* buf = options_.momentum != 0 ? momentum.slots[i].data_ptr<T>() : nullptr;
      kernels::sgd_step<device>(p.numel(), p.data_ptr<T>(), g.data_ptr<T>(), buf, step);
    });
  }
  ++step_count_;
}

// --- Adam and AdamW ------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> parameters, AdamOptions options)
    : Adam(std::move(parameters), options, false) {}

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(parameters), options.lr), options_(options), decoupled_(decoupled) {
  const char* who = decoupled ? "AdamW" : "Adam";
  ATTN_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
             who, ": betas must lie in [0, 1), got (", options.beta1, ", ", options.beta2, ")");
  ATTN_CHECK(options.eps >= 0, who, ": eps must be >= 0, got ", options.eps);
  ATTN_CHECK(options.weight_decay >= 0, who, ": weight_decay must be >= 0, got ",
             options.weight_decay);
  add_buffer("step");        // int64 scalar: this parameter's own step count t
  add_buffer("exp_avg");     // m, the first moment
  add_buffer("exp_avg_sq");  // v, the second moment
}

void Adam::step() {
  NoGradGuard no_grad;
  Buffer& steps = buffer("step");
  Buffer& exp_avg = buffer("exp_avg");
  Buffer& exp_avg_sq = buffer("exp_avg_sq");
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Tensor g = gradient(i);
    if (!g.defined()) continue;  // no gradient: neither the moments nor t move
    Tensor& p = parameters_[i];
    if (!steps.slots[i].defined()) {  // PyTorch's lazy state: zeros at the first step
      steps.slots[i] = zeros({}, kInt64);
      exp_avg.slots[i] = zeros(p.shape(), p.options());
      exp_avg_sq.slots[i] = zeros(p.shape(), p.options());
    }
    int64_t& t = *steps.slots[i].data_ptr<int64_t>();  // on the host: a scalar the kernel needs
    t += 1;
    // The scalars as PyTorch computes them (torch/optim/adam.py, _single_tensor_adam):
    // in double, as Python floats; the kernel rounds them to T where they meet a tensor.
    kernels::AdamStep step;
    step.beta1 = options_.beta1;
    step.beta2 = options_.beta2;
    step.eps = options_.eps;
    step.neg_step_size = -(lr_ / (1.0 - std::pow(options_.beta1, static_cast<double>(t))));
    step.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(t)));
    step.weight_decay = options_.weight_decay;
    step.shrink = 1.0 - lr_ * options_.weight_decay;
    step.decoupled = decoupled_;
    dispatch_floating(p.dtype(), p.device(), "Adam", [&](auto zero, auto device) {
      using T = decltype(zero);
      kernels::adam_step<device>(p.numel(), p.data_ptr<T>(), g.data_ptr<T>(),
                                 exp_avg.slots[i].data_ptr<T>(), exp_avg_sq.slots[i].data_ptr<T>(),
                                 step);
    });
  }
  ++step_count_;
}

namespace {
AdamOptions as_adam_options(const AdamWOptions& o) {
  return AdamOptions(o.lr)
      .set_betas(o.beta1, o.beta2)
      .set_eps(o.eps)
      .set_weight_decay(o.weight_decay);
}
}  // namespace

AdamW::AdamW(std::vector<Tensor> parameters, AdamWOptions options)
    : Adam(std::move(parameters), as_adam_options(options), true) {}

}  // namespace attn::optim
