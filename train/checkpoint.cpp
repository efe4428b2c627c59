// Checkpoints (train/checkpoint.h): two safetensors files, checksummed and
// paired, written so that a crash never leaves a mismatched pair.
#include "train/checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "tensor/safetensors.h"

namespace attn::train {
namespace {

const char* const kChecksumKey = "attn.checksum";             // in both files
const char* const kStateChecksumKey = "attn.state_checksum";  // in the model file
const char* const kKindKey = "attn.kind";                     // in the state file
const char* const kStateKind = "training-state";

// The state file's metadata: fixed keys, then "counter.<name>" and "score.<name>".
const char* const kUpdateKey = "update";
const char* const kEpochKey = "epoch";
const char* const kBatchKey = "batch_in_epoch";
const char* const kSeedKey = "rng_seed";
const char* const kOffsetKey = "rng_offset";
const std::string kCounterPrefix = "counter.";
const std::string kScorePrefix = "score.";

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

// The state file's metadata and tensors -> TrainingState.
TrainingState read_state(const std::string& path, const SafetensorsFile& file) {
  const std::string& kind = required(path, file.metadata, kKindKey, "");
  if (kind != kStateKind)
    fail(path, "metadata 'attn.kind' is '" + kind + "', not '" + kStateKind + "'");
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
    } else if (key != kChecksumKey && key != kKindKey && key != kUpdateKey && key != kEpochKey &&
               key != kBatchKey && key != kSeedKey && key != kOffsetKey) {
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
  for (const char* reserved : {kChecksumKey, kStateChecksumKey}) {
    ATTN_CHECK(metadata.count(reserved) == 0, "save_checkpoint: ", model_path,
               ": the metadata key '", reserved, "' is reserved for the checkpoint itself");
  }
  // 1. The state, under the ".new" name until the model is in place.
  std::map<std::string, std::string> state_metadata;
  state_metadata[kKindKey] = kStateKind;
  state_metadata[kUpdateKey] = std::to_string(state.update);
  state_metadata[kEpochKey] = std::to_string(state.epoch);
  state_metadata[kBatchKey] = std::to_string(state.batch_in_epoch);
  state_metadata[kSeedKey] = std::to_string(state.rng_seed);
  state_metadata[kOffsetKey] = std::to_string(state.rng_offset);
  for (const auto& [name, value] : state.counters)
    state_metadata[kCounterPrefix + name] = std::to_string(value);
  for (const auto& [name, value] : state.scores)
    state_metadata[kScorePrefix + name] = format_double(value);
  const uint64_t state_checksum = checkpoint_checksum(state.optimizer, state_metadata);
  state_metadata[kChecksumKey] = hex64(state_checksum);
  const std::string state_path = checkpoint_state_path(model_path);
  const std::string pending_path = state_path + ".new";
  save_safetensors(pending_path, state.optimizer, state_metadata);

  // 2. The model, naming the state it belongs to: the commit point.
  std::map<std::string, Tensor> weights = module.state_dict();
  std::map<std::string, std::string> model_metadata = metadata;
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

Checkpoint load_checkpoint_weights(const std::string& model_path) {
  if (!file_exists(model_path)) fail(model_path, "no such file");
  SafetensorsFile model = load_safetensors(model_path);
  if (model.metadata.count(kChecksumKey) != 0) verify(model_path, model);
  Checkpoint out;
  out.weights = std::move(model.tensors);
  for (auto& [key, value] : model.metadata) {
    if (key != kChecksumKey && key != kStateChecksumKey) out.metadata[key] = value;
  }
  return out;
}

Checkpoint load_checkpoint(const std::string& model_path) {
  if (!file_exists(model_path)) fail(model_path, "no such file");
  SafetensorsFile model = load_verified(model_path);
  const std::string& wanted = required(model_path, model.metadata, kStateChecksumKey,
                                       ": the model file does not name its training state");

  // The state file, or the pending one a save left behind when it was
  // interrupted after the model's rename (see checkpoint.h).
  const std::string state_path = checkpoint_state_path(model_path);
  const std::string pending_path = state_path + ".new";
  std::string used_path = state_path;
  SafetensorsFile state_file;
  bool found = false;
  if (file_exists(state_path)) {
    state_file = load_verified(state_path);
    found = state_file.metadata[kChecksumKey] == wanted;
  }
  if (!found && file_exists(pending_path)) {
    SafetensorsFile pending = load_verified(pending_path);
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
  out.weights = std::move(model.tensors);
  for (auto& [key, value] : model.metadata) {
    if (key != kChecksumKey && key != kStateChecksumKey) out.metadata[key] = value;
  }
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

}  // namespace attn::train
