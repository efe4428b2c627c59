// The training loop of `attn train`, with everything a long run needs:
// logging, validation, early stopping, keep-best, checkpoints, exact resume,
// and a clean stop on Ctrl-C or a non-finite loss.
//
// One update, as data flows (design.md, "One training step"), is one call to
// train_step() (train/train_step.h):
//   batch -> model.forward -> cross_entropy over non-pad target tokens
//   -> backward -> clip the global norm -> check finite -> set lr -> step
// Trainer::run (train/trainer.cpp) is the loop around it; the display line,
// validation, checkpoints, early stopping and signals are functions of their
// own beside it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/translator.h"
#include "train/dataset.h"
#include "train/evaluate.h"  // evaluate(), shared with `attn eval`
#include "train/options.h"

namespace attn::train {

class Trainer {
 public:
  Trainer(ModelOptions model, DataOptions data, TrainOptions train);

  // Trains until --after, early stopping or a signal. Returns the exit code:
  // 0 done, 1 stopped on a non-finite loss or gradient, 128 + signal when
  // interrupted (after saving a checkpoint).
  int run();

 private:
  ModelOptions model_options_;
  DataOptions data_options_;
  TrainOptions train_options_;
};

}  // namespace attn::train
