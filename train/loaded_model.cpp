#include "train/loaded_model.h"

#include "train/checkpoint.h"
#include "train/models.h"

namespace attn::train {

LoadedModel load_model(const std::string& path) {
  Checkpoint checkpoint = load_checkpoint_weights(path);
  LoadedModel loaded;
  ModelOptions options = ModelOptions::from_metadata(checkpoint.metadata);
  loaded.pipeline = TextPipeline::from_metadata(checkpoint.metadata);
  loaded.model = make_model(options);
  loaded.model->load_state_dict(checkpoint.weights);
  loaded.model->eval();
  return loaded;
}

}  // namespace attn::train
