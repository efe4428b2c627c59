// The fused RNN decoders (autograd/ops_bahdanau_decoder.cpp,
// autograd/ops_luong_decoder.cpp) against the step-by-step path they replace
// in training, which stays the path of decoding and the reference here:
//   - the same model, the same batch (padded sources included), both paths:
//     logits and every parameter's gradient agree in float64 to 1e-10
//     (they differ only in the order of additions), and in float32 to 1e-4;
//   - the fused op runs alone in a training forward (its node is in the graph).
// The ops' own finite-difference gradchecks are cases of autograd/gradcheck_cases.cpp.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/luong.h"
#include "nn/rnnsearch.h"
#include "nn_test_util.h"

namespace {

using attn::Tensor;
namespace nn = attn::nn;
using attn_test::lengths_of;
using attn_test::values_of;

// A batch of three sentences, the second and third padded (lengths 6, 3, 1).
struct Batch {
  Tensor source = attn::from_vector(
      std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 4, 5, 0, 0, 0, 11, 0, 0, 0, 0, 0}, {3, 6});
  Tensor lengths = lengths_of({6, 3, 1});
  Tensor target = attn::from_vector(
      std::vector<int64_t>{1, 4, 5, 6, 7, 1, 8, 7, 6, 0, 1, 9, 10, 3, 2}, {3, 5});
};

struct Result {
  std::vector<double> logits;
  std::map<std::string, std::vector<double>> grads;
};

