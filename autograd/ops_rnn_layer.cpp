// One GRU or LSTM layer in one direction over a whole batch of sequences, as one op:
// the recurrence forward and backpropagation through time in one node.
//
// nn::GRU used to run the recurrence as ordinary ops (a matmul, a bias add,
// gru_cell_fused and, on padding, a where per step). Its backward then paid
// per step for what the whole sequence could do at once: a small dW_hh
// product added into the leaf, a bias gradient, and the graph's bookkeeping.
// Here each step writes dgh into a (T, B, 3H) buffer and
//   dW_hh = dgh^T [h_prev of every step]   (3H, H) from (T·B, 3H) x (T·B, H)
// is one product at the end; dgi goes back whole to the input projection
// (which the caller computed for all steps at once, one linear).
//
// Forward, step t in the direction's order (t = 0..T-1, or T-1..0 reversed),
// with prev(t) the state before it:
//   gh   = h_prev W_hh^T + b_hh
//   h_t  = GRU gates (gi_t, gh, h_prev)           (kernels/cpu/rnn_cells.cpp)
//   h_t  = h_prev on rows where t >= lengths[b]   (padding: nn/recurrent.h)
// Backward, steps in the opposite order, dS the gradient reaching h_t:
//   dS   = d out_t + carry;  on padding rows the whole dS passes to h_prev,
//          on real rows it enters the gates (the two parts by a 0/1 mask):
//   (dgi_t, dgh_t, direct) = gates' backward (dS * mask)
//   carry = direct + dgh_t W_hh + dS * (1 - mask)
// lstm_layer is the same walk with the state [h | c] (B, 2H) and the LSTM's
// gates (b_hh already summed into the input projection), dgates in place of dgh.
#include <algorithm>
#include <vector>

#include "autograd/op_helpers.h"
#include "kernels/matmul.h"
#include "kernels/rnn_cells.h"
#include "tensor/dispatch.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

namespace {

// The 0/1 masks (B, 1) of the steps that hold padding (undefined elsewhere).
std::vector<Tensor> padding_masks(const Tensor& lengths, int64_t B, int64_t T,
                                  const Tensor& like) {
  std::vector<int64_t> length(static_cast<size_t>(B), T);
  if (lengths.defined()) length = lengths.cpu().to_vector<int64_t>();
  const int64_t min_length = B == 0 ? T : *std::min_element(length.begin(), length.end());
  std::vector<Tensor> masks(static_cast<size_t>(T));
  for (int64_t t = min_length; t < T; ++t) {
    std::vector<double> real(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) real[b] = t < length[b] ? 1.0 : 0.0;
    masks[t] = from_vector(real, {B, 1}).to(like.dtype()).to(like.device());
  }
  return masks;
}

}  // namespace

