// Checkpoints (train/checkpoint.h): two safetensors files, checksummed and
// paired, written so that a crash never leaves a mismatched pair.
#include "train/checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "attn.h"  // ATTN_VERSION, recorded in every file
#include "tensor/safetensors.h"

namespace attn::train {

const char* const kModelKind = "model";
const char* const kBestModelKind = "best-model";
const char* const kTrainingStateKind = "training-state";

namespace {

const char* const kChecksumKey = "attn.checksum";             // in every file
const char* const kStateChecksumKey = "attn.state_checksum";  // in the model file
const char* const kKindKey = "attn.kind";                     // in every file
const char* const kVersionKey = "attn.version";               // in every file (not in older ones)
const std::string kReservedPrefix = "attn.";                  // the caller's metadata may not use it
const std::string kModelSettingPrefix = "attn.setting.";      // settings, in the model files

// The state file's metadata: fixed keys, then "counter.<name>" and "score.<name>".
const char* const kUpdateKey = "update";
const char* const kEpochKey = "epoch";
const char* const kBatchKey = "batch_in_epoch";
const char* const kSeedKey = "rng_seed";
const char* const kOffsetKey = "rng_offset";
const std::string kCounterPrefix = "counter.";
const std::string kScorePrefix = "score.";
const std::string kSettingPrefix = "setting.";

// --- FNV-1a 64 -----------------------------------------------------------------
// A hash, not a cryptographic signature: it catches truncation, bit rot and
// hand edits, which is what a training run needs; it does not stop someone
// who recomputes it on purpose.

struct Fnv1a {
  uint64_t hash = 0xcbf29ce484222325ull;  // the offset basis
  void bytes(const void* data, size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      hash ^= p[i];
      hash *= 0x100000001b3ull;  // the 64-bit FNV prime
    }
  }
  void text(const std::string& s) {
    bytes(s.data(), s.size());
    bytes("", 1);  // a terminator, so that ("ab", "c") and ("a", "bc") differ
  }
  void integer(uint64_t v) {
    unsigned char le[8];
    for (int k = 0; k < 8; ++k) le[k] = static_cast<unsigned char>(v >> (8 * k));
    bytes(le, 8);
  }
};

std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, v);
  return text;
}

// --- metadata text -----------------------------------------------------------------

std::string format_double(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v);  // 17 digits read back to the same double
  return text;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("load_checkpoint: " + path + ": " + what);
}

uint64_t parse_u64(const std::string& path, const std::string& key, const std::string& text) {
  bool ok = !text.empty() && text.size() <= 20;
  for (char c : text) ok = ok && c >= '0' && c <= '9';
  errno = 0;
  char* end = nullptr;
  unsigned long long v = ok ? std::strtoull(text.c_str(), &end, 10) : 0;
  if (!ok || errno != 0 || *end != '\0') {
    fail(path, "metadata '" + key + "' must be a non-negative integer, got '" + text + "'");
  }
  return static_cast<uint64_t>(v);
}

int64_t parse_i64(const std::string& path, const std::string& key, const std::string& text) {
  bool negative = !text.empty() && text[0] == '-';
  uint64_t magnitude = parse_u64(path, key, negative ? text.substr(1) : text);
  if (magnitude > static_cast<uint64_t>(INT64_MAX)) {
    fail(path, "metadata '" + key + "' is out of range: '" + text + "'");
  }
  return negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
}

double parse_double(const std::string& path, const std::string& key, const std::string& text) {
  char* end = nullptr;
  double v = text.empty() ? 0 : std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0')
    fail(path, "metadata '" + key + "' must be a number, got '" + text + "'");
  return v;
}

const std::string& required(const std::string& path,
                            const std::map<std::string, std::string>& metadata,
                            const std::string& key, const std::string& why) {
  auto it = metadata.find(key);
  if (it == metadata.end()) fail(path, "metadata '" + key + "' is missing" + why);
  return it->second;
}

// Checks the stored checksum of `file` (read from `path`) against its content.
void verify(const std::string& path, const SafetensorsFile& file) {
  const std::string& stored = required(path, file.metadata, kChecksumKey,
                                       ": this file was not written by save_checkpoint");
  const std::string computed = hex64(checkpoint_checksum(file.tensors, file.metadata));
  if (stored != computed) {
    fail(path, "checksum mismatch (stored " + stored + ", computed " + computed +
                   "): the file was altered or damaged after it was saved");
  }
}

