// Learning-rate schedules: the learning rate as a function of the update number.
//
// A schedule is a plain object with rate(step), where step counts updates from
// 1 (the first optimizer.step() is step 1). The trainer asks it before every
// update and hands the answer to optimizer.set_lr():
//
//   attn::optim::InverseSqrtSchedule schedule(attn::optim::InverseSqrtOptions(3e-4).set_warmup(4000));
//   for (int64_t step = 1; ...; ++step) {
//     optimizer.set_lr(schedule.rate(step));
//     ... backward ...
//     optimizer.step();
//   }
//
// Three shapes, the ones NMT toolkits offer (Marian's --lr-decay-strategy,
// --lr-decay-inv-sqrt, --lr-warmup):
//   constant            lr, after an optional linear warm-up;
//   step-halving        lr halved every N updates and/or each time the trainer
//                       calls halve() because validation stalled;
//   inverse square root lr * min(step / warmup, sqrt(warmup / step)): linear
//                       warm-up, then decay as 1/sqrt(step); or the Transformer
//                       paper's "Noam" form as an option.
// rate() depends only on the step and, for step-halving, on the number of
// on-demand halvings, which the trainer saves in its checkpoint.
#pragma once

#include <cstdint>
#include <string>

namespace attn::optim {

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The learning rate of update `step` (>= 1).
  virtual double rate(int64_t step) const = 0;
  // One line for the log, e.g. "inverse-sqrt(lr=0.0003, warmup=4000)".
  virtual std::string describe() const = 0;
};

// lr throughout, after `warmup` updates of linear warm-up (0: none), where
// update s gets lr * s / warmup.
class ConstantSchedule : public Schedule {
 public:
  explicit ConstantSchedule(double lr, int64_t warmup = 0);
  double rate(int64_t step) const override;
  std::string describe() const override;

 private:
  double lr_;
  int64_t warmup_;
};

struct StepHalvingOptions {
  double lr = 1e-3;      // the rate before any halving
  int64_t every = 0;     // halve after every this many updates (0: only on demand)
  double min_lr = 0.0;   // never go below this
  int64_t warmup = 0;    // updates of linear warm-up before the first (0: none)

  explicit StepHalvingOptions(double lr = 1e-3) : lr(lr) {}
  StepHalvingOptions& set_every(int64_t v) { every = v; return *this; }
  StepHalvingOptions& set_min_lr(double v) { min_lr = v; return *this; }
  StepHalvingOptions& set_warmup(int64_t v) { warmup = v; return *this; }
};

// rate(step) = max(min_lr, lr * 0.5^k) with k = (step - 1) / every (integer
// division; 0 when every is 0) plus the number of halve() calls. So with
// every = 1000, updates 1..1000 use lr, 1001..2000 use lr / 2, and so on.
//
// On demand: the trainer calls halve() when validation has not improved for
// a few validations in a row (Marian's --lr-decay-strategy stalls). The count
// of such halvings is the schedule's only state: checkpoint halvings() (in
// TrainingState::counters, train/checkpoint.h) and restore it with set_halvings().
class StepHalvingSchedule : public Schedule {
 public:
  explicit StepHalvingSchedule(StepHalvingOptions options);
  double rate(int64_t step) const override;
  std::string describe() const override;

  void halve() { ++halvings_; }
  int64_t halvings() const { return halvings_; }
  void set_halvings(int64_t halvings);

 private:
  StepHalvingOptions options_;
  int64_t halvings_ = 0;
};

struct InverseSqrtOptions {
  double lr = 1e-3;      // the peak rate (reached at step == warmup); the factor in the Noam form
  int64_t warmup = 4000; // updates of linear warm-up; 4000 in the Transformer paper
  int64_t d_model = 0;   // > 0 selects the Noam form below (0: the plain form)

  explicit InverseSqrtOptions(double lr = 1e-3) : lr(lr) {}
  InverseSqrtOptions& set_warmup(int64_t v) { warmup = v; return *this; }
  // The Transformer paper's schedule (Vaswani et al. 2017, section 5.3, eq. 3).
  InverseSqrtOptions& set_d_model(int64_t v) { d_model = v; return *this; }
};

// Plain:  lr * min(step / warmup, sqrt(warmup / step))
// Noam:   lr * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)
// Both rise linearly for `warmup` updates and then fall as 1/sqrt(step); they
// differ only in the peak, lr versus lr / sqrt(d_model * warmup). The paper's
// own setting is lr = 1 (the Annotated Transformer calls lr the "factor").
class InverseSqrtSchedule : public Schedule {
 public:
  explicit InverseSqrtSchedule(InverseSqrtOptions options);
  double rate(int64_t step) const override;
  std::string describe() const override;

 private:
  InverseSqrtOptions options_;
};

}  // namespace attn::optim
