// Matrix multiplication and its derivative.
//
//   C = A B          (M, N) = (M, K) (K, N)
//   dL/dA = dL/dC B^T
//   dL/dB = A^T dL/dC
// (docs/02-autograd.md, "Matmul"; the same rule holds batch by batch, and
// broadcast batch dims sum their gradients back with sum_to.)
//
// Transposes cost nothing here: a transposed view is handed to BLAS as a
// "transposed" flag with the original leading dimension, never copied.
#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "autograd/autocast.h"
#include "kernels/gemm_bf16.h"
#include "kernels/matmul.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

namespace {

// How one operand of a batched GEMM is laid out in memory.
struct GemmOperand {
  Tensor tensor;        // the tensor whose data we read (maybe a contiguous copy)
  bool transposed = false;
  int64_t ld = 0;           // leading dimension (row stride of the stored matrix)
  int64_t batch_stride = 0; // elements between consecutive matrices (0 = shared)
};

// Whether the batch dims of t (already expanded to batch_shape) can be walked
// with a single stride, and which.
bool uniform_batch_stride(const Tensor& t, const Shape& batch_shape, int64_t& stride) {
  int64_t nb = static_cast<int64_t>(batch_shape.size());
  Shape strides = autograd::broadcast_strides(
      make_view(t, Shape(t.shape().begin(), t.shape().end() - 2),
                Shape(t.strides().begin(), t.strides().end() - 2), t.offset()),
      batch_shape);
  bool all_zero = true;
  for (int64_t d = 0; d < nb; ++d) {
    if (batch_shape[d] != 1 && strides[d] != 0) all_zero = false;
  }
  if (all_zero) {
    stride = 0;
    return true;
  }
  // Otherwise every non-trivial dim must step by stride * (size of the dims after it).
  stride = -1;
  int64_t after = 1;
  for (int64_t d = nb - 1; d >= 0; --d) {
    if (batch_shape[d] == 1) continue;
    if (stride < 0) {
      if (strides[d] == 0) return false;
      stride = strides[d];
    } else if (strides[d] != stride * after) {
      return false;
    }
    after *= batch_shape[d];
  }
  return true;
}

// Chooses the layout of a 2-d-or-more operand whose last two dims are (rows, cols).
GemmOperand prepare(const Tensor& t, const Shape& batch_shape) {
  GemmOperand op;
  op.tensor = t;
  int64_t rows = t.size(-2), cols = t.size(-1);
  int64_t s_row = t.stride(-2), s_col = t.stride(-1);
  bool row_major = (s_col == 1 || cols == 1) && s_row >= std::max<int64_t>(cols, 1);
  bool col_major = (s_row == 1 || rows == 1) && s_col >= std::max<int64_t>(rows, 1);
  int64_t batch_stride = 0;
  bool batch_ok = uniform_batch_stride(t, batch_shape, batch_stride);
  if (!(row_major || col_major) || !batch_ok) {
    // An unusual layout: one contiguous copy, expanded to the full batch.
    Shape full_shape = batch_shape;
    full_shape.push_back(rows);
    full_shape.push_back(cols);
    op.tensor = t.detach().expand(full_shape).contiguous();
    op.ld = std::max<int64_t>(cols, 1);
    op.batch_stride = rows * cols;
    return op;
  }
  op.batch_stride = batch_stride;
  if (row_major) {
    op.ld = std::max<int64_t>(s_row, 1);
  } else {
    op.transposed = true;
    op.ld = std::max<int64_t>(s_col, 1);
  }
  return op;
}

// a: (..., M, K), b: (..., K, N), both at least 2-d -> (batch..., M, N).
Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  ATTN_CHECK(b.size(-2) == K, "matmul: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " cannot be multiplied (", K, " columns vs ", b.size(-2),
             " rows)");
  Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape batch_shape = broadcast_shapes(a_batch, b_batch, "matmul");
  int64_t batch = shape_numel(batch_shape, "matmul");
  Shape out_shape = batch_shape;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = autograd::empty_like_shape(a, out_shape);
  if (out.numel() == 0) return out;
  if (K == 0) return zeros(out_shape, a.options());
  GemmOperand A = prepare(a.detach(), batch_shape);
  GemmOperand B = prepare(b.detach(), batch_shape);
  if (a.dtype() == kBFloat16) {
    // bfloat16 in, bfloat16 out, float32 accumulation (kernels/gemm_bf16.h).
    kernels::dispatch_device(A.tensor.device(), "matmul", [&](auto device) {
      kernels::gemm_bf16<device, BFloat16>(A.transposed, B.transposed, batch, M, N, K, 1.0f,
                                           A.tensor.data_ptr<BFloat16>(), A.ld, A.batch_stride,
                                           B.tensor.data_ptr<BFloat16>(), B.ld, B.batch_stride,
                                           0.0f, out.data_ptr<BFloat16>(), N, M * N);
    });
    return out;
  }
  dispatch_floating(a.dtype(), A.tensor.device(), "matmul", [&](auto zero, auto device) {
    using T = decltype(zero);
    // A transposed operand is stored (K, M): BLAS wants its own row stride.
    autograd::gemm<device>(A.transposed, B.transposed, batch, M, N, K, T(1), A.tensor.data_ptr<T>(),
                          A.ld, A.batch_stride, B.tensor.data_ptr<T>(), B.ld, B.batch_stride, T(0),
                          out.data_ptr<T>(), N, M * N);
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same("matmul", a, b);
  check_floating("matmul", a);
  ATTN_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got ",
             shape_str(a.shape()), " and ", shape_str(b.shape()));
  autograd::check_max_dims("matmul", a);
  autograd::check_max_dims("matmul", b);
  // A vector is a one-row (a) or one-column (b) matrix whose extra dim is
  // dropped again from the result (NumPy's rule).
  // (b first, so that vector @ vector goes (1, K) @ (K, 1) -> (1, 1) -> (1) -> ().)
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  Tensor out = matmul_forward(a, b);
  if (any_requires_grad({a, b})) {
    Tensor a_saved = a.detach(), b_saved = b.detach();
    bool a_needs = a.requires_grad(), b_needs = b.requires_grad();
    record("MatmulBackward", out, {a, b}, [a_saved, b_saved, a_needs, b_needs](const Tensor& g) {
      // dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC; sum_to folds broadcast batch dims.
      Tensor ga = a_needs ? autograd::sum_to(matmul(g, b_saved.transpose(-1, -2)), a_saved.shape())
                          : Tensor();
      // A 2-d b shared by every matrix of a batched a (a Linear layer on
      // (B, T, D)): fold the batch into the rows, one GEMM instead of B
      // products and a sum.
      Tensor gb;
      if (b_needs && b_saved.dim() == 2 && a_saved.dim() > 2) {
        int64_t K = a_saved.size(-1);
        gb = matmul(a_saved.reshape({-1, K}).t(), g.reshape({-1, g.size(-1)}));
      } else if (b_needs) {
        gb = autograd::sum_to(matmul(a_saved.transpose(-1, -2), g), b_saved.shape());
      }
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

Tensor Tensor::matmul(const Tensor& other) const { return attn::matmul(*this, other); }

}  // namespace attn
