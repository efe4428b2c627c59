// Gradient clipping by global norm (train/optim/clip.h).
#include "train/optim/clip.h"

#include <cmath>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/reduce.h"
#include "tensor/dispatch.h"

namespace attn::optim {
namespace {

// The gradient as a contiguous tensor on its own device, or undefined.
Tensor readable_grad(const Tensor& parameter, const char* who) {
  ATTN_CHECK(parameter.defined(), who, ": a parameter is an undefined tensor");
  Tensor g = parameter.grad();
  if (!g.defined()) return g;
  ATTN_CHECK(g.dtype() == kFloat32 || g.dtype() == kFloat64, who, ": gradient of dtype ", g.dtype(),
             "; expected float32 or float64");
  g = g.detach();
  return g.is_contiguous() ? g : g.contiguous();
}

template <typename T>
bool finite_values(const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

}  // namespace

double grad_norm(const std::vector<Tensor>& parameters) {
  // One sum of squares per parameter, each written by a kernel into its slot
  // of one float64 buffer on the gradients' device, then read back together:
  // on the GPU the step waits once, for the number the log and the clipping
  // need. In double: float32 squares summed in float32 lose digits over a
  // million parameters.
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters) {
    Tensor g = readable_grad(p, "grad_norm");
    if (!g.defined()) continue;
    if (!grads.empty()) {
      ATTN_CHECK(g.device() == grads.front().device(), "grad_norm: gradients on ",
                 device_name(grads.front().device()), " and on ", device_name(g.device()),
                 "; move the model to one device");
    }
    grads.push_back(g);
  }
  if (grads.empty()) return 0.0;
  const int64_t count = static_cast<int64_t>(grads.size());
  Tensor sums = Tensor::empty({count}, TensorOptions(kFloat64).device(grads.front().device()));
  double* slot = sums.data_ptr<double>();
  for (int64_t i = 0; i < count; ++i) {
    const Tensor& g = grads[static_cast<size_t>(i)];
    dispatch_floating(g.dtype(), g.device(), "clip_grad_norm", [&](auto zero, auto device) {
      using T = decltype(zero);
      kernels::sum_of_squares<device>(g.numel(), g.data_ptr<T>(), slot + i);
    });
  }
  double sum = 0;
  for (double s : sums.to_vector<double>()) sum += s;
  return std::sqrt(sum);
}

double clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm) {
  ATTN_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const double norm = grad_norm(parameters);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  // PyTorch clamps the coefficient to 1 and always multiplies; multiplying by
  // 1 changes nothing, so only scale when clipping.
  const double scale = max_norm / (norm + 1e-6);
  NoGradGuard no_grad;
  for (const Tensor& p : parameters) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.device() == kCPU && g.is_contiguous()) {
      // In place, as PyTorch's grad.mul_(scale). The engine gives each leaf
      // its own gradient buffer (autograd/engine.cpp), so nothing else sees it.
      if (g.dtype() == kFloat32) {
        float* data = g.data_ptr<float>();
        const float s = static_cast<float>(scale);
        for (int64_t i = 0; i < g.numel(); ++i) data[i] *= s;
      } else {
        double* data = g.data_ptr<double>();
        for (int64_t i = 0; i < g.numel(); ++i) data[i] *= scale;
      }
    } else {
      p.set_grad(g.detach() * scale);
    }
  }
  return norm;
}

bool all_finite(const Tensor& tensor) {
  if (!tensor.defined() || !is_floating(tensor.dtype())) return true;
  Tensor t = tensor.detach().cpu().contiguous();
  return t.dtype() == kFloat32 ? finite_values(t.data_ptr<float>(), t.numel())
                               : finite_values(t.data_ptr<double>(), t.numel());
}

int64_t first_nonfinite_grad(const std::vector<Tensor>& parameters) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    ATTN_CHECK(parameters[i].defined(), "first_nonfinite_grad: parameter ", i, " is undefined");
    if (!all_finite(parameters[i].grad())) return static_cast<int64_t>(i);
  }
  return -1;
}

std::string first_nonfinite_grad(
    const std::vector<std::pair<std::string, Tensor>>& named_parameters) {
  for (const auto& [name, parameter] : named_parameters) {
    ATTN_CHECK(parameter.defined(), "first_nonfinite_grad: parameter '", name, "' is undefined");
    if (!all_finite(parameter.grad())) return name;
  }
  return "";
}

}  // namespace attn::optim
