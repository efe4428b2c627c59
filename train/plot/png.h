// A Drawing (train/plot/canvas.h) as PNG, drawn by a real renderer: librsvg.
//
// The PNG is the drawing's own SVG (to_svg in canvas.h) rendered by librsvg
// onto a cairo surface, the renderer GNOME's image viewer uses. So the PNG and
// the SVG are one picture: the same layout, and text set by Pango with the
// system's fonts (fontconfig picks one for "sans-serif"; Debian's DejaVu Sans
// covers Latin, Greek and Cyrillic), so "Mädchen", "garçon" and "Ελλάδα" come
// out as letters, with kerning, where a hand-made bitmap font drew boxes.
//
// Only built where CMake finds librsvg (ATTN_WITH_PNG, Debian's librsvg2-dev);
// write_drawing() in canvas.h is the way in and says so when PNG is missing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/plot/canvas.h"

namespace attn::plot {

// An RGB picture.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // (height, width, 3), row by row from the top

  Image(int width_px, int height_px);  // white
  Colour at(int x, int y) const;
};

// The drawing rendered at `scale` image pixels per drawing pixel (2 gives a
// sharper picture of the same layout) on a white background.
// Result: (scale * height, scale * width). Throws attn::Error with librsvg's
// message if it cannot read the SVG.
Image rasterize(const Drawing& drawing, int scale = 1);

// The bytes of a PNG file holding the image (cairo's PNG writer).
std::string encode_png(const Image& image);

// A PNG file's bytes read back into an Image (cairo's PNG reader); for tests
// and tools that compare pictures. Throws attn::Error if they are not a PNG.
Image decode_png(const std::string& bytes);

}  // namespace attn::plot
