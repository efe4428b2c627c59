// Scaled dot-product attention as one fused op (kernels/cpu/flash_attention.cpp,
// kernels/cuda/flash_attention.cu), beside the composed path of
// nn/scaled_dot_product_attention.cpp (matmul, masked_fill, softmax, matmul),
// which stays the readable reference and the fallback for masks of any shape.
//
//   S = q k^T / sqrt(D),  P = softmax(S) over the visible keys,  out = P v
//                                                 (Vaswani et al. 2017, eq. 1)
// The fused kernels never store S or P: the forward keeps only out and the
// row log-sum-exp lse, and the backward recomputes P = exp(S - lse) block by
// block (Dao et al. 2022, FlashAttention, Algorithms 1 and 2):
//   dV = P^T dO
//   dP = dO V^T
//   dS = P * (dP - rowsum(dO * O))        (the softmax Jacobian, docs/02-autograd.md)
//   dQ = dS K / sqrt(D),  dK = dS^T Q / sqrt(D)
// Masks are the two that translation needs, given as numbers rather than
// tensors: key_lengths (padding) and causal (the decoder's future).
//
// Grouped heads (MQA, GQA): k and v may have Hkv heads, Hkv dividing the H of
// q; query head h reads kv head h / (H / Hkv) where it lies. A kv head read
// by G = H / Hkv query heads is, for the chain rule, one input used G times,
// so its gradient is the sum of the G heads' dK (and dV): the kernels take
// that sum themselves (kernels/flash_attention.h). The teaching reference,
// repeating each kv head G times first (nn::expand_kv_heads), gives the same
// numbers, and expand's backward takes the same sum (tests/nn).
#include <cmath>

#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "kernels/flash_attention.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& key_lengths, bool causal) {
  const char* op = "flash_attention";
  check_same(op, q, k);
  check_same(op, q, v);
  check_floating(op, q);
  ATTN_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.shape() == v.shape() &&
                 q.size(0) == k.size(0) && q.size(3) == k.size(3) && k.size(1) > 0 &&
                 q.size(1) % k.size(1) == 0,
             op, ": expected q (B, H, Tq, D), k and v (B, Hkv, Tk, D) with Hkv dividing H, got ",
             shape_str(q.shape()), ", ", shape_str(k.shape()), ", ", shape_str(v.shape()));
  const int64_t B = q.size(0), H = q.size(1), Hkv = k.size(1), Tq = q.size(2), Tk = k.size(2),
                D = q.size(3);
  const Tensor lengths =
      autograd::checked_key_lengths(op, key_lengths, B, Tk, "keys", k.shape(), q.device());
  Tensor qc = q.detach().contiguous(), kc = k.detach().contiguous(), vc = v.detach().contiguous();
  Tensor out = Tensor::empty({B, H, Tq, D}, q.options());
  Tensor lse = Tensor::empty({B, H, Tq}, q.options());
  const double scale = 1.0 / std::sqrt(static_cast<double>(D > 0 ? D : 1));
  dispatch_floating(q.dtype(), q.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::flash_attention_forward<device>(
        B, H, Hkv, Tq, Tk, D, qc.data_ptr<T>(), kc.data_ptr<T>(), vc.data_ptr<T>(),
        lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr, causal, static_cast<T>(scale),
        out.data_ptr<T>(), lse.data_ptr<T>());
  });
  if (any_requires_grad({q, k, v})) {
    Tensor saved_out = out.detach();
    record("FlashAttentionBackward", out, {q, k, v},
           [qc, kc, vc, saved_out, lse, lengths, causal, scale, B, H, Hkv, Tq, Tk,
            D](const Tensor& g) {
             Tensor dout = g.contiguous();
             Tensor dq = Tensor::empty(qc.shape(), qc.options());
             Tensor dk = Tensor::empty(kc.shape(), kc.options());
             Tensor dv = Tensor::empty(vc.shape(), vc.options());
             dispatch_floating(
                 qc.dtype(), qc.device(), "flash_attention backward", [&](auto zero, auto device) {
                   using T = decltype(zero);
                   kernels::flash_attention_backward<device>(
                       B, H, Hkv, Tq, Tk, D, qc.data_ptr<T>(), kc.data_ptr<T>(), vc.data_ptr<T>(),
                       saved_out.data_ptr<T>(), dout.data_ptr<T>(), lse.data_ptr<T>(),
                       lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr, causal,
                       static_cast<T>(scale), dq.data_ptr<T>(), dk.data_ptr<T>(), dv.data_ptr<T>());
                 });
             return std::vector<Tensor>{dq, dk, dv};
           });
  }
  return out;
}

// No node and no lse: the kernel reads q, k and v where they lie (each
// (b, head) row of D numbers must be contiguous, which a transpose of the
// heads or a narrowed cache keeps) and writes (B, Tq, H, D), the layout the
// output projection reads after Concat(head_1, ..., head_H).
Tensor grouped_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& key_lengths, bool causal) {
  const char* op = "grouped_attention";
  check_same(op, q, k);
  check_same(op, q, v);
  check_floating(op, q);
  ATTN_CHECK(!any_requires_grad({q, k, v}), op,
             ": inference only, but an input requires grad (flash_attention has the backward)");
  ATTN_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.shape() == v.shape() &&
                 q.size(0) == k.size(0) && q.size(3) == k.size(3) && k.size(1) > 0 &&
                 q.size(1) % k.size(1) == 0,
             op, ": expected q (B, H, Tq, D), k and v (B, Hkv, Tk, D) with Hkv dividing H, got ",
             shape_str(q.shape()), ", ", shape_str(k.shape()), ", ", shape_str(v.shape()));
  const int64_t B = q.size(0), H = q.size(1), Hkv = k.size(1), Tq = q.size(2), Tk = k.size(2),
                D = q.size(3);
  const Tensor lengths =
      autograd::checked_key_lengths(op, key_lengths, B, Tk, "keys", k.shape(), q.device());
  // Rows of D numbers must be contiguous; otherwise (rare: a transposed last
  // dim) one copy makes them so.
  auto rows_contiguous = [](const Tensor& t) { return t.size(3) <= 1 || t.stride(3) == 1 ? t : t.contiguous(); };
  const Tensor qc = rows_contiguous(q), kc = rows_contiguous(k), vc = rows_contiguous(v);
  auto strides_of = [](const Tensor& t) {
    return kernels::AttentionStrides{t.stride(0), t.stride(1), t.stride(2)};
  };
  Tensor out = Tensor::empty({B, Tq, H, D}, q.options());
  Tensor heads = out.transpose(1, 2);                                     // (B, H, Tq, D)
  const double scale = 1.0 / std::sqrt(static_cast<double>(D > 0 ? D : 1));
  dispatch_floating(q.dtype(), q.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::grouped_attention_forward<device>(
        B, H, Hkv, Tq, Tk, D, qc.data_ptr<T>(), strides_of(qc), kc.data_ptr<T>(), strides_of(kc),
        vc.data_ptr<T>(), strides_of(vc), lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr,
        causal, static_cast<T>(scale), out.data_ptr<T>(), strides_of(heads));
  });
  return heads;
}

}  // namespace attn
