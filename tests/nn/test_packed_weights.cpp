// linear_prepack / linear_prepacked (autograd/ops_packed_linear.cpp) and the
// packed weights of a decode (nn/packed_weights.h): the same numbers as
// linear(), linear's graph where gradients are wanted, clear errors, packing
// only inside a scope and without a graph, and a float32 Transformer whose
// cached decoding (packed) agrees with its teacher-forced forward (not).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/generator.h"
#include "nn/layers.h"
#include "nn/packed_weights.h"
#include "nn/transformer.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "train/decode/decode.h"

namespace {

using attn::Tensor;
namespace nn = attn::nn;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return std::sqrt((a.to(attn::kFloat64) - b.to(attn::kFloat64)).pow(2.0).max().item<double>());
}

TEST(LinearPrepacked, EqualsLinearInFloatAndDouble) {
  attn::manual_seed(5);
  for (attn::DType dtype : {attn::kFloat32, attn::kFloat64}) {
    for (bool with_bias : {true, false}) {
      // 2 x 7 = 14 rows (not a multiple of 6), 37 outputs (not of 16).
      Tensor x = attn::randn({2, 7, 19}).to(dtype);
      Tensor w = attn::randn({37, 19}).to(dtype);
      Tensor b = with_bias ? attn::randn({37}).to(dtype) : Tensor();
      const attn::PackedLinear packed = attn::linear_prepack(w, b);
      ASSERT_TRUE(packed.packed.defined());
      EXPECT_EQ(packed.packed.shape(), attn::Shape({3, 19, 16}));
      Tensor y = attn::linear_prepacked(x, packed);
      EXPECT_EQ(y.shape(), attn::Shape({2, 7, 37}));
      const double tol = dtype == attn::kFloat32 ? 1e-5 : 1e-12;
      EXPECT_LE(max_abs_diff(y, attn::linear(x, w, b)), tol)
          << attn::dtype_name(dtype) << (with_bias ? " with bias" : " without bias");
    }
  }
}

// Where a graph must record the product, linear_prepacked is linear(): the
// same gradients for x, W and b.
TEST(LinearPrepacked, WithGradientsIsLinearsGraph) {
  attn::manual_seed(6);
  Tensor w = attn::randn({5, 4}).to(attn::kFloat64);
  Tensor b = attn::randn({5}).to(attn::kFloat64);
  Tensor x = attn::randn({3, 4}).to(attn::kFloat64);
  w.requires_grad_();
  b.requires_grad_();
  x.requires_grad_();
  attn::PackedLinear packed;
  {
    attn::NoGradGuard no_grad;
    packed = attn::linear_prepack(w, b);
  }
  attn::linear_prepacked(x, packed).pow(2.0).sum().backward();
  const Tensor gx = x.grad(), gw = w.grad(), gb = b.grad();
  ASSERT_TRUE(gx.defined() && gw.defined() && gb.defined());
  x.zero_grad();
  w.zero_grad();
  b.zero_grad();
  attn::linear(x, w, b).pow(2.0).sum().backward();
  EXPECT_LE(max_abs_diff(gx, x.grad()), 1e-12);
  EXPECT_LE(max_abs_diff(gw, w.grad()), 1e-12);
  EXPECT_LE(max_abs_diff(gb, b.grad()), 1e-12);
}

TEST(LinearPrepacked, BadShapesNameTheOpAndTheShapes) {
  Tensor w = attn::zeros({6, 4});
  try {
    attn::linear_prepacked(attn::zeros({2, 5}), attn::linear_prepack(w));
    FAIL() << "expected an error";
  } catch (const attn::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("linear_prepacked"), std::string::npos) << what;
    EXPECT_NE(what.find("[6, 4]"), std::string::npos) << what;
    EXPECT_NE(what.find("[2, 5]"), std::string::npos) << what;
  }
  EXPECT_THROW(attn::linear_prepack(attn::zeros({6})), attn::Error);
  EXPECT_THROW(attn::linear_prepack(w, attn::zeros({5})), attn::Error);
  EXPECT_THROW(attn::linear_prepacked(attn::zeros({2, 4}), attn::PackedLinear()), attn::Error);
}

