// Attention heatmaps as SVG, written by attn itself (no plotting library):
// source tokens across the top, output tokens down the side, one cell per
// (output, source) pair shaded by its attention weight, and a colour legend.
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace attn::train {

// weights: (T, S), row t = the attention of output token t over the source;
// rows and columns beyond the token lists are ignored. Writes `path` (through
// path.tmp, renamed into place); throws attn::Error naming it on failure.
void write_attention_svg(const std::string& path, const std::vector<std::string>& source_tokens,
                         const std::vector<std::string>& output_tokens, const Tensor& weights,
                         const std::string& title = "");

}  // namespace attn::train
