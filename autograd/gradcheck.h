// Gradient checking: compare backward() with finite differences.
//
// For a function f of some float64 tensors, gradcheck reduces f's output to a
// scalar L = sum(f(x) * w) with fixed random weights w (so every output element
// matters, with a different weight), computes dL/dx with backward(), and
// compares each entry with the central difference
//     (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),
// whose error is O(eps^2). In float64 with eps = 1e-6 the two agree to about
// 1e-9 relative when the backward rule is right; a wrong rule is off by O(1).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace attn {

struct GradcheckOptions {
  double eps = 1e-6;    // finite-difference step
  double rtol = 1e-6;   // relative tolerance (the bar: 1e-6 or tighter)
  double atol = 1e-7;   // absolute tolerance, for entries whose gradient is ~0
  uint64_t seed = 0;    // for the output weights w
};

struct GradcheckResult {
  bool passed = true;
  double max_abs_error = 0.0;  // max over entries of |analytic - numeric|
  double max_rel_error = 0.0;  // max of |analytic - numeric| / max(|numeric|, 1e-3)
  std::string message;         // where the worst mismatch is, when it fails
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// inputs: float64 CPU tensors; those with requires_grad are checked (they may
// be non-contiguous views). fn must be deterministic (seed any dropout inside).
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace attn
