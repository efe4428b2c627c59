// The ops and whole models on the GPU against the same on the CPU.
//
// test_cuda_elementwise.cpp, test_cuda_nn.cpp and the others check each CUDA
// kernel against its CPU twin. This file checks the floor above: that every
// autograd op sends a CUDA tensor to the CUDA kernels (kernels/dispatch.h), makes
// its outputs and gradients on the GPU, and gets the CPU's numbers, forward
// and backward; then that a whole translator trains the same on both devices.
//
// Tolerances: float32 throughout. Element-wise ops agree to a few ulps;
// anything with a reduction (sums, matmul, softmax, norms) sums in another
// order on the GPU, so 1e-4 relative; a whole model's loss after a few
// optimizer steps, 1e-3.
#include <functional>

#include "tests/kernels/cuda_test_util.h"

namespace {

using attn::Tensor;
using attn_cuda_test::expect_close;

// Runs `op` on CPU leaves and on their GPU copies; compares the outputs, then
// backpropagates the same random output gradient on both and compares each
// leaf's gradient.
void check_op(const std::string& name, std::vector<Tensor> cpu_inputs,
              const std::function<Tensor(const std::vector<Tensor>&)>& op, double tol) {
  std::vector<Tensor> gpu_inputs;
  for (Tensor& x : cpu_inputs) {
    gpu_inputs.push_back(x.to(attn::kCUDA).requires_grad_(attn::is_floating(x.dtype())));
    if (attn::is_floating(x.dtype())) x.requires_grad_(true);
  }
  Tensor cpu_out = op(cpu_inputs), gpu_out = op(gpu_inputs);
  ASSERT_TRUE(gpu_out.is_cuda()) << name << ": output left the GPU";
  expect_close(cpu_out, gpu_out, tol, name + " forward");
  if (!cpu_out.requires_grad()) return;
  attn::Generator g(7);
  Tensor w = attn::randn(cpu_out.shape(), cpu_out.dtype(), &g);
  (cpu_out * w).sum().backward();
  (gpu_out * w.to(attn::kCUDA)).sum().backward();
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    ASSERT_TRUE(gpu_inputs[i].grad().defined()) << name << ": no gradient for input " << i;
    ASSERT_TRUE(gpu_inputs[i].grad().is_cuda()) << name << ": gradient " << i << " on the CPU";
    expect_close(cpu_inputs[i].grad(), gpu_inputs[i].grad(), tol,
                 name + " gradient of input " + std::to_string(i));
  }
}

Tensor rnd(const attn::Shape& shape, uint64_t seed) {
  attn::Generator g(seed);
  return attn::randn(shape, attn::kFloat32, &g);
}

// Positive values in [0.5, 1.5), for div, log, sqrt.
Tensor positive(const attn::Shape& shape, uint64_t seed) {
  attn::Generator g(seed);
  return attn::rand(shape, attn::kFloat32, &g) + 0.5;
}

TEST(CudaOps, ElementwiseAndBroadcast) {
  ATTN_REQUIRE_GPU();
  const double ew = 1e-5;  // one op, one rounding: a few ulps
  check_op("add", {rnd({7, 33, 5}, 1), rnd({33, 1}, 2)}, [](auto& x) { return x[0] + x[1]; }, ew);
  check_op("mul", {rnd({3, 1, 257}, 3), rnd({4, 1}, 4)}, [](auto& x) { return x[0] * x[1]; }, ew);
  check_op("div", {rnd({65}, 5), positive({65}, 6)}, [](auto& x) { return x[0] / x[1]; }, ew);
  check_op("tanh sigmoid relu exp", {rnd({1000}, 7)},
           [](auto& x) { return x[0].tanh() + x[0].sigmoid() * x[0].relu() + x[0].exp(); }, ew);
  check_op("log sqrt pow", {positive({100}, 8)},
           [](auto& x) { return x[0].log() + x[0].sqrt() + x[0].pow(3.0); }, ew);
  check_op("scalars", {rnd({9, 9}, 9)}, [](auto& x) { return (2.0 - x[0]) * 3.0 / 0.5 + 1.0; }, ew);
  check_op("masked_fill", {rnd({4, 6}, 10)}, [](auto& x) {
    return x[0].masked_fill(attn::gt(x[0].detach(), 0.3), -1e9).softmax(-1);
  }, 1e-4);
}

TEST(CudaOps, ReductionsSoftmaxMatmul) {
  ATTN_REQUIRE_GPU();
  const double red = 1e-4;  // a different summation order
  check_op("sum dims", {rnd({5, 7, 9}, 11)}, [](auto& x) { return attn::sum(x[0], {0, 2}); }, red);
  check_op("mean", {rnd({300, 17}, 12)}, [](auto& x) { return attn::mean(x[0], {1}, true); }, red);
  check_op("max", {rnd({6, 50}, 13)}, [](auto& x) { return attn::max(x[0], 1); }, red);
  check_op("softmax inner", {rnd({4, 10, 3}, 14)}, [](auto& x) { return x[0].softmax(1); }, red);
  check_op("log_softmax", {rnd({8, 1000}, 15)}, [](auto& x) { return x[0].log_softmax(-1); }, red);
  check_op("matmul 2d", {rnd({33, 65}, 16), rnd({65, 17}, 17)},
           [](auto& x) { return attn::matmul(x[0], x[1]); }, red);
  check_op("matmul batched transposed", {rnd({3, 4, 16, 8}, 18), rnd({3, 4, 12, 8}, 19)},
           [](auto& x) { return attn::matmul(x[0], x[1].transpose(-1, -2)); }, red);
  check_op("matmul broadcast", {rnd({2, 5, 7}, 20), rnd({7, 3}, 21)},
           [](auto& x) { return attn::matmul(x[0], x[1]); }, red);
}

