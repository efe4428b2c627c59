// The gate arithmetic of one GRU or LSTM step on the GPU, forward and
// backward, fused. The twin of kernels/cpu/rnn_cells.cpp, whose header gives
// the equations (Cho et al. 2014; Hochreiter and Schmidhuber 1997 with Gers et
// al.'s forget gate; PyTorch's gate orders) and their derivatives.
//
// Every output element (b, j) depends only on the gate inputs of the same
// (b, j): gate j of each of the 3 (GRU) or 4 (LSTM) blocks of its row. So the
// kernel is one thread per (batch row, hidden unit), in a grid-stride loop,
// and each thread does the dozen operations of its unit in registers: one
// read of each input, one write of each output, where separate element-wise
// kernels would make a round trip through memory per operation. Threads
// j and j + 1 of a row touch neighbouring addresses in every gate block, so
// all reads and writes are coalesced.
//
// Row strides: the inputs may be views into wider buffers (gi and gh are
// slices of a projection computed for the whole sequence; h of a (batch, 2H)
// state), so row b starts at b * stride, exactly as on the CPU.
//
// Rounding: sigmoid is 1 / (1 + e^−x) as on the CPU, with CUDA's expf (within
// 2 ulp); tanh is CUDA's tanhf (within 2 ulp) where the CPU computes float tanh
// through exp in double; nvcc fuses a * b + c into FMAs. Tests allow 1e-5
// relative in float.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/rnn_cells.h"

namespace attn::kernels {
namespace {

using cuda::check_launch;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // the grid-stride loop covers the rest

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }
__device__ inline float tanh_of(float x) { return tanhf(x); }
__device__ inline double tanh_of(double x) { return tanh(x); }

// σ(x) = 1 / (1 + e^−x). For very negative x, e^−x overflows to inf and the
// result is 1 / inf = 0, σ rounded; no NaN can arise.
template <typename T>
__device__ inline T sigmoid(T x) {
  return T(1) / (T(1) + exp_of(-x));
}

// --- GRU ---------------------------------------------------------------------

template <typename T>
__global__ void gru_forward_kernel(int64_t batch, int64_t H, const T* gi, int64_t gi_stride,
                                   const T* gh, int64_t gh_stride, const T* h, int64_t h_stride,
                                   T* h_new, T* saved) {
  const int64_t total = batch * H;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / H;
    const int64_t j = idx % H;
    const T* gi_row = gi + b * gi_stride;  // (3H): r, z, n
    const T* gh_row = gh + b * gh_stride;  // (3H): r, z, n
    const T r = sigmoid(gi_row[j] + gh_row[j]);
    const T z = sigmoid(gi_row[H + j] + gh_row[H + j]);
    const T gh_n = gh_row[2 * H + j];
    const T n = tanh_of(gi_row[2 * H + j] + r * gh_n);
    h_new[idx] = (T(1) - z) * n + z * h[b * h_stride + j];
    if (saved != nullptr) {
      T* s = saved + b * 4 * H;  // (4H): r, z, n, gh_n
      s[j] = r;
      s[H + j] = z;
      s[2 * H + j] = n;
      s[3 * H + j] = gh_n;
    }
  }
}

template <typename T>
__global__ void gru_backward_kernel(int64_t batch, int64_t H, const T* dh_new, const T* h,
                                    int64_t h_stride, const T* saved, T* dgi, T* dgh, T* dh) {
  const int64_t total = batch * H;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / H;
    const int64_t j = idx % H;
    const T* s = saved + b * 4 * H;
    const T r = s[j], z = s[H + j], n = s[2 * H + j], gh_n = s[3 * H + j];
    const T dy = dh_new[idx];
    const T da_n = dy * (T(1) - z) * (T(1) - n * n);
    const T da_z = dy * (h[b * h_stride + j] - n) * z * (T(1) - z);
    const T da_r = da_n * gh_n * r * (T(1) - r);
    T* dgi_row = dgi + b * 3 * H;
    T* dgh_row = dgh + b * 3 * H;
    dgi_row[j] = da_r;
    dgi_row[H + j] = da_z;
    dgi_row[2 * H + j] = da_n;
    dgh_row[j] = da_r;
    dgh_row[H + j] = da_z;
    dgh_row[2 * H + j] = da_n * r;
    dh[idx] = dy * z;
  }
}

// --- LSTM --------------------------------------------------------------------

