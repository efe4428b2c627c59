// The layers of nn/: gradients, PyTorch golden values, padding, Module behaviour.
//
//   - gradcheck (float64, finite differences) of Linear, LayerNorm, Embedding,
//     GRUCell, LSTMCell and the GRU and LSTM sequence layers (2 layers,
//     bidirectional, with lengths), through their parameters and inputs;
//   - a GRU step, an LSTM step and short bidirectional sequences with lengths
//     against PyTorch with the same weights (tests/golden/rnn/, written by
//     scripts/make_rnn_golden.py);
//   - mask leaks: what sits at padded positions never reaches the outputs at
//     real positions, the final states or the gradients;
//   - Module behaviour: parameter names and order, counts, train/eval,
//     state_dict round trips and load errors.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nn/gru.h"
#include "nn/layers.h"
#include "nn/lstm.h"
#include "golden_fixture.h"
#include "nn_test_util.h"

namespace {

using attn_test::lengths_of;

using attn::Shape;
using attn::Tensor;
namespace nn = attn::nn;
using attn_test::Fixture;
using attn_test::check_module_against_fixture;
using attn_test::load_fixture;
using attn_test::max_diff;

// --- helpers ---------------------------------------------------------------------

// Runs fn, expects attn::Error, and checks that each needle is in the message.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected attn::Error";
  } catch (const attn::Error& e) {
    std::string message = e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(message.find(needle), std::string::npos)
          << "message \"" << message << "\" lacks \"" << needle << "\"";
    }
  }
}

// Gradient check of a module: its parameters (made float64) and `inputs` are
// the variables; fn runs the module on the inputs.
void expect_gradcheck(nn::Module& module, const std::vector<Tensor>& inputs,
                      const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                      const std::string& what) {
  module.to(attn::kFloat64);
  std::vector<Tensor> variables = module.parameters();
  const size_t first_input = variables.size();
  for (const Tensor& x : inputs) variables.push_back(x);
  auto run = [&](const std::vector<Tensor>& v) {
    return fn(std::vector<Tensor>(v.begin() + static_cast<long>(first_input), v.end()));
  };
  attn::GradcheckResult result = attn::gradcheck(run, variables);
  EXPECT_TRUE(result.passed) << what << ": " << result.message;
  EXPECT_LT(result.max_rel_error, 1e-6) << what;
}

// --- golden fixtures (format: scripts/make_rnn_golden.py) --------------------------

// Runs a fixture's layer in `dtype` with its weights; compares the outputs
// and, in float64, every gradient with PyTorch's.
void check_fixture(const std::string& name, attn::DType dtype, double tolerance) {
  Fixture f = load_fixture("rnn", name, "scripts/make_rnn_golden.py");
  const int64_t I = f.attr_int("input_size"), H = f.attr_int("hidden_size");
  std::shared_ptr<nn::Module> module;
  std::function<std::vector<Tensor>(const std::map<std::string, Tensor>&)> run;
  if (f.op == "gru_cell") {
    auto cell = std::make_shared<nn::GRUCell>(I, H);
    run = [cell](const std::map<std::string, Tensor>& in) {
      return std::vector<Tensor>{cell->forward(in.at("x"), in.at("h"))};
    };
    module = cell;
  } else if (f.op == "lstm_cell") {
    auto cell = std::make_shared<nn::LSTMCell>(I, H);
    run = [cell](const std::map<std::string, Tensor>& in) {
      nn::LSTMState next = cell->forward(in.at("x"), {in.at("h"), in.at("c")});
      return std::vector<Tensor>{next.h, next.c};
    };
    module = cell;
  } else if (f.op == "gru" || f.op == "lstm") {
    const int64_t layers = f.attr_int("num_layers");
    const bool bidirectional = f.attr_int("bidirectional") != 0;
    auto get = [](const std::map<std::string, Tensor>& in, const char* key) {
      return in.count(key) ? in.at(key) : Tensor();
    };
    if (f.op == "gru") {
      auto gru = std::make_shared<nn::GRU>(
          nn::GRUOptions(I, H).set_num_layers(layers).set_bidirectional(bidirectional));
      run = [gru, get](const std::map<std::string, Tensor>& in) {
        nn::GRUOutput out = gru->forward(in.at("x"), get(in, "lengths"), get(in, "h0"));
        return std::vector<Tensor>{out.output, out.h_n};
      };
      module = gru;
    } else {
      auto lstm = std::make_shared<nn::LSTM>(
          nn::LSTMOptions(I, H).set_num_layers(layers).set_bidirectional(bidirectional));
      run = [lstm, get](const std::map<std::string, Tensor>& in) {
        nn::LSTMOutput out =
            lstm->forward(in.at("x"), get(in, "lengths"), get(in, "h0"), get(in, "c0"));
        return std::vector<Tensor>{out.output, out.h_n, out.c_n};
      };
      module = lstm;
    }
  } else {
    FAIL() << name << ": unknown op " << f.op;
  }
  check_module_against_fixture(f, module.get(), dtype, tolerance, run);
}

