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
//
// What a file is. Every file records "attn.kind" and "attn.version" (the
// ATTN_VERSION that wrote it), so that a file given in the wrong place is
// named for what it is rather than failing on a missing key or a shape:
//   "model"           M, the weights of a checkpoint, paired with its state;
//   "best-model"      M minus .safetensors + .best.safetensors, the weights of
//                     the best validation so far (save_best_model), no state;
//   "training-state"  M.state.safetensors.
// Files written before these keys existed have no "attn.kind" (a state file
// always had it): they load as before, their kind is "".
//
// What the data position depends on. The state also records the run's
// settings (TrainingState::settings, e.g. "mini-batch" -> "64"), the ones
// that decide which batch is batch_in_epoch of epoch (data/batch.h), as
// "setting.<name>" in the state file and "attn.setting.<name>" in the model
// file. A resumed run compares them with its own (changed_setting) before it
// seeks: a position saved with other batches means nothing.
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
  // What the saved position depends on, by flag name without dashes, e.g.
  // "mini-batch" -> "64", "seed" -> "1234" (the trainer's resume_settings).
  // Empty for a file written before settings were recorded.
  std::map<std::string, std::string> settings;
};

// The kinds of file (see the top of this file), as "attn.kind" spells them.
extern const char* const kModelKind;          // "model"
extern const char* const kBestModelKind;      // "best-model"
extern const char* const kTrainingStateKind;  // "training-state"

struct Checkpoint {
  std::map<std::string, Tensor> weights;        // parameter name -> tensor (CPU)
  std::map<std::string, std::string> metadata;  // the caller's strings, without attn.* keys
  TrainingState state;                          // default when only the weights were loaded
  std::string kind;     // the model file's "attn.kind": kModelKind, kBestModelKind, or "" (older file)
  std::string version;  // the ATTN_VERSION that wrote the model file ("" for older files)
};

// M + ".state.safetensors": where the training state of model path M lives.
std::string checkpoint_state_path(const std::string& model_path);

// True when a model file exists at model_path (whether to resume).
bool checkpoint_exists(const std::string& model_path);

// Writes both files as described above. metadata: the caller's strings; keys
// starting with "attn." are reserved for the checkpoint itself. Optimizer
// state names must not start with "__".
void save_checkpoint(const std::string& model_path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata,
                     const TrainingState& state);

// Writes the weights alone as a "best-model" file: checksummed, with its kind,
// the version and `settings` (provenance only), through PATH.tmp as every save.
void save_best_model(const std::string& path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata,
                     const std::map<std::string, std::string>& settings);

// The settings of the run as YAML beside a model it saves (Marian's habit):
// MODEL.yml, model_path + ".yml", written to MODEL.yml.tmp and renamed, so
// that a reader never sees half a file. `attn train --config MODEL.yml
// --model NEW` trains the same way again (train/cli/config_file.h).
std::string config_file_path(const std::string& model_path);
void save_config_file(const std::string& model_path, const std::string& yaml);

// Reads and verifies both files (checksums, pairing, kinds, counters). Throws
// attn::Error naming the file and what is wrong: a training-state or best-model
// file given as the model says what it is and which file to give instead.
Checkpoint load_checkpoint(const std::string& model_path);
// The same, and copies the weights into `module` (Module::load_state_dict:
// names, shapes and dtypes must match).
Checkpoint load_checkpoint(const std::string& model_path, nn::Module& module);

// Only the model file, for translation and evaluation: verifies its checksum
// when it has one (files written by Module::save have none) and leaves
// `state` at its defaults. A model or best-model file, or an older file
// without a kind; a training-state file is refused, naming the model to give.
Checkpoint load_checkpoint_weights(const std::string& model_path);

// A setting whose saved value differs from this run's.
struct ChangedSetting {
  std::string name;          // "mini-batch", as in TrainingState::settings
  std::string saved, given;  // the two values
};
// The first setting (in name order) that both `saved` and `given` hold with
// different values; name is "" when none. A setting only one of them holds is
// not compared (a file written before it was recorded, or after it was dropped).
ChangedSetting changed_setting(const std::map<std::string, std::string>& saved,
                               const std::map<std::string, std::string>& given);

// FNV-1a 64 over the tensors in name order (name, dtype, shape, bytes) and
// the metadata in key order, skipping the key "attn.checksum". Exposed for
// tests and tools.
uint64_t checkpoint_checksum(const std::map<std::string, Tensor>& tensors,
                             const std::map<std::string, std::string>& metadata);

}  // namespace attn::train
