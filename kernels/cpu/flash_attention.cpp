// Fused scaled dot-product attention, the FlashAttention way (Dao et al.
// 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
// IO-Awareness", Algorithms 1 and 2), on the CPU. The twin of
// kernels/cuda/flash_attention.cu and the reference it is tested against.
//
// The composed path (nn/scaled_dot_product_attention.h) builds the score
// matrix S = q k^T * scale of shape (B, H, Tq, Tk), its softmax P of the same
// shape, and then P v. For Tq = Tk = 4096 that is 64 MiB per head in float,
// written to memory and read back twice, while q, k, v and out are only
// 4 MiB together at D = 64. Attention is then limited by memory traffic, not
// by arithmetic. The fused kernel never stores S or P: each query row meets
// the keys one block at a time and keeps only three things between blocks.
//
// The online softmax. For one query row q_i, with scores s_j = scale * q_i.k_j,
// the output is out_i = sum_j e^(s_j - m) v_j / sum_j e^(s_j - m) for any shift
// m; the largest score is the shift that keeps exp from overflowing. The row
// keeps a running max m, a running sum l and an unnormalised accumulator
// acc (D numbers), starting at m = -inf, l = 0, acc = 0. For each block of keys:
//   m_block = max_j s_j                      (over the block's visible keys)
//   m_new   = max(m, m_block)
//   c       = e^(m - m_new)                  (0 on the first block: e^-inf)
//   l       = c * l   + sum_j e^(s_j - m_new)
//   acc     = c * acc + sum_j e^(s_j - m_new) v_j
//   m       = m_new
// c rescales what was summed against the old max so that everything is
// relative to the new one: e^(s - m_old) * e^(m_old - m_new) = e^(s - m_new).
// After the last block, out_i = acc / l, exactly the softmax-weighted sum, and
// lse_i = m + log l = log sum_j e^(s_j), which the backward keeps.
//
// The backward needs P again. Rather than store it, it recomputes each score
// from q, k and lse: p_ij = e^(s_ij - lse_i) is already normalised. With
// dO the gradient of out and D_i = sum_d dO_id O_id (= sum_j p_ij dp_ij):
//   dv_j += p_ij dO_i                 (out = P v)
//   dp_ij = dO_i . v_j
//   ds_ij = p_ij (dp_ij - D_i)        (the softmax Jacobian, softmax.cpp)
//   dq_i += ds_ij k_j * scale,  dk_j += ds_ij q_i * scale
// The memory is again O(T D) rather than O(T^2); the price is computing the
// scores twice, which is cheap next to the memory traffic it saves.
//
// Masks. Both masks hide a suffix of the keys: key j is visible to query i
// when j < key_lengths[b] and, if causal, j <= i + (Tk - Tq). So row i sees
// exactly the keys [0, n_i); the loops stop at n_i and never read a hidden key,
// which is why nothing leaks through masked keys (not even a NaN). A row with
// n_i = 0 gets out 0, lse -inf and no gradient.
//
// Precision: the scores, the running max and sum, the accumulators and every
// gradient sum are kept in double, for float too, and rounded to T once at
// the end; this kernel is the reference the GPU is checked against. Each
// (b, kv head) belongs to one thread and is computed in a fixed order, so results
// do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/flash_attention.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/attend_rows.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h

// Keys taken together by the online softmax. Any size gives the same result
// up to rounding; 64 scores fit in a few cache lines.
constexpr int64_t kKeyBlock = 64;

// Rough cost of one exp in scalar operations, for parallel_for's decision.
constexpr int64_t kExpCost = 16;

// The number of keys of a row of batch b that query i sees: keys [0, n_i).
struct Visibility {
  int64_t Tq, Tk;
  const int64_t* key_lengths;  // (B) or null
  bool causal;

  int64_t keys_of_batch(int64_t b) const {
    if (!key_lengths) return Tk;
    return std::clamp<int64_t>(key_lengths[b], 0, Tk);
  }
  int64_t keys_of_row(int64_t batch_keys, int64_t i) const {
    int64_t n = batch_keys;
    if (causal) n = std::min(n, i + (Tk - Tq) + 1);
    return std::max<int64_t>(n, 0);
  }
};

