// A line chart drawn by attn itself: a few named series of (x, y) points on
// one pair of axes, with ticks, a grid and a legend. The course's examples
// use it for the pictures they measure (GEMM speed by size in chapter 03,
// time per generated token in chapter 11, cache size in chapter 12, ...), so
// that every figure in docs/ is made by the code it describes.
//
//   attn::plot::ChartSeries cached{"cached", {8, 16, 32}, {0.4, 0.4, 0.5}};
//   attn::plot::LineChartOptions options;
//   options.title = "ms per token";
//   options.x_label = "output length";
//   attn::plot::write_drawing(attn::plot::line_chart({cached}, options), "t.svg");
//
// The axes use nice_ticks() of train/plot/curve.h, as the training curves do.
#pragma once

#include <string>
#include <vector>

#include "train/plot/canvas.h"

namespace attn::plot {

struct ChartSeries {
  std::string label;      // the legend's text
  std::vector<double> x;  // the points, drawn in this order, with a dot each
  std::vector<double> y;
  bool dashed = false;    // e.g. a formula drawn beside measurements
};

struct LineChartOptions {
  std::string title;             // above the plot; empty: none
  std::string x_label, y_label;  // under the x axis; along the y axis
  bool y_from_zero = true;       // start the y axis at 0 so heights read honestly
  bool x_from_zero = false;      // start the x axis at 0 (else at the smallest x)
  int width = 720;               // pixels; the height is fixed
};

// The chart of `series`: matplotlib's colours in order, the legend right of
// the plot. Throws attn::Error when there is no point to draw, when a
// series' x and y differ in length, or when a value is not finite, naming
// the series.
Drawing line_chart(const std::vector<ChartSeries>& series, const LineChartOptions& options = {});

}  // namespace attn::plot
