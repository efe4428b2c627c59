// The whole Transformer (nn/transformer.h) against a PyTorch mirror with the
// same weights and batch (tests/golden/transformer/, written by
// scripts/make_transformer_golden.py, whose docstring says how the mirror is
// built). A tiny model: vocabularies 11/13, d_model 8, 2 heads, d_ff 16,
// 2 + 2 layers, dropout 0. Two cases:
//   transformer_post_ln  the paper's post-LN; source lengths {5, 3};
//   transformer_pre_ln   pre-LN with encoder_norm/decoder_norm; source lengths
//                        {5, 3, 0}, so the empty source's attention rows are
//                        fully masked (attn's rule: they attend to nothing).
// Checked, in float64 so the tolerances can be tight:
//   - the encoder's output (memory) and the logits (B, T, V);
//   - the training loss (cross entropy over non-pad targets, label smoothing
//     0.1, as train/train_step.cpp computes it) and a few gradients after the
//     first backward, embedding to output layer;
//   - the loss after each of 3 Adam steps (lr 1e-2, betas (0.9, 0.98),
//     eps 1e-9), and a few parameters after the last step;
// and in float32, the logits and loss with the same (float32-exact) weights.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "golden_fixture.h"

namespace {

using attn::Tensor;
using attn_test::Fixture;
using attn_test::max_diff;
using attn_test::starts_with;
namespace nn = attn::nn;

const char* kScript = "scripts/make_transformer_golden.py";
const std::vector<std::string> kCases = {"transformer_post_ln", "transformer_pre_ln"};

// The fixture's tensors that are not weights.
const std::set<std::string> kBatchAndResults = {"source",  "source_lengths", "target_input",
                                                "target_output", "memory", "logits", "losses"};

double attr_double(const Fixture& f, const std::string& key) {
  auto it = f.attrs.find(key);
  if (it == f.attrs.end()) throw std::runtime_error(f.name + ": missing attr " + key);
  return std::stod(it->second);
}

// A case: the fixture, and attn's Transformer with its options and weights in `dtype`.
struct Golden {
  Fixture f;
  std::unique_ptr<nn::Transformer> model;

  Golden(const std::string& name, attn::DType dtype)
      : f(attn_test::load_fixture("transformer", name, kScript)) {
    nn::TransformerOptions options(f.attr_int("source_vocab_size"), f.attr_int("target_vocab_size"));
    options.set_d_model(f.attr_int("d_model"))
        .set_num_heads(f.attr_int("num_heads"))
        .set_d_ff(f.attr_int("d_ff"))
        .set_layers(f.attr_int("encoder_layers"), f.attr_int("decoder_layers"))
        .set_pre_ln(f.attr_int("pre_ln") != 0)
        .set_dropout(0.0);
    model = std::make_unique<nn::Transformer>(options);
    model->to(dtype);
    // Every parameter of attn's model has weights in the fixture, and every
    // weight in the fixture is a parameter of attn's model: the two models
    // have the same modules.
    std::map<std::string, Tensor> state;
    for (const auto& [name, param] : model->named_parameters()) {
      if (!f.has(name)) throw std::runtime_error(f.name + ": no weights for " + name);
      state[name] = f.at(name).to(dtype);
    }
    for (const std::string& tensor : f.order) {
      if (kBatchAndResults.count(tensor) || starts_with(tensor, "grad_") ||
          starts_with(tensor, "updated_")) {
        continue;
      }
      EXPECT_TRUE(state.count(tensor)) << f.name << ": PyTorch's " << tensor
                                       << " is not a parameter of attn's Transformer";
    }
    model->load_state_dict(state);
  }

