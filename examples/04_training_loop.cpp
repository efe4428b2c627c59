// Chapter 04, modules and the training loop (docs/04-modules-and-training.md).
//
//   ./build/release/examples/example_04_training_loop
//
// A tiny model and the whole loop that `attn train` runs, written out by hand:
// a Module made of Embedding, Linear and Dropout; one Adam step checked
// against its equations; the loss over non-pad tokens with label smoothing;
// then a training loop (zero_grad, backward, clip, schedule, step) on a toy
// problem, and a save/load round trip of the weights. Every section checks
// what it shows; the program returns 1 if any check fails.
//
// The toy problem, "shift a digit": the input is a padded row of digits, the
// target at each real position is (digit + 3) mod 10. Id 0 is <pad>; digit d
// is id d + 1, so the vocabulary has V = 11 ids.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "nn/layers.h"
#include "nn/module.h"
#include "train/optim/clip.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"

namespace {

using attn::Shape;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

constexpr int64_t kPad = 0;     // as data::kPad
constexpr int64_t kVocab = 11;  // <pad> and the digits 0..9

// A model is a Module that registers its layers; parameters() then finds
// every weight, with dotted names, in a stable order.
class DigitShifter : public attn::nn::Module {
 public:
  DigitShifter(int64_t embedding_size, int64_t hidden_size, double dropout) {
    embedding = register_module(
        "embedding", std::make_shared<attn::nn::Embedding>(
                         attn::nn::EmbeddingOptions(kVocab, embedding_size).set_padding_idx(kPad)));
    hidden = register_module("hidden",
                             std::make_shared<attn::nn::Linear>(embedding_size, hidden_size));
    drop = register_module("dropout", std::make_shared<attn::nn::Dropout>(dropout));
    output = register_module("output", std::make_shared<attn::nn::Linear>(hidden_size, kVocab));
  }

  // ids: (B, T) int64 -> logits (B, T, V)
  Tensor forward(const Tensor& ids) const {
    Tensor e = embedding->forward(ids);             // (B, T, E)
    Tensor h = attn::tanh(hidden->forward(e));      // (B, T, H)
    return output->forward(drop->forward(h));       // (B, T, V)
  }

  std::shared_ptr<attn::nn::Embedding> embedding;
  std::shared_ptr<attn::nn::Linear> hidden;
  std::shared_ptr<attn::nn::Dropout> drop;
  std::shared_ptr<attn::nn::Linear> output;
};

struct Batch {
  Tensor input;   // (B, T) int64, padded with kPad
  Tensor target;  // (B, T) int64, kPad where the input is padding
  int64_t tokens = 0;
};

// B rows of 1..T random digits each, padded to T.
Batch make_batch(attn::Generator& gen, int64_t B, int64_t T) {
  std::vector<int64_t> input(static_cast<size_t>(B * T), kPad), target(input.size(), kPad);
  Batch batch;
  for (int64_t b = 0; b < B; ++b) {
    int64_t length = 1 + static_cast<int64_t>(gen.below(static_cast<uint64_t>(T)));
    for (int64_t t = 0; t < length; ++t) {
      int64_t digit = static_cast<int64_t>(gen.below(10));
      input[b * T + t] = digit + 1;
      target[b * T + t] = (digit + 3) % 10 + 1;
    }
    batch.tokens += length;
  }
  batch.input = attn::from_vector(input, {B, T});
  batch.target = attn::from_vector(target, {B, T});
  return batch;
}

// The loss of the trainer (batch_loss in train/train_step.cpp): mean
// cross-entropy over the non-pad target tokens, with label smoothing.
Tensor token_loss(const Tensor& logits, const Tensor& target, double smoothing) {
  return attn::cross_entropy(logits.reshape({-1, kVocab}), target.reshape({-1}),
                             attn::CrossEntropyOptions().ignore(kPad).smoothing(smoothing));
}

}  // namespace

