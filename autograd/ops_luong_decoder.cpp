// Luong's decoder (Luong, Pham & Manning 2015: global attention, the general
// or dot score, input feeding) over a whole target sentence as one op: every
// position's LSTM step and attention forward, and backpropagation through
// time in one backward node. Why one op: see autograd/ops_bahdanau_decoder.cpp,
// the same idea for RNNsearch; the step-by-step path (nn::Luong::step) is the
// reference that tests/nn/test_rnn_decoders.cpp compares this with.
//
// The forward, position t = 0..T-1, with htilde_{-1} = 0:
//   gates_t  = gi_emb_t + htilde_{t-1} W_feed^T + h_{t-1} W_hh^T   (B, 4H)
//              (W_ih = [W_emb | W_feed] splits x = [E y; htilde] W_ih^T in two;
//               gi_emb = E y W_emb^T + b_ih + b_hh is the caller's, all t at once)
//   h_t, c_t = LSTM gates (kernels/cpu/rnn_cells.cpp)
//   e_t[s]   = keys[s] . h_t          keys = W_a hbar (general) or hbar (dot), eq. (8)
//   a_t      = softmax over real positions of e_t                          (7)
//   ctx_t    = sum_s a_t[s] values[s]
//   htilde_t = tanh(W_c [ctx_t; h_t]) = tanh(ctx_t W_c1^T + h_t W_c2^T)     (5)
// The backward walks t = T-1..0 with three gradients carried from step t+1:
// into htilde_t (input feeding), h_t and c_t (the recurrence):
//   dpre     = (d out_t + carry_htilde) (1 - htilde_t^2)
//   dctx     = dpre W_c1;  dh = carry_h + dpre W_c2 + sum_s de_t[s] keys[s]
//   de_t     = softmax' (a_t, values . dctx)     (attention_softmax_context_backward)
//   dgates, carry_c = LSTM gates' backward (dh, carry_c)
//   carry_htilde = dgates W_feed;  carry_h = dgates W_hh
// and every weight's gradient is one product over all T * B rows at the end
// (dW_feed, dW_hh, dW_c), the keys' and values' one batched product per sentence.
#include "autograd/op_helpers.h"
#include "kernels/additive_attention.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/rnn_cells.h"
#include "tensor/dispatch.h"

