// The registry of gradient checks: one or more cases per differentiable op.
//
// `attn gradcheck` prints one row per case; tests/autograd/test_gradcheck.cpp
// runs every case and checks that every differentiable op has at least one.
// Cases cover broadcasting, size-1 dims and non-contiguous (transposed,
// sliced) inputs. Add a case here when you add an op.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"

namespace attn {

struct GradcheckCase {
  std::string op;      // the op's name, as in autograd/ops.h ("matmul")
  std::string shapes;  // a short description of the inputs ("(3,4) @ (4,5)^T")
  // Makes fresh float64 inputs (those to check have requires_grad).
  std::function<std::vector<Tensor>(Generator&)> make_inputs;
  GradcheckFn fn;
};

const std::vector<GradcheckCase>& gradcheck_cases();

// The names of every differentiable op; each must appear in gradcheck_cases().
const std::vector<std::string>& differentiable_ops();

}  // namespace attn