Tensor gru_layer(const Tensor& gi, const Tensor& w_hh, const Tensor& b_hh, const Tensor& h0,
                 const Tensor& lengths, bool reverse) {
  const char* op = "gru_layer";
  check_floating(op, h0);
  for (const Tensor* t : {&gi, &w_hh, &b_hh}) check_same(op, h0, *t);
  ATTN_CHECK(gi.dim() == 3 && h0.dim() == 2, op, ": expected gi (B, T, 3H) and h0 (B, H), got ",
             shape_str(gi.shape()), " and ", shape_str(h0.shape()));
  const int64_t B = gi.size(0), T = gi.size(1), H = h0.size(1);
  ATTN_CHECK(gi.shape() == Shape({B, T, 3 * H}) && h0.size(0) == B &&
                 w_hh.shape() == Shape({3 * H, H}) && b_hh.shape() == Shape({3 * H}) && T > 0,
             op, ": shapes do not fit: gi ", shape_str(gi.shape()), ", w_hh ",
             shape_str(w_hh.shape()), ", b_hh ", shape_str(b_hh.shape()), ", h0 ",
             shape_str(h0.shape()));
  const TensorOptions like = h0.options();
  const std::vector<Tensor> masks = padding_masks(lengths, B, T, h0);
  const bool needs_grad = any_requires_grad({gi, w_hh, b_hh, h0});
  Tensor gi_in = gi.detach();
  if (gi_in.stride(2) != 1) gi_in = gi_in.contiguous();
  Tensor whh = w_hh.detach().contiguous();
  // states[t + 1] = h_t in time order; h0 sits before (forward) or after (reversed).
  Tensor states = Tensor::empty({T + 2, B, H}, like);
  states.select(0, reverse ? T + 1 : 0).copy_(h0.detach());
  Tensor gh = b_hh.detach().reshape({1, 1, 3 * H}).expand({T, B, 3 * H}).contiguous();
  Tensor saved = needs_grad ? Tensor::empty({T, B, 4 * H}, like) : Tensor();
  auto prev_slot = [reverse](int64_t t) { return reverse ? t + 2 : t; };

  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    dispatch_floating(h0.dtype(), h0.device(), op, [&](auto zero, auto device) {
      using Tp = decltype(zero);
      constexpr Device D = decltype(device)::value;
      Tp* sp = states.data_ptr<Tp>();
      const Tp* h_prev = sp + prev_slot(t) * B * H;
      Tp* gh_t = gh.data_ptr<Tp>() + t * B * 3 * H;
      kernels::gemm<D, Tp>(false, true, 1, B, 3 * H, H, Tp(1), h_prev, H, 0, whh.data_ptr<Tp>(),
                           H, 0, Tp(1), gh_t, 3 * H, 0);
      kernels::gru_cell_fused_forward<D, Tp>(
          B, H, gi_in.data_ptr<Tp>() + t * gi_in.stride(1), gi_in.stride(0), gh_t, 3 * H, h_prev,
          H, sp + (t + 1) * B * H, needs_grad ? saved.data_ptr<Tp>() + t * B * 4 * H : nullptr);
    });
    if (masks[t].defined()) {
      Tensor h_t = states.select(0, t + 1), h_prev = states.select(0, prev_slot(t));
      h_t.copy_(h_t * masks[t] + h_prev * (1.0 - masks[t]));
    }
  }
  Tensor out = states.narrow(0, 1, T);  // (T, B, H), time-major
  if (!needs_grad) return out;

  record("GruLayerBackward", out, {gi, w_hh, b_hh, h0}, [=](const Tensor& g) {
    Tensor d_out = g.contiguous();  // (T, B, H)
    Tensor dgi = Tensor::empty({T, B, 3 * H}, like), dgh = Tensor::empty({T, B, 3 * H}, like);
    Tensor carry = zeros({B, H}, like), direct = Tensor::empty({B, H}, like);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = reverse ? T - 1 - s : s;
      Tensor dS = d_out.select(0, t) + carry;
      Tensor pass;
      if (masks[t].defined()) {
        pass = dS * (1.0 - masks[t]);
        dS = dS * masks[t];
      }
      dispatch_floating(g.dtype(), g.device(), "gru_layer backward", [&](auto zero, auto device) {
        using Tp = decltype(zero);
        constexpr Device D = decltype(device)::value;
        Tp* dgh_t = dgh.data_ptr<Tp>() + t * B * 3 * H;
        kernels::gru_cell_fused_backward<D, Tp>(
            B, H, dS.data_ptr<Tp>(), states.data_ptr<Tp>() + prev_slot(t) * B * H, H,
            saved.data_ptr<Tp>() + t * B * 4 * H, dgi.data_ptr<Tp>() + t * B * 3 * H, dgh_t,
            direct.data_ptr<Tp>());
        kernels::gemm<D, Tp>(false, false, 1, B, H, 3 * H, Tp(1), dgh_t, 3 * H, 0,
                             whh.data_ptr<Tp>(), H, 0, Tp(1), direct.data_ptr<Tp>(), H, 0);
      });
      carry = pass.defined() ? direct + pass : direct.clone();
    }
    // dW_hh in one product: the previous states of all steps are slots
    // 0..T-1 (forward) or 2..T+1 (reversed), in the same time order as dgh.
    Tensor dwhh = Tensor::empty({3 * H, H}, like);
    dispatch_floating(g.dtype(), g.device(), "gru_layer backward", [&](auto zero, auto device) {
      using Tp = decltype(zero);
      constexpr Device D = decltype(device)::value;
      const Tp* prev = states.data_ptr<Tp>() + (reverse ? 2 : 0) * B * H;
      kernels::gemm<D, Tp>(true, false, 1, 3 * H, H, T * B, Tp(1), dgh.data_ptr<Tp>(), 3 * H, 0,
                           prev, H, 0, Tp(0), dwhh.data_ptr<Tp>(), H, 0);
    });
    Tensor dbhh = dgh.reshape({T * B, 3 * H}).sum(0);
    return std::vector<Tensor>{dgi.transpose(0, 1).contiguous(), dwhh, dbhh, carry};
  });
  return out;
}