// A Linear packs only inside a scope and without a graph, once per weight;
// leaving the scope stops it.
TEST(PackedWeights, LinearPacksInsideAScopeWithoutAGraphOnly) {
  attn::manual_seed(7);
  nn::Linear layer(8, 20);
  Tensor x = attn::randn({4, 8});
  nn::PackedWeights weights;
  {
    nn::PackedWeightsScope scope(weights);
    Tensor with_graph = layer.forward(x);  // parameters require grad: linear()'s graph
    EXPECT_TRUE(with_graph.requires_grad());
    EXPECT_EQ(weights.size(), 0);
    attn::NoGradGuard no_grad;
    Tensor y = layer.forward(x);
    Tensor again = layer.forward(x);
    EXPECT_EQ(weights.size(), 1);
    EXPECT_EQ(weights.bytes(), 2 * 8 * 16 * 4);  // ceil(20 / 16) panels of 8 x 16 floats
    EXPECT_LE(max_abs_diff(y, attn::linear(x, layer.weight, layer.bias)), 1e-5);
    EXPECT_EQ(max_abs_diff(y, again), 0.0);
    {
      nn::PackedWeights inner;
      nn::PackedWeightsScope nested(inner);
      EXPECT_EQ(nn::PackedWeightsScope::current(), &inner);
    }
    EXPECT_EQ(nn::PackedWeightsScope::current(), &weights);
  }
  EXPECT_EQ(nn::PackedWeightsScope::current(), nullptr);
  attn::NoGradGuard no_grad;
  layer.forward(x);
  EXPECT_EQ(weights.size(), 1);
  // Switched off (ATTN_PACKED_WEIGHTS=0): a scope packs nothing.
  nn::set_packed_weights_enabled(false);
  nn::PackedWeights off;
  {
    nn::PackedWeightsScope scope(off);
    EXPECT_LE(max_abs_diff(layer.forward(x), attn::linear(x, layer.weight, layer.bias)), 0.0);
  }
  nn::set_packed_weights_enabled(true);
  EXPECT_EQ(off.size(), 0);
}

// A float32 Transformer: the cached decoder (start/step, packed weights)
// against the teacher-forced forward over the chosen tokens (OpenBLAS, no
// packing). The logits agree to float rounding and greedy picks the same
// tokens; after the weights change, the next decode packs the new ones.
TEST(PackedWeights, Float32CachedDecodingAgreesWithTeacherForcing) {
  attn::manual_seed(12);
  nn::TransformerOptions options(40, 40);
  options.set_d_model(32).set_num_heads(4).set_d_ff(64).set_layers(2, 2).set_dropout(0.0);
  nn::Transformer model(options);
  model.eval();
  attn::NoGradGuard no_grad;
  Tensor source = attn::from_vector(std::vector<int64_t>{5, 9, 12, 7, 30, 22, 8, 17, 3, 3},
                                    {2, 5});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{5, 3}, {2});
  auto check = [&](const char* when) {
    std::unique_ptr<nn::DecoderState> state = model.start(source, lengths);
    state->need_weights = false;
    Tensor previous = attn::full({2}, 1.0, attn::kInt64);  // <s>
    std::vector<Tensor> inputs{previous}, step_logits;
    for (int t = 0; t < 6; ++t) {
      Tensor logits = model.step(*state, previous);  // (2, V)
      step_logits.push_back(logits);
      previous = attn::argmax(logits, -1);
      inputs.push_back(previous);
    }
    auto* transformer_state = dynamic_cast<nn::TransformerState*>(state.get());
    ASSERT_NE(transformer_state, nullptr);
    EXPECT_GT(transformer_state->packed_weights.size(), 0) << when;
    inputs.pop_back();
    Tensor forced = model.forward(source, lengths, attn::stack(inputs, 1));  // (2, 6, V)
    Tensor cached = attn::stack(step_logits, 1);
    EXPECT_LE(max_abs_diff(cached, forced), 1e-4) << when;
    EXPECT_EQ(attn::argmax(cached, -1).to_vector<int64_t>(),
              attn::argmax(forced, -1).to_vector<int64_t>()) << when;
  };
  check("before the change");
  model.output->weight.copy_(model.output->weight * -1.5);
  check("after the weights changed in place");
}

}  // namespace