template <typename T>
__global__ void lstm_forward_kernel(int64_t batch, int64_t H, const T* gates, int64_t gates_stride,
                                    const T* c, int64_t c_stride, T* h_new, T* c_new,
                                    int64_t out_stride, T* saved) {
  const int64_t total = batch * H;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / H;
    const int64_t j = idx % H;
    const T* g_row = gates + b * gates_stride;  // (4H): i, f, g, o
    const T i = sigmoid(g_row[j]);
    const T f = sigmoid(g_row[H + j]);
    const T g = tanh_of(g_row[2 * H + j]);
    const T o = sigmoid(g_row[3 * H + j]);
    const T cell = f * c[b * c_stride + j] + i * g;
    const T tanh_cell = tanh_of(cell);
    c_new[b * out_stride + j] = cell;
    h_new[b * out_stride + j] = o * tanh_cell;
    if (saved != nullptr) {
      T* s = saved + b * 5 * H;  // (5H): i, f, g, o, tanh(c')
      s[j] = i;
      s[H + j] = f;
      s[2 * H + j] = g;
      s[3 * H + j] = o;
      s[4 * H + j] = tanh_cell;
    }
  }
}

template <typename T>
__global__ void lstm_backward_kernel(int64_t batch, int64_t H, const T* dh_new, const T* dc_new,
                                     int64_t d_stride, const T* c, int64_t c_stride,
                                     const T* saved, T* dgates, T* dc) {
  const int64_t total = batch * H;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = idx / H;
    const int64_t j = idx % H;
    const T* s = saved + b * 5 * H;
    const T i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j];
    const T tanh_cell = s[4 * H + j];
    const T dh = dh_new[b * d_stride + j];
    // The cell state reaches the loss directly (dc') and through h' = o tanh(c').
    const T dc_total = dc_new[b * d_stride + j] + dh * o * (T(1) - tanh_cell * tanh_cell);
    T* dg_row = dgates + b * 4 * H;
    dg_row[j] = dc_total * g * i * (T(1) - i);
    dg_row[H + j] = dc_total * c[b * c_stride + j] * f * (T(1) - f);
    dg_row[2 * H + j] = dc_total * i * (T(1) - g * g);
    dg_row[3 * H + j] = dh * tanh_cell * o * (T(1) - o);
    dc[idx] = dc_total * f;
  }
}

}  // namespace

// --- launchers ---------------------------------------------------------------

template <Device D, typename T>
void gru_cell_fused_forward(int64_t batch, int64_t hidden, const T* gi, int64_t gi_stride,
                            const T* gh, int64_t gh_stride, const T* h, int64_t h_stride, T* h_new,
                            T* saved) {
  if (batch == 0 || hidden == 0) return;
  gru_forward_kernel<<<grid_for(batch * hidden), kThreads>>>(batch, hidden, gi, gi_stride, gh,
                                                             gh_stride, h, h_stride, h_new, saved);
  check_launch("gru_forward_kernel");
}

template <Device D, typename T>
void gru_cell_fused_backward(int64_t batch, int64_t hidden, const T* dh_new, const T* h,
                             int64_t h_stride, const T* saved, T* dgi, T* dgh, T* dh) {
  if (batch == 0 || hidden == 0) return;
  gru_backward_kernel<<<grid_for(batch * hidden), kThreads>>>(batch, hidden, dh_new, h, h_stride,
                                                              saved, dgi, dgh, dh);
  check_launch("gru_backward_kernel");
}

template <Device D, typename T>
void lstm_cell_fused_forward(int64_t batch, int64_t hidden, const T* gates, int64_t gates_stride,
                             const T* c, int64_t c_stride, T* h_new, T* c_new, int64_t out_stride,
                             T* saved) {
  if (batch == 0 || hidden == 0) return;
  lstm_forward_kernel<<<grid_for(batch * hidden), kThreads>>>(
      batch, hidden, gates, gates_stride, c, c_stride, h_new, c_new, out_stride, saved);
  check_launch("lstm_forward_kernel");
}

template <Device D, typename T>
void lstm_cell_fused_backward(int64_t batch, int64_t hidden, const T* dh_new, const T* dc_new,
                              int64_t d_stride, const T* c, int64_t c_stride, const T* saved,
                              T* dgates, T* dc) {
  if (batch == 0 || hidden == 0) return;
  lstm_backward_kernel<<<grid_for(batch * hidden), kThreads>>>(
      batch, hidden, dh_new, dc_new, d_stride, c, c_stride, saved, dgates, dc);
  check_launch("lstm_backward_kernel");
}

ATTN_INSTANTIATE_FLOATING(gru_cell_fused_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(gru_cell_fused_backward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(lstm_cell_fused_forward, Device::CUDA)
ATTN_INSTANTIATE_FLOATING(lstm_cell_fused_backward, Device::CUDA)

}  // namespace attn::kernels