  Tensor logits() {
    return model->forward(f.at("source"), f.at("source_lengths"), f.at("target_input"));
  }
  // The training loss of train/train_step.cpp: mean over non-pad targets.
  Tensor loss(const Tensor& logits) const {
    const int64_t V = logits.size(-1);
    return attn::cross_entropy(
        logits.reshape({-1, V}), f.at("target_output").reshape({-1}),
        attn::CrossEntropyOptions().ignore(attn::data::kPad).smoothing(
            attr_double(f, "label_smoothing")));
  }
  // The fixture's losses: (steps + 1), before the first step and after each.
  std::vector<double> losses() const { return f.at("losses").to_vector<double>(); }
};

TEST(TransformerGolden, ForwardMatchesPyTorchInFloat64) {
  for (const std::string& name : kCases) {
    Golden g(name, attn::kFloat64);
    Tensor memory = g.model->encode(g.f.at("source"), g.f.at("source_lengths"));  // (B, S, D)
    EXPECT_LT(max_diff(memory, g.f.at("memory")), 1e-10) << name << ": the encoder's output";
    Tensor logits = g.logits();                                                   // (B, T, V)
    EXPECT_LT(max_diff(logits, g.f.at("logits")), 1e-10) << name << ": logits";
    EXPECT_NEAR(g.loss(logits).item<double>(), g.losses()[0], 1e-10) << name << ": loss";
  }
}

TEST(TransformerGolden, GradientsMatchPyTorchInFloat64) {
  for (const std::string& name : kCases) {
    Golden g(name, attn::kFloat64);
    g.loss(g.logits()).backward();
    std::map<std::string, Tensor> params = g.model->state_dict();
    int checked = 0;
    for (const std::string& tensor : g.f.order) {
      if (!starts_with(tensor, "grad_")) continue;
      const std::string of = tensor.substr(5);
      ASSERT_TRUE(params.count(of)) << name << ": no parameter " << of;
      ASSERT_TRUE(params.at(of).grad().defined()) << name << ": no gradient for " << of;
      EXPECT_LT(max_diff(params.at(of).grad(), g.f.at(tensor)), 1e-10) << name << " " << tensor;
      ++checked;
    }
    EXPECT_GE(checked, 5) << name;
  }
}

TEST(TransformerGolden, AdamStepsMatchPyTorchInFloat64) {
  for (const std::string& name : kCases) {
    Golden g(name, attn::kFloat64);
    const Fixture& f = g.f;
    attn::optim::Adam optimizer(
        g.model->parameters(),
        attn::optim::AdamOptions(attr_double(f, "lr"))
            .set_betas(attr_double(f, "beta1"), attr_double(f, "beta2"))
            .set_eps(attr_double(f, "eps")));
    const std::vector<double> expected = g.losses();
    const int64_t steps = f.attr_int("steps");
    ASSERT_EQ(static_cast<int64_t>(expected.size()), steps + 1) << name;
    for (int64_t step = 0; step <= steps; ++step) {
      optimizer.zero_grad();
      Tensor loss = g.loss(g.logits());
      EXPECT_NEAR(loss.item<double>(), expected[step], 1e-9) << name << ": loss after " << step
                                                             << " Adam steps";
      if (step == steps) break;
      loss.backward();
      optimizer.step();
    }
    std::map<std::string, Tensor> params = g.model->state_dict();
    int checked = 0;
    for (const std::string& tensor : f.order) {
      if (!starts_with(tensor, "updated_")) continue;
      const std::string of = tensor.substr(8);
      ASSERT_TRUE(params.count(of)) << name << ": no parameter " << of;
      EXPECT_LT(max_diff(params.at(of), f.at(tensor)), 1e-9)
          << name << ": " << of << " after " << steps << " Adam steps";
      ++checked;
    }
    EXPECT_GE(checked, 3) << name;
    // The loss went down, so the steps did something the comparison could see.
    EXPECT_LT(expected.back(), expected.front() - 0.1) << name;
  }
}

TEST(TransformerGolden, ForwardMatchesPyTorchInFloat32) {
  for (const std::string& name : kCases) {
    Golden g(name, attn::kFloat32);
    Tensor logits = g.logits();
    EXPECT_EQ(logits.dtype(), attn::kFloat32) << name;
    EXPECT_LT(max_diff(logits, g.f.at("logits")), 1e-4) << name << ": logits";
    EXPECT_NEAR(g.loss(logits).item<double>(), g.losses()[0], 1e-5) << name << ": loss";
  }
}

}  // namespace
