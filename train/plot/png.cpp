// PNG through librsvg and cairo (train/plot/png.h).
//
// One path from shapes to pixels: Drawing -> to_svg -> librsvg -> cairo image
// surface. cairo keeps a pixel as one 32-bit word, 0xAARRGGBB in the machine's
// byte order, alpha premultiplied; the background is painted opaque white
// first, so every pixel ends with alpha 255 and the colour bytes are the
// colour itself.
#include "train/plot/png.h"

#include <cairo.h>
#include <librsvg/rsvg.h>

#include <memory>

#include "kernels/error.h"

namespace attn::plot {
namespace {

// Owners that release cairo's and GLib's objects on every path, errors included.
struct SurfaceFree {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextFree {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
struct HandleFree {
  void operator()(RsvgHandle* h) const { g_object_unref(h); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceFree>;
using Context = std::unique_ptr<cairo_t, ContextFree>;

std::string take_message(GError* error) {
  std::string message = error ? error->message : "unknown error";
  if (error) g_error_free(error);
  return message;
}

// The image's pixels as a cairo surface (RGB24: the alpha byte unused).
Surface to_surface(const Image& image) {
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, image.width, image.height));
  ATTN_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS, "encode_png: cannot make a ",
             image.width, "x", image.height, " surface");
  cairo_surface_flush(surface.get());
  unsigned char* data = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  for (int y = 0; y < image.height; ++y) {
    auto* row = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = &image.rgb[(static_cast<size_t>(y) * image.width + x) * 3];
      row[x] = 0xFF000000u | (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
    }
  }
  cairo_surface_mark_dirty(surface.get());
  return surface;
}

// The surface's pixels as an Image (opaque pixels, so nothing to un-premultiply).
Image from_surface(cairo_surface_t* surface) {
  cairo_surface_flush(surface);
  Image image(cairo_image_surface_get_width(surface), cairo_image_surface_get_height(surface));
  const unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  for (int y = 0; y < image.height; ++y) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < image.width; ++x) {
      uint8_t* p = &image.rgb[(static_cast<size_t>(y) * image.width + x) * 3];
      p[0] = static_cast<uint8_t>(row[x] >> 16);
      p[1] = static_cast<uint8_t>(row[x] >> 8);
      p[2] = static_cast<uint8_t>(row[x]);
    }
  }
  return image;
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

struct Reader {
  const std::string* bytes;
  size_t at = 0;
};

cairo_status_t read_bytes(void* closure, unsigned char* data, unsigned int length) {
  auto* reader = static_cast<Reader*>(closure);
  if (reader->bytes->size() - reader->at < length) return CAIRO_STATUS_READ_ERROR;
  reader->bytes->copy(reinterpret_cast<char*>(data), length, reader->at);
  reader->at += length;
  return CAIRO_STATUS_SUCCESS;
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

Image rasterize(const Drawing& drawing, int scale) {
  ATTN_CHECK(scale >= 1, "rasterize: scale must be at least 1, got ", scale);
  ATTN_CHECK(drawing.width > 0 && drawing.height > 0, "rasterize: the drawing's size must be positive, got ",
             drawing.width, "x", drawing.height);
  const std::string svg = to_svg(drawing);
  GError* error = nullptr;
  std::unique_ptr<RsvgHandle, HandleFree> handle(
      rsvg_handle_new_from_data(reinterpret_cast<const guint8*>(svg.data()), svg.size(), &error));
  ATTN_CHECK(handle != nullptr, "rasterize: librsvg cannot read the drawing's SVG: ", take_message(error));

  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, drawing.width * scale, drawing.height * scale));
  ATTN_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS, "rasterize: cannot make a ",
             drawing.width * scale, "x", drawing.height * scale, " surface");
  Context cr(cairo_create(surface.get()));
  cairo_set_source_rgb(cr.get(), 1, 1, 1);  // SVG's background is transparent; a PNG of ours is white
  cairo_paint(cr.get());
  // The viewport is the whole image: librsvg scales the SVG's width x height onto it.
  const RsvgRectangle viewport{0, 0, static_cast<double>(drawing.width * scale),
                               static_cast<double>(drawing.height * scale)};
  ATTN_CHECK(rsvg_handle_render_document(handle.get(), cr.get(), &viewport, &error),
             "rasterize: librsvg cannot render the drawing: ", take_message(error));
  return from_surface(surface.get());
}

std::string encode_png(const Image& image) {
  Surface surface = to_surface(image);
  std::string bytes;
  const cairo_status_t status = cairo_surface_write_to_png_stream(surface.get(), append_bytes, &bytes);
  ATTN_CHECK(status == CAIRO_STATUS_SUCCESS, "encode_png: ", cairo_status_to_string(status));
  return bytes;
}

Image decode_png(const std::string& bytes) {
  Reader reader{&bytes};
  Surface surface(cairo_image_surface_create_from_png_stream(read_bytes, &reader));
  const cairo_status_t status = cairo_surface_status(surface.get());
  ATTN_CHECK(status == CAIRO_STATUS_SUCCESS, "decode_png: not a PNG cairo can read (",
             cairo_status_to_string(status), ")");
  // A PNG with transparency comes back as ARGB32; ours never has any.
  Surface rgb(cairo_image_surface_create(CAIRO_FORMAT_RGB24, cairo_image_surface_get_width(surface.get()),
                                         cairo_image_surface_get_height(surface.get())));
  Context cr(cairo_create(rgb.get()));
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  cairo_set_source_surface(cr.get(), surface.get(), 0, 0);
  cairo_paint(cr.get());
  return from_surface(rgb.get());
}

}  // namespace attn::plot