TEST(CudaOps, ShapesAndGathers) {
  ATTN_REQUIRE_GPU();
  check_op("permute contiguous", {rnd({2, 3, 4, 5}, 22)},
           [](auto& x) { return x[0].permute({0, 2, 3, 1}).contiguous() * 2.0; }, 0.0);
  check_op("slice cat stack", {rnd({6, 8}, 23), rnd({6, 8}, 24)}, [](auto& x) {
    return attn::stack({attn::cat({x[0].narrow(1, 2, 3), x[1].slice(1, 0, 8, 2)}, 1), x[1].narrow(1, 0, 7)}, 0);
  }, 0.0);
  Tensor ids = attn::from_vector(std::vector<int64_t>{3, 0, 3, 9, 1, 3}, {2, 3});
  check_op("embedding", {rnd({10, 4}, 25), ids},
           [](auto& x) { return attn::embedding(x[0], x[1], 0); }, 0.0);
  Tensor index = attn::from_vector(std::vector<int64_t>{2, 2, 0}, {3});
  check_op("index_select", {rnd({4, 3, 5}, 26), index},
           [](auto& x) { return attn::index_select(x[0], 1, x[1]); }, 0.0);
  check_op("unbind", {rnd({3, 4, 2}, 27)}, [](auto& x) {
    auto pieces = attn::unbind(x[0], 1);
    return pieces[0] * pieces[3] + pieces[1];
  }, 1e-6);
}

TEST(CudaOps, LayersAndLoss) {
  ATTN_REQUIRE_GPU();
  const double red = 1e-4;
  check_op("layer_norm", {rnd({6, 5, 33}, 28), rnd({33}, 29), rnd({33}, 30)},
           [](auto& x) { return attn::layer_norm(x[0], x[1], x[2]); }, red);
  Tensor target = attn::from_vector(std::vector<int64_t>{1, 0, 7, 7, 2, 0}, {6});
  check_op("cross_entropy smoothed", {rnd({6, 8}, 31), target}, [](auto& x) {
    return attn::cross_entropy(x[0], x[1], attn::CrossEntropyOptions().ignore(0).smoothing(0.1));
  }, red);
  check_op("gru cell", {rnd({4, 24}, 32), rnd({4, 24}, 33), rnd({4, 8}, 34)},
           [](auto& x) { return attn::gru_cell_fused(x[0], x[1], x[2]); }, red);
  check_op("lstm cell", {rnd({4, 32}, 35), rnd({4, 8}, 36)},
           [](auto& x) { return attn::lstm_cell_fused(x[0], x[1]); }, red);
  Tensor key_lengths = attn::from_vector(std::vector<int64_t>{7, 0, 3}, {3});
  check_op("flash_attention padded", {rnd({3, 2, 5, 16}, 40), rnd({3, 2, 7, 16}, 41),
                                      rnd({3, 2, 7, 16}, 42), key_lengths},
           [](auto& x) { return attn::flash_attention(x[0], x[1], x[2], x[3]); }, red);
  check_op("flash_attention causal", {rnd({2, 2, 9, 8}, 43), rnd({2, 2, 9, 8}, 44),
                                      rnd({2, 2, 9, 8}, 45)},
           [](auto& x) { return attn::flash_attention(x[0], x[1], x[2], Tensor(), true); }, red);
  check_op("additive scores", {rnd({3, 7, 16}, 37), rnd({3, 16}, 38), rnd({16}, 39)},
           [](auto& x) { return attn::additive_attention_scores(x[0], x[1], x[2]); }, red);
}

TEST(CudaOps, DropoutMaskIsTheCpuMask) {
  ATTN_REQUIRE_GPU();
  // A counter-based generator: the same seed gives the same mask on both devices.
  Tensor x = attn::ones({37, 41});
  attn::Generator a(99), b(99);
  Tensor cpu = attn::dropout(x, 0.3, true, &a);
  Tensor gpu = attn::dropout(x.to(attn::kCUDA), 0.3, true, &b);
  ASSERT_TRUE(gpu.is_cuda());
  EXPECT_EQ(cpu.to_vector<float>(), gpu.to_vector<float>());
  EXPECT_EQ(a.offset(), b.offset());
}

