#include "train/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tensor/error.h"

namespace attn::train {
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

}  // namespace

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

  const int cell = 28, left = 130, top = 120 + (title.empty() ? 0 : 24);
  // The grid or the colour ramp beside it (130 px), whichever reaches lower.
  const int bottom = std::max(top + static_cast<int>(rows) * cell, top + 135);
  char window_label[96];
  std::snprintf(window_label, sizeof window_label, "window [p_t - D, p_t + D], D = %lld",
                static_cast<long long>(window));
  // Wide enough for the grid and legend, the title (15 px text, about 9 px a
  // character, as wide as the PNG's bitmap font draws it) and the
  // local-attention key below the grid (13 px text, about 8 px a character).
  int width = std::max(left + static_cast<int>(cols) * cell + 90, 20 + 9 * static_cast<int>(title.size()));
  if (local) width = std::max(width, left + 200 + 8 * static_cast<int>(std::string(window_label).size()));
  Drawing d(width, bottom + (local ? 45 : 15));
  if (!title.empty()) d.text(10, 20, title, 15);
  // Source tokens across, rotated so long words fit.
  for (int64_t s = 0; s < cols; ++s) {
    d.text(left + s * cell + cell / 2 + 4, top - 6, source_tokens[s]).rotate = -60;
  }
  for (int64_t t = 0; t < rows; ++t) {
    const double y = top + t * cell;
    d.text(left - 6, y + cell / 2 + 5, output_tokens[t], 13, Shape::Anchor::End);
    for (int64_t s = 0; s < cols; ++s) {
      const double value = w[t * stride + s];
      char label[16];
      std::snprintf(label, sizeof label, "%.2f", value);
      d.rect(left + s * cell, y, cell, cell, colour(value), Colour{221, 221, 221}).text =
          output_tokens[t] + " -> " + source_tokens[s] + ": " + label;
    }
  }
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
  // The colour legend: a vertical ramp from 0 to 1.
  const int legend_x = left + static_cast<int>(cols) * cell + 30;
  for (int k = 0; k <= 10; ++k) d.rect(legend_x, top + (10 - k) * 12, 16, 12, colour(k / 10.0));
  d.text(legend_x + 20, top + 10, "1");
  d.text(legend_x + 20, top + 130, "0");
  return d;
}

void write_attention_svg(const std::string& path, const std::vector<std::string>& source_tokens,
                         const std::vector<std::string>& output_tokens, const Tensor& weights,
                         const std::string& title, const std::vector<double>& positions, int64_t window) {
  Drawing d = attention_heatmap(source_tokens, output_tokens, weights, title, positions, window);
  write_file_atomically(path, to_svg(d), "write_attention_svg");
}

}  // namespace attn::train
