// The registry of gradient checks: one or more cases per differentiable op.
//
// `attn gradcheck` prints one row per case; tests/autograd/test_gradcheck.cpp
// runs every case. tests/autograd/test_gradcheck_coverage.cpp checks that no
// backward node was forgotten, without a hand-kept list: it scans the library's
// sources for every name passed to autograd::record() (the one place a Node is
// made), builds each case's graph and walks it (graph_node_names), and fails
// for every recorded name that no case's graph contains and that
// gradcheck_exclusions() does not excuse. Cases cover broadcasting, size-1 dims
// and non-contiguous (transposed, sliced) inputs. Add a case here when you add
// an op; the coverage test names the node until you do.
#pragma once

#include <functional>
#include <set>
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
  // The finite-difference step for this case, or 0 for GradcheckOptions' default.
  // Only the float32 round trip (op "to_dtype") needs its own; see its comment.
  double eps = 0.0;
};

const std::vector<GradcheckCase>& gradcheck_cases();

// The names of the backward nodes in the graph that made `output` ("MatmulBackward",
// ...), found by walking grad_fn and every node's next edges back to the leaves.
std::set<std::string> graph_node_names(const Tensor& output);

// The nodes a case's graph records: makes the case's inputs with `generator`,
// runs its function once, and walks the graph of the result.
std::set<std::string> case_node_names(const GradcheckCase& c, Generator& generator);

// A backward node that autograd::record() can make but no gradcheck case
// covers, with the reason. Short on purpose: each entry is a node whose rule
// finite differences cannot check here, never a case someone did not write.
struct GradcheckExclusion {
  std::string node;    // "ToDeviceBackward"
  std::string reason;  // why no case covers it (on this machine)
};

const std::vector<GradcheckExclusion>& gradcheck_exclusions();

}  // namespace attn
