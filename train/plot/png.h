// A Drawing (train/plot/canvas.h) as PNG: a small software rasterizer and libpng.
//
// Only built where CMake finds libpng (ATTN_WITH_PNG); write_drawing() in
// train/plot/canvas.h is the way in and says so when PNG is missing. The
// rasterizer knows exactly the four shapes of canvas.h:
//   rectangles  the pixels whose centres lie inside (heatmap cells are exact);
//   lines       each pixel covered by the distance to the nearest segment,
//               with a soft half-pixel edge so that slopes do not look jagged;
//   circles     the same distance test against the centre;
//   text        a built-in 5x7 bitmap font for printable ASCII, enlarged
//               by whole pixels and rotated by sampling the font at each
//               pixel; any other character is drawn as a box.
// Fonts are where the PNG differs from the SVG: no kerning, one width per
// character, so long labels come out a little wider than the browser's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/plot/canvas.h"

namespace attn::plot {

// An RGB picture, white to start with.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // (height, width, 3), row by row from the top

  Image(int width_px, int height_px);
  Colour at(int x, int y) const;
  // Mixes colour into pixel (x, y) with weight alpha in [0, 1]; outside the
  // picture it does nothing, so shapes may run over the edges.
  void blend(int x, int y, Colour colour, double alpha = 1.0);
};

// Paints the drawing at `scale` image pixels per drawing pixel (2 gives a
// sharper picture of the same layout). Result: (scale * height, scale * width).
Image rasterize(const Drawing& drawing, int scale = 1);

// The bytes of a PNG file holding the image. Throws attn::Error with libpng's
// message if encoding fails.
std::string encode_png(const Image& image);

}  // namespace attn::plot