// A translator trained a few steps on each device from the same weights and
// batches: the losses agree, step by step.
template <typename Model, typename Options>
void check_training_agrees(const Options& options, const char* name) {
  attn::manual_seed(5);
  auto cpu_model = std::make_shared<Model>(options);
  attn::manual_seed(5);
  auto gpu_model = std::make_shared<Model>(options);
  gpu_model->to(attn::kCUDA);
  ASSERT_EQ(gpu_model->device(), attn::kCUDA);
  attn::optim::Adam cpu_opt(cpu_model->parameters(), attn::optim::AdamOptions(1e-2));
  attn::optim::Adam gpu_opt(gpu_model->parameters(), attn::optim::AdamOptions(1e-2));
  Tensor source = attn::from_vector(std::vector<int64_t>{5, 6, 7, 3, 8, 9, 0, 0}, {2, 4});
  Tensor lengths = attn::from_vector(std::vector<int64_t>{4, 2}, {2});
  Tensor input = attn::from_vector(std::vector<int64_t>{1, 5, 6, 7, 1, 8, 0, 0}, {2, 4});
  Tensor output = attn::from_vector(std::vector<int64_t>{5, 6, 7, 2, 8, 2, 0, 0}, {2, 4});
  for (int step = 0; step < 4; ++step) {
    double losses[2];
    for (int device = 0; device < 2; ++device) {
      auto& model = device == 0 ? *cpu_model : *gpu_model;
      auto& opt = device == 0 ? cpu_opt : gpu_opt;
      attn::Device on = device == 0 ? attn::kCPU : attn::kCUDA;
      Tensor logits = model.forward(source.to(on), lengths, input.to(on));
      Tensor loss = attn::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                        output.to(on).reshape({-1}),
                                        attn::CrossEntropyOptions().ignore(0));
      opt.zero_grad();
      loss.backward();
      attn::optim::clip_grad_norm(model.parameters(), 1.0);
      opt.step();
      losses[device] = loss.item<double>();
    }
    EXPECT_NEAR(losses[1], losses[0], 1e-3 * (1 + std::abs(losses[0])))
        << name << " step " << step;
  }
  // Greedy decoding on the GPU reads the same tokens.
  attn::NoGradGuard no_grad;
  cpu_model->eval();
  gpu_model->eval();
  auto cpu_decoded = attn::decode::greedy_decode(*cpu_model, source, lengths, 6);
  auto gpu_decoded = attn::decode::greedy_decode(*gpu_model, source.to(attn::kCUDA), lengths, 6);
  EXPECT_EQ(cpu_decoded.tokens, gpu_decoded.tokens) << name;
}

TEST(CudaOps, RNNSearchTrainsTheSameOnBothDevices) {
  ATTN_REQUIRE_GPU();
  attn::nn::RNNSearchOptions options(12, 12);
  options.embedding_size = 8;
  options.hidden_size = 16;
  check_training_agrees<attn::nn::RNNSearch>(options, "rnnsearch");
}

TEST(CudaOps, LuongTrainsTheSameOnBothDevices) {
  ATTN_REQUIRE_GPU();
  attn::nn::LuongOptions options(12, 12);
  options.embedding_size = 8;
  options.hidden_size = 16;
  options.scope = "local-p";
  options.window = 1;
  check_training_agrees<attn::nn::Luong>(options, "luong local-p");
}

// On the GPU an op does not wait to check its ids: a bad id is counted there
// and reported, with the op's name, at the next copy to the host.
TEST(CudaOps, BadIdsOnTheGpuAreReportedAtTheNextCopy) {
  ATTN_REQUIRE_GPU();
  Tensor weight = attn::ones({5, 3}).to(attn::kCUDA);
  Tensor ids = attn::from_vector(std::vector<int64_t>{1, 7, -2}, {3}).to(attn::kCUDA);
  Tensor out = attn::embedding(weight, ids);  // queued; returns without waiting
  try {
    (void)out.cpu();
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("embedding"), std::string::npos) << message;
    EXPECT_NE(message.find("2 of them"), std::string::npos) << message;
  }
  EXPECT_NO_THROW((void)out.cpu());  // reported once, then clear
  Tensor logits = attn::zeros({2, 4}).to(attn::kCUDA);
  Tensor target = attn::from_vector(std::vector<int64_t>{0, 9}, {2}).to(attn::kCUDA);
  Tensor loss = attn::cross_entropy(logits, target, attn::CrossEntropyOptions().ignore(0));
  EXPECT_THROW((void)loss.item<double>(), attn::Error);
}

TEST(CudaOps, TransformerTrainsTheSameOnBothDevices) {
  ATTN_REQUIRE_GPU();
  attn::nn::TransformerOptions options(12, 12);
  options.set_d_model(16).set_num_heads(4).set_num_kv_heads(2).set_d_ff(32).set_layers(2, 2);
  options.set_dropout(0.0);  // the two models draw from one generator, one after the other
  check_training_agrees<attn::nn::Transformer>(options, "transformer gqa");
}

TEST(CudaOps, MixingDevicesNamesTheOp) {
  ATTN_REQUIRE_GPU();
  Tensor a = attn::zeros({2, 3}).to(attn::kCUDA);
  try {
    (void)attn::matmul(a, attn::zeros({3, 2}));
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul"), std::string::npos) << e.what();
  }
}

}  // namespace
