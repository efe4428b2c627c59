// Bad calls throw attn::Error naming the op and the shapes; none crashes.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <attn/attn.h>

namespace {

using attn::Tensor;

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

TEST(Errors, MatmulShapeMismatch) {
  expect_error([] { attn::matmul(attn::zeros({2, 3}), attn::zeros({4, 5})); },
               {"matmul", "[2, 3]", "[4, 5]"});
}

TEST(Errors, BroadcastMismatch) {
  expect_error([] { attn::zeros({2, 3}) + attn::zeros({4}); }, {"add", "[2, 3]", "[4]"});
}

TEST(Errors, BadDim) {
  expect_error([] { attn::softmax(attn::zeros({2, 3}), 2); }, {"softmax", "dim 2"});
  expect_error([] { attn::zeros({2, 3}).sum(-3); }, {"sum", "dim -3"});
  expect_error([] { attn::zeros({2, 3}).transpose(0, 5); }, {"transpose", "dim 5"});
}

TEST(Errors, DtypeMismatch) {
  expect_error([] { attn::zeros({2}) + attn::zeros({2}, attn::kFloat64); },
               {"add", "float32", "float64"});
  expect_error([] { attn::exp(attn::zeros({2}, attn::kInt64)); }, {"exp", "int64"});
}

TEST(Errors, DeviceMismatchOrMissingGpu) {
  // Without a GPU, moving to CUDA already fails with a clear message; with one,
  // mixing devices in an op does.
  expect_error([] {
    Tensor gpu = attn::zeros({2}).to(attn::kCUDA);
    attn::zeros({2}) + gpu;
  }, {"cuda"});
}

TEST(Errors, BackwardTwice) {
  Tensor x = attn::randn({3}).requires_grad_();
  Tensor loss = (x * x).sum();
  loss.backward();
  expect_error([&] { loss.backward(); }, {"SumBackward", "second time"});
}

TEST(Errors, BackwardOnNonScalarNeedsGradient) {
  Tensor x = attn::randn({3}).requires_grad_();
  expect_error([&] { (x * 2.0).backward(); }, {"backward", "[3]"});
}

TEST(Errors, ReshapeToWrongSize) {
  expect_error([] { attn::zeros({2, 3}).reshape({4, 2}); }, {"reshape", "[2, 3]", "[4, 2]"});
}

TEST(Errors, ViewOfNonContiguousNeedsReshape) {
  expect_error([] { attn::zeros({2, 3}).t().view({6}); }, {"view", "reshape"});
}

TEST(Errors, EmbeddingIdOutOfRange) {
  Tensor weight = attn::zeros({5, 3});
  Tensor ids = attn::from_vector(std::vector<int64_t>{1, 7}, {2});
  expect_error([&] { attn::embedding(weight, ids); }, {"embedding", "id 7", "[0, 5)"});
}

TEST(Errors, CrossEntropyBadTarget) {
  Tensor logits = attn::zeros({2, 4});
  expect_error([&] {
    attn::cross_entropy(logits, attn::from_vector(std::vector<int64_t>{1, 9}, {2}));
  }, {"cross_entropy", "9", "row 1"});
  expect_error([&] {
    attn::cross_entropy(logits, attn::from_vector(std::vector<int64_t>{1, 2, 3}, {3}));
  }, {"cross_entropy", "[3]", "[2, 4]"});
}

TEST(Errors, CatShapeMismatch) {
  expect_error([] { attn::cat({attn::zeros({2, 3}), attn::zeros({2, 4})}, 0); },
               {"cat", "[2, 4]", "[2, 3]"});
}

TEST(Errors, LayerNormWeightShape) {
  expect_error([] { attn::layer_norm(attn::zeros({2, 3}), attn::ones({4}), Tensor()); },
               {"layer_norm", "[4]", "[2, 3]"});
}

TEST(Errors, UndefinedTensor) {
  expect_error([] { Tensor().shape(); }, {"undefined"});
}

TEST(Errors, ItemOfManyElements) {
  expect_error([] { attn::zeros({2, 2}).item(); }, {"item", "[2, 2]"});
}

TEST(Errors, InPlaceOnLeafThatRequiresGrad) {
  Tensor w = attn::zeros({2}).requires_grad_();
  expect_error([&] { w.fill_(1.0); }, {"fill_", "NoGradGuard"});
  attn::NoGradGuard no_grad;
  w.fill_(1.0);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 1}));
}

}  // namespace