const std::vector<std::string> kFixtures = {
    "rnn_gru_cell", "rnn_lstm_cell", "rnn_gru_bidirectional_lengths",
    "rnn_lstm_bidirectional_lengths", "rnn_gru_one_layer_h0"};

TEST(RnnGolden, MatchesPyTorchInFloat64) {
  for (const std::string& name : kFixtures) check_fixture(name, attn::kFloat64, 1e-10);
}

TEST(RnnGolden, MatchesPyTorchInFloat32) {
  for (const std::string& name : kFixtures) check_fixture(name, attn::kFloat32, 2e-5);
}

// --- gradient checks ---------------------------------------------------------------

TEST(LayerGradcheck, Linear) {
  attn::manual_seed(1);
  nn::Linear layer(4, 3);
  Tensor x = attn::randn({2, 3, 4}, attn::kFloat64).requires_grad_();
  expect_gradcheck(layer, {x}, [&](const std::vector<Tensor>& in) { return layer.forward(in[0]); },
                   "Linear (2,3,4) -> (2,3,3)");
  nn::Linear no_bias(nn::LinearOptions(4, 2).set_bias(false));
  Tensor v = attn::randn({5, 4}, attn::kFloat64).requires_grad_();
  expect_gradcheck(no_bias, {v}, [&](const std::vector<Tensor>& in) { return no_bias.forward(in[0]); },
                   "Linear without bias");
}

TEST(LayerGradcheck, LayerNorm) {
  attn::manual_seed(2);
  nn::LayerNorm norm(5);
  norm.to(attn::kFloat64);
  {
    // Away from the initial 1 and 0, so the check sees a general affine map.
    attn::NoGradGuard no_grad;
    norm.weight.copy_(attn::randn({5}, attn::kFloat64));
    norm.bias.copy_(attn::randn({5}, attn::kFloat64));
  }
  Tensor x = attn::randn({2, 3, 5}, attn::kFloat64).requires_grad_();
  expect_gradcheck(norm, {x}, [&](const std::vector<Tensor>& in) { return norm.forward(in[0]); },
                   "LayerNorm(5) on (2,3,5)");
}

TEST(LayerGradcheck, EmbeddingWithPadding) {
  attn::manual_seed(3);
  nn::Embedding embed(nn::EmbeddingOptions(6, 3).set_padding_idx(0));
  Tensor ids = attn::from_vector(std::vector<int64_t>{1, 0, 5, 5, 2, 0}, {2, 3});
  // The padding row gets no gradient by design, so its positions are masked
  // out of the output: then finite differences agree that it has none.
  Tensor not_pad = attn::ne(ids, 0.0).to(attn::kFloat64).unsqueeze(-1);
  expect_gradcheck(embed, {}, [&](const std::vector<Tensor>&) {
    return embed.forward(ids).pow(2.0) * not_pad; }, "Embedding(6, 3, padding 0)");
}

TEST(LayerGradcheck, GRUCell) {
  attn::manual_seed(4);
  nn::GRUCell cell(3, 2);
  Tensor x = attn::randn({2, 3}, attn::kFloat64).requires_grad_();
  Tensor h = attn::randn({2, 2}, attn::kFloat64).requires_grad_();
  expect_gradcheck(cell, {x, h}, [&](const std::vector<Tensor>& in) {
    Tensor h1 = cell.forward(in[0], in[1]);
    return cell.forward(in[0] * 0.5, h1); }, "GRUCell(3, 2), two steps");
}

