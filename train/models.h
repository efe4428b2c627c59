// Building a model from its options: the one place that maps --type to a class.
#pragma once

#include <memory>

#include "nn/translator.h"
#include "train/options.h"

namespace attn::train {

// Throws attn::Error listing the known types when options.type is unknown.
std::shared_ptr<nn::Translator> make_model(const ModelOptions& options);

}  // namespace attn::train
