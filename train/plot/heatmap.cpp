#include "train/plot/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kernels/error.h"

namespace attn::plot {
namespace {

// White (0) to dark blue (1): the weights are probabilities, so one hue
// with varying lightness reads correctly even when printed in grey.
Colour colour(double weight) {
  weight = std::clamp(weight, 0.0, 1.0);
  return Colour{static_cast<uint8_t>(255 - weight * (255 - 8)), static_cast<uint8_t>(255 - weight * (255 - 48)),
                static_cast<uint8_t>(255 - weight * (255 - 107))};
}

// Red stands out against both ends of the white-to-blue ramp.
const Colour kMarker{214, 39, 40};
const Colour kWhite{255, 255, 255};
const Colour kCellBorder{221, 221, 221};

constexpr int kCell = 28;  // a cell's side, in pixels

// One panel of cells with its labels, the cells' top-left corner at (x, y):
// source tokens across the top (rotated, so long words fit), output tokens
// right-aligned down the left. w holds the (T, S) weights row by row, `stride`
// apart; rows and cols are how many of them to draw. Each cell's tooltip
// reads tooltip_prefix + "output -> source: 0.42".
void draw_cells(Drawing& d, double x, double y, const std::vector<std::string>& source_tokens,
                const std::vector<std::string>& output_tokens, const std::vector<double>& w,
                int64_t rows, int64_t cols, int64_t stride, const std::string& tooltip_prefix) {
  for (int64_t s = 0; s < cols; ++s) {
    d.text(x + s * kCell + kCell / 2 + 4, y - 6, source_tokens[s]).rotate = -60;
  }
  for (int64_t t = 0; t < rows; ++t) {
    const double row_y = y + t * kCell;
    d.text(x - 6, row_y + kCell / 2 + 5, output_tokens[t], 13, Shape::Anchor::End);
    for (int64_t s = 0; s < cols; ++s) {
      const double value = w[t * stride + s];
      char label[16];
      std::snprintf(label, sizeof label, "%.2f", value);
      d.rect(x + s * kCell, row_y, kCell, kCell, colour(value), kCellBorder).text =
          tooltip_prefix + output_tokens[t] + " -> " + source_tokens[s] + ": " + label;
    }
  }
}

// The colour legend: a vertical ramp from 0 (bottom) to 1 (top), 132 px
// tall, its top-left corner at (x, y).
void draw_legend(Drawing& d, double x, double y) {
  for (int k = 0; k <= 10; ++k) d.rect(x, y + (10 - k) * 12, 16, 12, colour(k / 10.0));
  d.text(x + 20, y + 10, "1");
  d.text(x + 20, y + 130, "0");
}

// The longest of `tokens`, in characters.
int longest(const std::vector<std::string>& tokens, int64_t count) {
  size_t n = 0;
  for (int64_t i = 0; i < count; ++i) n = std::max(n, tokens[i].size());
  return static_cast<int>(n);
}

}  // namespace

GridShape grid_shape(int64_t panels) {
  ATTN_CHECK(panels > 0, "grid_shape: needs at least one panel, got ", panels);
  const double root = std::sqrt(static_cast<double>(panels));
  int64_t columns = static_cast<int64_t>(std::ceil(root));
  for (int64_t c = columns; c <= 2 * root; ++c) {
    if (panels % c == 0) {
      columns = c;
      break;
    }
  }
  return GridShape{(panels + columns - 1) / columns, columns};
}

Drawing attention_heatmap(const std::vector<std::string>& source_tokens,
                          const std::vector<std::string>& output_tokens, const Tensor& weights,
                          const std::string& title, const std::vector<double>& positions, int64_t window) {
  ATTN_CHECK(weights.dim() == 2, "attention_heatmap: weights must be (T, S), got ", shape_str(weights.shape()));
  ATTN_CHECK(window >= 0, "attention_heatmap: window must be >= 0, got ", window);
  const int64_t rows = std::min<int64_t>(output_tokens.size(), weights.size(0));
  const int64_t cols = std::min<int64_t>(source_tokens.size(), weights.size(1));
  std::vector<double> w = weights.contiguous().to_vector<double>();
  const int64_t stride = weights.size(1);
  const bool local = !positions.empty();

  const int cell = kCell, left = 130, top = 120 + (title.empty() ? 0 : 24);
  // The grid or the colour ramp beside it (130 px), whichever reaches lower.
  const int bottom = std::max(top + static_cast<int>(rows) * cell, top + 135);
  char window_label[96];
  std::snprintf(window_label, sizeof window_label, "window [p_t - D, p_t + D], D = %lld",
                static_cast<long long>(window));
  // Wide enough for the grid and legend, the title (15 px text, at most about
  // 9 px a character in a sans-serif font; counted in bytes, so a label in
  // another script gets room to spare) and the
  // local-attention key below the grid (13 px text, about 8 px a character).
  int width = std::max(left + static_cast<int>(cols) * cell + 90, 20 + 9 * static_cast<int>(title.size()));
  if (local) width = std::max(width, left + 200 + 8 * static_cast<int>(std::string(window_label).size()));
  Drawing d(width, bottom + (local ? 45 : 15));
  if (!title.empty()) d.text(10, 20, title, 15);
  draw_cells(d, left, top, source_tokens, output_tokens, w, rows, cols, stride, "");
  // Local attention: the window as an outline over the row (clipped to the
  // grid), then the centre on top of it. Position q sits at column q's centre.
  const auto x_of = [&](double position) { return left + (position + 0.5) * cell; };
  for (int64_t t = 0; t < std::min<int64_t>(rows, positions.size()); ++t) {
    const double p = positions[t], y = top + t * cell + cell / 2.0;
    if (!std::isfinite(p)) continue;
    if (window > 0) {
      const double x0 = std::max<double>(x_of(p - window), left);
      const double x1 = std::min<double>(x_of(p + window), left + cols * cell);
      if (x1 > x0) d.rect(x0, y - 5, x1 - x0, 10, std::nullopt, kMarker).css_class = "window";
    }
    d.circle(x_of(p), y, 4, kMarker, kWhite).css_class = "position";
  }
  if (local) {
    const double y = bottom + 24;
    d.circle(left + 6, y - 4, 4, kMarker, kWhite).css_class = "legend";
    d.text(left + 16, y, "predicted centre p_t");
    if (window > 0) {
      d.rect(left + 180, y - 9, 24, 10, std::nullopt, kMarker).css_class = "legend";
      d.text(left + 210, y, window_label);
    }
  }
  draw_legend(d, left + static_cast<int>(cols) * cell + 30, top);
  return d;
}

Drawing attention_grid(const std::vector<std::string>& source_tokens,
                       const std::vector<std::string>& output_tokens, const Tensor& weights,
                       const std::vector<std::string>& panel_titles, const std::string& title) {
  ATTN_CHECK(weights.dim() == 3, "attention_grid: weights must be (H, T, S), got ", shape_str(weights.shape()));
  const int64_t heads = weights.size(0);
  ATTN_CHECK(heads > 0 && static_cast<int64_t>(panel_titles.size()) == heads, "attention_grid: ",
             panel_titles.size(), " panel titles for weights ", shape_str(weights.shape()),
             ": need one per head");
  const int64_t rows = std::min<int64_t>(output_tokens.size(), weights.size(1));
  const int64_t cols = std::min<int64_t>(source_tokens.size(), weights.size(2));
  std::vector<double> w = weights.contiguous().to_vector<double>();
  const int64_t panel_stride = weights.size(1) * weights.size(2);
  const GridShape shape = grid_shape(heads);

  // One panel: its title (14 px text, about 8 px a character), the rotated
  // source labels above the cells (13 px text, about 8 px a character, at
  // 60 degrees: 7 px of height a character), the output labels left of them.
  int title_width = 0;
  for (const std::string& name : panel_titles) {
    title_width = std::max(title_width, 8 * static_cast<int>(name.size()));
  }
  const int label_left = std::max(40, 8 * longest(output_tokens, rows) + 12);
  const int label_top = std::max(30, 7 * longest(source_tokens, cols) + 16);
  const int cells_width = static_cast<int>(cols) * kCell, cells_height = static_cast<int>(rows) * kCell;
  const int panel_title_height = 22, gap = 24;
  const int panel_width = label_left + std::max(cells_width, title_width) + gap;
  const int panel_height = panel_title_height + label_top + cells_height + gap;
  const int origin_x = 10, origin_y = title.empty() ? 10 : 40;

  const int legend_x = origin_x + static_cast<int>(shape.columns) * panel_width;
  const int legend_y = origin_y + panel_title_height + label_top;
  const int width = std::max(legend_x + 40, 20 + 9 * static_cast<int>(title.size()));
  const int height = std::max(origin_y + static_cast<int>(shape.rows) * panel_height, legend_y + 145);
  Drawing d(width, height);
  if (!title.empty()) d.text(10, 20, title, 15);
  for (int64_t h = 0; h < heads; ++h) {
    const int x = origin_x + static_cast<int>(h % shape.columns) * panel_width;
    const int y = origin_y + static_cast<int>(h / shape.columns) * panel_height;
    d.text(x + label_left, y + 15, panel_titles[h], 14).css_class = "panel-title";
    const std::vector<double> panel(w.begin() + h * panel_stride, w.begin() + (h + 1) * panel_stride);
    draw_cells(d, x + label_left, y + panel_title_height + label_top, source_tokens, output_tokens, panel,
               rows, cols, weights.size(2), panel_titles[h] + ": ");
  }
  draw_legend(d, legend_x, legend_y);
  return d;
}

void write_attention_svg(const std::string& path, const std::vector<std::string>& source_tokens,
                         const std::vector<std::string>& output_tokens, const Tensor& weights,
                         const std::string& title, const std::vector<double>& positions, int64_t window) {
  Drawing d = attention_heatmap(source_tokens, output_tokens, weights, title, positions, window);
  write_file_atomically(path, to_svg(d), "write_attention_svg");
}

}  // namespace attn::plot