TEST(LayerGradcheck, LSTMCell) {
  attn::manual_seed(5);
  nn::LSTMCell cell(3, 2);
  Tensor x = attn::randn({2, 3}, attn::kFloat64).requires_grad_();
  Tensor h = attn::randn({2, 2}, attn::kFloat64).requires_grad_();
  Tensor c = attn::randn({2, 2}, attn::kFloat64).requires_grad_();
  expect_gradcheck(cell, {x, h, c}, [&](const std::vector<Tensor>& in) {
    nn::LSTMState s1 = cell.forward(in[0], {in[1], in[2]});
    nn::LSTMState s2 = cell.forward(in[0] * 0.5, s1);
    return attn::cat({s2.h, s2.c}, 1); }, "LSTMCell(3, 2), two steps");
}

TEST(LayerGradcheck, GRUBidirectionalTwoLayersWithLengths) {
  attn::manual_seed(6);
  nn::GRU gru(nn::GRUOptions(3, 2).set_num_layers(2).set_bidirectional(true));
  Tensor x = attn::randn({3, 4, 3}, attn::kFloat64).requires_grad_();
  Tensor h0 = attn::randn({4, 3, 2}, attn::kFloat64).requires_grad_();
  Tensor lengths = lengths_of({4, 2, 3});
  expect_gradcheck(gru, {x, h0}, [&](const std::vector<Tensor>& in) {
    nn::GRUOutput out = gru.forward(in[0], lengths, in[1]);
    return attn::cat({out.output.reshape({-1}), out.h_n.reshape({-1})}, 0); },
                   "GRU(3, 2, 2 layers, bidirectional), lengths {4, 2, 3}");
}

TEST(LayerGradcheck, LSTMBidirectionalTwoLayersWithLengths) {
  attn::manual_seed(7);
  nn::LSTM lstm(nn::LSTMOptions(3, 2).set_num_layers(2).set_bidirectional(true));
  Tensor x = attn::randn({3, 4, 3}, attn::kFloat64).requires_grad_();
  Tensor lengths = lengths_of({1, 4, 3});
  expect_gradcheck(lstm, {x}, [&](const std::vector<Tensor>& in) {
    nn::LSTMOutput out = lstm.forward(in[0], lengths);
    return attn::cat({out.output.reshape({-1}), out.h_n.reshape({-1}), out.c_n.reshape({-1})}, 0); },
                   "LSTM(3, 2, 2 layers, bidirectional), lengths {1, 4, 3}");
}

// --- padding and lengths -------------------------------------------------------------

// Changing the inputs at padded positions changes nothing the caller can see:
// outputs (0 at padding), final states and every gradient stay bit-identical.
template <typename Run>
void expect_no_mask_leak(nn::Module& module, const Run& run, const std::string& what) {
  const int64_t B = 3, T = 5, I = 4;
  std::vector<int64_t> length = {5, 2, 3};
  Tensor lengths = lengths_of(length);
  Tensor x = attn::randn({B, T, I});
  Tensor noisy = x.clone();
  {
    std::vector<float> values = noisy.to_vector<float>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = length[b]; t < T; ++t) {
        for (int64_t i = 0; i < I; ++i) values[(b * T + t) * I + i] = 100.0f * (i + 1) - 7.0f * t;
      }
    }
    noisy = attn::from_vector(values, {B, T, I});
  }
  std::vector<std::vector<float>> results[2];
  for (int k = 0; k < 2; ++k) {
    module.zero_grad();
    Tensor input = (k == 0 ? x : noisy).detach().requires_grad_();
    std::vector<Tensor> outs = run(input, lengths);
    Tensor loss;
    for (const Tensor& o : outs) {
      Tensor term = (o * o).sum();
      loss = loss.defined() ? loss + term : term;
      results[k].push_back(o.to_vector<float>());
    }
    loss.backward();
    for (const Tensor& p : module.parameters()) results[k].push_back(p.grad().to_vector<float>());
    std::vector<float> dx = input.grad().to_vector<float>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = length[b]; t < T; ++t) {
        for (int64_t i = 0; i < I; ++i) {
          EXPECT_EQ(dx[(b * T + t) * I + i], 0.0f) << what << ": gradient at padding";
        }
      }
    }
    results[k].push_back(dx);
    // Outputs at padded positions are exactly 0.
    std::vector<float> out = outs[0].to_vector<float>();
    const int64_t F = outs[0].size(2);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = length[b]; t < T; ++t) {
        for (int64_t j = 0; j < F; ++j) EXPECT_EQ(out[(b * T + t) * F + j], 0.0f) << what;
      }
    }
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i) {
    EXPECT_EQ(results[0][i], results[1][i]) << what << ": result " << i << " changed";
  }
}