// forward, then the gradient of sum(logits * fixed random weights).
Result run(nn::Translator& model, const Batch& batch) {
  model.zero_grad();
  Tensor logits = model.forward(batch.source, batch.lengths, batch.target);
  attn::Generator g(7);
  Tensor weights = attn::randn(logits.shape(), logits.dtype(), &g);
  (logits * weights).sum().backward();
  Result r;
  r.logits = values_of(logits);
  for (const auto& [name, p] : model.named_parameters()) {
    r.grads[name] = p.grad().defined() ? values_of(p.grad()) : std::vector<double>{};
  }
  return r;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

void expect_same(const Result& fused, const Result& reference, double tolerance) {
  EXPECT_LE(max_abs_diff(fused.logits, reference.logits), tolerance) << "logits";
  ASSERT_EQ(fused.grads.size(), reference.grads.size());
  for (const auto& [name, grad] : reference.grads) {
    ASSERT_EQ(fused.grads.at(name).size(), grad.size()) << name;
    EXPECT_LE(max_abs_diff(fused.grads.at(name), grad), tolerance) << name;
  }
}

nn::RNNSearchOptions rnnsearch_options() {
  nn::RNNSearchOptions o(13, 11);
  o.embedding_size = 5;
  o.hidden_size = 4;
  o.attention_size = 3;
  return o;
}

TEST(FusedDecoder, RNNSearchMatchesStepByStepInFloat64) {
  attn::manual_seed(31);
  nn::RNNSearch model(rnnsearch_options());
  model.to(attn::kFloat64);
  Batch batch;
  model.set_fused_decoder(false);
  Result reference = run(model, batch);
  model.set_fused_decoder(true);
  Result fused = run(model, batch);
  expect_same(fused, reference, 1e-10);
}

TEST(FusedDecoder, RNNSearchMatchesStepByStepInFloat32) {
  attn::manual_seed(32);
  nn::RNNSearchOptions o = rnnsearch_options();
  o.hidden_size = 16;
  o.attention_size = 8;
  nn::RNNSearch model(o);
  Batch batch;
  model.set_fused_decoder(false);
  Result reference = run(model, batch);
  model.set_fused_decoder(true);
  Result fused = run(model, batch);
  expect_same(fused, reference, 1e-4);
}

TEST(FusedDecoder, RNNSearchIsDeterministic) {
  attn::manual_seed(33);
  nn::RNNSearch model(rnnsearch_options());
  Batch batch;
  Result first = run(model, batch), second = run(model, batch);
  expect_same(first, second, 0.0);
}

nn::LuongOptions luong_options(const std::string& score) {
  nn::LuongOptions o(13, 11);
  o.embedding_size = 5;
  o.hidden_size = 4;
  o.score = score;
  return o;
}

TEST(FusedDecoder, LuongMatchesStepByStepInFloat64) {
  for (const char* score : {"general", "dot"}) {
    SCOPED_TRACE(score);
    attn::manual_seed(41);
    nn::Luong model(luong_options(score));
    model.to(attn::kFloat64);
    Batch batch;
    model.set_fused_decoder(false);
    Result reference = run(model, batch);
    model.set_fused_decoder(true);
    Result fused = run(model, batch);
    expect_same(fused, reference, 1e-10);
  }
}

TEST(FusedDecoder, LuongMatchesStepByStepInFloat32) {
  attn::manual_seed(42);
  nn::LuongOptions o = luong_options("general");
  o.hidden_size = 16;
  nn::Luong model(o);
  Batch batch;
  model.set_fused_decoder(false);
  Result reference = run(model, batch);
  model.set_fused_decoder(true);
  Result fused = run(model, batch);
  expect_same(fused, reference, 1e-4);
}

TEST(FusedDecoder, LuongIsDeterministic) {
  attn::manual_seed(43);
  nn::Luong model(luong_options("general"));
  Batch batch;
  Result first = run(model, batch), second = run(model, batch);
  expect_same(first, second, 0.0);
}

// The recurrent layers' fused recurrence (autograd/ops_rnn_layer.cpp) against
// the step-by-step ops: two bidirectional layers, padded rows, float64.
TEST(FusedRecurrence, GRUMatchesStepByStepInFloat64) {
  attn::manual_seed(51);
  nn::GRU gru(nn::GRUOptions(3, 4).set_num_layers(2).set_bidirectional(true));
  gru.to(attn::kFloat64);
  attn::Generator g(5);
  Tensor x = attn::randn({3, 6, 3}, attn::kFloat64, &g).requires_grad_();
  Tensor h0 = attn::randn({4, 3, 4}, attn::kFloat64, &g).requires_grad_();
  Tensor lengths = lengths_of({6, 2, 4});
  auto run_gru = [&](bool fused) {
    gru.set_fused_recurrence(fused);
    gru.zero_grad();
    x.zero_grad();
    h0.zero_grad();
    nn::GRUOutput out = gru.forward(x, lengths, h0);
    attn::Generator w(9);
    Tensor loss = (out.output * attn::randn(out.output.shape(), attn::kFloat64, &w)).sum() +
                  (out.h_n * attn::randn(out.h_n.shape(), attn::kFloat64, &w)).sum();
    loss.backward();
    Result r;
    r.logits = values_of(out.output);
    r.grads["h_n"] = values_of(out.h_n);
    r.grads["x"] = values_of(x.grad());
    r.grads["h0"] = values_of(h0.grad());
    for (const auto& [name, p] : gru.named_parameters()) r.grads[name] = values_of(p.grad());
    return r;
  };
  Result reference = run_gru(false);
  Result fused = run_gru(true);
  expect_same(fused, reference, 1e-10);
}

TEST(FusedRecurrence, LSTMMatchesStepByStepInFloat64) {
  attn::manual_seed(52);
  nn::LSTM lstm(nn::LSTMOptions(3, 4).set_num_layers(2).set_bidirectional(true));
  lstm.to(attn::kFloat64);
  attn::Generator g(6);
  Tensor x = attn::randn({3, 6, 3}, attn::kFloat64, &g).requires_grad_();
  Tensor h0 = attn::randn({4, 3, 4}, attn::kFloat64, &g).requires_grad_();
  Tensor c0 = attn::randn({4, 3, 4}, attn::kFloat64, &g).requires_grad_();
  Tensor lengths = lengths_of({6, 2, 4});
  auto run_lstm = [&](bool fused) {
    lstm.set_fused_recurrence(fused);
    lstm.zero_grad();
    for (const Tensor* t : {&x, &h0, &c0}) t->zero_grad();
    nn::LSTMOutput out = lstm.forward(x, lengths, h0, c0);
    attn::Generator w(9);
    Tensor loss = (out.output * attn::randn(out.output.shape(), attn::kFloat64, &w)).sum() +
                  (out.h_n * attn::randn(out.h_n.shape(), attn::kFloat64, &w)).sum() +
                  (out.c_n * attn::randn(out.c_n.shape(), attn::kFloat64, &w)).sum();
    loss.backward();
    Result r;
    r.logits = values_of(out.output);
    r.grads["h_n"] = values_of(out.h_n);
    r.grads["c_n"] = values_of(out.c_n);
    r.grads["x"] = values_of(x.grad());
    r.grads["h0"] = values_of(h0.grad());
    r.grads["c0"] = values_of(c0.grad());
    for (const auto& [name, p] : lstm.named_parameters()) r.grads[name] = values_of(p.grad());
    return r;
  };
  Result reference = run_lstm(false);
  Result fused = run_lstm(true);
  expect_same(fused, reference, 1e-10);
}

}  // namespace
