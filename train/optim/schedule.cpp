// Learning-rate schedules (train/optim/schedule.h).
#include "train/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kernels/error.h"

namespace attn::optim {
namespace {

void check_step(const char* who, int64_t step) {
  ATTN_CHECK(step >= 1, who, ": updates count from 1, got step ", step);
}

void check_lr(const char* who, double lr) {
  ATTN_CHECK(std::isfinite(lr) && lr >= 0, who, ": the learning rate must be finite and >= 0, got ",
             lr);
}

// The factor of a linear warm-up: step / warmup until warmup, then 1.
double warmup_factor(int64_t step, int64_t warmup) {
  if (warmup <= 0 || step >= warmup) return 1.0;
  return static_cast<double>(step) / static_cast<double>(warmup);
}

}  // namespace

// --- constant ------------------------------------------------------------------

ConstantSchedule::ConstantSchedule(double lr, int64_t warmup) : lr_(lr), warmup_(warmup) {
  check_lr("ConstantSchedule", lr);
  ATTN_CHECK(warmup >= 0, "ConstantSchedule: warmup must be >= 0, got ", warmup);
}

double ConstantSchedule::rate(int64_t step) const {
  check_step("ConstantSchedule", step);
  return lr_ * warmup_factor(step, warmup_);
}

std::string ConstantSchedule::describe() const {
  std::ostringstream out;
  out << "constant(lr=" << lr_;
  if (warmup_ > 0) out << ", warmup=" << warmup_;
  out << ")";
  return out.str();
}

// --- step-halving ----------------------------------------------------------------

StepHalvingSchedule::StepHalvingSchedule(StepHalvingOptions options) : options_(options) {
  check_lr("StepHalvingSchedule", options.lr);
  ATTN_CHECK(options.every >= 0, "StepHalvingSchedule: every must be >= 0, got ", options.every);
  ATTN_CHECK(options.min_lr >= 0, "StepHalvingSchedule: min_lr must be >= 0, got ",
             options.min_lr);
  ATTN_CHECK(options.warmup >= 0, "StepHalvingSchedule: warmup must be >= 0, got ",
             options.warmup);
}

double StepHalvingSchedule::rate(int64_t step) const {
  check_step("StepHalvingSchedule", step);
  int64_t halvings = halvings_;
  if (options_.every > 0) halvings += (step - 1) / options_.every;
  // ldexp(x, -k) is x / 2^k, exact, and 0 rather than a denormal mess for huge k.
  double lr = std::ldexp(options_.lr, -static_cast<int>(std::min<int64_t>(halvings, 2000)));
  return std::max(options_.min_lr, lr) * warmup_factor(step, options_.warmup);
}

void StepHalvingSchedule::set_halvings(int64_t halvings) {
  ATTN_CHECK(halvings >= 0, "StepHalvingSchedule: halvings must be >= 0, got ", halvings);
  halvings_ = halvings;
}

std::string StepHalvingSchedule::describe() const {
  std::ostringstream out;
  out << "step-halving(lr=" << options_.lr;
  if (options_.every > 0) out << ", every=" << options_.every;
  if (options_.min_lr > 0) out << ", min_lr=" << options_.min_lr;
  if (options_.warmup > 0) out << ", warmup=" << options_.warmup;
  if (halvings_ > 0) out << ", halved " << halvings_ << "x on demand";
  out << ")";
  return out.str();
}

// --- inverse square root ------------------------------------------------------------

InverseSqrtSchedule::InverseSqrtSchedule(InverseSqrtOptions options) : options_(options) {
  check_lr("InverseSqrtSchedule", options.lr);
  ATTN_CHECK(options.warmup >= 1, "InverseSqrtSchedule: warmup must be >= 1, got ",
             options.warmup, " (use 1 for a pure 1/sqrt(step) decay)");
  ATTN_CHECK(options.d_model >= 0, "InverseSqrtSchedule: d_model must be >= 0, got ",
             options.d_model);
}

double InverseSqrtSchedule::rate(int64_t step) const {
  check_step("InverseSqrtSchedule", step);
  const double s = static_cast<double>(step);
  const double w = static_cast<double>(options_.warmup);
  if (options_.d_model > 0) {
    const double d = static_cast<double>(options_.d_model);
    return options_.lr * std::pow(d, -0.5) * std::min(std::pow(s, -0.5), s * std::pow(w, -1.5));
  }
  return options_.lr * std::min(s / w, std::sqrt(w / s));
}

std::string InverseSqrtSchedule::describe() const {
  std::ostringstream out;
  if (options_.d_model > 0) {
    out << "noam(factor=" << options_.lr << ", d_model=" << options_.d_model
        << ", warmup=" << options_.warmup << ")";
  } else {
    out << "inverse-sqrt(lr=" << options_.lr << ", warmup=" << options_.warmup << ")";
  }
  return out.str();
}

}  // namespace attn::optim
