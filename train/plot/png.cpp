// The rasterizer and PNG encoder of train/plot/png.h.
#include "train/plot/png.h"

#include <png.h>

#include <algorithm>
#include <cmath>

#include "kernels/error.h"

namespace attn::plot {
namespace {

// 5x7 glyphs for ASCII 32 (space) to 126 (~), drawn for attn: seven rows from
// the top, one byte each, bit 4 the leftmost column. Lower-case descenders
// (g, j, p, q, y) are shortened to fit the seven rows.
const uint8_t kFont[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},  //   !
    {0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00}, {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},  // " #
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},  // $ %
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, {0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00},  // & '
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // ( )
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},  // * +
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},  // , -
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // . /
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 0 1
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // 2 3
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 4 5
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 6 7
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 8 9
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08},  // : ;
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},  // < =
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},  // > ?
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11},  // @ A
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},  // B C
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},  // D E
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},  // F G
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // H I
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},  // J K
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},  // L M
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // N O
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},  // P Q
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},  // R S
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // T U
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},  // V W
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04},  // X Y
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},  // Z [
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},  // \ ]
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},  // ^ _
    {0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F},  // ` a
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E},  // b c
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E},  // d e
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // f g
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E},  // h i
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},  // j k
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11},  // l m
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E},  // n o
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01},  // p q
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E},  // r s
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D},  // t u
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A},  // v w
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // x y
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},  // z {
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},  // | }
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},                                              // ~
};
// What a character outside printable ASCII looks like: an outlined box.
const uint8_t kBox[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

// One glyph per character: UTF-8 continuation bytes are skipped, so a
// character of several bytes is one box, as wide as any other character.
std::vector<const uint8_t*> glyphs(const std::string& text) {
  std::vector<const uint8_t*> out;
  for (unsigned char c : text) {
    if ((c & 0xC0) == 0x80) continue;
    out.push_back(c >= 32 && c <= 126 ? kFont[c - 32] : kBox);
  }
  return out;
}

// Fills the pixels whose centres lie in [x0, x1) x [y0, y1) (image pixels).
void fill_box(Image& image, double x0, double y0, double x1, double y1, Colour colour) {
  for (int y = static_cast<int>(std::ceil(y0 - 0.5)); y + 0.5 < y1; ++y) {
    for (int x = static_cast<int>(std::ceil(x0 - 0.5)); x + 0.5 < x1; ++x) image.blend(x, y, colour);
  }
}

// A thick line from a to b: each pixel is covered by how far its centre lies
// inside the half-width (a soft edge one pixel wide). Dashes: on for `dash`
// pixels, off for `dash`, counted from `travelled` (the length of the
// polyline before this segment), so the pattern runs on across vertices.
void draw_segment(Image& image, Point a, Point b, double width, Colour colour, double dash, double travelled) {
  const double half = width / 2, dx = b.x - a.x, dy = b.y - a.y;
  const double length2 = dx * dx + dy * dy;
  const int x_lo = static_cast<int>(std::floor(std::min(a.x, b.x) - half - 1));
  const int x_hi = static_cast<int>(std::ceil(std::max(a.x, b.x) + half + 1));
  const int y_lo = static_cast<int>(std::floor(std::min(a.y, b.y) - half - 1));
  const int y_hi = static_cast<int>(std::ceil(std::max(a.y, b.y) + half + 1));
  for (int y = std::max(y_lo, 0); y <= std::min(y_hi, image.height - 1); ++y) {
    for (int x = std::max(x_lo, 0); x <= std::min(x_hi, image.width - 1); ++x) {
      const double px = x + 0.5 - a.x, py = y + 0.5 - a.y;
      // t: where the nearest point of the segment lies, 0 at a and 1 at b.
      const double t = length2 > 0 ? std::clamp((px * dx + py * dy) / length2, 0.0, 1.0) : 0.0;
      const double distance = std::hypot(px - t * dx, py - t * dy);
      const double coverage = std::clamp(half + 0.5 - distance, 0.0, 1.0);
      if (coverage <= 0) continue;
      if (dash > 0 && std::fmod(travelled + t * std::sqrt(length2), 2 * dash) >= dash) continue;
      image.blend(x, y, colour, coverage);
    }
  }
}

// A filled disc and/or a ring, by the distance of each pixel centre to the centre.
void draw_circle(Image& image, Point c, double radius, const Shape& s, double scale) {
  const double half = s.stroke ? s.stroke_width * scale / 2 : 0.0;
  const int reach = static_cast<int>(std::ceil(radius + half + 1));
  for (int y = static_cast<int>(c.y) - reach; y <= static_cast<int>(c.y) + reach; ++y) {
    for (int x = static_cast<int>(c.x) - reach; x <= static_cast<int>(c.x) + reach; ++x) {
      const double distance = std::hypot(x + 0.5 - c.x, y + 0.5 - c.y);
      if (s.fill) image.blend(x, y, *s.fill, std::clamp(radius + 0.5 - distance, 0.0, 1.0));
      if (s.stroke) {
        image.blend(x, y, *s.stroke, std::clamp(half + 0.5 - std::abs(distance - radius), 0.0, 1.0));
      }
    }
  }
}

// Text: each character a 5x7 glyph in a 6x7 cell, enlarged `size` times.
// Every pixel of the rotated text's bounding box is mapped back into the
// text's own frame (u along the baseline, v down from it) and takes the ink
// of the font pixel it lands on.
void draw_text(Image& image, const Shape& s, double scale) {
  const std::vector<const uint8_t*> chars = glyphs(s.text);
  if (chars.empty() || !s.fill) return;
  // 13 px sans-serif has capitals about 9 px tall: 7 font rows times about 1.1.
  const int size = std::max(1, static_cast<int>(std::lround(s.font_size * scale / 12)));
  const double advance = 6.0 * size, width = chars.size() * advance - size, height = 7.0 * size;
  const double u0 = s.anchor == Shape::Anchor::Start ? 0 : s.anchor == Shape::Anchor::Middle ? -width / 2 : -width;
  const double angle = s.rotate * 3.14159265358979323846 / 180, cos_a = std::cos(angle), sin_a = std::sin(angle);
  const double ax = s.points[0].x * scale, ay = s.points[0].y * scale;
  // Bounding box: the four corners of the text, rotated about the anchor.
  double x_lo = ax, x_hi = ax, y_lo = ay, y_hi = ay;
  for (double u : {u0, u0 + width}) {
    for (double v : {-height, 0.0}) {
      x_lo = std::min(x_lo, ax + u * cos_a - v * sin_a), x_hi = std::max(x_hi, ax + u * cos_a - v * sin_a);
      y_lo = std::min(y_lo, ay + u * sin_a + v * cos_a), y_hi = std::max(y_hi, ay + u * sin_a + v * cos_a);
    }
  }
  for (int y = static_cast<int>(std::floor(y_lo)); y <= static_cast<int>(std::ceil(y_hi)); ++y) {
    for (int x = static_cast<int>(std::floor(x_lo)); x <= static_cast<int>(std::ceil(x_hi)); ++x) {
      const double dx = x + 0.5 - ax, dy = y + 0.5 - ay;
      const double u = dx * cos_a + dy * sin_a - u0, v = -dx * sin_a + dy * cos_a + height;
      if (u < 0 || v < 0 || v >= height) continue;
      const size_t index = static_cast<size_t>(u / advance);
      const int column = static_cast<int>((u - index * advance) / size), row = static_cast<int>(v / size);
      if (index < chars.size() && column < 5 && ((chars[index][row] >> (4 - column)) & 1)) {
        image.blend(x, y, *s.fill);
      }
    }
  }
}

}  // namespace