TEST(MaskLeak, GRU) {
  attn::manual_seed(8);
  nn::GRU gru(nn::GRUOptions(4, 3).set_num_layers(2).set_bidirectional(true));
  expect_no_mask_leak(gru, [&](const Tensor& x, const Tensor& lengths) {
    nn::GRUOutput out = gru.forward(x, lengths);
    return std::vector<Tensor>{out.output, out.h_n}; }, "GRU");
}

TEST(MaskLeak, LSTM) {
  attn::manual_seed(9);
  nn::LSTM lstm(nn::LSTMOptions(4, 3).set_num_layers(2).set_bidirectional(true));
  expect_no_mask_leak(lstm, [&](const Tensor& x, const Tensor& lengths) {
    nn::LSTMOutput out = lstm.forward(x, lengths);
    return std::vector<Tensor>{out.output, out.h_n, out.c_n}; }, "LSTM");
}

TEST(MaskLeak, PaddedTokensThroughEmbedding) {
  // The path an encoder takes: ids -> Embedding (padding 0) -> GRU. Other
  // tokens at padded positions change nothing.
  attn::manual_seed(10);
  nn::Embedding embed(nn::EmbeddingOptions(10, 4).set_padding_idx(0));
  nn::GRU gru(nn::GRUOptions(4, 3).set_bidirectional(true));
  Tensor lengths = lengths_of({4, 2});
  auto encode = [&](const std::vector<int64_t>& ids) {
    nn::GRUOutput out = gru.forward(embed.forward(attn::from_vector(ids, {2, 4})), lengths);
    return std::make_pair(out.output.to_vector<float>(), out.h_n.to_vector<float>());
  };
  auto clean = encode({5, 6, 7, 8, 3, 9, 0, 0});
  auto noisy = encode({5, 6, 7, 8, 3, 9, 4, 1});
  EXPECT_EQ(clean.first, noisy.first);
  EXPECT_EQ(clean.second, noisy.second);
}

TEST(Lengths, EachRowEqualsItsOwnUnpaddedRun) {
  // Row b of a padded batch must equal that sentence run alone at its true
  // length: in particular the backward direction starts at its own last token.
  attn::manual_seed(11);
  nn::GRU gru(nn::GRUOptions(3, 2).set_num_layers(2).set_bidirectional(true));
  nn::LSTM lstm(nn::LSTMOptions(3, 2).set_bidirectional(true));
  std::vector<int64_t> length = {2, 5, 3};
  Tensor x = attn::randn({3, 5, 3}, attn::kFloat64);
  gru.to(attn::kFloat64);
  lstm.to(attn::kFloat64);
  nn::GRUOutput batch = gru.forward(x, lengths_of(length));
  nn::LSTMOutput lstm_batch = lstm.forward(x, lengths_of(length));
  for (int64_t b = 0; b < 3; ++b) {
    Tensor alone = x.narrow(0, b, 1).narrow(1, 0, length[b]);
    nn::GRUOutput single = gru.forward(alone);
    EXPECT_LT(max_diff(batch.output.narrow(0, b, 1).narrow(1, 0, length[b]), single.output), 1e-14)
        << "row " << b;
    EXPECT_LT(max_diff(batch.h_n.narrow(1, b, 1), single.h_n), 1e-14) << "row " << b;
    nn::LSTMOutput lstm_single = lstm.forward(alone);
    EXPECT_LT(max_diff(lstm_batch.h_n.narrow(1, b, 1), lstm_single.h_n), 1e-14) << "row " << b;
    EXPECT_LT(max_diff(lstm_batch.c_n.narrow(1, b, 1), lstm_single.c_n), 1e-14) << "row " << b;
  }
}

TEST(Lengths, FullLengthsEqualNoLengthsAndZeroLengthKeepsTheStart) {
  attn::manual_seed(12);
  nn::GRU gru(nn::GRUOptions(3, 2).set_bidirectional(true));
  Tensor x = attn::randn({2, 4, 3});
  nn::GRUOutput plain = gru.forward(x);
  nn::GRUOutput full = gru.forward(x, lengths_of({4, 4}));
  EXPECT_EQ(plain.output.to_vector<float>(), full.output.to_vector<float>());
  EXPECT_EQ(plain.h_n.to_vector<float>(), full.h_n.to_vector<float>());
  // A row of length 0 outputs zeros and keeps its initial state in both directions.
  Tensor h0 = attn::randn({2, 2, 2});
  nn::GRUOutput empty_row = gru.forward(x, lengths_of({0, 3}), h0);
  EXPECT_EQ(max_diff(empty_row.output.narrow(0, 0, 1), attn::zeros({1, 4, 4})), 0.0);
  EXPECT_EQ(max_diff(empty_row.h_n.narrow(1, 0, 1), h0.narrow(1, 0, 1)), 0.0);
}