double dot(const double* a, const double* b, int64_t D) {
  double s = 0;
  for (int64_t d = 0; d < D; ++d) s += a[d] * b[d];
  return s;
}

template <typename T>
void to_double(const T* x, int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(x[i]);
}

// --- grouped inference attention ---------------------------------------------

// One grouped_attention_forward problem, as the tasks read it.
template <typename T>
struct GroupedProblem {
  Visibility vis;
  int64_t G, Hkv, D;  // G = H / Hkv query heads per kv head
  T scale;
  const T* q;
  AttentionStrides q_strides;
  const T* k;
  AttentionStrides k_strides;
  const T* v;
  AttentionStrides v_strides;
  T* out;
  AttentionStrides out_strides;
};

// Task (b, g): every query row i of the G heads h = g * G + r of kv head g.
// scores (G, Tk), acc (G, D) and sums (G) are the thread's scratch. The three
// steps of each row are kernels/cpu/attend_rows.h's, which paged_attention
// shares: the G heads score the task's keys one head after the other, so a
// key is read from memory once and from cache by the other G - 1 heads.
template <typename T>
void attend_task(const GroupedProblem<T>& p, int64_t task, T* scores, T* acc, T* sums) {
  const int64_t G = p.G, D = p.D, Tk = p.vis.Tk;
  const int64_t b = task / p.Hkv, g = task % p.Hkv;
  const T* kb = p.k + b * p.k_strides.batch + g * p.k_strides.head;  // (Tk, D) by position
  const T* vb = p.v + b * p.v_strides.batch + g * p.v_strides.head;
  const int64_t batch_keys = p.vis.keys_of_batch(b);
  for (int64_t i = 0; i < p.vis.Tq; ++i) {
    const int64_t n = p.vis.keys_of_row(batch_keys, i);
    const T* q0 = p.q + b * p.q_strides.batch + g * G * p.q_strides.head + i * p.q_strides.position;
    for (int64_t r = 0; r < G; ++r) {
      // s_rj = scale * q_r . k_j, then p_rj = e^(s_rj - max_j s_rj) and their sum.
      score_keys(q0 + r * p.q_strides.head, kb, p.k_strides.position, n, D, p.scale,
                 scores + r * Tk);
      sums[r] = exp_shifted(scores + r * Tk, n);
    }
    // acc_r = sum_j p_rj v_j.
    std::fill(acc, acc + G * D, T(0));
    for (int64_t r = 0; r < G; ++r) {
      add_weighted_values(scores + r * Tk, vb, p.v_strides.position, n, D, acc + r * D);
    }
    // out = acc / l; a row that sees no key gets 0, as in the forward above.
    for (int64_t r = 0; r < G; ++r) {
      T* o = p.out + b * p.out_strides.batch + (g * G + r) * p.out_strides.head +
             i * p.out_strides.position;
      for (int64_t d = 0; d < D; ++d) o[d] = n == 0 ? T(0) : acc[r * D + d] / sums[r];
    }
  }
}

}  // namespace

