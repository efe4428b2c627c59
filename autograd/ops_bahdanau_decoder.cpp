// RNNsearch's decoder (Bahdanau, Cho & Bengio 2014, appendix A.2.2) over a
// whole target sentence as one op: every position's attention and GRU step
// forward, and backpropagation through time in one backward node.
//
// Written step by step with the ordinary ops (nn::RNNSearch::decode_step, the
// path decoding still takes), a training batch of T positions builds about a
// dozen nodes per position, and the backward pays for the shape of that graph:
// every step computes its own small dW_hh, dW_a and dW_ih products and adds
// them into the leaves, and every step's (B, S, A) gradient of the keys and
// (B, S, Hk) gradient of the annotations is added into the previous ones. Here
// the steps write their gradients into (T, B, .) buffers instead, and each
// weight's gradient is ONE product over all T * B rows at the end:
//   dW_hh  = dgh^T  [s_0 .. s_{T-1}]       (3H, H)   from (T·B, 3H) x (T·B, H)
//   dW_a   = dq^T   [s_0 .. s_{T-1}]       (A, H)
//   dW_ctx = dgi^T  [c_1 .. c_T]           (3H, Hk)
//   dvalues[b] = weights[:, b]^T dc[:, b]  (S, Hk)   from (T, S)^T x (T, Hk), per sentence
// and the keys' and v's gradients accumulate in place (additive_attention_scores_backward).
//
// The forward, position i = 1..T (time-major buffers, row t = i - 1):
//   q_i   = s_{i-1} W_a^T                                  (B, A)
//   e_i   = v . tanh(keys + q_i)      (fused scores)       (B, S)
//   a_i   = softmax over real positions of e_i             (B, S)
//   c_i   = sum_j a_ij values_j                            (B, Hk)
//   gi    = gi_emb_i + c_i W_ctx^T    (W_ih = [W_emb | W_ctx], so x W_ih^T splits)
//   gh    = s_{i-1} W_hh^T + b_hh
//   s_i   = GRU gates (kernels/cpu/rnn_cells.cpp)
// gi_emb = E y W_emb^T + b_ih for all positions is the caller's: one linear,
// whose backward is the ordinary one. The backward walks i = T..1 with the
// gradient of s_i, dS, made of the output's and the next step's:
//   (dgi, dgh, dh_direct) = GRU gates' backward (dS)
//   dc_i  = d out_c + dgi W_ctx
//   de_i  = softmax' (a_i, values . dc_i)    (attention_softmax_context_backward)
//   dq_i, dkeys += , dv +=                   (additive_attention_scores_backward)
//   dS_{i-1} = d out_s + dh_direct + dgh W_hh + dq_i W_a
#include "autograd/op_helpers.h"
#include "kernels/additive_attention.h"
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

