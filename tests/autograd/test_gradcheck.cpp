// Every differentiable op against finite differences in float64.
//
// The cases live in autograd/gradcheck_cases.cpp (shared with `attn gradcheck`);
// this file runs each as its own test. That no backward node was forgotten is
// checked by test_gradcheck_coverage.cpp, from the sources and the graphs.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include "autograd/gradcheck_cases.h"

namespace {

class GradcheckTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GradcheckTest, MatchesFiniteDifferences) {
  const attn::GradcheckCase& c = attn::gradcheck_cases()[GetParam()];
  attn::Generator generator(1000 + GetParam());
  attn::GradcheckOptions options;
  if (c.eps > 0) options.eps = c.eps;
  attn::GradcheckResult result = attn::gradcheck(c.fn, c.make_inputs(generator), options);
  EXPECT_TRUE(result.passed) << c.op << " " << c.shapes << ": " << result.message;
  EXPECT_LT(result.max_rel_error, 1e-6) << c.op << " " << c.shapes;
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  return attn::gradcheck_cases()[info.param].op + "_" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllOps, GradcheckTest,
                         ::testing::Range<size_t>(0, attn::gradcheck_cases().size()), case_name);

// The checker itself must be able to fail: a deliberately wrong backward rule
// (d sin-like op claims derivative 2x for x^3) is caught.
TEST(GradcheckRegistry, DetectsAWrongBackwardRule) {
  auto wrong = [](const std::vector<attn::Tensor>& x) {
    attn::Tensor y = x[0].detach() * x[0].detach() * x[0].detach();  // x^3, untracked
    attn::Tensor tracked = x[0] * x[0];                               // gradient 2x
    // value x^3, gradient 2x: wrong on purpose
    return tracked + (y - tracked.detach());
  };
  attn::Generator generator(3);
  attn::Tensor x = attn::randn({3, 2}, attn::kFloat64, &generator).requires_grad_();
  attn::GradcheckResult result = attn::gradcheck(wrong, {x});
  EXPECT_FALSE(result.passed);
  EXPECT_GT(result.max_abs_error, 1e-3);
}

}  // namespace
