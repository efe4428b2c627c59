#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tensor/grad_mode.h"

namespace attn {
namespace {

// Physical offset (from data_ptr) of the i-th element in row-major order.
int64_t element_offset(const Tensor& t, int64_t i) {
  int64_t offset = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    int64_t size = t.shape()[d];
    offset += (i % size) * t.strides()[d];
    i /= size;
  }
  return offset;
}

double weighted_sum(const Tensor& output, const Tensor& weights) {
  NoGradGuard no_grad;
  return sum(output * weights).item<double>();
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  for (const Tensor& x : inputs) {
    if (!x.defined() || !x.requires_grad()) continue;
    ATTN_CHECK(x.dtype() == kFloat64 && x.device() == kCPU, "gradcheck: inputs that require "
               "grad must be float64 on the CPU, got ", dtype_name(x.dtype()), " ",
               shape_str(x.shape()));
    ATTN_CHECK(x.is_leaf(), "gradcheck: inputs must be leaf tensors");
  }
  // Fixed random weights make L depend on every output element.
  Tensor probe = fn(inputs);
  Generator generator(options.seed + 1);
  Tensor weights = randn(probe.shape(), kFloat64, &generator);

  // Analytic gradients.
  for (const Tensor& x : inputs) {
    if (x.defined()) x.zero_grad();
  }
  Tensor loss = sum(fn(inputs) * weights);
  loss.backward();

  GradcheckResult result;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad().defined() ? x.grad() : zeros(x.shape(), kFloat64);
    std::vector<double> analytic_values = analytic.to_vector<double>();
    double* data = x.data_ptr<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double* element = data + element_offset(x, i);
      double saved = *element;
      *element = saved + options.eps;
      double plus = weighted_sum(fn(inputs), weights);
      *element = saved - options.eps;
      double minus = weighted_sum(fn(inputs), weights);
      *element = saved;
      double numeric = (plus - minus) / (2.0 * options.eps);
      double error = std::abs(analytic_values[i] - numeric);
      double rel = error / std::max(std::abs(numeric), 1e-3);
      result.max_abs_error = std::max(result.max_abs_error, error);
      result.max_rel_error = std::max(result.max_rel_error, rel);
      if (!(error <= options.atol + options.rtol * std::abs(numeric)) && result.passed) {
        result.passed = false;
        std::ostringstream message;
        message << "input " << k << " " << shape_str(x.shape()) << ", element " << i
                << ": analytic " << analytic_values[i] << " vs numeric " << numeric;
        result.message = message.str();
      }
    }
    x.zero_grad();
  }
  return result;
}

}  // namespace attn