Tensor bahdanau_decoder(const Tensor& gi_emb, const Tensor& s0, const Tensor& w_ctx,
                        const Tensor& w_hh, const Tensor& b_hh, const Tensor& w_query,
                        const Tensor& v, const Tensor& keys, const Tensor& values,
                        const Tensor& lengths) {
  const char* op = "bahdanau_decoder";
  check_floating(op, s0);
  for (const Tensor* t : {&gi_emb, &w_ctx, &w_hh, &b_hh, &w_query, &v, &keys, &values}) {
    check_same(op, s0, *t);
  }
  ATTN_CHECK(gi_emb.dim() == 3 && s0.dim() == 2 && keys.dim() == 3 && values.dim() == 3, op,
             ": expected gi_emb (T, B, 3H), s0 (B, H), keys (B, S, A), values (B, S, Hk)");
  const int64_t T = gi_emb.size(0), B = s0.size(0), H = s0.size(1);
  const int64_t S = keys.size(1), A = keys.size(2), Hk = values.size(2);
  ATTN_CHECK(gi_emb.shape() == Shape({T, B, 3 * H}) && w_ctx.shape() == Shape({3 * H, Hk}) &&
                 w_hh.shape() == Shape({3 * H, H}) && b_hh.shape() == Shape({3 * H}) &&
                 w_query.shape() == Shape({A, H}) && v.shape() == Shape({A}) &&
                 keys.size(0) == B && values.size(0) == B && values.size(1) == S &&
                 lengths.shape() == Shape({B}) && lengths.dtype() == kInt64 && T > 0,
             op, ": shapes do not fit: gi_emb ", shape_str(gi_emb.shape()), ", s0 ",
             shape_str(s0.shape()), ", w_ctx ", shape_str(w_ctx.shape()), ", w_hh ",
             shape_str(w_hh.shape()), ", w_query ", shape_str(w_query.shape()), ", keys ",
             shape_str(keys.shape()), ", values ", shape_str(values.shape()), ", lengths ",
             shape_str(lengths.shape()));
  const bool needs_grad =
      any_requires_grad({gi_emb, s0, w_ctx, w_hh, b_hh, w_query, v, keys, values});
  const TensorOptions like = s0.options();
  Tensor wc = rows_of(w_ctx), whh = rows_of(w_hh).contiguous(), wq = rows_of(w_query).contiguous();
  Tensor vv = v.detach().contiguous(), k = keys.detach().contiguous();
  Tensor vals = values.detach().contiguous();
  Tensor lens = lengths.to(s0.device()).contiguous();
  // gi starts as gi_emb and gh as b_hh; the steps add their products into them.
  Tensor gi = gi_emb.detach().clone().contiguous();                                // (T, B, 3H)
  Tensor gh = b_hh.detach().reshape({1, 1, 3 * H}).expand({T, B, 3 * H}).contiguous();
  Tensor states = Tensor::empty({T + 1, B, H}, like);    // s_0 .. s_T
  states.select(0, 0).copy_(s0.detach());
  Tensor contexts = Tensor::empty({T, B, Hk}, like);     // c_1 .. c_T
  Tensor weights = Tensor::empty({T, B, S}, like);       // a_1 .. a_T
  // tanh(keys + q) of every step for the backward; one reused buffer without it.
  Tensor hidden = Tensor::empty({needs_grad ? T : 1, B, S, A}, like);
  Tensor saved = needs_grad ? Tensor::empty({T, B, 4 * H}, like) : Tensor();  // GRU gates
  Tensor query = Tensor::empty({B, A}, like), scores = Tensor::empty({B, S}, like);

  dispatch_floating(s0.dtype(), s0.device(), op, [&](auto zero, auto device) {
    using Tp = decltype(zero);
    constexpr Device D = decltype(device)::value;
    const Tp *kp = k.data_ptr<Tp>(), *vp = vv.data_ptr<Tp>(), *valp = vals.data_ptr<Tp>();
    const Tp *wcp = wc.data_ptr<Tp>(), *whhp = whh.data_ptr<Tp>(), *wqp = wq.data_ptr<Tp>();
    const int64_t ldwc = wc.stride(0);
    Tp *sp = states.data_ptr<Tp>(), *cp = contexts.data_ptr<Tp>(), *ap = weights.data_ptr<Tp>();
    Tp *gip = gi.data_ptr<Tp>(), *ghp = gh.data_ptr<Tp>(), *hp = hidden.data_ptr<Tp>();
    Tp *qp = query.data_ptr<Tp>(), *ep = scores.data_ptr<Tp>();
    for (int64_t t = 0; t < T; ++t) {
      const Tp* s_prev = sp + t * B * H;
      Tp* gi_t = gip + t * B * 3 * H;
      Tp* gh_t = ghp + t * B * 3 * H;
      Tp* c_t = cp + t * B * Hk;
      Tp* h_t = hp + (needs_grad ? t : 0) * B * S * A;
      mm<D, Tp>(false, true, B, 3 * H, H, s_prev, H, whhp, H, Tp(1), gh_t, 3 * H);
      mm<D, Tp>(false, true, B, A, H, s_prev, H, wqp, H, Tp(0), qp, A);
      kernels::additive_attention_scores_forward<D, Tp>(kp, qp, vp, B, S, A, h_t, ep);
      kernels::attention_softmax_context_forward<D, Tp>(B, S, Hk, ep, lens.data_ptr<int64_t>(),
                                                        valp, ap + t * B * S, c_t);
      mm<D, Tp>(false, true, B, 3 * H, Hk, c_t, Hk, wcp, ldwc, Tp(1), gi_t, 3 * H);
      kernels::gru_cell_fused_forward<D, Tp>(
          B, H, gi_t, 3 * H, gh_t, 3 * H, s_prev, H, sp + (t + 1) * B * H,
          needs_grad ? saved.data_ptr<Tp>() + t * B * 4 * H : nullptr);
    }
  });
  Tensor out = cat({states.narrow(0, 1, T), contexts}, 2);  // (T, B, H + Hk): [s_i | c_i]
  if (!needs_grad) return out;

  record("BahdanauDecoderBackward", out, {gi_emb, s0, w_ctx, w_hh, b_hh, w_query, v, keys, values},
         [=](const Tensor& g) {
           Tensor d_out = g.contiguous();                               // (T, B, H + Hk)
           Tensor d_out_s = d_out.narrow(2, 0, H), d_out_c = d_out.narrow(2, H, Hk);
           Tensor dgi = Tensor::empty({T, B, 3 * H}, like), dgh = Tensor::empty({T, B, 3 * H}, like);
           Tensor dq = Tensor::empty({T, B, A}, like), dc = Tensor::empty({T, B, Hk}, like);
           dc.copy_(d_out_c);
           Tensor dkeys = zeros({B, S, A}, like), dv = zeros({A}, like);
           Tensor dscores = Tensor::empty({B, S}, like), carry = Tensor::empty({B, H}, like);
           Tensor dS = d_out_s.select(0, T - 1).contiguous();          // dL/ds_T
           dispatch_floating(g.dtype(), g.device(), "bahdanau_decoder backward",
                             [&](auto zero, auto device) {
             using Tp = decltype(zero);
             constexpr Device D = decltype(device)::value;
             const Tp *vp = vv.data_ptr<Tp>(), *valp = vals.data_ptr<Tp>();
             const Tp *wcp = wc.data_ptr<Tp>(), *whhp = whh.data_ptr<Tp>(), *wqp = wq.data_ptr<Tp>();
             const int64_t ldwc = wc.stride(0);
             for (int64_t t = T - 1; t >= 0; --t) {
               Tp* dgi_t = dgi.data_ptr<Tp>() + t * B * 3 * H;
               Tp* dgh_t = dgh.data_ptr<Tp>() + t * B * 3 * H;
               Tp* dq_t = dq.data_ptr<Tp>() + t * B * A;
               Tp* dc_t = dc.data_ptr<Tp>() + t * B * Hk;
               Tp* carry_p = carry.data_ptr<Tp>();
               kernels::gru_cell_fused_backward<D, Tp>(
                   B, H, dS.data_ptr<Tp>(), states.data_ptr<Tp>() + t * B * H, H,
                   saved.data_ptr<Tp>() + t * B * 4 * H, dgi_t, dgh_t, carry_p);
               mm<D, Tp>(false, false, B, Hk, 3 * H, dgi_t, 3 * H, wcp, ldwc, Tp(1), dc_t, Hk);
               kernels::attention_softmax_context_backward<D, Tp>(
                   B, S, Hk, weights.data_ptr<Tp>() + t * B * S, valp, dc_t,
                   dscores.data_ptr<Tp>());
               kernels::additive_attention_scores_backward<D, Tp>(
                   dscores.data_ptr<Tp>(), hidden.data_ptr<Tp>() + t * B * S * A, vp, B, S, A,
                   dkeys.data_ptr<Tp>(), dq_t, dv.data_ptr<Tp>(), true);
               mm<D, Tp>(false, false, B, H, 3 * H, dgh_t, 3 * H, whhp, H, Tp(1), carry_p, H);
               mm<D, Tp>(false, false, B, H, A, dq_t, A, wqp, H, Tp(1), carry_p, H);
               // dL/ds_{t}: the recurrence's part (carry) and the output's.
               dS = t > 0 ? carry + d_out_s.select(0, t - 1) : carry.clone();
             }
           });
           // Every weight's gradient in one product over all T * B rows.
           Tensor dwc = Tensor::empty({3 * H, Hk}, like), dwhh = Tensor::empty({3 * H, H}, like);
           Tensor dwq = Tensor::empty({A, H}, like), dvalues = Tensor::empty({B, S, Hk}, like);
           dispatch_floating(g.dtype(), g.device(), "bahdanau_decoder backward",
                             [&](auto zero, auto device) {
             using Tp = decltype(zero);
             constexpr Device D = decltype(device)::value;
             const Tp* sp = states.data_ptr<Tp>();  // s_0 .. s_{T-1}: the first T * B rows
             mm<D, Tp>(true, false, 3 * H, Hk, T * B, dgi.data_ptr<Tp>(), 3 * H,
                       contexts.data_ptr<Tp>(), Hk, Tp(0), dwc.data_ptr<Tp>(), Hk);
             mm<D, Tp>(true, false, 3 * H, H, T * B, dgh.data_ptr<Tp>(), 3 * H, sp, H, Tp(0),
                       dwhh.data_ptr<Tp>(), H);
             mm<D, Tp>(true, false, A, H, T * B, dq.data_ptr<Tp>(), A, sp, H, Tp(0),
                       dwq.data_ptr<Tp>(), H);
             // Sentence b: (S, T) weights^T x (T, Hk) dc, its rows B apart in time-major buffers.
             kernels::gemm<D, Tp>(true, false, B, S, Hk, T, Tp(1), weights.data_ptr<Tp>(), B * S,
                                  S, dc.data_ptr<Tp>(), B * Hk, Hk, Tp(0),
                                  dvalues.data_ptr<Tp>(), Hk, S * Hk);
           });
           Tensor dbhh = dgh.reshape({T * B, 3 * H}).sum(0);
           return std::vector<Tensor>{dgi, dS, dwc, dwhh, dbhh, dwq, dv, dkeys, dvalues};
         });
  return out;
}

}  // namespace attn
