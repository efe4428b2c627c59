// A picture as a list of shapes, drawn by attn itself (no plotting library).
//
// The attention heatmap (train/plot/heatmap.h) and the training curve
// (train/plot/curve.h) first lay themselves out as a Drawing: rectangles, lines,
// circles and text in SVG's coordinates (pixels, y pointing down, text
// anchored on its baseline). The Drawing is then written either as SVG text
// (here) or, where attn was built with librsvg, rendered into a PNG
// (train/plot/png.h). Laying out once keeps the two formats the same picture.
//
//   Drawing d(200, 100);
//   d.rect(10, 10, 50, 20, Colour{255, 0, 0});
//   d.text(10, 60, "hello");
//   write_drawing(d, "hello.svg");   // or "hello.png"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attn::plot {

struct Colour {
  uint8_t r = 0, g = 0, b = 0;
  std::string hex() const;  // "#rrggbb", as SVG writes colours
};

struct Point {
  double x = 0, y = 0;
};

struct Shape {
  enum class Kind { Rect, Line, Circle, Text };
  enum class Anchor { Start, Middle, End };  // where a text's anchor point sits along it
  Kind kind = Kind::Rect;
  // Rect: the top-left and bottom-right corners; Line: its vertices (a
  // polyline when more than two); Circle: the centre; Text: the anchor point
  // on the baseline.
  std::vector<Point> points;
  double radius = 0;                    // Circle
  std::optional<Colour> fill, stroke;   // absent: not filled / no outline
  double stroke_width = 1;
  double dash = 0;                      // Line: dash length in pixels; 0 for solid
  std::string text;                     // Text: what it says; Rect: a tooltip (SVG <title>)
  double font_size = 13;
  Anchor anchor = Anchor::Start;
  double rotate = 0;                    // Text: degrees clockwise about the anchor point
  std::string css_class;                // SVG class attribute, so tests can find shapes
};

struct Drawing {
  int width = 0, height = 0;  // pixels
  std::vector<Shape> shapes;  // painted in order: later shapes cover earlier ones

  Drawing(int width_px, int height_px) : width(width_px), height(height_px) {}

  // Each adds one shape and returns it so that a caller can set the rarer
  // fields (dash, css_class, ...) in place. The reference is valid until the
  // next shape is added.
  Shape& rect(double x, double y, double w, double h, std::optional<Colour> fill,
              std::optional<Colour> stroke = std::nullopt, double stroke_width = 1);
  Shape& line(std::vector<Point> points, Colour stroke, double stroke_width = 1);
  Shape& circle(double cx, double cy, double radius, std::optional<Colour> fill,
                std::optional<Colour> stroke = std::nullopt, double stroke_width = 1);
  Shape& text(double x, double y, const std::string& text, double font_size = 13,
              Shape::Anchor anchor = Shape::Anchor::Start, Colour colour = Colour{});
};

// The drawing as an SVG document.
std::string to_svg(const Drawing& drawing);

// True when this build of attn can write PNG (it was built with librsvg).
bool png_supported();

// Writes `path` as SVG or, for a name ending in ".png", as PNG at twice the
// resolution (a crisper picture; train/plot/png.h). Through path.tmp, renamed into
// place, so a reader never sees half a file. Throws attn::Error naming the
// file on failure, and for .png when attn was built without librsvg.
void write_drawing(const Drawing& drawing, const std::string& path);

// Writes bytes to path.tmp and renames it to path; `what` names the caller in
// errors ("write_drawing: cannot write 'x.svg.tmp'").
void write_file_atomically(const std::string& path, const std::string& bytes, const std::string& what);

}  // namespace attn::plot
