#include "nn/positional_encoding.h"

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "nn/init.h"

namespace attn::nn {

Tensor sinusoidal_positions(int64_t length, int64_t d_model, DType dtype) {
  ATTN_CHECK(length >= 0, "sinusoidal_positions: length must be >= 0, got ", length);
  ATTN_CHECK(d_model > 0 && d_model % 2 == 0,
             "sinusoidal_positions: d_model must be positive and even (sine and cosine come "
             "in pairs), got d_model = ", d_model);
  ATTN_CHECK(is_floating(dtype), "sinusoidal_positions: dtype must be floating, got ",
             dtype_name(dtype));
  // Built in double: pos * w_i reaches thousands of radians for long
  // sentences, and a float32 angle there is only good to ~1e-4 before sin()
  // even starts. One rounding at the end keeps float32 as exact as it can be.
  std::vector<double> values(static_cast<size_t>(length * d_model));
  for (int64_t i = 0; i < d_model / 2; ++i) {
    // w_i = 1 / 10000^(2i / d_model)
    const double frequency =
        std::pow(10000.0, -static_cast<double>(2 * i) / static_cast<double>(d_model));
    for (int64_t pos = 0; pos < length; ++pos) {
      const double angle = static_cast<double>(pos) * frequency;
      values[static_cast<size_t>(pos * d_model + 2 * i)] = std::sin(angle);      // PE(pos, 2i)
      values[static_cast<size_t>(pos * d_model + 2 * i + 1)] = std::cos(angle);  // PE(pos, 2i+1)
    }
  }
  return from_vector(values, {length, d_model}, dtype);
}

PositionalEncoding::PositionalEncoding(const PositionalEncodingOptions& options)
    : options_(options) {
  ATTN_CHECK(options.d_model > 0, "PositionalEncoding: d_model must be positive, got ",
             options.d_model);
  ATTN_CHECK(options.max_length > 0, "PositionalEncoding: max_length must be positive, got ",
             options.max_length);
  if (options.learned) {
    // Any D works for a learned table; only sinusoids need pairs.
    weight = register_parameter(
        "weight", init::normal({options.max_length, options.d_model}, 0.0, 0.02));
  } else {
    ATTN_CHECK(options.d_model % 2 == 0,
               "PositionalEncoding: sinusoidal positions need an even d_model, got d_model = ",
               options.d_model);
    sinusoids_ = sinusoidal_positions(options.max_length, options.d_model, kFloat64);
  }
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout));
}

Tensor PositionalEncoding::forward(const Tensor& x, int64_t offset) const {
  const int64_t D = options_.d_model, L = options_.max_length;
  ATTN_CHECK(x.dim() == 3 && x.size(2) == D, "PositionalEncoding(d_model = ", D,
             "): input must be (B, T, ", D, "), got ", shape_str(x.shape()));
  ATTN_CHECK(is_floating(x.dtype()), "PositionalEncoding: input must be floating, got ",
             dtype_name(x.dtype()), " of shape ", shape_str(x.shape()));
  const int64_t T = x.size(1);
  ATTN_CHECK(offset >= 0, "PositionalEncoding: offset must be >= 0, got ", offset);
  ATTN_CHECK(offset + T <= L, "PositionalEncoding: positions ", offset, " .. ", offset + T - 1,
             " (offset ", offset, " + T ", T, " = ", offset + T, ") exceed max_length ", L,
             " for input ", shape_str(x.shape()));
  Tensor positions;  // (T, D): rows offset .. offset+T-1, broadcast over the batch
  if (options_.learned) {
    // narrow is tracked: the gradient lands in exactly the rows used.
    positions = narrow(weight, 0, offset, T);
  } else {
    // Only the T rows used are converted, so a decoding step costs D values.
    positions = sinusoids_.narrow(0, offset, T);
    if (positions.dtype() != x.dtype()) positions = positions.to(x.dtype());
    if (positions.device() != x.device()) positions = positions.to(x.device());
  }
  return dropout_->forward(x + positions);  // (B, T, D) + (T, D) -> (B, T, D)
}

}  // namespace attn::nn
