// Chapter 10, training a Transformer (docs/10-training-a-transformer.md).
//
//   ./build/release/examples/example_10_training_transformer
//
// The paper's recipe (Vaswani et al. 2017, section 5), measured small:
// 1. The recipe as attn's defaults: apply_transformer_defaults (train/options.h)
//    fills in Adam 0.9/0.98/1e-9, the inverse-square-root schedule, its peak
//    rate and label smoothing 0.1 for every flag not given.
// 2. The schedule, eq. (3): lrate = d_model^-0.5 * min(step^-0.5, step *
//    warmup^-1.5), from InverseSqrtSchedule (train/optim/schedule.h), printed at a
//    few steps for the base model, checked against the formula, its peak at
//    step = warmup, and the Noam form equal to the plain one.
// 3. Label smoothing: the target q = (1 - eps) onehot(y) + eps/V, and what
//    cross_entropy with smoothing gives for three predictions, against the
//    closed forms (ln V for a uniform prediction, H(q) for p = q, the floor).
// 4. A short run of a tiny Transformer on `dates` with the recipe (Adam
//    0.9/0.98/1e-9, warm-up, smoothing 0.1, dropout 0.1), the loss every few
//    updates; then the same run with no warm-up (warmup = 1), for comparison.
// The checks are only what holds on every machine: the defaults, the
// formulas, and that the recipe's loss falls by a clear margin. Which of the
// two runs ends lower is printed, not checked. Returns 1 if a check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "data/batch.h"
#include "data/tasks.h"
#include "nn/transformer.h"
#include "train/dataset.h"
#include "train/optim/optimizer.h"
#include "train/options.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"

