#include "train/heatmap.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace attn::train {
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

// White (0) to dark blue (1): the weights are probabilities, so one hue
// with varying lightness reads correctly even when printed in grey.
std::string colour(double weight) {
  weight = std::clamp(weight, 0.0, 1.0);
  int r = static_cast<int>(255 - weight * (255 - 8));
  int g = static_cast<int>(255 - weight * (255 - 48));
  int b = static_cast<int>(255 - weight * (255 - 107));
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", r, g, b);
  return buffer;
}

}  // namespace

void write_attention_svg(const std::string& path, const std::vector<std::string>& source_tokens,
                         const std::vector<std::string>& output_tokens, const Tensor& weights,
                         const std::string& title) {
  ATTN_CHECK(weights.dim() == 2, "write_attention_svg: weights must be (T, S), got ",
             shape_str(weights.shape()));
  const int64_t rows = std::min<int64_t>(output_tokens.size(), weights.size(0));
  const int64_t cols = std::min<int64_t>(source_tokens.size(), weights.size(1));
  std::vector<double> w = weights.contiguous().to_vector<double>();
  const int64_t stride = weights.size(1);

  const int cell = 28, left = 130, top = 120 + (title.empty() ? 0 : 24);
  // Wide enough for the grid and legend, and for the title (about 8 px a character).
  const int width = std::max(left + static_cast<int>(cols) * cell + 90,
                             20 + 8 * static_cast<int>(title.size()));
  const int height = top + static_cast<int>(rows) * cell + 30;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!title.empty()) {
    svg << "<text x=\"10\" y=\"20\" font-size=\"15\">" << xml_escape(title) << "</text>\n";
  }
  // Source tokens across, rotated so long words fit.
  for (int64_t s = 0; s < cols; ++s) {
    int x = left + static_cast<int>(s) * cell + cell / 2 + 4;
    svg << "<text transform=\"translate(" << x << "," << top - 6 << ") rotate(-60)\">"
        << xml_escape(source_tokens[s]) << "</text>\n";
  }
  for (int64_t t = 0; t < rows; ++t) {
    int y = top + static_cast<int>(t) * cell;
    svg << "<text x=\"" << left - 6 << "\" y=\"" << y + cell / 2 + 5 << "\" text-anchor=\"end\">"
        << xml_escape(output_tokens[t]) << "</text>\n";
    for (int64_t s = 0; s < cols; ++s) {
      double value = w[t * stride + s];
      char label[16];
      std::snprintf(label, sizeof label, "%.2f", value);
      svg << "<rect x=\"" << left + s * cell << "\" y=\"" << y << "\" width=\"" << cell
          << "\" height=\"" << cell << "\" fill=\"" << colour(value)
          << "\" stroke=\"#ddd\"><title>" << xml_escape(output_tokens[t]) << " -> "
          << xml_escape(source_tokens[s]) << ": " << label << "</title></rect>\n";
    }
  }
  // The legend: a vertical ramp from 0 to 1.
  int legend_x = left + static_cast<int>(cols) * cell + 30;
  for (int k = 0; k <= 10; ++k) {
    svg << "<rect x=\"" << legend_x << "\" y=\"" << top + (10 - k) * 12 << "\" width=\"16\" height=\"12\" fill=\""
        << colour(k / 10.0) << "\"/>\n";
  }
  svg << "<text x=\"" << legend_x + 20 << "\" y=\"" << top + 10 << "\">1</text>\n"
      << "<text x=\"" << legend_x + 20 << "\" y=\"" << top + 130 << "\">0</text>\n"
      << "</svg>\n";

  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    ATTN_CHECK(out.is_open(), "write_attention_svg: cannot write '", temporary, "'");
    out << svg.str();
    ATTN_CHECK(out.good(), "write_attention_svg: error writing '", temporary, "'");
  }
  ATTN_CHECK(std::rename(temporary.c_str(), path.c_str()) == 0, "write_attention_svg: cannot rename '",
             temporary, "' to '", path, "'");
}

}  // namespace attn::train