SafetensorsFile load_verified(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  verify(path, file);
  return file;
}

bool file_exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string kind_of(const SafetensorsFile& file) {
  auto it = file.metadata.find(kKindKey);
  return it == file.metadata.end() ? "" : it->second;
}

// ", written by attn 0.1.0", or "" for a file older than the version key.
std::string written_by(const SafetensorsFile& file) {
  auto it = file.metadata.find(kVersionKey);
  return it == file.metadata.end() ? "" : ", written by attn " + it->second;
}

// The model a training-state file at `path` belongs to: M for
// M.state.safetensors (or its pending M.state.safetensors.new).
std::string model_of_state(const std::string& path) {
  for (const std::string suffix : {".state.safetensors", ".state.safetensors.new"}) {
    if (ends_with(path, suffix) && path.size() > suffix.size())
      return path.substr(0, path.size() - suffix.size());
  }
  return "";
}

// The checkpoint a best model at `path` was kept beside: M.safetensors for
// M.best.safetensors, M for M.best (train/options.h, best_model_path).
std::string model_of_best(const std::string& path) {
  for (const auto& [best, model] : {std::make_pair(std::string(".best.safetensors"),
                                                   std::string(".safetensors")),
                                    std::make_pair(std::string(".best"), std::string(""))}) {
    if (ends_with(path, best) && path.size() > best.size())
      return path.substr(0, path.size() - best.size()) + model;
  }
  return "";
}

// A training-state file given where a model belongs: say so, and which file to give.
[[noreturn]] void fail_state_as_model(const std::string& path, const SafetensorsFile& file) {
  const std::string model = model_of_state(path);
  fail(path, "this is a training-state file (optimizer moments and the data position" +
                 written_by(file) + "), not a model: " +
                 (model.empty() ? std::string("give --model the model file it belongs to")
                                : "give --model " + model));
}

// The caller's metadata of a model file: everything but the attn.* keys.
std::map<std::string, std::string> callers_metadata(std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> out;
  for (auto& [key, value] : metadata) {
    if (!starts_with(key, kReservedPrefix)) out[key] = std::move(value);
  }
  return out;
}

// Fills a model file's own keys: kind, version, settings (the checksums come after).
void add_model_keys(std::map<std::string, std::string>& metadata, const char* who,
                    const std::string& model_path, const char* kind,
                    const std::map<std::string, std::string>& settings) {
  for (const auto& [key, value] : metadata) {
    ATTN_CHECK(!starts_with(key, kReservedPrefix), who, ": ", model_path,
               ": the metadata key '", key, "' is reserved for the checkpoint itself (attn.*)");
  }
  metadata[kKindKey] = kind;
  metadata[kVersionKey] = ATTN_VERSION;
  for (const auto& [name, value] : settings) metadata[kModelSettingPrefix + name] = value;
}

// The state file's metadata and tensors -> TrainingState.
TrainingState read_state(const std::string& path, const SafetensorsFile& file) {
  TrainingState state;
  state.update = parse_i64(path, kUpdateKey, required(path, file.metadata, kUpdateKey, ""));
  state.epoch = parse_i64(path, kEpochKey, required(path, file.metadata, kEpochKey, ""));
  state.batch_in_epoch = parse_i64(path, kBatchKey, required(path, file.metadata, kBatchKey, ""));
  state.rng_seed = parse_u64(path, kSeedKey, required(path, file.metadata, kSeedKey, ""));
  state.rng_offset = parse_u64(path, kOffsetKey, required(path, file.metadata, kOffsetKey, ""));
  for (const auto& [key, value] : file.metadata) {
    if (key.compare(0, kCounterPrefix.size(), kCounterPrefix) == 0) {
      state.counters[key.substr(kCounterPrefix.size())] = parse_i64(path, key, value);
    } else if (key.compare(0, kScorePrefix.size(), kScorePrefix) == 0) {
      state.scores[key.substr(kScorePrefix.size())] = parse_double(path, key, value);
    } else if (starts_with(key, kSettingPrefix)) {
      state.settings[key.substr(kSettingPrefix.size())] = value;
    } else if (key != kChecksumKey && key != kKindKey && key != kVersionKey && key != kUpdateKey &&
               key != kEpochKey && key != kBatchKey && key != kSeedKey && key != kOffsetKey) {
      fail(path, "unexpected metadata '" + key + "'");
    }
  }
  state.optimizer = file.tensors;
  return state;
}

}  // namespace

