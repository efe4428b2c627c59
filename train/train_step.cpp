// One training step (train/train_step.h).
#include "train/train_step.h"

#include <cmath>
#include <optional>
#include <vector>

#include "autograd/graph_dump.h"
#include "autograd/ops.h"
#include "data/vocab.h"
#include "train/optim/clip.h"

namespace attn::train {

Tensor batch_loss(nn::Translator& model, const data::Batch& on_host, double label_smoothing) {
  // Only the ids move; the model builds its source mask from source_lengths
  // itself (data/batch.h says why there).
  const data::Batch batch = on_host.to(model.device());
  Tensor logits = model.forward(batch.source, batch.source_lengths, batch.target_input);  // (B, T, V)
  const int64_t vocab = logits.size(-1);
  return cross_entropy(logits.reshape({-1, vocab}), batch.target_output.reshape({-1}),   // ()
                       CrossEntropyOptions().ignore(data::kPad).smoothing(label_smoothing));
}

TrainStepResult train_step(nn::Translator& model, const data::Batch& batch,
                           optim::Optimizer& optimizer, const optim::Schedule& schedule,
                           int64_t update, const TrainStepOptions& options) {
  TrainStepResult result;
  result.target_tokens = batch.target_tokens;
  result.sentences = batch.size();

  // forward and loss
  Tensor loss = batch_loss(model, batch, options.label_smoothing);  // ()

  // backward; with dump_graph, recording each node's incoming gradient norm
  optimizer.zero_grad();
  const bool dump = !options.dump_graph.empty();
  std::optional<autograd::RecordGradNormsGuard> record_norms;
  if (dump) record_norms.emplace();
  loss.backward();
  record_norms.reset();
  if (dump) dump_graph(loss, options.dump_graph, {model.named_parameters()});  // leaf norms: unclipped
  result.loss = loss.item();

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