Tensor lstm_layer(const Tensor& gi, const Tensor& w_hh, const Tensor& h0, const Tensor& c0,
                  const Tensor& lengths, bool reverse) {
  const char* op = "lstm_layer";
  check_floating(op, h0);
  for (const Tensor* t : {&gi, &w_hh, &c0}) check_same(op, h0, *t);
  ATTN_CHECK(gi.dim() == 3 && h0.dim() == 2, op, ": expected gi (B, T, 4H) and h0 (B, H), got ",
             shape_str(gi.shape()), " and ", shape_str(h0.shape()));
  const int64_t B = gi.size(0), T = gi.size(1), H = h0.size(1);
  ATTN_CHECK(gi.shape() == Shape({B, T, 4 * H}) && h0.size(0) == B &&
                 c0.shape() == h0.shape() && w_hh.shape() == Shape({4 * H, H}) && T > 0,
             op, ": shapes do not fit: gi ", shape_str(gi.shape()), ", w_hh ",
             shape_str(w_hh.shape()), ", h0 ", shape_str(h0.shape()), ", c0 ",
             shape_str(c0.shape()));
  const TensorOptions like = h0.options();
  const std::vector<Tensor> masks = padding_masks(lengths, B, T, h0);
  const bool needs_grad = any_requires_grad({gi, w_hh, h0, c0});
  Tensor whh = w_hh.detach().contiguous();
  // gates[t] starts as step t's input projection; the steps add h_prev W_hh^T.
  Tensor gates = gi.detach().transpose(0, 1).contiguous();  // (T, B, 4H)
  Tensor states = Tensor::empty({T + 2, B, 2 * H}, like);  // [h | c], as gru_layer's slots
  Tensor start = states.select(0, reverse ? T + 1 : 0);
  start.narrow(1, 0, H).copy_(h0.detach());
  start.narrow(1, H, H).copy_(c0.detach());
  Tensor saved = needs_grad ? Tensor::empty({T, B, 5 * H}, like) : Tensor();
  auto prev_slot = [reverse](int64_t t) { return reverse ? t + 2 : t; };

  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    dispatch_floating(h0.dtype(), h0.device(), op, [&](auto zero, auto device) {
      using Tp = decltype(zero);
      constexpr Device D = decltype(device)::value;
      Tp* sp = states.data_ptr<Tp>();
      const Tp* prev = sp + prev_slot(t) * B * 2 * H;
      Tp* g_t = gates.data_ptr<Tp>() + t * B * 4 * H;
      Tp* next = sp + (t + 1) * B * 2 * H;
      kernels::gemm<D, Tp>(false, true, 1, B, 4 * H, H, Tp(1), prev, 2 * H, 0,
                           whh.data_ptr<Tp>(), H, 0, Tp(1), g_t, 4 * H, 0);
      kernels::lstm_cell_fused_forward<D, Tp>(
          B, H, g_t, 4 * H, prev + H, 2 * H, next, next + H, 2 * H,
          needs_grad ? saved.data_ptr<Tp>() + t * B * 5 * H : nullptr);
    });
    if (masks[t].defined()) {
      Tensor now = states.select(0, t + 1), prev = states.select(0, prev_slot(t));
      now.copy_(now * masks[t] + prev * (1.0 - masks[t]));
    }
  }
  Tensor out = states.narrow(0, 1, T);  // (T, B, 2H), time-major [h | c]
  if (!needs_grad) return out;

  record("LstmLayerBackward", out, {gi, w_hh, h0, c0}, [=](const Tensor& g) {
    Tensor d_out = g.contiguous();  // (T, B, 2H)
    Tensor dgates = Tensor::empty({T, B, 4 * H}, like);
    Tensor carry = zeros({B, 2 * H}, like);
    Tensor dh = Tensor::empty({B, H}, like), dc = Tensor::empty({B, H}, like);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = reverse ? T - 1 - s : s;
      Tensor dS = d_out.select(0, t) + carry;  // (B, 2H): [dL/dh_t | dL/dc_t]
      Tensor pass;
      if (masks[t].defined()) {
        pass = dS * (1.0 - masks[t]);
        dS = dS * masks[t];
      }
      dispatch_floating(g.dtype(), g.device(), "lstm_layer backward", [&](auto zero, auto device) {
        using Tp = decltype(zero);
        constexpr Device D = decltype(device)::value;
        const Tp* prev = states.data_ptr<Tp>() + prev_slot(t) * B * 2 * H;
        Tp* dg_t = dgates.data_ptr<Tp>() + t * B * 4 * H;
        const Tp* ds = dS.data_ptr<Tp>();
        kernels::lstm_cell_fused_backward<D, Tp>(B, H, ds, ds + H, 2 * H, prev + H, 2 * H,
                                                 saved.data_ptr<Tp>() + t * B * 5 * H, dg_t,
                                                 dc.data_ptr<Tp>());
        kernels::gemm<D, Tp>(false, false, 1, B, H, 4 * H, Tp(1), dg_t, 4 * H, 0,
                             whh.data_ptr<Tp>(), H, 0, Tp(0), dh.data_ptr<Tp>(), H, 0);
      });
      carry = cat({dh, dc}, 1);
      if (pass.defined()) carry = carry + pass;
    }
    Tensor dwhh = Tensor::empty({4 * H, H}, like);
    dispatch_floating(g.dtype(), g.device(), "lstm_layer backward", [&](auto zero, auto device) {
      using Tp = decltype(zero);
      constexpr Device D = decltype(device)::value;
      const Tp* prev = states.data_ptr<Tp>() + (reverse ? 2 : 0) * B * 2 * H;  // h rows
      kernels::gemm<D, Tp>(true, false, 1, 4 * H, H, T * B, Tp(1), dgates.data_ptr<Tp>(), 4 * H,
                           0, prev, 2 * H, 0, Tp(0), dwhh.data_ptr<Tp>(), H, 0);
    });
    return std::vector<Tensor>{dgates.transpose(0, 1).contiguous(), dwhh,
                               carry.narrow(1, 0, H).contiguous(),
                               carry.narrow(1, H, H).contiguous()};
  });
  return out;
}

}  // namespace attn
