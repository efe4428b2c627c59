// A Drawing written as SVG (train/plot/canvas.h); PNG lives in train/plot/png.cpp.
#include "train/plot/canvas.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernels/error.h"
#ifdef ATTN_WITH_PNG
#include "train/plot/png.h"
#endif

namespace attn::plot {
namespace {

// Text for an SVG element: the five characters XML reserves, escaped.
std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// A coordinate with at most two decimals and no trailing zeros: "12", "12.5".
std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  std::string s = buffer;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

// fill="..." stroke="..." stroke-width="..." class="...": the paint every shape shares.
std::string paint(const Shape& shape) {
  std::string out = " fill=\"" + (shape.fill ? shape.fill->hex() : std::string("none")) + "\"";
  if (shape.stroke) {
    out += " stroke=\"" + shape.stroke->hex() + "\" stroke-width=\"" + number(shape.stroke_width) + "\"";
  }
  if (shape.dash > 0) out += " stroke-dasharray=\"" + number(shape.dash) + "\"";
  if (!shape.css_class.empty()) out += " class=\"" + xml_escape(shape.css_class) + "\"";
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string Colour::hex() const {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", r, g, b);
  return buffer;
}

Shape& Drawing::rect(double x, double y, double w, double h, std::optional<Colour> fill,
                     std::optional<Colour> stroke, double stroke_width) {
  Shape s;
  s.kind = Shape::Kind::Rect;
  s.points = {{x, y}, {x + w, y + h}};
  s.fill = fill;
  s.stroke = stroke;
  s.stroke_width = stroke_width;
  shapes.push_back(s);
  return shapes.back();
}

Shape& Drawing::line(std::vector<Point> points, Colour stroke, double stroke_width) {
  Shape s;
  s.kind = Shape::Kind::Line;
  s.points = std::move(points);
  s.stroke = stroke;
  s.stroke_width = stroke_width;
  shapes.push_back(s);
  return shapes.back();
}

Shape& Drawing::circle(double cx, double cy, double radius, std::optional<Colour> fill,
                       std::optional<Colour> stroke, double stroke_width) {
  Shape s;
  s.kind = Shape::Kind::Circle;
  s.points = {{cx, cy}};
  s.radius = radius;
  s.fill = fill;
  s.stroke = stroke;
  s.stroke_width = stroke_width;
  shapes.push_back(s);
  return shapes.back();
}

Shape& Drawing::text(double x, double y, const std::string& text, double font_size,
                     Shape::Anchor anchor, Colour colour) {
  Shape s;
  s.kind = Shape::Kind::Text;
  s.points = {{x, y}};
  s.text = text;
  s.font_size = font_size;
  s.anchor = anchor;
  s.fill = colour;
  shapes.push_back(s);
  return shapes.back();
}

std::string to_svg(const Drawing& drawing) {
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << drawing.width << "\" height=\""
      << drawing.height << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (const Shape& s : drawing.shapes) {
    switch (s.kind) {
      case Shape::Kind::Rect: {
        svg << "<rect x=\"" << number(s.points[0].x) << "\" y=\"" << number(s.points[0].y)
            << "\" width=\"" << number(s.points[1].x - s.points[0].x) << "\" height=\""
            << number(s.points[1].y - s.points[0].y) << "\"" << paint(s);
        if (s.text.empty()) {
          svg << "/>\n";
        } else {
          svg << "><title>" << xml_escape(s.text) << "</title></rect>\n";
        }
        break;
      }
      case Shape::Kind::Line: {
        svg << "<polyline points=\"";
        for (size_t i = 0; i < s.points.size(); ++i) {
          svg << (i ? " " : "") << number(s.points[i].x) << "," << number(s.points[i].y);
        }
        svg << "\"" << paint(s) << " stroke-linejoin=\"round\"/>\n";
        break;
      }
      case Shape::Kind::Circle:
        svg << "<circle cx=\"" << number(s.points[0].x) << "\" cy=\"" << number(s.points[0].y)
            << "\" r=\"" << number(s.radius) << "\"" << paint(s) << "/>\n";
        break;
      case Shape::Kind::Text: {
        static const char* anchors[] = {"start", "middle", "end"};
        svg << "<text transform=\"translate(" << number(s.points[0].x) << "," << number(s.points[0].y)
            << ")" << (s.rotate != 0 ? " rotate(" + number(s.rotate) + ")" : std::string()) << "\"";
        if (s.anchor != Shape::Anchor::Start) {
          svg << " text-anchor=\"" << anchors[static_cast<int>(s.anchor)] << "\"";
        }
        if (s.font_size != 13) svg << " font-size=\"" << number(s.font_size) << "\"";
        if (s.fill && s.fill->hex() != "#000000") svg << " fill=\"" << s.fill->hex() << "\"";
        if (!s.css_class.empty()) svg << " class=\"" << xml_escape(s.css_class) << "\"";
        svg << ">" << xml_escape(s.text) << "</text>\n";
        break;
      }
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

bool png_supported() {
#ifdef ATTN_WITH_PNG
  return true;
#else
  return false;
#endif
}

void write_drawing(const Drawing& drawing, const std::string& path) {
  if (ends_with(path, ".png") || ends_with(path, ".PNG")) {
#ifdef ATTN_WITH_PNG
    write_file_atomically(path, encode_png(rasterize(drawing, 2)), "write_drawing");
#else
    ATTN_CHECK(false, "cannot write '", path, "': attn was built without librsvg, so it writes SVG only. "
               "Install librsvg2-dev (scripts/install-deps) and rebuild, or ask for a .svg file");
#endif
    return;
  }
  write_file_atomically(path, to_svg(drawing), "write_drawing");
}

void write_file_atomically(const std::string& path, const std::string& bytes, const std::string& what) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    ATTN_CHECK(out.is_open(), what, ": cannot write '", temporary, "'");
    out << bytes;
    ATTN_CHECK(out.good(), what, ": error writing '", temporary, "'");
  }
  ATTN_CHECK(std::rename(temporary.c_str(), path.c_str()) == 0, what, ": cannot rename '", temporary,
             "' to '", path, "'");
}

}  // namespace attn::plot