namespace {

using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

// Eq. (3) of the paper, written out here independently of train/optim/schedule.cpp.
double paper_rate(double d_model, double warmup, double step) {
  return std::pow(d_model, -0.5) * std::min(std::pow(step, -0.5), step * std::pow(warmup, -1.5));
}

// The smoothed cross-entropy of one prediction (logits (1, V)) for target y.
double smoothed_loss(const Tensor& logits, int64_t y, double eps) {
  Tensor target = attn::from_vector(std::vector<int64_t>{y}, {1});
  return attn::cross_entropy(logits, target, attn::CrossEntropyOptions().smoothing(eps)).item();
}

// The training run of section 4.
constexpr int64_t kDModel = 32;
constexpr int64_t kWarmup = 40;
constexpr int64_t kUpdates = 200;
constexpr int64_t kWindow = 25;

struct Run {
  std::vector<double> windows;  // mean smoothed loss of each kWindow updates
  double seconds = 0;
};

Run train(int64_t warmup, const attn::train::EncodedPairs& set, int64_t V_src, int64_t V_tgt) {
  attn::manual_seed(3);  // the same initial weights and dropout masks for every run
  attn::nn::Transformer model(attn::nn::TransformerOptions::toy(V_src, V_tgt)
                                  .set_d_model(kDModel)
                                  .set_num_heads(2)
                                  .set_d_ff(64)
                                  .set_layers(1, 1));  // dropout 0.1, post-LN: the paper's
  attn::data::BatchOptions batching;
  batching.mini_batch = 32;
  batching.seed = 11;  // the same batches for every run
  attn::data::BatchIterator batches(set.sources, set.targets, batching);
  // The recipe: Adam 0.9/0.98/1e-9; eq. (3) with factor 1; smoothing 0.1.
  attn::optim::Adam optimizer(model.parameters(),
                              attn::optim::AdamOptions().set_betas(0.9, 0.98).set_eps(1e-9));
  attn::optim::InverseSqrtSchedule schedule(
      attn::optim::InverseSqrtOptions(1.0).set_warmup(warmup).set_d_model(kDModel));
  std::printf("  %s, %lld updates of 32 sentences\n", schedule.describe().c_str(),
              static_cast<long long>(kUpdates));
  attn::train::TrainStepOptions step_options;
  step_options.label_smoothing = 0.1;  // the recipe's
  step_options.clip_norm = 1.0;        // attn's default; the paper does not clip
  Run run;
  const auto start = std::chrono::steady_clock::now();
  double window = 0;
  model.train();
  for (int64_t update = 1; update <= kUpdates; ++update) {
    if (!batches.has_next()) batches.next_epoch();
    attn::data::Batch batch = batches.next();
    // forward, smoothed loss, backward, clip, lr = schedule.rate(update), step:
    // the step `attn train` runs (train/train_step.h)
    attn::train::TrainStepResult step =
        attn::train::train_step(model, batch, optimizer, schedule, update, step_options);
    window += step.loss;
    if (update % kWindow == 0) {
      run.windows.push_back(window / kWindow);
      std::printf("    update %3lld  lr %.2e  smoothed loss %.4f (mean of the last %lld)\n",
                  static_cast<long long>(update), step.learning_rate, window / kWindow,
                  static_cast<long long>(kWindow));
      window = 0;
    }
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace

int main() {
  section("1. The recipe as defaults (apply_transformer_defaults, train/options.h)");
  // As `attn train --type transformer --dim-emb 64 --lr-warmup 200` would call it.
  attn::train::ModelOptions model_options;
  attn::train::TrainOptions train_options;
  model_options.type = "transformer";
  model_options.dim_emb = 64;
  train_options.lr_warmup = 200;
  const std::set<std::string> given = {"dim-emb", "lr-warmup"};
  attn::train::apply_transformer_defaults(
      model_options, train_options, [&](const std::string& flag) { return given.count(flag) > 0; });
  const std::vector<double>& adam = train_options.optimizer_params;
  std::printf("  optimizer-params %g %g %g, lr-schedule %s, lr-warmup %lld, learn-rate %.6g, "
              "label-smoothing %g\n",
              adam.size() == 3 ? adam[0] : 0.0, adam.size() == 3 ? adam[1] : 0.0,
              adam.size() == 3 ? adam[2] : 0.0, train_options.lr_schedule.c_str(),
              static_cast<long long>(train_options.lr_warmup), train_options.learn_rate,
              train_options.label_smoothing);
  std::printf("  depth %lld + %lld, heads %lld, d_ff %lld, dropout %g (the flags' own defaults)\n",
              static_cast<long long>(model_options.enc_depth),
              static_cast<long long>(model_options.dec_depth),
              static_cast<long long>(model_options.transformer_heads),
              static_cast<long long>(model_options.transformer_dim_ffn),
              model_options.transformer_dropout);
  check(adam == std::vector<double>{0.9, 0.98, 1e-9} && train_options.lr_schedule == "inv-sqrt" &&
            train_options.label_smoothing == 0.1,
        "Adam 0.9/0.98/1e-9, the inverse-sqrt schedule and smoothing 0.1 when not given");
  check(train_options.lr_warmup == 200 && model_options.dim_emb == 64 &&
            std::abs(train_options.learn_rate - 1.0 / std::sqrt(64.0 * 200.0)) < 1e-15,
        "given flags win; the peak is 1/sqrt(d_model * warmup) = 1/sqrt(64 * 200)");

  section("2. The schedule, eq. (3), for the base model (d_model 512, warmup 4000)");
  const int64_t d_model = 512, warmup = 4000;
  attn::optim::InverseSqrtSchedule noam(attn::optim::InverseSqrtOptions(1.0).set_warmup(warmup).set_d_model(d_model));
  attn::optim::InverseSqrtSchedule plain(
      attn::optim::InverseSqrtOptions(1.0 / std::sqrt(double(d_model * warmup))).set_warmup(warmup));
  std::printf("  %s and %s\n", noam.describe().c_str(), plain.describe().c_str());
  std::printf("  %8s %12s %12s %12s\n", "step", "noam", "eq. (3)", "plain");
  double worst_formula = 0, worst_forms = 0;
  for (int64_t step : {1, 100, 1000, 2000, 3999, 4000, 4001, 8000, 16000, 100000}) {
    const double mine = paper_rate(d_model, warmup, double(step));
    std::printf("  %8lld %12.4e %12.4e %12.4e\n", static_cast<long long>(step), noam.rate(step),
                mine, plain.rate(step));
  }
  int64_t peak = 1;
  for (int64_t step = 1; step <= 5 * warmup; ++step) {
    const double mine = paper_rate(d_model, warmup, double(step));
    worst_formula = std::max(worst_formula, std::abs(noam.rate(step) - mine) / mine);
    worst_forms = std::max(worst_forms, std::abs(noam.rate(step) - plain.rate(step)) / mine);
    if (noam.rate(step) > noam.rate(peak)) peak = step;
  }
  std::printf("  steps 1..%lld: largest relative difference from eq. (3) %.1e, noam vs plain %.1e;"
              " peak at step %lld, rate %.4e = 1/sqrt(512 * 4000)\n",
              static_cast<long long>(5 * warmup), worst_formula, worst_forms,
              static_cast<long long>(peak), noam.rate(peak));
  check(worst_formula < 1e-12, "InverseSqrtSchedule's Noam form is eq. (3) at every step");
  check(worst_forms < 1e-12, "the plain form with lr = 1/sqrt(d_model * warmup) gives the same rates");
  check(peak == warmup, "the rate rises until step = warmup and falls after it");

  section("3. Label smoothing, eps = 0.1, V = 15 (the target vocabulary of dates)");
  const int64_t V = 15, y = 4;
  const double eps = 0.1;
  const double right = 1 - eps + eps / V, wrong = eps / V;
  const double floor = -right * std::log(right) - (V - 1) * wrong * std::log(wrong);  // H(q)
  std::printf("  q = (1 - eps) onehot(y) + eps/V: %.4f for the right token, %.5f for each of the "
              "other %lld\n",
              right, wrong, static_cast<long long>(V - 1));
  std::vector<double> log_q(V, std::log(wrong)), sure(V, 0.0);
  log_q[y] = std::log(right);
  sure[y] = std::log(0.999 * (V - 1) / 0.001);  // softmax gives the right token 0.999
  Tensor uniform = attn::zeros({1, V}, attn::kFloat64);
  Tensor as_q = attn::from_vector(log_q, {1, V});
  Tensor confident = attn::from_vector(sure, {1, V});
  std::printf("  %-26s %12s %12s\n", "prediction p", "eps = 0", "eps = 0.1");
  const double uniform_plain = smoothed_loss(uniform, y, 0), uniform_smooth = smoothed_loss(uniform, y, eps);
  const double q_plain = smoothed_loss(as_q, y, 0), q_smooth = smoothed_loss(as_q, y, eps);
  const double sure_plain = smoothed_loss(confident, y, 0), sure_smooth = smoothed_loss(confident, y, eps);
  std::printf("  %-26s %12.4f %12.4f\n", "uniform, 1/V each", uniform_plain, uniform_smooth);
  std::printf("  %-26s %12.4f %12.4f\n", "p = q", q_plain, q_smooth);
  std::printf("  %-26s %12.4f %12.4f\n", "sure, 0.999 on the right", sure_plain, sure_smooth);
  // The smoothed loss of any p is -sum_v q_v ln p_v; for the sure prediction
  // p = 0.999 on the right token and 0.001/14 on each other one.
  const double sure_closed = -right * std::log(0.999) - (V - 1) * wrong * std::log(0.001 / (V - 1));
  std::printf("  closed forms: ln V = %.4f; H(q) = %.4f (the floor); -ln(%.4f) = %.4f;\n"
              "  the sure prediction, smoothed: -%.4f ln 0.999 - 14 * %.5f ln(0.001/14) = %.4f\n",
              std::log(double(V)), floor, right, -std::log(right), right, wrong, sure_closed);
  check(std::abs(uniform_plain - std::log(double(V))) < 1e-12 &&
            std::abs(uniform_smooth - std::log(double(V))) < 1e-12,
        "a uniform prediction costs ln V, with or without smoothing");
  check(std::abs(q_smooth - floor) < 1e-12 && std::abs(q_plain + std::log(right)) < 1e-12,
        "p = q costs H(q) smoothed, -ln(1 - eps + eps/V) plain");
  Tensor logits = attn::from_vector(log_q, {1, V}).requires_grad_();
  attn::cross_entropy(logits, attn::from_vector(std::vector<int64_t>{y}, {1}),
                      attn::CrossEntropyOptions().smoothing(eps))
      .backward();
  double gradient = 0;  // the largest |p_v - q_v|: the gradient of the loss at p = q
  for (double g : logits.grad().to_vector<double>()) gradient = std::max(gradient, std::abs(g));
  std::printf("  at p = q the gradient p - q is at most %.1e: the smoothed loss has its minimum there\n",
              gradient);
  check(gradient < 1e-12 && std::abs(sure_smooth - sure_closed) < 1e-12 && sure_smooth > floor + 0.2,
        "the smoothed loss is smallest at p = q; being sure costs more, as -sum_v q_v ln p_v says");

  section("4. A tiny Transformer trained with the recipe on dates");
  attn::data::TaskOptions task;
  task.train_size = 4000;
  task.valid_size = 50;
  task.test_size = 50;
  attn::data::TaskSplits splits = attn::data::make_task("dates", task);
  attn::train::DataOptions data;
  data.lowercase = true;
  attn::train::TextPipeline pipeline = attn::train::build_pipeline(data, splits.train);
  attn::train::EncodedPairs train_set = attn::train::encode_pairs(pipeline, splits.train);
  const int64_t V_src = pipeline.source_vocab.size(), V_tgt = pipeline.target_vocab.size();
  std::printf("  e.g. \"%s\" -> \"%s\"; vocabularies %lld / %lld\n", splits.train[0].source.c_str(),
              splits.train[0].target.c_str(), static_cast<long long>(V_src),
              static_cast<long long>(V_tgt));
  std::printf("  the recipe, warm-up %lld (peak 1/sqrt(%lld * %lld) = %.4f):\n",
              static_cast<long long>(kWarmup), static_cast<long long>(kDModel),
              static_cast<long long>(kWarmup), 1.0 / std::sqrt(double(kDModel * kWarmup)));
  Run recipe = train(kWarmup, train_set, V_src, V_tgt);
  std::printf("  the same with no warm-up (warmup = 1: the rate starts at 1/sqrt(%lld) = %.4f):\n",
              static_cast<long long>(kDModel), 1.0 / std::sqrt(double(kDModel)));
  Run cold = train(1, train_set, V_src, V_tgt);
  std::printf("  smoothed-loss floor H(q) for V = %lld: %.4f\n", static_cast<long long>(V_tgt),
              -(1 - 0.1 + 0.1 / V_tgt) * std::log(1 - 0.1 + 0.1 / V_tgt) -
                  (V_tgt - 1) * (0.1 / V_tgt) * std::log(0.1 / V_tgt));
  std::printf("  last window: recipe %.4f, no warm-up %.4f; time %.1f s and %.1f s\n",
              recipe.windows.back(), cold.windows.back(), recipe.seconds, cold.seconds);
  check(recipe.windows.back() < 0.6 * recipe.windows.front(),
        "with the recipe the smoothed loss fell to less than 0.6 of its first window's");

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