Image::Image(int width_px, int height_px)
    : width(width_px), height(height_px), rgb(static_cast<size_t>(width_px) * height_px * 3, 255) {
  ATTN_CHECK(width_px > 0 && height_px > 0, "Image: size must be positive, got ", width_px, "x", height_px);
}

Colour Image::at(int x, int y) const {
  ATTN_CHECK(x >= 0 && x < width && y >= 0 && y < height, "Image::at: pixel (", x, ", ", y,
             ") outside the ", width, "x", height, " image");
  const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
  return Colour{p[0], p[1], p[2]};
}

void Image::blend(int x, int y, Colour colour, double alpha) {
  if (x < 0 || x >= width || y < 0 || y >= height || alpha <= 0) return;
  alpha = std::min(alpha, 1.0);
  uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
  const uint8_t source[3] = {colour.r, colour.g, colour.b};
  for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(std::lround(p[k] + alpha * (source[k] - p[k])));
}

Image rasterize(const Drawing& drawing, int scale) {
  ATTN_CHECK(scale >= 1, "rasterize: scale must be at least 1, got ", scale);
  Image image(drawing.width * scale, drawing.height * scale);
  for (const Shape& s : drawing.shapes) {
    std::vector<Point> p;
    for (Point q : s.points) p.push_back({q.x * scale, q.y * scale});
    const double stroke = s.stroke_width * scale;
    switch (s.kind) {
      case Shape::Kind::Rect:
        if (s.fill) fill_box(image, p[0].x, p[0].y, p[1].x, p[1].y, *s.fill);
        if (s.stroke) {  // four bands centred on the edges, as SVG strokes them
          const double h = stroke / 2;
          fill_box(image, p[0].x - h, p[0].y - h, p[1].x + h, p[0].y + h, *s.stroke);  // top
          fill_box(image, p[0].x - h, p[1].y - h, p[1].x + h, p[1].y + h, *s.stroke);  // bottom
          fill_box(image, p[0].x - h, p[0].y + h, p[0].x + h, p[1].y - h, *s.stroke);  // left
          fill_box(image, p[1].x - h, p[0].y + h, p[1].x + h, p[1].y - h, *s.stroke);  // right
        }
        break;
      case Shape::Kind::Line: {
        if (!s.stroke) break;
        double travelled = 0;
        for (size_t i = 0; i + 1 < p.size(); ++i) {
          draw_segment(image, p[i], p[i + 1], stroke, *s.stroke, s.dash * scale, travelled);
          travelled += std::hypot(p[i + 1].x - p[i].x, p[i + 1].y - p[i].y);
        }
        break;
      }
      case Shape::Kind::Circle: draw_circle(image, p[0], s.radius * scale, s, scale); break;
      case Shape::Kind::Text: draw_text(image, s, scale); break;
    }
  }
  return image;
}

std::string encode_png(const Image& image) {
  // libpng's simplified API (1.6): no setjmp, errors come back in image.message.
  png_image info{};
  info.version = PNG_IMAGE_VERSION;
  info.width = static_cast<png_uint_32>(image.width);
  info.height = static_cast<png_uint_32>(image.height);
  info.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  // First call measures, second writes.
  ATTN_CHECK(png_image_write_to_memory(&info, nullptr, &size, 0, image.rgb.data(), 0, nullptr),
             "encode_png: libpng failed: ", info.message);
  std::string bytes(size, '\0');
  ATTN_CHECK(png_image_write_to_memory(&info, bytes.data(), &size, 0, image.rgb.data(), 0, nullptr),
             "encode_png: libpng failed: ", info.message);
  bytes.resize(size);
  png_image_free(&info);
  return bytes;
}

}  // namespace attn::plot
