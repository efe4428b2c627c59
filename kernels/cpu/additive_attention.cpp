// Additive attention's scores in one pass: e = v^T tanh(U h + W s).
//
// Written with separate ops, each decoder step would make three (B, S, A)
// tensors (the broadcast sum, its tanh, and in the backward the tanh
// derivative), each a full trip through memory, and the tanh was a fifth of an
// RNNsearch training step. Fused, the forward touches keys once and keeps
// only tanh's output, which is all the backward needs:
//   d hidden = dscores[b, s] * v                   (the scores are a dot with v)
//   d pre    = d hidden * (1 - hidden^2)           (tanh' = 1 - tanh^2)
//   dkeys = d pre;  dquery = sum over s of d pre;  dv = sum over b, s of dscores * hidden
#include <cmath>

#include "kernels/additive_attention.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// a . b over n elements in eight interleaved partial sums, added in a fixed
// order at the end: eight independent chains of additions keep the
// floating-point unit busy where one chain waits on each add, and the
// compiler can put them in vector registers. The order does not depend on
// threads, so neither does the result.
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) part[l] += a[i + l] * b[i + l];
  }
  T total = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

}  // namespace

template <Device D, typename T>
void additive_attention_scores_forward(const T* keys, const T* query, const T* v, int64_t B,
                                       int64_t S, int64_t A, T* hidden, T* scores) {
  parallel_for(B, S * A * 8, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const T* q = query + b * A;
      for (int64_t s = 0; s < S; ++s) {
        const T* k = keys + (b * S + s) * A;
        T* h = hidden + (b * S + s) * A;
        for (int64_t a = 0; a < A; ++a) h[a] = k[a] + q[a];
        tanh_array(h, h, A);  // vectorised for float (kernels/cpu/vec_math.h)
        scores[b * S + s] = dot(v, h, A);
      }
    }
  });
}

template <Device D, typename T>
void additive_attention_scores_backward(const T* dscores, const T* hidden, const T* v, int64_t B,
                                        int64_t S, int64_t A, T* dkeys, T* dquery, T* dv,
                                        bool accumulate) {
  if (dkeys || dquery) {
    // Each sentence b is one thread's: dkeys and dquery rows have one owner.
    parallel_for(B, S * A * 4, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        T* dq = dquery ? dquery + b * A : nullptr;
        if (dq) {
          for (int64_t a = 0; a < A; ++a) dq[a] = 0;
        }
        for (int64_t s = 0; s < S; ++s) {
          const T g = dscores[b * S + s];
          const T* h = hidden + (b * S + s) * A;
          for (int64_t a = 0; a < A; ++a) {
            const T d = g * v[a] * (T(1) - h[a] * h[a]);
            if (dkeys) {
              T& out = dkeys[(b * S + s) * A + a];
              out = accumulate ? out + d : d;
            }
            if (dq) dq[a] += d;
          }
        }
      }
    });
  }
  if (dv) {
    // Summed over every (b, s) in a fixed order, so the result does not
    // depend on the number of threads.
    if (!accumulate) {
      for (int64_t a = 0; a < A; ++a) dv[a] = 0;
    }
    for (int64_t bs = 0; bs < B * S; ++bs) {
      const T g = dscores[bs];
      const T* h = hidden + bs * A;
      for (int64_t a = 0; a < A; ++a) dv[a] += g * h[a];
    }
  }
}

// --- softmax and context ------------------------------------------------------
//
// One row b per work item: its softmax over the first lengths[b] scores
// (shifted by their max, so exp never overflows) and the weighted sum of its
// values, read once, in the order s = 0, 1, ...

template <Device D, typename T>
void attention_softmax_context_forward(int64_t B, int64_t S, int64_t Hk, const T* scores,
                                       const int64_t* lengths, const T* values, T* weights,
                                       T* context) {
  parallel_for(B, S * (Hk + 20), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t L = lengths[b];
      const T* e = scores + b * S;
      T* w = weights + b * S;
      T* c = context + b * Hk;
      for (int64_t k = 0; k < Hk; ++k) c[k] = 0;
      for (int64_t s = 0; s < S; ++s) w[s] = 0;
      if (L <= 0) continue;
      T top = e[0];
      for (int64_t s = 1; s < L; ++s) top = e[s] > top ? e[s] : top;
      T total = 0;
      for (int64_t s = 0; s < L; ++s) w[s] = e[s] - top;
      exp_array(w, w, L);
      for (int64_t s = 0; s < L; ++s) total += w[s];
      const T inverse = T(1) / total;
      for (int64_t s = 0; s < L; ++s) {
        w[s] *= inverse;
        const T ws = w[s];
        const T* v = values + (b * S + s) * Hk;
        for (int64_t k = 0; k < Hk; ++k) c[k] += ws * v[k];
      }
    }
  });
}

template <Device D, typename T>
void attention_softmax_context_backward(int64_t B, int64_t S, int64_t Hk, const T* weights,
                                        const T* values, const T* dcontext, T* dscores) {
  parallel_for(B, S * (Hk + 4), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const T* w = weights + b * S;
      const T* dc = dcontext + b * Hk;
      T* de = dscores + b * S;
      T weighted = 0;  // sum_s w[s] g[s]
      for (int64_t s = 0; s < S; ++s) {
        const T g = w[s] != T(0) ? dot(values + (b * S + s) * Hk, dc, Hk) : T(0);
        de[s] = g;
        weighted += w[s] * g;
      }
      for (int64_t s = 0; s < S; ++s) de[s] = w[s] * (de[s] - weighted);
    }
  });
}

// The CPU definitions of kernels/additive_attention.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(additive_attention_scores_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(additive_attention_scores_backward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(attention_softmax_context_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(attention_softmax_context_backward, Device::CPU)

}  // namespace attn::kernels