TEST(Lengths, TimeMajorInputGivesTheTransposedResult) {
  attn::manual_seed(13);
  nn::GRU batch_first(nn::GRUOptions(3, 2));
  nn::GRU time_major(nn::GRUOptions(3, 2).set_batch_first(false));
  time_major.load_state_dict(batch_first.state_dict());
  Tensor x = attn::randn({2, 4, 3});
  Tensor lengths = lengths_of({4, 3});
  nn::GRUOutput a = batch_first.forward(x, lengths);
  nn::GRUOutput b = time_major.forward(x.transpose(0, 1), lengths);
  EXPECT_EQ(max_diff(a.output, b.output.transpose(0, 1)), 0.0);
  EXPECT_EQ(max_diff(a.h_n, b.h_n), 0.0);
}

TEST(Lengths, BadInputsAreNamed) {
  nn::GRU gru(nn::GRUOptions(3, 2).set_bidirectional(true));
  nn::LSTM lstm(nn::LSTMOptions(3, 2));
  Tensor x = attn::zeros({2, 4, 3});
  expect_error([&] { gru.forward(attn::zeros({2, 4, 5})); }, {"GRU", "(B, T, 3)", "[2, 4, 5]"});
  expect_error([&] { gru.forward(x, lengths_of({4, 5})); }, {"GRU", "lengths[1] = 5", "[0, 4]"});
  expect_error([&] { gru.forward(x, lengths_of({4, 4, 4})); }, {"GRU", "lengths", "[3]"});
  expect_error([&] { gru.forward(x, Tensor(), attn::zeros({1, 2, 2})); },
               {"GRU", "h0", "(2, 2, 2)", "[1, 2, 2]"});
  expect_error([&] { lstm.forward(x, Tensor(), attn::zeros({1, 2, 2})); },
               {"LSTM", "h0 and c0"});
  expect_error([&] { nn::GRUCell(3, 2).forward(attn::zeros({2, 4})); }, {"GRUCell", "[2, 4]"});
  expect_error([&] { nn::LSTMCell(3, 2).forward(attn::zeros({2, 3}), {attn::zeros({2, 2}), Tensor()}); },
               {"LSTMCell", "h and c"});
  expect_error([&] { nn::Linear(3, 2).forward(attn::zeros({2, 4})); }, {"Linear", "[2, 4]"});
  expect_error([&] { nn::GRU(nn::GRUOptions(3, 2).set_dropout(1.0)); }, {"GRU", "dropout"});
}

// --- initialisation ------------------------------------------------------------------

TEST(Init, BoundsAndPaddingRowAsPyTorch) {
  attn::manual_seed(14);
  nn::Linear linear(16, 8);
  const double linear_bound = 1.0 / std::sqrt(16.0);
  for (const Tensor& p : linear.parameters()) {
    for (float v : p.to_vector<float>()) EXPECT_LE(std::fabs(v), linear_bound + 1e-6);
  }
  nn::GRU gru(nn::GRUOptions(5, 9).set_bidirectional(true));
  for (const Tensor& p : gru.parameters()) {
    for (float v : p.to_vector<float>()) EXPECT_LE(std::fabs(v), 1.0 / 3.0 + 1e-6);
  }
  nn::Embedding embed(nn::EmbeddingOptions(200, 50).set_padding_idx(-1));
  EXPECT_EQ(embed.padding_row(), 199);
  std::vector<float> table = embed.weight.to_vector<float>();
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < 199 * 50; ++i) {
    sum += table[i];
    sum_sq += table[i] * table[i];
  }
  const double n = 199 * 50, mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(std::sqrt(sum_sq / n - mean * mean), 1.0, 0.05);
  for (int64_t j = 0; j < 50; ++j) EXPECT_EQ(table[199 * 50 + j], 0.0f);
  nn::LayerNorm norm(4);
  EXPECT_EQ(norm.weight.to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(norm.bias.to_vector<float>(), std::vector<float>(4, 0.0f));
}

