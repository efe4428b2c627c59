#include "nn/module.h"

#include <set>

#include "tensor/grad_mode.h"
#include "tensor/safetensors.h"

namespace attn::nn {

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  ATTN_CHECK(name.find('.') == std::string::npos && !name.empty(),
             "register_parameter: invalid name '", name, "' (no dots, not empty)");
  for (const auto& [existing, unused] : parameters_) {
    ATTN_CHECK(existing != name, "register_parameter: '", name, "' is already registered");
  }
  tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  ATTN_CHECK(module != nullptr, "register_module: '", name, "' is null");
  for (const auto& [existing, unused] : children_) {
    ATTN_CHECK(existing != name, "register_module: '", name, "' is already registered");
  }
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, tensor] : parameters_) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.zero_grad();
}

int64_t Module::parameter_count() const {
  int64_t count = 0;
  for (const Tensor& p : parameters()) count += p.numel();
  return count;
}

void Module::to(DType dtype) {
  ATTN_CHECK(is_floating(dtype), "Module::to: parameters must be floating point, got ",
             dtype_name(dtype));
  NoGradGuard no_grad;
  for (auto& [name, param] : named_parameters()) {
    if (param.dtype() == dtype) continue;
    // Swap the storage under the existing TensorImpl: every Tensor handle that
    // shares it (the module's members, an optimizer's list) follows along.
    Tensor converted = param.detach().to(dtype).contiguous();
    TensorImpl& impl = *param.unsafe_impl();
    impl.storage = converted.unsafe_impl()->storage;
    impl.shape = converted.shape();
    impl.strides = converted.strides();
    impl.offset = converted.offset();
    impl.dtype = dtype;
    impl.grad.reset();
  }
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [name, param] : named_parameters()) {
    if (param.device() == device) continue;
    Tensor moved = param.detach().to(device).contiguous();
    TensorImpl& impl = *param.unsafe_impl();
    impl.storage = moved.unsafe_impl()->storage;
    impl.shape = moved.shape();
    impl.strides = moved.strides();
    impl.offset = moved.offset();
    impl.grad.reset();
  }
}

Device Module::device() const {
  std::vector<Tensor> all = parameters();
  return all.empty() ? kCPU : all.front().device();
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out[name] = tensor;
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::set<std::string> expected;
  NoGradGuard no_grad;
  for (auto& [name, param] : named_parameters()) {
    expected.insert(name);
    auto found = state.find(name);
    ATTN_CHECK(found != state.end(), "load_state_dict: parameter '", name,
               "' is missing from the saved weights");
    const Tensor& value = found->second;
    ATTN_CHECK(value.shape() == param.shape(), "load_state_dict: parameter '", name,
               "' has shape ", shape_str(param.shape()), " but the saved tensor has shape ",
               shape_str(value.shape()));
    ATTN_CHECK(value.dtype() == param.dtype(), "load_state_dict: parameter '", name, "' is ",
               dtype_name(param.dtype()), " but the saved tensor is ", dtype_name(value.dtype()));
    param.copy_(value);
  }
  for (auto& [name, value] : state) {
    ATTN_CHECK(expected.count(name), "load_state_dict: unexpected tensor '", name,
               "' in the saved weights (shape ", shape_str(value.shape()), ")");
  }
}

void Module::save(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  save_safetensors(path, state_dict(), metadata);
}

void Module::load(const std::string& path) { load_state_dict(load_safetensors(path).tensors); }

}  // namespace attn::nn
