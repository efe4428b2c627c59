#include "train/plot/line_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/error.h"
#include "train/plot/curve.h"

namespace attn::plot {
namespace {

// Matplotlib's first colours, as train/plot/curve.cpp uses them.
const Colour kColours[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                           {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
const Colour kAxis{68, 68, 68}, kGrid{230, 230, 230};

}  // namespace

Drawing line_chart(const std::vector<ChartSeries>& series, const LineChartOptions& options) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  size_t legend_chars = 0;
  for (const ChartSeries& s : series) {
    ATTN_CHECK(s.x.size() == s.y.size(), "line_chart: series '", s.label, "' has ", s.x.size(),
               " x values and ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      ATTN_CHECK(std::isfinite(s.x[i]) && std::isfinite(s.y[i]), "line_chart: series '", s.label,
                 "' has a non-finite point (", s.x[i], ", ", s.y[i], ") at index ", i);
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
    legend_chars = std::max(legend_chars, s.label.size());
  }
  ATTN_CHECK(std::isfinite(x_min), "line_chart: no point to draw");
  if (options.x_from_zero) x_min = std::min(x_min, 0.0);
  if (options.y_from_zero) y_min = std::min(y_min, 0.0);

  // The plot area; the legend (about 7 px a character) sits to its right.
  const double legend_width = 40 + 7.0 * static_cast<double>(legend_chars);
  const double top = options.title.empty() ? 20 : 44, plot_height = 300;
  const double x0 = 75, x1 = std::max(x0 + 200, options.width - 20 - legend_width);
  const double y0 = top + plot_height, y1 = top;
  Drawing d(options.width, static_cast<int>(y0 + 60));
  d.rect(0, 0, options.width, y0 + 60, Colour{255, 255, 255});
  if (!options.title.empty()) d.text(10, 24, options.title, 15);

  const Ticks xs = nice_ticks(x_min, x_max, 8), ys = nice_ticks(y_min, y_max, 6);
  const auto x_of = [&](double x) { return x0 + (x - xs.low) / (xs.high - xs.low) * (x1 - x0); };
  const auto y_of = [&](double y) { return y0 - (y - ys.low) / (ys.high - ys.low) * (y0 - y1); };
  for (double v : xs.values) {
    d.line({{x_of(v), y0}, {x_of(v), y1}}, kGrid);
    d.text(x_of(v), y0 + 18, tick_label(v, xs.step), 12, Shape::Anchor::Middle);
  }
  for (double v : ys.values) {
    d.line({{x0, y_of(v)}, {x1, y_of(v)}}, kGrid);
    d.text(x0 - 8, y_of(v) + 4, tick_label(v, ys.step), 12, Shape::Anchor::End);
  }
  d.rect(x0, y1, x1 - x0, y0 - y1, std::nullopt, kAxis);
  d.text((x0 + x1) / 2, y0 + 42, options.x_label, 13, Shape::Anchor::Middle);
  d.text(22, (y0 + y1) / 2, options.y_label, 13, Shape::Anchor::Middle).rotate = -90;

  for (size_t k = 0; k < series.size(); ++k) {
    const ChartSeries& s = series[k];
    const Colour colour = kColours[k % (sizeof kColours / sizeof kColours[0])];
    std::vector<Point> points;
    for (size_t i = 0; i < s.x.size(); ++i) points.push_back({x_of(s.x[i]), y_of(s.y[i])});
    if (points.size() > 1) d.line(points, colour, 2).dash = s.dashed ? 6 : 0;
    for (const Point& p : points) d.circle(p.x, p.y, 3, colour);
    const double ly = y1 + 14 + 22 * static_cast<double>(k);
    d.line({{x1 + 14, ly - 4}, {x1 + 38, ly - 4}}, colour, 2).dash = s.dashed ? 6 : 0;
    d.text(x1 + 44, ly, s.label, 12);
  }
  return d;
}

}  // namespace attn::plot