TEST(Init, PaddingRowGetsNoGradient) {
  nn::Embedding embed(nn::EmbeddingOptions(5, 3).set_padding_idx(0));
  Tensor ids = attn::from_vector(std::vector<int64_t>{0, 2, 0, 4}, {2, 2});
  embed.forward(ids).sum().backward();
  std::vector<float> grad = embed.weight.grad().to_vector<float>();
  for (int64_t j = 0; j < 3; ++j) {
    EXPECT_EQ(grad[j], 0.0f);      // padding row
    EXPECT_EQ(grad[6 + j], 1.0f);  // row 2, used once
  }
}

// --- Module behaviour ----------------------------------------------------------------

TEST(Module, ParameterNamesAndOrderFollowPyTorch) {
  nn::GRU gru(nn::GRUOptions(3, 2).set_num_layers(2).set_bidirectional(true));
  std::vector<std::string> names;
  for (const auto& [name, p] : gru.named_parameters()) names.push_back(name);
  const std::vector<std::string> expected = {
      "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(attn::shape_str(gru.weight_ih(1, 1).shape()), "[6, 4]");  // layer 1 reads 2H
  EXPECT_TRUE(gru.weight_hh(0, 1).shares_storage_with(gru.state_dict().at("weight_hh_l0_reverse")));

  // Counts as torch.nn: sum(p.numel() for p in m.parameters()).
  EXPECT_EQ(gru.parameter_count(), 2 * (18 + 12 + 6 + 6) + 2 * (24 + 12 + 6 + 6));
  EXPECT_EQ(nn::LSTM(nn::LSTMOptions(10, 20)).parameter_count(), 2560);
  EXPECT_EQ(nn::Linear(10, 20).parameter_count(), 220);
  EXPECT_EQ(nn::Linear(nn::LinearOptions(10, 20).set_bias(false)).parameter_count(), 200);
  EXPECT_EQ(nn::Embedding(7, 4).parameter_count(), 28);
  EXPECT_EQ(nn::LayerNorm(nn::LayerNormOptions(8).set_elementwise_affine(false)).parameter_count(), 0);

  nn::LSTMCell cell(3, 2);
  names.clear();
  for (const auto& [name, p] : cell.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}));
}

TEST(Module, TrainAndEvalSwitchDropout) {
  attn::Generator generator(5);
  nn::Dropout drop(nn::DropoutOptions(0.5).set_generator(&generator));
  Tensor x = attn::ones({1000});
  std::vector<float> trained = drop.forward(x).to_vector<float>();
  int zeros = 0;
  for (float v : trained) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f) << v;  // kept values are scaled by 1/(1-p)
    zeros += v == 0.0f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  drop.eval();
  EXPECT_FALSE(drop.is_training());
  EXPECT_EQ(drop.forward(x).to_vector<float>(), x.to_vector<float>());

  // GRU: dropout between layers only in training; eval() is deterministic.
  attn::Generator rnn_generator(6);
  nn::GRU gru(nn::GRUOptions(3, 4).set_num_layers(2).set_dropout(0.5).set_generator(&rnn_generator));
  Tensor seq = attn::randn({2, 3, 3});
  std::vector<float> train_a = gru.forward(seq).output.to_vector<float>();
  std::vector<float> train_b = gru.forward(seq).output.to_vector<float>();
  EXPECT_NE(train_a, train_b);
  gru.eval();
  EXPECT_EQ(gru.forward(seq).output.to_vector<float>(), gru.forward(seq).output.to_vector<float>());
  gru.train();
  EXPECT_TRUE(gru.is_training());
}

TEST(Module, StateDictRoundTrip) {
  attn::manual_seed(15);
  nn::LSTM source(nn::LSTMOptions(3, 4).set_bidirectional(true));
  nn::LSTM target(nn::LSTMOptions(3, 4).set_bidirectional(true));
  Tensor x = attn::randn({2, 5, 3});
  EXPECT_NE(source.forward(x).output.to_vector<float>(), target.forward(x).output.to_vector<float>());
  target.load_state_dict(source.state_dict());
  EXPECT_EQ(source.forward(x).output.to_vector<float>(), target.forward(x).output.to_vector<float>());

  // And through a safetensors file.
  nn::LSTM from_file(nn::LSTMOptions(3, 4).set_bidirectional(true));
  const std::string path = ::testing::TempDir() + "attn_test_lstm.safetensors";
  source.save(path);
  from_file.load(path);
  std::remove(path.c_str());
  EXPECT_EQ(source.forward(x).h_n.to_vector<float>(), from_file.forward(x).h_n.to_vector<float>());
}

