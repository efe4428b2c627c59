// The gate arithmetic of one GRU or LSTM step, fused: the ops
// attn::gru_cell_fused and attn::lstm_cell_fused (autograd/ops_rnn.cpp), whose
// kernels are gru_cell_fused_forward/backward and lstm_cell_fused_forward/backward.
//
// Declared once, for every device D and element type T (float, double); the
// definitions are kernels/cpu/rnn_cells.cpp and kernels/cuda/rnn_cells.cu.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace attn::kernels {

// One GRU step's gates (PyTorch's order r, z, n) from the two projections
// gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, both (batch, 3H) with row
// strides gi_stride and gh_stride; h (batch, H) with row stride h_stride:
//   h_new = (1 - z) * n + z * h  (batch, H) contiguous.
// When saved is non-null it receives (batch, 4H) = (r, z, n, gh_n) for the backward.
template <Device D, typename T>
void gru_cell_fused_forward(int64_t batch, int64_t hidden, const T* gi, int64_t gi_stride,
                            const T* gh, int64_t gh_stride, const T* h, int64_t h_stride, T* h_new,
                            T* saved);

// From dh_new (batch, H) contiguous, h and saved: dgi and dgh (batch, 3H) and
// dh (batch, H, the direct path h -> h_new only), all contiguous and overwritten.
template <Device D, typename T>
void gru_cell_fused_backward(int64_t batch, int64_t hidden, const T* dh_new, const T* h,
                             int64_t h_stride, const T* saved, T* dgi, T* dgh, T* dh);

// One LSTM step's gates (PyTorch's order i, f, g, o) from the summed
// projections gates (batch, 4H, row stride gates_stride) and the cell state c
// (batch, H, row stride c_stride): c_new = f * c + i * g, h_new = o * tanh(c_new),
// both (batch, H) with row stride out_stride (H when separate, 2H to write them
// side by side into one (batch, 2H) buffer). saved, when non-null, receives
// (batch, 5H) = (i, f, g, o, tanh(c_new)).
template <Device D, typename T>
void lstm_cell_fused_forward(int64_t batch, int64_t hidden, const T* gates, int64_t gates_stride,
                             const T* c, int64_t c_stride, T* h_new, T* c_new, int64_t out_stride,
                             T* saved);

// From dh_new and dc_new (batch, H, row stride d_stride), c and saved: dgates
// (batch, 4H) and dc (batch, H), contiguous and overwritten.
template <Device D, typename T>
void lstm_cell_fused_backward(int64_t batch, int64_t hidden, const T* dh_new, const T* dc_new,
                              int64_t d_stride, const T* c, int64_t c_stride, const T* saved,
                              T* dgates, T* dc);

}  // namespace attn::kernels
