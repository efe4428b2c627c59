// linear_prepack and linear_prepacked: a linear layer whose weight is packed
// once and multiplied many times, the product of decoding
// (kernels/packed_linear.h says why and how the packing is laid out).
//
// The pair is an inference op. It has no backward of its own: where a graph
// has to record the product (gradients on, and x or the weight requiring
// them), linear_prepacked is linear() on the weight it was packed from, so
// differentiating through it is differentiating linear(). The same happens
// where nothing was packed (a CUDA tensor, whose GEMM reads W as stored) and
// under bfloat16 autocast (whose GEMM rounds its inputs first).
//
// A packed copy is a snapshot: a weight changed in place after packing (an
// optimizer step) is not seen by linear_prepacked until it is packed again.
// That is why callers pack for one decode at a time (nn/packed_weights.h).
#include "autograd/autocast.h"
#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "kernels/packed_linear.h"

namespace attn {

PackedLinear linear_prepack(const Tensor& weight, const Tensor& bias) {
  ATTN_CHECK(weight.defined() && weight.dim() == 2,
             "linear_prepack: weight must be (out, in), got ",
             weight.defined() ? shape_str(weight.shape()) : "undefined");
  check_floating("linear_prepack", weight);
  const int64_t N = weight.size(0), K = weight.size(1);
  if (bias.defined()) {
    check_same("linear_prepack", weight, bias);
    ATTN_CHECK(bias.shape() == Shape({N}), "linear_prepack: bias must be (", N,
               ") for weight ", shape_str(weight.shape()), ", got ", shape_str(bias.shape()));
  }
  PackedLinear result;
  result.weight = weight;
  result.bias = bias;
  if (weight.device() != kCPU) return result;  // cuBLAS reads W as it is stored
  Tensor w = weight.detach().contiguous();      // (out, in)
  result.packed = Tensor::empty(
      {(N + kernels::kPackedLinearPanel - 1) / kernels::kPackedLinearPanel, K,
       kernels::kPackedLinearPanel},
      w.options());  // (ceil(out / 16), in, 16)
  dispatch_floating(w.dtype(), "linear_prepack", [&](auto zero) {
    using T = decltype(zero);
    kernels::pack_linear_weight<Device::CPU, T>(w.data_ptr<T>(), N, K,
                                                result.packed.data_ptr<T>());
  });
  return result;
}

Tensor linear_prepacked(const Tensor& x, const PackedLinear& packed) {
  ATTN_CHECK(packed.weight.defined(),
             "linear_prepacked: the packed weight is empty; make it with linear_prepack");
  const bool graph = autograd::any_requires_grad({x, packed.weight, packed.bias});
  if (!packed.packed.defined() || graph || AutocastBF16::is_enabled() || !x.defined() ||
      x.device() != kCPU || x.dtype() != packed.packed.dtype()) {
    // linear() checks the arguments and names what is wrong.
    return linear(x, packed.weight, packed.bias);
  }
  const int64_t N = packed.weight.size(0), K = packed.weight.size(1);
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) == K, "linear_prepacked: input must be (..., ", K,
             ") for weight ", shape_str(packed.weight.shape()), ", got ", shape_str(x.shape()));
  if (K == 0) return linear(x, packed.weight, packed.bias);  // nothing to multiply: the plain op
  Shape out_shape = x.shape();
  out_shape.back() = N;
  const int64_t M = x.numel() / K;
  Tensor rows = x.detach().reshape({M, K}).contiguous();                          // (M, in)
  Tensor b = packed.bias.defined() ? packed.bias.detach().contiguous() : Tensor();  // (out)
  Tensor out = Tensor::empty({M, N}, rows.options());                               // (M, out)
  dispatch_floating(x.dtype(), "linear_prepacked", [&](auto zero) {
    using T = decltype(zero);
    kernels::packed_linear<Device::CPU, T>(rows.data_ptr<T>(), M, K,
                                           packed.packed.data_ptr<T>(), N,
                                           b.defined() ? b.data_ptr<T>() : nullptr,
                                           out.data_ptr<T>());
  });
  return out.view(out_shape);
}

}  // namespace attn