// Grouped heads (Hkv < H, MQA and GQA): a task is one (batch, kv head) pair,
// which loads its kv head into double once and runs the G = H / Hkv query
// heads of its group against it, query head h = g * G + r reading kv head g.
// The backward sums the group's contributions to dk and dv in the task's own
// buffers and writes them once: no two threads write the same kv head, so
// there is nothing to synchronise and the sums do not depend on the number
// of threads. With Hkv = H (G = 1) this is one task per head, as before.
template <Device Dev, typename T>
void flash_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                             const T* q, const T* k, const T* v, const int64_t* key_lengths,
                             bool causal, T scale, T* out, T* lse) {
  const Visibility vis{Tq, Tk, key_lengths, causal};
  const double s = static_cast<double>(scale);
  const int64_t G = H / Hkv;  // query heads per kv head
  parallel_for(B * Hkv, G * (Tq * Tk * D * 2 + Tq * Tk * kExpCost), [&](int64_t begin,
                                                                         int64_t end) {
    // This thread's copies of one kv head's k and v in double, a query row,
    // its accumulator and one block of scores: O(Tk D), never O(Tq Tk).
    std::vector<double> kh(static_cast<size_t>(Tk * D)), vh(static_cast<size_t>(Tk * D));
    std::vector<double> qi(static_cast<size_t>(D)), acc(static_cast<size_t>(D));
    double scores[kKeyBlock];
    for (int64_t bg = begin; bg < end; ++bg) {  // bg = b * Hkv + g
      const int64_t batch_keys = vis.keys_of_batch(bg / Hkv);
      // Only the keys some row can see are read, once for the whole group.
      to_double(k + bg * Tk * D, batch_keys * D, kh.data());
      to_double(v + bg * Tk * D, batch_keys * D, vh.data());
      for (int64_t r = 0; r < G; ++r) {
        const int64_t bh = bg * G + r;  // = b * H + g * G + r: query head g * G + r
        for (int64_t i = 0; i < Tq; ++i) {
          const int64_t row = bh * Tq + i;
          const int64_t n = vis.keys_of_row(batch_keys, i);
          to_double(q + row * D, D, qi.data());
          double m = -std::numeric_limits<double>::infinity(), l = 0;
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t j0 = 0; j0 < n; j0 += kKeyBlock) {
            const int64_t block = std::min(kKeyBlock, n - j0);
            double block_max = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < block; ++j) {
              scores[j] = s * dot(qi.data(), &kh[(j0 + j) * D], D);
              block_max = std::max(block_max, scores[j]);
            }
            const double m_new = std::max(m, block_max);
            const double c = std::exp(m - m_new);  // e^-inf = 0 on the first block
            l *= c;
            for (int64_t d = 0; d < D; ++d) acc[d] *= c;
            for (int64_t j = 0; j < block; ++j) {
              const double p = std::exp(scores[j] - m_new);
              l += p;
              const double* vj = &vh[(j0 + j) * D];
              for (int64_t d = 0; d < D; ++d) acc[d] += p * vj[d];
            }
            m = m_new;
          }
          T* o = out + row * D;
          if (n == 0) {
            for (int64_t d = 0; d < D; ++d) o[d] = T(0);
            lse[row] = -std::numeric_limits<T>::infinity();
          } else {
            for (int64_t d = 0; d < D; ++d) o[d] = static_cast<T>(acc[d] / l);
            lse[row] = static_cast<T>(m + std::log(l));
          }
        }
      }
    }
  });
}

