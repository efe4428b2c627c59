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
#include "kernels/additive_attention.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/parallel.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

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
        T score = 0;
        for (int64_t a = 0; a < A; ++a) {
          h[a] = tanh_of(k[a] + q[a]);
          score += v[a] * h[a];
        }
        scores[b * S + s] = score;
      }
    }
  });
}

template <Device D, typename T>
void additive_attention_scores_backward(const T* dscores, const T* hidden, const T* v, int64_t B,
                                        int64_t S, int64_t A, T* dkeys, T* dquery, T* dv) {
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
            if (dkeys) dkeys[(b * S + s) * A + a] = d;
            if (dq) dq[a] += d;
          }
        }
      }
    });
  }
  if (dv) {
    // Summed over every (b, s) in a fixed order, so the result does not
    // depend on the number of threads.
    for (int64_t a = 0; a < A; ++a) dv[a] = 0;
    for (int64_t bs = 0; bs < B * S; ++bs) {
      const T g = dscores[bs];
      const T* h = hidden + bs * A;
      for (int64_t a = 0; a < A; ++a) dv[a] += g * h[a];
    }
  }
}

// The CPU definitions of kernels/additive_attention.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(additive_attention_scores_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(additive_attention_scores_backward, Device::CPU)

}  // namespace attn::kernels
