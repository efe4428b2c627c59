#include "train/loaded_model.h"

#include "train/checkpoint.h"
#include "train/models.h"

namespace attn::train {

LoadedModel load_model(const std::string& path) {
  // Refuses a training-state file by name, and verifies the checksum.
  Checkpoint checkpoint = load_checkpoint_weights(path);
  LoadedModel loaded;
  ModelOptions options;
  try {
    options = ModelOptions::from_metadata(checkpoint.metadata);
    loaded.pipeline = TextPipeline::from_metadata(checkpoint.metadata);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  try {
    loaded.model = make_model(options);
  } catch (const Error& e) {
    throw Error(path + ": its metadata describes a model attn cannot build: " + e.what());
  }
  // The metadata says which model; the weights must be that model's. A file
  // whose weights are another model's (its metadata edited, or written by
  // hand without a checksum) is named for what it claims to hold.
  try {
    loaded.model->load_state_dict(checkpoint.weights);
  } catch (const Error& e) {
    throw Error(path + ": its metadata says it holds a " + options.type + " model, but its "
                "weights are not that model's: " + e.what());
  }
  loaded.model->eval();
  return loaded;
}

}  // namespace attn::train
