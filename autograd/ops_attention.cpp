// Attention scores as one op with its own backward rule (kernels/cpu/attention.cpp).
//
//   scores[b, s] = v . tanh(keys[b, s] + query[b])     Bahdanau et al. 2014, eq. 6 / A.1.2
//   dL/dkeys[b, s, a] = dL/dscores[b, s] * v[a] * (1 - tanh^2)
//   dL/dquery[b, a]   = sum over s of dL/dkeys[b, s, a]
//   dL/dv[a]          = sum over b, s of dL/dscores[b, s] * tanh(...)[b, s, a]
#include "autograd/op_helpers.h"
#include "tensor/dispatch.h"
#include "kernels/additive_attention.h"

namespace attn {

Tensor additive_attention_scores(const Tensor& keys, const Tensor& query, const Tensor& v) {
  check_same("additive_attention_scores", keys, query);
  check_same("additive_attention_scores", keys, v);
  check_floating("additive_attention_scores", keys);
  ATTN_CHECK(keys.dim() == 3 && query.dim() == 2 && v.dim() == 1 && query.size(0) == keys.size(0) &&
                 query.size(1) == keys.size(2) && v.size(0) == keys.size(2),
             "additive_attention_scores: expected keys (B, S, A), query (B, A), v (A), got ",
             shape_str(keys.shape()), ", ", shape_str(query.shape()), ", ", shape_str(v.shape()));
  const int64_t B = keys.size(0), S = keys.size(1), A = keys.size(2);
  Tensor k = keys.detach().contiguous(), q = query.detach().contiguous(), w = v.detach().contiguous();
  Tensor hidden = Tensor::empty({B, S, A}, keys.options());
  Tensor scores = Tensor::empty({B, S}, keys.options());
  dispatch_floating(keys.dtype(), k.device(), "additive_attention_scores",
                    [&](auto zero, auto device) {
                      using T = decltype(zero);
                      kernels::additive_attention_scores_forward<device>(
                          k.data_ptr<T>(), q.data_ptr<T>(), w.data_ptr<T>(), B, S, A,
                          hidden.data_ptr<T>(), scores.data_ptr<T>());
                    });
  if (autograd::any_requires_grad({keys, query, v})) {
    bool need_keys = keys.requires_grad(), need_query = query.requires_grad(),
         need_v = v.requires_grad();
    autograd::record("AdditiveAttentionScoresBackward", scores, {keys, query, v},
                     [hidden, w, B, S, A, need_keys, need_query, need_v](const Tensor& g) {
                       Tensor dscores = g.contiguous();
                       Tensor dkeys = need_keys ? Tensor::empty({B, S, A}, g.options()) : Tensor();
                       Tensor dquery = need_query ? Tensor::empty({B, A}, g.options()) : Tensor();
                       Tensor dv = need_v ? Tensor::empty({A}, g.options()) : Tensor();
                       dispatch_floating(
                           g.dtype(), dscores.device(), "additive_attention_scores backward",
                           [&](auto zero, auto device) {
                             using T = decltype(zero);
                             kernels::additive_attention_scores_backward<device>(
                                 dscores.data_ptr<T>(), hidden.data_ptr<T>(), w.data_ptr<T>(), B, S,
                                 A, need_keys ? dkeys.data_ptr<T>() : nullptr,
                                 need_query ? dquery.data_ptr<T>() : nullptr,
                                 need_v ? dv.data_ptr<T>() : nullptr, false);
                           });
                       return std::vector<Tensor>{dkeys, dquery, dv};
                     });
  }
  return scores;
}

}  // namespace attn
