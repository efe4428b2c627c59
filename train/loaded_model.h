// A trained model read back from --model PATH: the weights, the model options
// and the text pipeline all come from the one safetensors file.
#pragma once

#include <memory>
#include <string>

#include "nn/translator.h"
#include "train/dataset.h"

namespace attn::train {

struct LoadedModel {
  std::shared_ptr<nn::Translator> model;  // in eval mode
  TextPipeline pipeline;
};

// Throws attn::Error naming the file when it is missing, corrupt, or not an attn model.
LoadedModel load_model(const std::string& path);

}  // namespace attn::train