namespace attn {

using autograd::any_requires_grad;
using autograd::record;
using autograd::rows_of;

namespace {

// C (M, N) = op(A) op(B) + beta C, one matrix, row-major with leading dims.
template <Device D, typename T>
void mm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
        const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  kernels::gemm<D, T>(trans_a, trans_b, 1, M, N, K, T(1), A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

}  // namespace

Tensor luong_decoder(const Tensor& gi_emb, const Tensor& h0, const Tensor& c0,
                     const Tensor& w_feed, const Tensor& w_hh, const Tensor& w_combine,
                     const Tensor& keys, const Tensor& values, const Tensor& lengths) {
  const char* op = "luong_decoder";
  check_floating(op, h0);
  for (const Tensor* t : {&gi_emb, &c0, &w_feed, &w_hh, &w_combine, &keys, &values}) {
    check_same(op, h0, *t);
  }
  ATTN_CHECK(gi_emb.dim() == 3 && h0.dim() == 2 && keys.dim() == 3 && values.dim() == 3, op,
             ": expected gi_emb (T, B, 4H), h0 (B, H), keys (B, S, H), values (B, S, Hk)");
  const int64_t T = gi_emb.size(0), B = h0.size(0), H = h0.size(1);
  const int64_t S = keys.size(1), Hk = values.size(2);
  ATTN_CHECK(gi_emb.shape() == Shape({T, B, 4 * H}) && c0.shape() == Shape({B, H}) &&
                 w_feed.shape() == Shape({4 * H, H}) && w_hh.shape() == Shape({4 * H, H}) &&
                 w_combine.shape() == Shape({H, Hk + H}) && keys.shape() == Shape({B, S, H}) &&
                 values.size(0) == B && values.size(1) == S && lengths.shape() == Shape({B}) &&
                 lengths.dtype() == kInt64 && T > 0,
             op, ": shapes do not fit: gi_emb ", shape_str(gi_emb.shape()), ", h0 ",
             shape_str(h0.shape()), ", c0 ", shape_str(c0.shape()), ", w_feed ",
             shape_str(w_feed.shape()), ", w_hh ", shape_str(w_hh.shape()), ", w_combine ",
             shape_str(w_combine.shape()), ", keys ", shape_str(keys.shape()), ", values ",
             shape_str(values.shape()), ", lengths ", shape_str(lengths.shape()));
  const bool needs_grad =
      any_requires_grad({gi_emb, h0, c0, w_feed, w_hh, w_combine, keys, values});
  const TensorOptions like = h0.options();
  Tensor wf = rows_of(w_feed), whh = rows_of(w_hh).contiguous();
  Tensor wc = rows_of(w_combine).contiguous();
  Tensor k = keys.detach().contiguous(), vals = values.detach().contiguous();
  Tensor lens = lengths.to(h0.device()).contiguous();
  Tensor gates = gi_emb.detach().clone().contiguous();   // (T, B, 4H): the steps add into it
  Tensor hc = Tensor::empty({T + 1, B, 2 * H}, like);    // [h_t | c_t], slot 0 the start
  hc.select(0, 0).narrow(1, 0, H).copy_(h0.detach());
  hc.select(0, 0).narrow(1, H, H).copy_(c0.detach());
  Tensor htilde = zeros({T + 1, B, H}, like);            // htilde_{-1} = 0, then each step's
  Tensor contexts = Tensor::empty({T, B, Hk}, like);
  Tensor weights = Tensor::empty({T, B, S}, like);
  Tensor saved = needs_grad ? Tensor::empty({T, B, 5 * H}, like) : Tensor();  // LSTM gates
  Tensor scores = Tensor::empty({B, S}, like);

  dispatch_floating(h0.dtype(), h0.device(), op, [&](auto zero, auto device) {
    using Tp = decltype(zero);
    constexpr Device D = decltype(device)::value;
    const Tp *kp = k.data_ptr<Tp>(), *valp = vals.data_ptr<Tp>();
    const Tp *wfp = wf.data_ptr<Tp>(), *whhp = whh.data_ptr<Tp>(), *wcp = wc.data_ptr<Tp>();
    const int64_t ldwf = wf.stride(0), ldwc = Hk + H;
    Tp *hcp = hc.data_ptr<Tp>(), *htp = htilde.data_ptr<Tp>(), *gp = gates.data_ptr<Tp>();
    Tp *cp = contexts.data_ptr<Tp>(), *ap = weights.data_ptr<Tp>(), *ep = scores.data_ptr<Tp>();
    for (int64_t t = 0; t < T; ++t) {
      const Tp* hc_prev = hcp + t * B * 2 * H;
      Tp* hc_t = hcp + (t + 1) * B * 2 * H;
      Tp* g_t = gp + t * B * 4 * H;
      Tp* ht_t = htp + (t + 1) * B * H;
      Tp* c_t = cp + t * B * Hk;
      mm<D, Tp>(false, true, B, 4 * H, H, htp + t * B * H, H, wfp, ldwf, Tp(1), g_t, 4 * H);
      mm<D, Tp>(false, true, B, 4 * H, H, hc_prev, 2 * H, whhp, H, Tp(1), g_t, 4 * H);
      kernels::lstm_cell_fused_forward<D, Tp>(
          B, H, g_t, 4 * H, hc_prev + H, 2 * H, hc_t, hc_t + H, 2 * H,
          needs_grad ? saved.data_ptr<Tp>() + t * B * 5 * H : nullptr);
      // e[b] (1, S) = h_t[b] (1, H) keys[b]^T (H, S), sentence by sentence.
      kernels::gemm<D, Tp>(false, true, B, 1, S, H, Tp(1), hc_t, H, 2 * H, kp, H, S * H, Tp(0),
                           ep, S, S);
      kernels::attention_softmax_context_forward<D, Tp>(B, S, Hk, ep, lens.data_ptr<int64_t>(),
                                                        valp, ap + t * B * S, c_t);
      mm<D, Tp>(false, true, B, H, Hk, c_t, Hk, wcp, ldwc, Tp(0), ht_t, H);
      mm<D, Tp>(false, true, B, H, H, hc_t, 2 * H, wcp + Hk, ldwc, Tp(1), ht_t, H);
      kernels::unary<D, Tp>(kernels::UnaryOp::Tanh, B * H, ht_t, ht_t);
    }
  });
  Tensor out = htilde.narrow(0, 1, T);  // (T, B, H): htilde_0 .. htilde_{T-1}
  if (!needs_grad) return out.contiguous();
  out = out.contiguous();

  record("LuongDecoderBackward", out, {gi_emb, h0, c0, w_feed, w_hh, w_combine, keys, values},
         [=](const Tensor& g) {
           Tensor d_out = g.contiguous();                                    // (T, B, H)
           Tensor dgates = Tensor::empty({T, B, 4 * H}, like);
           Tensor dpre = Tensor::empty({T, B, H}, like), dctx = Tensor::empty({T, B, Hk}, like);
           Tensor dscores = Tensor::empty({T, B, S}, like);
           Tensor carry_ht = zeros({B, H}, like), carry_h = zeros({B, H}, like);
           Tensor carry_c = zeros({B, H}, like), next_c = Tensor::empty({B, H}, like);
           for (int64_t t = T - 1; t >= 0; --t) {
             // tanh' = 1 - htilde^2, on the whole gradient reaching htilde_t.
             Tensor ht = htilde.select(0, t + 1);
             dpre.select(0, t).copy_((d_out.select(0, t) + carry_ht) * (1.0 - ht * ht));
             dispatch_floating(g.dtype(), g.device(), "luong_decoder backward",
                               [&](auto zero, auto device) {
               using Tp = decltype(zero);
               constexpr Device D = decltype(device)::value;
               const Tp *kp = k.data_ptr<Tp>(), *valp = vals.data_ptr<Tp>();
               const Tp *wfp = wf.data_ptr<Tp>(), *whhp = whh.data_ptr<Tp>();
               const Tp* wcp = wc.data_ptr<Tp>();
               const int64_t ldwf = wf.stride(0), ldwc = Hk + H;
               const Tp* dpre_t = dpre.data_ptr<Tp>() + t * B * H;
               Tp* dctx_t = dctx.data_ptr<Tp>() + t * B * Hk;
               Tp* de_t = dscores.data_ptr<Tp>() + t * B * S;
               Tp* dg_t = dgates.data_ptr<Tp>() + t * B * 4 * H;
               Tp* dh = carry_h.data_ptr<Tp>();  // becomes dL/dh_t
               const Tp* hc_all = hc.data_ptr<Tp>();
               mm<D, Tp>(false, false, B, Hk, H, dpre_t, H, wcp, ldwc, Tp(0), dctx_t, Hk);
               mm<D, Tp>(false, false, B, H, H, dpre_t, H, wcp + Hk, ldwc, Tp(1), dh, H);
               kernels::attention_softmax_context_backward<D, Tp>(
                   B, S, Hk, weights.data_ptr<Tp>() + t * B * S, valp, dctx_t, de_t);
               // dh[b] (1, H) += de[b] (1, S) keys[b] (S, H)
               kernels::gemm<D, Tp>(false, false, B, 1, H, S, Tp(1), de_t, S, S, kp, H, S * H,
                                    Tp(1), dh, H, H);
               kernels::lstm_cell_fused_backward<D, Tp>(
                   B, H, dh, carry_c.data_ptr<Tp>(), H, hc_all + t * B * 2 * H + H, 2 * H,
                   saved.data_ptr<Tp>() + t * B * 5 * H, dg_t, next_c.data_ptr<Tp>());
               mm<D, Tp>(false, false, B, H, 4 * H, dg_t, 4 * H, wfp, ldwf, Tp(0),
                         carry_ht.data_ptr<Tp>(), H);
               mm<D, Tp>(false, false, B, H, 4 * H, dg_t, 4 * H, whhp, H, Tp(0), dh, H);
             });
             std::swap(carry_c, next_c);
           }
           Tensor dwf = Tensor::empty({4 * H, H}, like), dwhh = Tensor::empty({4 * H, H}, like);
           Tensor dwc = Tensor::empty({H, Hk + H}, like);
           Tensor dkeys = Tensor::empty({B, S, H}, like), dvalues = Tensor::empty({B, S, Hk}, like);
           dispatch_floating(g.dtype(), g.device(), "luong_decoder backward",
                             [&](auto zero, auto device) {
             using Tp = decltype(zero);
             constexpr Device D = decltype(device)::value;
             const Tp *dg = dgates.data_ptr<Tp>(), *dp = dpre.data_ptr<Tp>();
             const Tp* hc_all = hc.data_ptr<Tp>();  // rows [h | c], h_{-1}.. first
             const Tp* h_steps = hc_all + B * 2 * H; // h_0 .. h_{T-1}
             mm<D, Tp>(true, false, 4 * H, H, T * B, dg, 4 * H, htilde.data_ptr<Tp>(), H, Tp(0),
                       dwf.data_ptr<Tp>(), H);
             mm<D, Tp>(true, false, 4 * H, H, T * B, dg, 4 * H, hc_all, 2 * H, Tp(0),
                       dwhh.data_ptr<Tp>(), H);
             mm<D, Tp>(true, false, H, Hk, T * B, dp, H, contexts.data_ptr<Tp>(), Hk, Tp(0),
                       dwc.data_ptr<Tp>(), Hk + H);
             mm<D, Tp>(true, false, H, H, T * B, dp, H, h_steps, 2 * H, Tp(0),
                       dwc.data_ptr<Tp>() + Hk, Hk + H);
             // Sentence b: (S, T) x (T, .), its rows B apart in the time-major buffers.
             kernels::gemm<D, Tp>(true, false, B, S, H, T, Tp(1), dscores.data_ptr<Tp>(), B * S,
                                  S, h_steps, B * 2 * H, 2 * H, Tp(0), dkeys.data_ptr<Tp>(), H,
                                  S * H);
             kernels::gemm<D, Tp>(true, false, B, S, Hk, T, Tp(1), weights.data_ptr<Tp>(),
                                  B * S, S, dctx.data_ptr<Tp>(), B * Hk, Hk, Tp(0),
                                  dvalues.data_ptr<Tp>(), Hk, S * Hk);
           });
           return std::vector<Tensor>{dgates, carry_h, carry_c, dwf, dwhh, dwc, dkeys, dvalues};
         });
  return out;
}

}  // namespace attn