uint64_t checkpoint_checksum(const std::map<std::string, Tensor>& tensors,
                             const std::map<std::string, std::string>& metadata) {
  Fnv1a fnv;
  for (const auto& [name, tensor] : tensors) {
    ATTN_CHECK(tensor.defined(), "checkpoint_checksum: tensor '", name, "' is undefined");
    Tensor t = tensor.detach().cpu().contiguous();
    fnv.text(name);
    fnv.text(dtype_name(t.dtype()));
    fnv.integer(t.shape().size());
    for (int64_t size : t.shape()) fnv.integer(static_cast<uint64_t>(size));
    if (t.numel() > 0) {
      const size_t itemsize = element_size(t.dtype());
      fnv.bytes(static_cast<const char*>(t.unsafe_impl()->storage->data()) + t.offset() * itemsize,
                static_cast<size_t>(t.numel()) * itemsize);
    }
  }
  for (const auto& [key, value] : metadata) {
    if (key == kChecksumKey) continue;
    fnv.text(key);
    fnv.text(value);
  }
  return fnv.hash;
}

std::string checkpoint_state_path(const std::string& model_path) {
  return model_path + ".state.safetensors";
}

bool checkpoint_exists(const std::string& model_path) { return file_exists(model_path); }

void save_checkpoint(const std::string& model_path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata,
                     const TrainingState& state) {
  std::map<std::string, std::string> model_metadata = metadata;
  add_model_keys(model_metadata, "save_checkpoint", model_path, kModelKind, state.settings);
  // 1. The state, under the ".new" name until the model is in place.
  std::map<std::string, std::string> state_metadata;
  state_metadata[kKindKey] = kTrainingStateKind;
  state_metadata[kVersionKey] = ATTN_VERSION;
  state_metadata[kUpdateKey] = std::to_string(state.update);
  state_metadata[kEpochKey] = std::to_string(state.epoch);
  state_metadata[kBatchKey] = std::to_string(state.batch_in_epoch);
  state_metadata[kSeedKey] = std::to_string(state.rng_seed);
  state_metadata[kOffsetKey] = std::to_string(state.rng_offset);
  for (const auto& [name, value] : state.counters)
    state_metadata[kCounterPrefix + name] = std::to_string(value);
  for (const auto& [name, value] : state.scores)
    state_metadata[kScorePrefix + name] = format_double(value);
  for (const auto& [name, value] : state.settings) state_metadata[kSettingPrefix + name] = value;
  const uint64_t state_checksum = checkpoint_checksum(state.optimizer, state_metadata);
  state_metadata[kChecksumKey] = hex64(state_checksum);
  const std::string state_path = checkpoint_state_path(model_path);
  const std::string pending_path = state_path + ".new";
  save_safetensors(pending_path, state.optimizer, state_metadata);

  // 2. The model, naming the state it belongs to: the commit point.
  std::map<std::string, Tensor> weights = module.state_dict();
  model_metadata[kStateChecksumKey] = hex64(state_checksum);
  model_metadata[kChecksumKey] = hex64(checkpoint_checksum(weights, model_metadata));
  save_safetensors(model_path, weights, model_metadata);

  // 3. The state to its own name. Should this fail, load_checkpoint still
  // finds the pending file.
  if (std::rename(pending_path.c_str(), state_path.c_str()) != 0) {
    throw Error("save_checkpoint: cannot rename " + pending_path + " to " + state_path + ": " +
                std::strerror(errno));
  }
}

void save_best_model(const std::string& path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata,
                     const std::map<std::string, std::string>& settings) {
  std::map<std::string, std::string> model_metadata = metadata;
  add_model_keys(model_metadata, "save_best_model", path, kBestModelKind, settings);
  std::map<std::string, Tensor> weights = module.state_dict();
  model_metadata[kChecksumKey] = hex64(checkpoint_checksum(weights, model_metadata));
  save_safetensors(path, weights, model_metadata);
}

std::string config_file_path(const std::string& model_path) { return model_path + ".yml"; }