TEST(Module, LoadStateDictNamesWhatIsWrong) {
  nn::GRU gru(nn::GRUOptions(3, 2).set_bidirectional(true));
  std::map<std::string, Tensor> state = gru.state_dict();
  std::map<std::string, Tensor> missing = state;
  missing.erase("bias_hh_l0_reverse");
  expect_error([&] { gru.load_state_dict(missing); }, {"bias_hh_l0_reverse", "missing"});
  std::map<std::string, Tensor> wrong_shape = state;
  wrong_shape["weight_hh_l0"] = attn::zeros({6, 3});
  expect_error([&] { gru.load_state_dict(wrong_shape); }, {"weight_hh_l0", "[6, 2]", "[6, 3]"});
  std::map<std::string, Tensor> extra = state;
  extra["weight_ih_l1"] = attn::zeros({6, 4});
  expect_error([&] { gru.load_state_dict(extra); }, {"unexpected", "weight_ih_l1"});
}

TEST(Module, ToFloat64KeepsTheLayersHandles) {
  nn::GRUCell cell(3, 2);
  Tensor before = cell.weight_ih.to(attn::kFloat64);
  cell.to(attn::kFloat64);
  EXPECT_EQ(cell.weight_ih.dtype(), attn::kFloat64);
  EXPECT_EQ(cell.named_parameters()[0].second.dtype(), attn::kFloat64);
  EXPECT_EQ(max_diff(cell.weight_ih, before), 0.0);
  EXPECT_TRUE(cell.weight_ih.requires_grad());
  Tensor h = cell.forward(attn::randn({4, 3}, attn::kFloat64));
  EXPECT_EQ(h.dtype(), attn::kFloat64);
}

// --- the cells against their unfused definition ----------------------------------------

TEST(Cells, FusedGRUEqualsTheFormula) {
  attn::manual_seed(16);
  const int64_t H = 5;
  Tensor gi = attn::randn({3, 3 * H}, attn::kFloat64);
  Tensor gh = attn::randn({3, 3 * H}, attn::kFloat64);
  Tensor h = attn::randn({3, H}, attn::kFloat64);
  auto part = [&](const Tensor& t, int k) { return t.narrow(1, k * H, H); };
  Tensor r = attn::sigmoid(part(gi, 0) + part(gh, 0));
  Tensor z = attn::sigmoid(part(gi, 1) + part(gh, 1));
  Tensor n = attn::tanh(part(gi, 2) + r * part(gh, 2));
  Tensor expected = (1.0 - z) * n + z * h;
  EXPECT_LT(max_diff(attn::gru_cell_fused(gi, gh, h), expected), 1e-15);
  // float32 goes through the faster tanh (kernels/cpu/rnn_cells.cpp).
  Tensor got32 = attn::gru_cell_fused(gi.to(attn::kFloat32), gh.to(attn::kFloat32),
                                      h.to(attn::kFloat32));
  EXPECT_LT(max_diff(got32, expected), 1e-6);
}

TEST(Cells, FusedLSTMEqualsTheFormula) {
  attn::manual_seed(17);
  const int64_t H = 4;
  Tensor gates = attn::randn({2, 4 * H}, attn::kFloat64) * 3.0;
  Tensor c = attn::randn({2, H}, attn::kFloat64);
  auto part = [&](int k) { return gates.narrow(1, k * H, H); };
  Tensor c_next = attn::sigmoid(part(1)) * c + attn::sigmoid(part(0)) * attn::tanh(part(2));
  Tensor h_next = attn::sigmoid(part(3)) * attn::tanh(c_next);
  Tensor got = attn::lstm_cell_fused(gates, c);
  EXPECT_LT(max_diff(got.narrow(1, 0, H), h_next), 1e-15);
  EXPECT_LT(max_diff(got.narrow(1, H, H), c_next), 1e-15);
  expect_error([&] { attn::lstm_cell_fused(attn::zeros({2, 12}, attn::kFloat64), c); },
               {"lstm_cell_fused", "[2, 12]", "(2, 16)"});
  expect_error([&] { attn::gru_cell_fused(attn::zeros({2, 9}, attn::kFloat64), attn::zeros({2, 9}, attn::kFloat64), c); },
               {"gru_cell_fused", "(2, 12)"});
}

}  // namespace
