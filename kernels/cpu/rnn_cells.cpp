// The gate arithmetic of one GRU or LSTM step, forward and backward, fused.
//
// A recurrent layer spends its time in two places: the matrix products (the
// input projection, done once for the whole sequence, and the hidden
// projection, one per step) and the gates between them. The products go to
// BLAS. The gates are a dozen element-wise operations per step; as separate
// ops each would allocate a (B, H) tensor, walk it once and record a graph
// node. Here they are one pass over the batch that reads the projections and
// writes the new state, and one pass back.
//
// GRU (Cho et al. 2014, eq. 5-8, in PyTorch's form and gate order r, z, n).
// The caller hands in the two projections, biases included:
//   gi = x W_ih^T + b_ih  (B, 3H),   gh = h W_hh^T + b_hh  (B, 3H)
//   r  = σ(gi_r + gh_r)              reset gate
//   z  = σ(gi_z + gh_z)              update gate
//   n  = tanh(gi_n + r ⊙ gh_n)       candidate (PyTorch puts r after W_hh's product)
//   h' = (1 − z) ⊙ n + z ⊙ h
// Backward, with dh' = dL/dh' and σ' = σ(1 − σ), tanh' = 1 − tanh²:
//   dn   = dh' ⊙ (1 − z);      da_n = dn ⊙ (1 − n²)            (a_n = gi_n + r gh_n)
//   dz   = dh' ⊙ (h − n);      da_z = dz ⊙ z (1 − z)
//   dr   = da_n ⊙ gh_n;        da_r = dr ⊙ r (1 − r)
//   dgi  = (da_r, da_z, da_n)
//   dgh  = (da_r, da_z, da_n ⊙ r)
//   dh   = dh' ⊙ z             (the direct path; the path through gh is the
//                               caller's matmul backward)
// The forward saves (r, z, n, gh_n) per row: everything the backward needs
// besides h.
//
// LSTM (Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al.
// 2000; PyTorch's gate order i, f, g, o). The caller adds the projections:
//   gates = x W_ih^T + b_ih + h W_hh^T + b_hh  (B, 4H)
//   i = σ(gates_i), f = σ(gates_f), g = tanh(gates_g), o = σ(gates_o)
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c')
// Backward, given dh' and dc' (the cell state reaches the loss through the
// next step as well as through h'):
//   dc_total = dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))
//   do = dh' ⊙ tanh(c');  di = dc_total ⊙ g;  dg = dc_total ⊙ i;  df = dc_total ⊙ c
//   dgates = (di i(1−i), df f(1−f), dg (1−g²), do o(1−o))
//   dc     = dc_total ⊙ f
// The forward saves (i, f, g, o, tanh(c')) per row.
//
// Layout: every (B, k·H) input may have a row stride (a step sliced out of a
// (B, T, 3H) projection is such a view); the last dim must be contiguous.
// Outputs are contiguous, except the LSTM's h' and c', which may be written
// side by side into one (B, 2H) buffer (and read back so in the backward). Rows are independent, so the batch is split over
// threads and the results do not depend on the number of threads.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/rnn_cells.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"

namespace attn::kernels {
namespace {

using namespace cpu;  // parallel_for and the helpers of kernels/cpu/*.h


// Rough operation counts per row, for parallel_for's "is it worth a thread?".
constexpr int64_t kGruCostPerUnit = 40;
constexpr int64_t kLstmCostPerUnit = 50;

}  // namespace

template <Device D, typename T>
void gru_cell_fused_forward(int64_t batch, int64_t hidden, const T* gi, int64_t gi_stride,
                            const T* gh, int64_t gh_stride, const T* h, int64_t h_stride, T* h_new,
                            T* saved) {
  const int64_t H = hidden;
  parallel_for(batch, H * kGruCostPerUnit, [&](int64_t begin, int64_t end) {
    // The gates' inputs are gathered into a buffer first, so that σ and tanh
    // run over whole rows (vectorised for float, kernels/cpu/vec_math.h).
    std::vector<T> gates(static_cast<size_t>(3 * H));  // (3H): r, z, n
    T* rz = gates.data();
    T* n = gates.data() + 2 * H;
    for (int64_t b = begin; b < end; ++b) {
      const T* gi_row = gi + b * gi_stride;  // (3H): r, z, n
      const T* gh_row = gh + b * gh_stride;  // (3H): r, z, n
      const T* h_row = h + b * h_stride;     // (H)
      T* out = h_new + b * H;
      for (int64_t j = 0; j < 2 * H; ++j) rz[j] = gi_row[j] + gh_row[j];
      sigmoid_array(rz, rz, 2 * H);
      for (int64_t j = 0; j < H; ++j) n[j] = gi_row[2 * H + j] + rz[j] * gh_row[2 * H + j];
      tanh_array(n, n, H);
      for (int64_t j = 0; j < H; ++j) {
        const T z = rz[H + j];
        out[j] = (T(1) - z) * n[j] + z * h_row[j];
      }
      if (saved != nullptr) {
        T* s = saved + b * 4 * H;  // (4H): r, z, n, gh_n
        for (int64_t j = 0; j < 3 * H; ++j) s[j] = gates[j];
        for (int64_t j = 0; j < H; ++j) s[3 * H + j] = gh_row[2 * H + j];
      }
    }
  });
}

template <Device D, typename T>
void gru_cell_fused_backward(int64_t batch, int64_t hidden, const T* dh_new, const T* h,
                             int64_t h_stride, const T* saved, T* dgi, T* dgh, T* dh) {
  const int64_t H = hidden;
  parallel_for(batch, H * kGruCostPerUnit, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const T* dy = dh_new + b * H;
      const T* h_row = h + b * h_stride;
      const T* s = saved + b * 4 * H;
      T* dgi_row = dgi + b * 3 * H;
      T* dgh_row = dgh + b * 3 * H;
      T* dh_row = dh + b * H;
      for (int64_t j = 0; j < H; ++j) {
        const T r = s[j], z = s[H + j], n = s[2 * H + j], gh_n = s[3 * H + j];
        const T da_n = dy[j] * (T(1) - z) * (T(1) - n * n);
        const T da_z = dy[j] * (h_row[j] - n) * z * (T(1) - z);
        const T da_r = da_n * gh_n * r * (T(1) - r);
        dgi_row[j] = da_r;
        dgi_row[H + j] = da_z;
        dgi_row[2 * H + j] = da_n;
        dgh_row[j] = da_r;
        dgh_row[H + j] = da_z;
        dgh_row[2 * H + j] = da_n * r;
        dh_row[j] = dy[j] * z;
      }
    }
  });
}

