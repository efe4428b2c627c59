// The training loop of `attn train`, with everything a long run needs:
// logging, validation, early stopping, keep-best, checkpoints, exact resume,
// and a clean stop on Ctrl-C or a non-finite loss.
//
// One update, as data flows (design.md, "One training step"):
//   batch -> model.forward -> cross_entropy over non-pad target tokens
//   -> backward -> check finite -> clip the global norm -> set lr -> step
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/translator.h"
#include "train/dataset.h"
#include "train/options.h"

namespace attn::train {

struct ValidationResult {
  double loss = 0.0;         // mean cross-entropy per target token (no smoothing)
  double perplexity = 0.0;   // exp(loss)
  double exact_match = 0.0;  // greedy decoding, whole sentence right
  double token_accuracy = 0.0;
};

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

// Evaluation shared by validation and `attn eval`: teacher-forced loss and
// greedy-decoding accuracy of `model` on `set`, in batches of `batch_size`.
ValidationResult evaluate(nn::Translator& model, const EncodedPairs& set, int64_t batch_size,
                          int64_t max_sentences = 0);

// Most tokens greedy decoding may produce for a source of `source_length`.
int64_t max_output_length(int64_t source_length);

}  // namespace attn::train
