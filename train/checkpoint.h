// Checkpoints: the model's weights and everything a resumed run needs.
//
// A checkpoint at model path M is two safetensors files:
//   M                      the weights (Module::state_dict()) and the caller's
//                          metadata (model config, vocabularies): it opens in
//                          PyTorch, and `attn translate` needs nothing else;
//   M.state.safetensors    the training state: optimizer moments and step
//                          counts as tensors; update, epoch and batch position,
//                          the generator's state, counters and best scores as
//                          metadata text (readable with any JSON tool).
//
// Integrity. Each file carries "attn.checksum", an FNV-1a 64-bit hash of its
// tensors (names, dtypes, shapes, bytes) and metadata (the hash itself left
// out), checked on load: a truncated, altered or damaged file is refused with
// a message naming the file. The sizes and offsets are checked by
// load_safetensors before that.
//
// Pairing. The model file records the state file's checksum as
// "attn.state_checksum", so a model is never resumed with the optimizer
// moments of another save. Saving must never leave a mismatched pair, even if
// the process dies half way, so save_checkpoint writes in this order (each
// write is itself atomic: NAME.tmp, then rename):
//   1. the new state to M.state.safetensors.new;
//   2. the model to M: this rename is the commit point;
//   3. rename M.state.safetensors.new over M.state.safetensors.
// A crash before 2 leaves the previous checkpoint intact (model and state
// untouched). A crash between 2 and 3 leaves the new model and the new state
// under the ".new" name; load_checkpoint sees that M's state checksum matches
// the ".new" file and uses it. So the pair on disk is always the last one
// whose model rename completed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace attn::train {

// What the trainer needs besides the weights to continue exactly where it stopped.
struct TrainingState {
  int64_t update = 0;          // optimizer updates done so far
  int64_t epoch = 0;           // the epoch in progress (as the trainer counts them)
  int64_t batch_in_epoch = 0;  // batches of that epoch already consumed
  uint64_t rng_seed = 0;       // attn::Generator::seed()
  uint64_t rng_offset = 0;     // attn::Generator::offset(): with the seed, its whole state
  std::map<std::string, Tensor> optimizer;  // Optimizer::state(), e.g. "adam.exp_avg.3"
  std::map<std::string, int64_t> counters;  // anything else counted, e.g. "lr_halvings", "stalls"
  std::map<std::string, double> scores;     // e.g. "best_valid_loss"; stored exactly (%.17g)
};

struct Checkpoint {
  std::map<std::string, Tensor> weights;        // parameter name -> tensor (CPU)
  std::map<std::string, std::string> metadata;  // the caller's strings, without attn.* keys
  TrainingState state;                          // default when only the weights were loaded
};

// M + ".state.safetensors": where the training state of model path M lives.
std::string checkpoint_state_path(const std::string& model_path);

// True when a model file exists at model_path (whether to resume).
bool checkpoint_exists(const std::string& model_path);

// Writes both files as described above. metadata: the caller's strings; the
// keys "attn.checksum" and "attn.state_checksum" are reserved. Optimizer state
// names must not start with "__".
void save_checkpoint(const std::string& model_path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata,
                     const TrainingState& state);

// Reads and verifies both files (checksums, pairing, counters). Throws
// attn::Error naming the file and what is wrong.
Checkpoint load_checkpoint(const std::string& model_path);
// The same, and copies the weights into `module` (Module::load_state_dict:
// names, shapes and dtypes must match).
Checkpoint load_checkpoint(const std::string& model_path, nn::Module& module);

// Only the model file, for translation and evaluation: verifies its checksum
// when it has one (files written by Module::save have none) and leaves
// `state` at its defaults.
Checkpoint load_checkpoint_weights(const std::string& model_path);

// FNV-1a 64 over the tensors in name order (name, dtype, shape, bytes) and
// the metadata in key order, skipping the key "attn.checksum". Exposed for
// tests and tools.
uint64_t checkpoint_checksum(const std::map<std::string, Tensor>& tensors,
                             const std::map<std::string, std::string>& metadata);

}  // namespace attn::train
