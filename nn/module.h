// nn::Module: the base of every layer and model.
//
// A module owns named parameters (tensors that require grad) and named
// submodules, like torch::nn::Module. Names nest with dots, so a parameter of
// a submodule reads "encoder.rnn.weight_ih_l0" — the names that state_dict(),
// checkpoints and the debugger show.
//
//   class Linear : public attn::nn::Module {
//    public:
//     Linear(int64_t in, int64_t out) {
//       weight = register_parameter("weight", attn::empty({out, in}));
//       bias = register_parameter("bias", attn::zeros({out}));
//     }
//     attn::Tensor weight, bias;
//   };
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace attn::nn {

class Module {
 public:
  virtual ~Module() = default;

  // All parameters, this module's first, then each submodule's in registration
  // order, with dotted names. The order is stable: optimizers and checkpoints rely on it.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // Direct submodules, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }

  // Training mode (dropout active) or evaluation mode, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Drops every parameter's gradient (set to none).
  void zero_grad();
  // Number of scalar parameters.
  int64_t parameter_count() const;

  // Converts every parameter to `dtype` in place, like torch's module.to(dtype):
  // the layers' own handles (weight, bias...) see the new values, because the
  // tensors are changed rather than replaced. Drops gradients. Used to run a
  // whole model in float64 for gradient checks.
  void to(DType dtype);
  // Moves every parameter to `device` in place, like torch's module.to(device),
  // the same way (the tensors change, not the handles). Drops gradients.
  void to(Device device);
  // Where the parameters are (the first one's device; CPU for a module without any).
  Device device() const;

  // Name -> parameter (shared with the module: a view of the live weights).
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the parameters. Throws naming the parameter when a name
  // is missing or unexpected, or a shape or dtype differs.
  void load_state_dict(const std::map<std::string, Tensor>& state);

  // Weights as safetensors (tensor/safetensors.h), with optional metadata.
  void save(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
  void load(const std::string& path);

 protected:
  // Marks `tensor` as a parameter (requires_grad) and keeps it under `name`.
  Tensor register_parameter(const std::string& name, Tensor tensor);
  // Keeps `module` as a child under `name` and returns it, libtorch-style.
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace attn::nn
