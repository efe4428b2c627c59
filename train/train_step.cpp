// One training step (train/train_step.h).
#include "train/train_step.h"

#include <cmath>
#include <optional>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/graph_dump.h"
#include "autograd/ops.h"
#include "data/vocab.h"
#include "train/distributed/data_parallel.h"
#include "train/optim/clip.h"

namespace attn::train {
namespace {

// The cross-entropy over the non-pad target tokens, reduced as `reduction` says.
Tensor token_loss(nn::Translator& model, const data::Batch& on_host, double label_smoothing,
                  Reduction reduction) {
  // Only the ids move; the model builds its source mask from source_lengths
  // itself (data/batch.h says why there).
  const data::Batch batch = on_host.to(model.device());
  Tensor logits = model.forward(batch.source, batch.source_lengths, batch.target_input);  // (B, T, V)
  const int64_t vocab = logits.size(-1);
  return cross_entropy(logits.reshape({-1, vocab}), batch.target_output.reshape({-1}),   // ()
                       CrossEntropyOptions().ignore(data::kPad).smoothing(label_smoothing).reduce(
                           reduction));
}

// Data parallel: this rank's part of the global batch's mean loss, its
// tokens' summed loss / the global batch's tokens, so that the ranks' parts
// (and their gradients) add up to the mean one process takes over all of
// them. An empty share has no part: undefined.
//   share (B_r sentences) -> ()
Tensor share_loss(nn::Translator& model, const data::Batch& share, double label_smoothing,
                  int64_t global_tokens) {
  if (share.size() == 0) return Tensor();
  return token_loss(model, share, label_smoothing, Reduction::Sum) * (1.0 / global_tokens);
}

}  // namespace

Tensor batch_loss(nn::Translator& model, const data::Batch& batch, double label_smoothing) {
  return token_loss(model, batch, label_smoothing, Reduction::Mean);
}

TrainStepResult train_step(nn::Translator& model, const data::Batch& batch,
                           optim::Optimizer& optimizer, const optim::Schedule& schedule,
                           int64_t update, const TrainStepOptions& options) {
  distributed::Communicator* comm = options.communicator;
  const bool data_parallel = comm != nullptr && comm->size() > 1;
  TrainStepResult result;
  result.target_tokens = batch.target_tokens;
  result.sentences = batch.size();
  if (data_parallel) {
    // The global batch's counts (a double holds them exactly), so that every
    // rank divides by the number of tokens one process would divide by.
    double counts[2] = {static_cast<double>(batch.target_tokens),
                        static_cast<double>(batch.size())};
    comm->allreduce_sum(counts, 2);
    result.target_tokens = static_cast<int64_t>(counts[0]);
    result.sentences = static_cast<int64_t>(counts[1]);
  }

  // forward and loss; with bf16, their GEMMs (and backward's) in bfloat16
  std::optional<AutocastBF16Guard> bf16;
  if (options.bf16) bf16.emplace();
  Tensor loss = data_parallel
                    ? share_loss(model, batch, options.label_smoothing, result.target_tokens)
                    : batch_loss(model, batch, options.label_smoothing);  // ()

  // backward; with dump_graph, recording each node's incoming gradient norm
  optimizer.zero_grad();
  const bool dump = !options.dump_graph.empty();
  std::optional<autograd::RecordGradNormsGuard> record_norms;
  if (dump) record_norms.emplace();
  if (loss.defined()) loss.backward();
  record_norms.reset();
  bf16.reset();  // the rest (clipping, the update) is float32 arithmetic anyway
  if (dump && loss.defined()) {
    dump_graph(loss, options.dump_graph, {model.named_parameters()});  // leaf norms: unclipped
  }
  result.loss = loss.defined() ? loss.item() : 0.0;

  // data parallel: the gradients and the loss summed over the ranks, before
  // clipping, so the norm below is the global batch's, the same on every rank
  if (data_parallel) {
    result.allreduce_seconds = distributed::allreduce_gradients(model.parameters(), *comm);
    comm->allreduce_sum(&result.loss, 1);
  }

  // clip. The global norm is finite exactly when every gradient is (its
  // squares are summed in double, which no float gradient overflows), so only
  // a bad step pays for the search that names the parameter.
  const std::vector<Tensor> parameters = model.parameters();
  result.grad_norm = options.clip_norm > 0 ? optim::clip_grad_norm(parameters, options.clip_norm)
                                           : optim::grad_norm(parameters);
  if (!std::isfinite(result.loss)) return result;
  if (!std::isfinite(result.grad_norm)) {
    result.nonfinite_parameter = optim::first_nonfinite_grad(model.named_parameters());
    return result;
  }

  // the schedule's rate, then the update
  result.learning_rate = schedule.rate(update);
  optimizer.set_lr(result.learning_rate);
  optimizer.step();
  result.stepped = true;
  return result;
}

}  // namespace attn::train
