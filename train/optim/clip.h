// Global-norm gradient clipping and the check for non-finite gradients.
//
// Recurrent networks now and then meet a "cliff" in the loss surface, where one
// gradient is enormous; a single step along it undoes hours of training.
// Pascanu et al. (2013, "On the difficulty of training recurrent neural
// networks", section 3.2) rescale the whole gradient when its norm exceeds a
// threshold: the direction is kept, only the length is capped. Marian's
// --clip-norm and PyTorch's clip_grad_norm_ do the same.
//
//   loss.backward();
//   double norm = attn::optim::clip_grad_norm(model.parameters(), 1.0);
//   if (!std::isfinite(norm)) {
//     std::string bad = attn::optim::first_nonfinite_grad(model.named_parameters());
//     ... stop, naming the step and `bad` ...
//   }
//   optimizer.step();
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace attn::optim {

// sqrt(sum over every parameter's gradient of g^2), accumulated in double.
// Parameters without a gradient count as zero. CPU float32/float64 gradients.
double grad_norm(const std::vector<Tensor>& parameters);

// Computes grad_norm(parameters) and, when it exceeds max_norm, multiplies
// every gradient in place by max_norm / (norm + 1e-6) (PyTorch's formula; the
// 1e-6 keeps the scale finite for a zero gradient). Returns the norm before
// clipping, for the log. A non-finite norm (a NaN or inf somewhere) is
// returned as is and nothing is scaled: scaling would spread the NaN to every
// gradient and hide which parameter went wrong. max_norm must be > 0.
double clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm);

// True when every element is finite (no NaN, no inf); for the loss or one
// gradient. An undefined tensor counts as finite.
bool all_finite(const Tensor& tensor);

// The index of the first parameter whose gradient holds a NaN or an inf, or -1
// when all are finite.
int64_t first_nonfinite_grad(const std::vector<Tensor>& parameters);
// The same by name (as Module::named_parameters() gives them); "" when all are finite.
std::string first_nonfinite_grad(
    const std::vector<std::pair<std::string, Tensor>>& named_parameters);

}  // namespace attn::optim
