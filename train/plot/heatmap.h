// Attention heatmaps, drawn by attn itself (no plotting library): source
// tokens across the top, output tokens down the side, one cell per
// (output, source) pair shaded by its attention weight, and a colour legend.
//
// A Transformer has one attention per decoder layer and head: attention_grid
// draws the heads of one layer side by side, one panel each, under one
// shared colour legend, so a learner can compare what each head looks at.
//
// For local attention (Luong et al. 2015, section 3.2) each row also shows
// where the model looked: the predicted centre p_t as a red dot and the
// window [p_t - D, p_t + D] as a thin red outline, in source positions
// (column j's centre is position j). A learner can then see whether the
// weights stay inside the window and whether p_t moves along the diagonal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "train/plot/canvas.h"

namespace attn::plot {

// weights: (T, S), row t = the attention of output token t over the source;
// rows and columns beyond the token lists are ignored. positions: p_t for
// t = 0, 1, ... (source positions, may be fractional; rows beyond it get no
// marker; empty for global attention); window: the half-width D (0: draw the
// centres only). Throws attn::Error if weights is not 2-D.
Drawing attention_heatmap(const std::vector<std::string>& source_tokens,
                          const std::vector<std::string>& output_tokens, const Tensor& weights,
                          const std::string& title = "", const std::vector<double>& positions = {},
                          int64_t window = 0);

// Rows and columns of panels for n panels, near square and wider than tall:
// the fewest columns >= sqrt(n) that divide n, if there are at most
// 2 sqrt(n) of them (2 -> 1 x 2, 4 -> 2 x 2, 6 -> 2 x 3, 8 -> 2 x 4), else
// ceil(sqrt(n)) columns (7 -> 3 x 3, the last row part-filled).
struct GridShape {
  int64_t rows = 0, columns = 0;
};
GridShape grid_shape(int64_t panels);

// weights: (H, T, S), panel h = the attention of head h (rows: output tokens,
// columns: source tokens, as in attention_heatmap); panel_titles: one per
// panel ("layer 2, head 1", ...), drawn above it with SVG class
// "panel-title". The panels sit in a grid_shape(H) grid, each with its own
// token labels; one colour legend serves them all. Throws attn::Error if
// weights is not 3-D or the titles do not match its first dimension.
Drawing attention_grid(const std::vector<std::string>& source_tokens,
                       const std::vector<std::string>& output_tokens, const Tensor& weights,
                       const std::vector<std::string>& panel_titles, const std::string& title = "");

// The same, written as SVG to `path` (through path.tmp, renamed into place);
// throws attn::Error naming it on failure. For PNG, pass attention_heatmap()
// to write_drawing() (train/plot/canvas.h).
void write_attention_svg(const std::string& path, const std::vector<std::string>& source_tokens,
                         const std::vector<std::string>& output_tokens, const Tensor& weights,
                         const std::string& title = "", const std::vector<double>& positions = {},
                         int64_t window = 0);

}  // namespace attn::plot
