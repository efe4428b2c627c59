// One training step of a translation model, as one call:
//
//   batch (B sentence pairs) --to(model's device)-->
//   model.forward(source, source_lengths, target_input)   logits (B, T, V)
//   cross_entropy over the non-pad cells of target_output  loss (), mean per token
//   zero_grad, loss.backward()                              every parameter's .grad
//   global gradient norm; rescaled when above clip_norm     |g| (before clipping)
//   lr = schedule.rate(update); optimizer.step()            the parameters move
//
// design.md's "One training step, as data flows", steps 2 and 3. `attn train`
// (train/trainer.cpp) calls train_step() once per update and logs what it
// returns; bench/train_step.cpp times it; examples 05, 10, 12 and 14 train
// with it.
// examples/04_training_loop.cpp writes the same lines out by hand, to teach
// them.
//
// With a communicator of N > 1 ranks (`mpirun -np N attn train`), `batch` is
// this rank's share of the global batch (train/distributed/data_parallel.h):
// the loss is this share's token-summed loss divided by the global batch's
// tokens, and after backward the gradients are summed over the ranks, so that
// clipping and the step see the global batch's gradient, the same on every
// rank. The result then describes the global batch.
//
// A step whose loss or gradient is not finite (NaN or inf) does not update:
// the optimizer does not step, so the parameters and its moments stay as they
// were (the .grad fields hold that step's gradients), and the result says
// what went wrong, so the caller can stop with the last checkpoint intact.
#pragma once

#include <cstdint>
#include <string>

#include "data/batch.h"
#include "nn/translator.h"
#include "tensor/tensor.h"
#include "train/distributed/communicator.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"

namespace attn::train {

struct TrainStepOptions {
  double label_smoothing = 0.0;  // eps of the smoothed target (1 - eps) onehot(y) + eps / V; 0: plain
  double clip_norm = 0.0;        // > 0: rescale the gradients when their global norm is above it
  // Non-empty (`attn train --dump-graph PATH`): backward records each node's
  // incoming gradient norm, and the graph behind the loss is written to PATH
  // as Graphviz DOT (autograd/graph_dump.h), after backward, before clipping.
  std::string dump_graph = "";
  // true (`attn train --precision bf16`): forward and backward run their
  // float32 GEMMs in bfloat16 with float32 accumulation (autograd/autocast.h);
  // the weights, their gradients and the optimizer stay float32.
  bool bf16 = false;
  // Non-null with size() > 1: data parallel, `batch` is this rank's share (maybe empty).
  distributed::Communicator* communicator = nullptr;
};

struct TrainStepResult {
  double loss = 0.0;             // mean cross-entropy per non-pad target token (smoothed when asked)
  int64_t target_tokens = 0;     // non-pad target tokens the loss averaged over (all ranks')
  int64_t sentences = 0;         // B (the global batch's)
  double grad_norm = 0.0;        // global norm of all gradients, before clipping
  double learning_rate = 0.0;    // the rate this step used: schedule.rate(update)
  double allreduce_seconds = 0.0;  // data parallel: time in the gradients' all-reduce
  bool stepped = false;          // false: the loss or a gradient was not finite; no update
  std::string nonfinite_parameter = "";  // !stepped: the first parameter with a non-finite
                                         // gradient, "" when the loss itself was not finite
};

// The loss of one batch: mean cross-entropy over the non-pad tokens of
// target_output, with label smoothing eps.
//   batch: source (B, S), source_lengths (B), target_input and target_output
//   (B, T), on any device (copied to the model's) -> loss () on the model's device.
Tensor batch_loss(nn::Translator& model, const data::Batch& batch, double label_smoothing);

// Update number `update` (1 for the first; the schedule's step) of `model`
// on `batch`: forward, loss, backward, clip, set the rate, step. The model's
// train()/eval() mode is the caller's: trainers call model.train() once.
//   batch: source (B, S), source_lengths (B), target_input and target_output
//   (B, T) int64 -> the loss, the token count, |g| and the rate, for the log.
TrainStepResult train_step(nn::Translator& model, const data::Batch& batch,
                           optim::Optimizer& optimizer, const optim::Schedule& schedule,
                           int64_t update, const TrainStepOptions& options = {});

}  // namespace attn::train
