// The recurrent cells as ops: one GRU or LSTM step's gates, fused into one
// forward kernel, one backward kernel and one graph node.
//
// Written with the element-wise ops, a GRU step is about a dozen nodes
// (two sigmoids, a tanh, four products, adds, a 1 − z...), each allocating a
// (B, H) tensor forward and another backward. A translator runs that step
// tens of times per sentence, so the graph would be mostly gate arithmetic.
// Here the gates are one node; the matrix products around them stay ordinary
// matmuls, so their gradients (dW_hh, dx, dh through W_hh) come from matmul's
// own backward rule. The derivatives are written out in
// kernels/cpu/rnn_cells.cpp beside the loops that compute them.
//
// An LSTM step has two results, h' and c'. The engine's nodes have one output
// each (autograd/node.h), so lstm_cell_fused returns them side by side in one
// (B, 2H) tensor: one node, and the caller takes h' and c' out with narrow
// (views, no copies). The backward then receives dL/dh' and dL/dc' in the two
// halves of one gradient; a half that nothing used arrives as zeros.
#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "kernels/rnn_cells.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;

namespace {

// t (rows, cols) as the kernels read it: each row contiguous, rows any stride
// apart. A step sliced out of a (B, T, 3H) projection already is; anything
// else is copied. Detached: the kernels are outside autograd.
Tensor rows_readable(const Tensor& t) {
  Tensor d = t.detach();
  if (d.size(1) <= 1 || d.stride(1) == 1) return d;
  return d.contiguous();
}

void check_cell_input(const char* op, const Tensor& t) {
  check_floating(op, t);
}

}  // namespace

// --- unbind ---
//
// A recurrent layer computes its input projection for all T steps at once,
// (B, T, 3H), then needs step t as a (B, 3H) tensor. select(1, t) gives that
// view, but its backward (narrow's) returns a zero-filled (B, T, 3H)
// gradient with only step t's slice set, and the engine adds the T of them:
// O(T²) memory traffic for an O(T) result, which for a 20-step batch cost
// more than the recurrent matmuls themselves.
//
// unbind returns all T views at once, and their gradients are written into
// one shared (B, T, 3H) buffer, each into its own slice. The engine's nodes
// have one output each, so the T views are wired as follows:
//
//     x  <-- UnbindBackward (output: `token`, a 0-dim tensor nobody reads)
//              ^  ^  ^
//              |  |  +-- UnbindStepBackward for piece T-1
//              |  +----- ...
//              +-------- UnbindStepBackward for piece 0
//
// Piece t's node copies dL/dpiece_t into the buffer's slice t and sends
// nothing on to the token. The engine runs UnbindBackward only after every
// piece that reached the loss has run (it counts the edges), so by then the
// buffer is complete, and it hands the buffer to x: T slice copies in all.
// A piece that never reached the loss leaves its slice at zero.

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "unbind");
  Shape piece_shape = x.shape(), piece_strides = x.strides();
  piece_shape.erase(piece_shape.begin() + d);
  piece_strides.erase(piece_strides.begin() + d);
  std::vector<Tensor> pieces;
  pieces.reserve(static_cast<size_t>(x.size(d)));
  for (int64_t i = 0; i < x.size(d); ++i) {
    pieces.push_back(make_view(x, piece_shape, piece_strides, x.offset() + i * x.stride(d)));
  }
  if (!any_requires_grad({x})) return pieces;

  // The buffer is made by the first piece's backward that runs.
  auto buffer = std::make_shared<Tensor>();
  const Shape full_shape = x.shape();
  const TensorOptions options = TensorOptions(x.dtype()).device(x.device());
  Tensor token = Tensor::empty({}, options);
  record("UnbindBackward", token, {x}, [buffer, full_shape, options](const Tensor&) {
    return std::vector<Tensor>{buffer->defined() ? *buffer : zeros(full_shape, options)};
  });
  for (int64_t i = 0; i < x.size(d); ++i) {
    record("UnbindStepBackward", pieces[static_cast<size_t>(i)], {token},
           [buffer, full_shape, options, d, i](const Tensor& g) {
             if (!buffer->defined()) *buffer = zeros(full_shape, options);
             buffer->select(d, i).copy_(g);
             return std::vector<Tensor>{Tensor()};  // nothing flows through the token
           });
  }
  return pieces;
}

// --- GRU ---

