// Printing tensors the way PyTorch does, so what a learner sees in attn looks
// like what they have seen in Python:
//
//   tensor([[ 0.1000, -1.2000],
//           [ 3.0000,  4.5000]], shape=[2, 2], dtype=float32)
//
// Large tensors show their first and last three entries along each dim, with
// "..." between (PyTorch's summarisation, threshold 1000 elements).
#include <cmath>
#include <iomanip>
#include <sstream>

#include "tensor/tensor.h"

namespace attn {
namespace {

constexpr int64_t kSummarizeAbove = 1000;  // elements, as PyTorch
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const std::vector<double>& values;
  const Shape& shape;
  bool integer;
  bool summarize;
  int width = 0;

  std::string format(double v) const {
    std::ostringstream out;
    if (integer) {
      out << static_cast<int64_t>(v);
    } else if (std::isnan(v)) {
      out << "nan";
    } else if (std::isinf(v)) {
      out << (v > 0 ? "inf" : "-inf");
    } else {
      out << std::fixed << std::setprecision(4) << v;
    }
    return out.str();
  }

  // Indices of dim d to show: all, or the first and last kEdgeItems.
  std::vector<int64_t> shown(int64_t size) const {
    std::vector<int64_t> idx;
    if (!summarize || size <= 2 * kEdgeItems) {
      for (int64_t i = 0; i < size; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);  // the "..." marker
      for (int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
    }
    return idx;
  }

  void measure(size_t d, int64_t offset, const Shape& strides) {
    for (int64_t i : shown(shape[d])) {
      if (i < 0) continue;
      if (d + 1 == shape.size()) {
        width = std::max(width, static_cast<int>(format(values[offset + i]).size()));
      } else {
        measure(d + 1, offset + i * strides[d], strides);
      }
    }
  }

  void print(std::ostream& out, size_t d, int64_t offset, const Shape& strides, int indent) {
    out << "[";
    std::vector<int64_t> idx = shown(shape[d]);
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) {
        out << ",";
        if (d + 1 == shape.size()) {
          out << " ";
        } else {
          out << std::string(shape.size() - d - 1, '\n') << std::string(indent + 1, ' ');
        }
      }
      if (idx[k] < 0) {
        out << "...";
        continue;
      }
      if (d + 1 == shape.size()) {
        std::string s = format(values[offset + idx[k]]);
        out << std::string(width - s.size(), ' ') << s;
      } else {
        print(out, d + 1, offset + idx[k] * strides[d], strides, indent + 1);
      }
    }
    out << "]";
  }
};

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> values = to_vector<double>();
  std::ostringstream out;
  out << "tensor(";
  Printer printer{values, shape(), dtype() == kInt64, numel() > kSummarizeAbove};
  if (dim() == 0) {
    out << printer.format(values[0]);
  } else if (numel() == 0) {
    out << "[]";
  } else {
    Shape strides = contiguous_strides(shape());
    printer.measure(0, 0, strides);
    printer.print(out, 0, 0, strides, 7);
  }
  out << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (device() != kCPU) out << ", device=" << device_name(device());
  if (grad_fn()) {
    out << ", grad_fn=<" << grad_fn_name() << ">";
  } else if (requires_grad()) {
    out << ", requires_grad=true";
  }
  out << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  return out << tensor.to_string();
}

}  // namespace attn