template <Device Dev, typename T>
void flash_attention_backward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                              const T* q, const T* k, const T* v, const T* out, const T* dout,
                              const T* lse, const int64_t* key_lengths, bool causal, T scale,
                              T* dq, T* dk, T* dv) {
  const Visibility vis{Tq, Tk, key_lengths, causal};
  const double s = static_cast<double>(scale);
  const int64_t G = H / Hkv;
  parallel_for(B * Hkv, G * (Tq * Tk * D * 6 + Tq * Tk * kExpCost), [&](int64_t begin,
                                                                         int64_t end) {
    // One kv head's k, v and the sums dk, dv in double; one query row's q, dO
    // and dq. dk and dv gather contributions from every query row of every
    // head of the group, so they are only written back when the group is done.
    const size_t keys_size = static_cast<size_t>(Tk * D);
    std::vector<double> kh(keys_size), vh(keys_size), dkh(keys_size), dvh(keys_size);
    std::vector<double> qi(static_cast<size_t>(D)), doi(static_cast<size_t>(D)),
        dqi(static_cast<size_t>(D));
    for (int64_t bg = begin; bg < end; ++bg) {  // bg = b * Hkv + g
      const int64_t batch_keys = vis.keys_of_batch(bg / Hkv);
      to_double(k + bg * Tk * D, batch_keys * D, kh.data());
      to_double(v + bg * Tk * D, batch_keys * D, vh.data());
      std::fill(dkh.begin(), dkh.end(), 0.0);
      std::fill(dvh.begin(), dvh.end(), 0.0);
      for (int64_t r = 0; r < G; ++r) {
        const int64_t bh = bg * G + r;  // query head g * G + r of batch b
        for (int64_t i = 0; i < Tq; ++i) {
          const int64_t row = bh * Tq + i;
          const int64_t n = vis.keys_of_row(batch_keys, i);
          std::fill(dqi.begin(), dqi.end(), 0.0);
          if (n > 0) {  // a row that sees no key has lse -inf and no gradient
            to_double(q + row * D, D, qi.data());
            to_double(dout + row * D, D, doi.data());
            double delta = 0;  // D_i = dO_i . O_i
            for (int64_t d = 0; d < D; ++d) delta += doi[d] * static_cast<double>(out[row * D + d]);
            const double row_lse = static_cast<double>(lse[row]);
            for (int64_t j = 0; j < n; ++j) {
              const double* kj = &kh[j * D];
              const double* vj = &vh[j * D];
              const double p = std::exp(s * dot(qi.data(), kj, D) - row_lse);
              const double ds = p * (dot(doi.data(), vj, D) - delta);
              double* dkj = &dkh[j * D];
              double* dvj = &dvh[j * D];
              for (int64_t d = 0; d < D; ++d) {
                dvj[d] += p * doi[d];
                dkj[d] += ds * qi[d];
                dqi[d] += ds * kj[d];
              }
            }
          }
          for (int64_t d = 0; d < D; ++d) dq[row * D + d] = static_cast<T>(dqi[d] * s);
        }
      }
      for (int64_t e = 0; e < Tk * D; ++e) {
        dk[bg * Tk * D + e] = static_cast<T>(dkh[e] * s);
        dv[bg * Tk * D + e] = static_cast<T>(dvh[e]);
      }
    }
  });
}

// Decoding asks less of attention than training: no backward (so no lse), and
// usually one query row per head (Tq = 1) against a KV cache. The forward
// above keeps its sums in double, as the reference the GPU is checked
// against, and wants its operands contiguous. Here the sums are in T, every
// operand is read through its strides where it lies, and, as above, a task
// is one (batch, kv head) pair: each of its key and value rows is loaded
// once and used by the G = H / Hkv query heads of its group, so MQA and GQA
// read Hkv/H of MHA's cache instead of a copy expanded to H heads.
// A row's softmax takes two passes over its at most Tk scores (the max, then
// the exps), which a row of one query can afford to keep. Each task belongs
// to one thread and runs in a fixed order: the bits do not depend on the
// number of threads.
template <Device Dev, typename T>
void grouped_attention_forward(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk,
                               int64_t D, const T* q, AttentionStrides q_strides, const T* k,
                               AttentionStrides k_strides, const T* v, AttentionStrides v_strides,
                               const int64_t* key_lengths, bool causal, T scale, T* out,
                               AttentionStrides out_strides) {
  const GroupedProblem<T> p{Visibility{Tq, Tk, key_lengths, causal}, H / Hkv, Hkv, D, scale,
                            q, q_strides, k, k_strides, v, v_strides, out, out_strides};
  parallel_for(B * Hkv, p.G * Tq * Tk * (D * 4 + kExpCost), [&](int64_t begin, int64_t end) {
    // Per thread: the scores of one query row of each of the G heads (G, Tk),
    // their sums (G) and the weighted sums of the values (G, D).
    std::vector<T> scores(static_cast<size_t>(p.G * Tk)), acc(static_cast<size_t>(p.G * D));
    std::vector<T> sums(static_cast<size_t>(p.G));
    for (int64_t task = begin; task < end; ++task) {
      attend_task(p, task, scores.data(), acc.data(), sums.data());
    }
  });
}

// The CPU definitions of kernels/flash_attention.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(flash_attention_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(flash_attention_backward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(grouped_attention_forward, Device::CPU)

}  // namespace attn::kernels