int main() {
  attn::manual_seed(4);

  section("1. A Module: named parameters, count, state_dict");
  DigitShifter model(/*embedding_size=*/16, /*hidden_size=*/32, /*dropout=*/0.1);
  for (const auto& [name, p] : model.named_parameters()) {
    std::printf("  %-16s %s\n", name.c_str(), attn::shape_str(p.shape()).c_str());
  }
  std::printf("  parameter_count() = %lld\n", static_cast<long long>(model.parameter_count()));
  check(model.parameter_count() == 11 * 16 + (32 * 16 + 32) + (11 * 32 + 11),
        "count = 11*16 + (32*16 + 32) + (11*32 + 11)");
  check(model.named_parameters().size() == 5, "5 tensors: the Dropout has none");
  check(model.state_dict().count("hidden.weight") == 1, "state_dict() is keyed by dotted names");
  check(attn::sum(attn::pow(model.embedding->weight.select(0, kPad), 2.0)).item() == 0.0,
        "the padding row of the embedding starts at 0");

  section("2. One Adam step, by hand");
  // L = p^2 at p = 1: g = 2. After one step with lr = 0.1:
  //   m = (1 - b1) g, v = (1 - b2) g^2; bias-corrected m^ = g, v^ = g^2;
  //   p <- p - lr * m^ / (sqrt(v^) + eps) = 1 - 0.1 * 2 / (2 + 1e-8).
  // The first step moves every parameter by about lr, whatever the size of g.
  Tensor p = attn::from_vector(std::vector<double>{1.0}, {1}).requires_grad_();
  attn::optim::Adam adam({p}, attn::optim::AdamOptions(0.1));
  (p * p).sum().backward();
  adam.step();
  double expected = 1.0 - 0.1 * 2.0 / (2.0 + 1e-8);
  std::printf("  p after one step: %.12f (by hand %.12f)\n", p.item(), expected);
  check(std::abs(p.item() - expected) < 1e-12, "Adam's first step is lr * g / (|g| + eps)");
  auto moments = adam.state();
  check(std::abs(moments.at("adam.exp_avg.0").item() - 0.2) < 1e-12 &&
            std::abs(moments.at("adam.exp_avg_sq.0").item() - 0.004) < 1e-12,
        "its moments: m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004");

  section("3. The loss over non-pad tokens, with label smoothing");
  attn::Generator data_gen(11);
  Batch probe = make_batch(data_gen, 4, 6);
  std::cout << "  input ids:\n" << probe.input << "\n  target ids (0 = <pad>, no loss):\n"
            << probe.target << "\n";
  model.eval();  // no dropout: the same logits twice
  Tensor logits = model.forward(probe.input);  // (4, 6, 11)
  double plain = token_loss(logits, probe.target, 0.0).item();
  double smoothed = token_loss(logits, probe.target, 0.1).item();
  // The same mean by hand: sum over rows that are not padding, divided by their count.
  Tensor per_row = attn::cross_entropy(logits.reshape({-1, kVocab}), probe.target.reshape({-1}),
                                       attn::CrossEntropyOptions().ignore(kPad).reduce(
                                           attn::Reduction::None));
  double by_hand = per_row.sum().item() / static_cast<double>(probe.tokens);
  std::printf("  %lld real tokens of %lld; loss %.6f, by hand %.6f; with smoothing 0.1: %.6f\n",
              static_cast<long long>(probe.tokens), static_cast<long long>(probe.input.numel()),
              plain, by_hand, smoothed);
  check(std::abs(plain - by_hand) < 1e-6, "the mean is over the non-pad tokens only");
  // With smoothing eps the target is q = (1 - eps) onehot + eps / V, and the
  // loss cannot go below the entropy of q, reached when softmax = q.
  const double eps = 0.1, q_hit = 1 - eps + eps / kVocab, q_miss = eps / kVocab;
  const double floor = -(q_hit * std::log(q_hit) + (kVocab - 1) * q_miss * std::log(q_miss));
  std::printf("  with smoothing 0.1 the loss is at least H(q) = %.4f\n", floor);
  model.train();

  section("4. The training loop");
  // The steps of one training step, one per line below, written out to be
  // read. The library's step is the same thing as one call:
  // attn::train::train_step() in train/train_step.h (train/train_step.cpp),
  // which `attn train` calls once per update from Trainer::run
  // (train/trainer.cpp), for a translation model and a data::Batch.
  attn::optim::Adam optimizer(model.parameters(), attn::optim::AdamOptions(1e-2));
  attn::optim::ConstantSchedule schedule(1e-2, /*warmup=*/20);
  double first_loss = 0, last_loss = 0, last_norm = 0;
  for (int64_t update = 1; update <= 300; ++update) {
    Batch batch = make_batch(data_gen, 32, 8);
    Tensor loss = token_loss(model.forward(batch.input), batch.target, eps);  // forward
    optimizer.zero_grad();                                                      // clear
    loss.backward();                                                            // backward
    double norm = attn::optim::clip_grad_norm(model.parameters(), 1.0);                // clip
    optimizer.set_lr(schedule.rate(update));                                    // schedule
    optimizer.step();                                                           // update
    if (update == 1) first_loss = loss.item();
    last_loss = loss.item();
    last_norm = norm;
    if (update == 1 || update % 50 == 0) {
      std::printf("  update %3lld  loss %.4f  |g| %.3f  lr %.2e\n", static_cast<long long>(update),
                  loss.item(), norm, optimizer.lr());
    }
  }
  check(schedule.rate(10) == 1e-2 * 10 / 20, "warm-up: update 10 of 20 uses half the rate");
  check(last_loss < first_loss / 3, "the loss fell to less than a third");
  check(last_loss < floor + 0.1, "and ends within 0.1 of the smoothing floor H(q)");
  check(std::isfinite(last_norm), "gradients stayed finite");

  // Accuracy on fresh rows, in evaluation mode (Dropout off).
  model.eval();
  attn::NoGradGuard no_grad;
  Batch test = make_batch(data_gen, 64, 8);
  std::vector<int64_t> predicted = attn::argmax(model.forward(test.input), -1).to_vector<int64_t>();
  std::vector<int64_t> wanted = test.target.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < wanted.size(); ++i) correct += wanted[i] != kPad && predicted[i] == wanted[i];
  double accuracy = static_cast<double>(correct) / static_cast<double>(test.tokens);
  std::printf("  accuracy on %lld fresh tokens: %.2f%%\n", static_cast<long long>(test.tokens),
              100 * accuracy);
  check(accuracy == 1.0, "every digit shifted right");

  section("5. Save and load the weights");
  const std::string path = "example_04_model.safetensors";
  model.save(path, {{"task", "shift a digit by 3"}});
  attn::manual_seed(99);  // a differently initialised twin
  DigitShifter twin(16, 32, 0.1);
  twin.eval();
  Tensor before = twin.forward(test.input);
  twin.load(path);
  Tensor after = twin.forward(test.input);
  Tensor original = model.forward(test.input);
  auto largest_difference = [](const Tensor& a, const Tensor& b) {
    return attn::max(attn::maximum(a - b, b - a)).item();
  };
  check(largest_difference(before, original) > 1e-3, "the twin starts different");
  check(largest_difference(after, original) == 0.0,
        "after load() it computes the same logits, bit for bit");
  std::remove(path.c_str());

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