template <Device D, typename T>
void lstm_cell_fused_forward(int64_t batch, int64_t hidden, const T* gates, int64_t gates_stride,
                             const T* c, int64_t c_stride, T* h_new, T* c_new, int64_t out_stride,
                             T* saved) {
  const int64_t H = hidden;
  parallel_for(batch, H * kLstmCostPerUnit, [&](int64_t begin, int64_t end) {
    // As in the GRU: σ and tanh over whole rows of a buffer (vec_math.h).
    std::vector<T> act(static_cast<size_t>(5 * H));  // (5H): i, f, g, o, tanh(c')
    for (int64_t b = begin; b < end; ++b) {
      const T* g_row = gates + b * gates_stride;  // (4H): i, f, g, o
      const T* c_row = c + b * c_stride;
      T* h_out = h_new + b * out_stride;
      T* c_out = c_new + b * out_stride;
      T* a = act.data();
      sigmoid_array(g_row, a, 2 * H);                   // i, f
      tanh_array(g_row + 2 * H, a + 2 * H, H);          // g
      sigmoid_array(g_row + 3 * H, a + 3 * H, H);       // o
      for (int64_t j = 0; j < H; ++j) c_out[j] = a[H + j] * c_row[j] + a[j] * a[2 * H + j];
      tanh_array(c_out, a + 4 * H, H);                  // tanh(c')
      for (int64_t j = 0; j < H; ++j) h_out[j] = a[3 * H + j] * a[4 * H + j];
      if (saved != nullptr) {
        T* s = saved + b * 5 * H;  // (5H): i, f, g, o, tanh(c')
        for (int64_t j = 0; j < 5 * H; ++j) s[j] = a[j];
      }
    }
  });
}

template <Device D, typename T>
void lstm_cell_fused_backward(int64_t batch, int64_t hidden, const T* dh_new, const T* dc_new,
                              int64_t d_stride, const T* c, int64_t c_stride, const T* saved,
                              T* dgates, T* dc) {
  const int64_t H = hidden;
  parallel_for(batch, H * kLstmCostPerUnit, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const T* dh_row = dh_new + b * d_stride;
      const T* dc_row = dc_new + b * d_stride;
      const T* c_row = c + b * c_stride;
      const T* s = saved + b * 5 * H;
      T* dg_row = dgates + b * 4 * H;
      T* dc_out = dc + b * H;
      for (int64_t j = 0; j < H; ++j) {
        const T i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j];
        const T tanh_cell = s[4 * H + j];
        const T dc_total = dc_row[j] + dh_row[j] * o * (T(1) - tanh_cell * tanh_cell);
        dg_row[j] = dc_total * g * i * (T(1) - i);
        dg_row[H + j] = dc_total * c_row[j] * f * (T(1) - f);
        dg_row[2 * H + j] = dc_total * i * (T(1) - g * g);
        dg_row[3 * H + j] = dh_row[j] * tanh_cell * o * (T(1) - o);
        dc_out[j] = dc_total * f;
      }
    }
  });
}

// The CPU definitions of kernels/rnn_cells.h, for the element types it names.
ATTN_INSTANTIATE_FLOATING(gru_cell_fused_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(gru_cell_fused_backward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(lstm_cell_fused_forward, Device::CPU)
ATTN_INSTANTIATE_FLOATING(lstm_cell_fused_backward, Device::CPU)

}  // namespace attn::kernels