void save_config_file(const std::string& model_path, const std::string& yaml) {
  const std::string path = config_file_path(model_path);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << yaml;
    out.close();
    ATTN_CHECK(out.good(), "save_config_file: cannot write ", temporary, ": ", std::strerror(errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw Error("save_config_file: cannot rename " + temporary + " to " + path + ": " +
                std::strerror(errno));
  }
}

Checkpoint load_checkpoint_weights(const std::string& model_path) {
  if (!file_exists(model_path)) fail(model_path, "no such file");
  SafetensorsFile model = load_safetensors(model_path);
  if (model.metadata.count(kChecksumKey) != 0) verify(model_path, model);
  const std::string kind = kind_of(model);
  if (kind == kTrainingStateKind) fail_state_as_model(model_path, model);
  if (!kind.empty() && kind != kModelKind && kind != kBestModelKind)
    fail(model_path, "holds a file of kind '" + kind + "'" + written_by(model) + ", not a model");
  Checkpoint out;
  out.kind = kind;
  if (model.metadata.count(kVersionKey)) out.version = model.metadata[kVersionKey];
  out.weights = std::move(model.tensors);
  out.metadata = callers_metadata(model.metadata);
  return out;
}

Checkpoint load_checkpoint(const std::string& model_path) {
  if (!file_exists(model_path)) fail(model_path, "no such file");
  SafetensorsFile model = load_verified(model_path);
  const std::string kind = kind_of(model);
  if (kind == kTrainingStateKind) fail_state_as_model(model_path, model);
  if (kind == kBestModelKind) {
    const std::string checkpoint = model_of_best(model_path);
    fail(model_path, "this is a best-model file (the weights of the best validation alone" +
                         written_by(model) + "), with no training state to resume (translate "
                         "and eval take it as it is); " +
                         (checkpoint.empty() ? std::string("to resume, give the checkpoint's model")
                                             : "to resume that run, give --model " + checkpoint));
  }
  if (!kind.empty() && kind != kModelKind)
    fail(model_path, "holds a file of kind '" + kind + "'" + written_by(model) + ", not a model");
  const std::string& wanted = required(model_path, model.metadata, kStateChecksumKey,
                                       ": the model file does not name its training state "
                                       "(weights alone, as Module::save writes them, cannot be "
                                       "resumed)");

  // The state file, or the pending one a save left behind when it was
  // interrupted after the model's rename (see checkpoint.h).
  const std::string state_path = checkpoint_state_path(model_path);
  const std::string pending_path = state_path + ".new";
  std::string used_path = state_path;
  SafetensorsFile state_file;
  bool found = false;
  // A file of another kind in the state's place is named for what it is,
  // before the pairing check would call it "another checkpoint".
  auto load_state_file = [&](const std::string& path) {
    SafetensorsFile file = load_verified(path);
    const std::string found_kind = kind_of(file);
    if (found_kind != kTrainingStateKind) {
      fail(path, (found_kind.empty() ? std::string("holds no 'attn.kind'")
                                     : "this is a " + found_kind + " file" + written_by(file)) +
                     ", not the training state of " + model_path);
    }
    return file;
  };
  if (file_exists(state_path)) {
    state_file = load_state_file(state_path);
    found = state_file.metadata[kChecksumKey] == wanted;
  }
  if (!found && file_exists(pending_path)) {
    SafetensorsFile pending = load_state_file(pending_path);
    if (pending.metadata[kChecksumKey] == wanted) {
      state_file = std::move(pending);
      used_path = pending_path;
      found = true;
    }
  }
  if (!found) {
    if (!file_exists(state_path)) {
      fail(state_path, "the training state of " + model_path + " is missing (to only translate, "
                       "load the weights alone)");
    }
    fail(state_path, "belongs to another checkpoint (its checksum is " +
                         state_file.metadata[kChecksumKey] + ", but " + model_path + " expects " +
                         wanted + "): the files come from different saves");
  }

  Checkpoint out;
  out.state = read_state(used_path, state_file);
  out.kind = kind;
  if (model.metadata.count(kVersionKey)) out.version = model.metadata[kVersionKey];
  out.weights = std::move(model.tensors);
  out.metadata = callers_metadata(model.metadata);
  return out;
}

Checkpoint load_checkpoint(const std::string& model_path, nn::Module& module) {
  Checkpoint out = load_checkpoint(model_path);
  try {
    module.load_state_dict(out.weights);
  } catch (const Error& e) {
    throw Error("load_checkpoint: " + model_path + ": " + e.what());
  }
  return out;
}

ChangedSetting changed_setting(const std::map<std::string, std::string>& saved,
                               const std::map<std::string, std::string>& given) {
  for (const auto& [name, value] : saved) {
    auto it = given.find(name);
    if (it != given.end() && it->second != value) return {name, value, it->second};
  }
  return {};
}

}  // namespace attn::train