Tensor gru_cell_fused(const Tensor& gi, const Tensor& gh, const Tensor& h) {
  const char* op = "gru_cell_fused";
  check_cell_input(op, h);
  check_same(op, gi, h);
  check_same(op, gh, h);
  ATTN_CHECK(h.dim() == 2, op, ": h must be (B, H), got ", shape_str(h.shape()));
  const int64_t B = h.size(0), H = h.size(1);
  ATTN_CHECK(gi.shape() == Shape({B, 3 * H}) && gh.shape() == Shape({B, 3 * H}), op,
             ": gi and gh must be (B, 3H) = (", B, ", ", 3 * H, ") for h ", shape_str(h.shape()),
             ", got gi ", shape_str(gi.shape()), " and gh ", shape_str(gh.shape()));
  Tensor gi_in = rows_readable(gi);
  Tensor gh_in = rows_readable(gh);
  Tensor h_in = rows_readable(h);
  const bool needs_grad = any_requires_grad({gi, gh, h});
  Tensor out = autograd::empty_like_shape(h, {B, H});
  // (r, z, n, gh_n) per row, kept only when a backward will need them.
  Tensor saved = needs_grad ? autograd::empty_like_shape(h, {B, 4 * H}) : Tensor();
  dispatch_floating(h.dtype(), gi_in.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::gru_cell_fused_forward<device>(B, H, gi_in.data_ptr<T>(), gi_in.stride(0),
                                            gh_in.data_ptr<T>(), gh_in.stride(0),
                                            h_in.data_ptr<T>(), h_in.stride(0), out.data_ptr<T>(),
                                            needs_grad ? saved.data_ptr<T>() : nullptr);
  });
  if (needs_grad) {
    // dL/dgi, dL/dgh and the direct part of dL/dh, from the gates saved above
    // (the formulas are in kernels/cpu/rnn_cells.cpp).
    record("GruCellFusedBackward", out, {gi, gh, h}, [h_in, saved, B, H](const Tensor& g) {
      Tensor dy = g.contiguous();
      Tensor dgi = autograd::empty_like_shape(dy, {B, 3 * H});
      Tensor dgh = autograd::empty_like_shape(dy, {B, 3 * H});
      Tensor dh = autograd::empty_like_shape(dy, {B, H});
      dispatch_floating(
          dy.dtype(), dy.device(), "gru_cell_fused backward", [&](auto zero, auto device) {
            using T = decltype(zero);
            kernels::gru_cell_fused_backward<device>(
                B, H, dy.data_ptr<T>(), h_in.data_ptr<T>(), h_in.stride(0), saved.data_ptr<T>(),
                dgi.data_ptr<T>(), dgh.data_ptr<T>(), dh.data_ptr<T>());
          });
      return std::vector<Tensor>{dgi, dgh, dh};
    });
  }
  return out;
}

// --- LSTM ---

Tensor lstm_cell_fused(const Tensor& gates, const Tensor& c) {
  const char* op = "lstm_cell_fused";
  check_cell_input(op, c);
  check_same(op, gates, c);
  ATTN_CHECK(c.dim() == 2, op, ": c must be (B, H), got ", shape_str(c.shape()));
  const int64_t B = c.size(0), H = c.size(1);
  ATTN_CHECK(gates.shape() == Shape({B, 4 * H}), op, ": gates must be (B, 4H) = (", B, ", ",
             4 * H, ") for c ", shape_str(c.shape()), ", got ", shape_str(gates.shape()));
  Tensor gates_in = rows_readable(gates);
  Tensor c_in = rows_readable(c);
  const bool needs_grad = any_requires_grad({gates, c});
  Tensor out = autograd::empty_like_shape(c, {B, 2 * H});  // [h' | c']
  // (i, f, g, o, tanh(c')) per row, for the backward.
  Tensor saved = needs_grad ? autograd::empty_like_shape(c, {B, 5 * H}) : Tensor();
  dispatch_floating(c.dtype(), gates_in.device(), op, [&](auto zero, auto device) {
    using T = decltype(zero);
    T* base = out.data_ptr<T>();
    kernels::lstm_cell_fused_forward<device>(B, H, gates_in.data_ptr<T>(), gates_in.stride(0),
                                             c_in.data_ptr<T>(), c_in.stride(0), base, base + H,
                                             2 * H, needs_grad ? saved.data_ptr<T>() : nullptr);
  });
  if (needs_grad) {
    // g = [dL/dh' | dL/dc'] (B, 2H) -> dL/dgates (B, 4H), dL/dc (B, H).
    record("LstmCellFusedBackward", out, {gates, c}, [c_in, saved, B, H](const Tensor& g) {
      Tensor dy = g.contiguous();
      Tensor dgates = autograd::empty_like_shape(dy, {B, 4 * H});
      Tensor dc = autograd::empty_like_shape(dy, {B, H});
      dispatch_floating(dy.dtype(), c_in.device(), "lstm_cell_fused backward",
                        [&](auto zero, auto device) {
                          using T = decltype(zero);
                          const T* base = dy.data_ptr<T>();
                          kernels::lstm_cell_fused_backward<device>(
                              B, H, base, base + H, 2 * H, c_in.data_ptr<T>(), c_in.stride(0),
                              saved.data_ptr<T>(), dgates.data_ptr<T>(), dc.data_ptr<T>());
                        });
      return std::vector<Tensor>{dgates, dc};
    });
  }
  return out;
}

}  // namespace attn
