// The differentiable ops of attn, as free functions named as in libtorch.
//
// Each one computes its forward with a kernel and, when an input requires grad,
// records its backward rule (autograd/node.h). The rules sit beside the forward
// in autograd/ops_*.cpp, one file per family, each with its derivative in a
// comment. Shapes below use B for batch, T/S for target/source length, D for
// a feature size, V for the vocabulary.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/creation.h"
#include "kernels/generator.h"
#include "tensor/tensor.h"

namespace attn {

// --- element-wise, broadcasting (ops_elementwise.cpp) ---
// a, b: any shapes that broadcast (tensor/shape.h); the result has the broadcast shape.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  // a > 0 where b is not an integer
Tensor maximum(const Tensor& a, const Tensor& b);
// x: any shape; the result has x's shape.
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
// relu in place (libtorch's relu_), for a tensor no graph will see: x must be
// contiguous and must not require a gradient while GradMode is on. Inference
// uses it to save a buffer the size of the FFN's hidden layer. Returns x.
Tensor& relu_(Tensor& x);
Tensor pow(const Tensor& x, double exponent);
// Scalar variants: x op s, s op x.
Tensor add(const Tensor& x, double s);
Tensor mul(const Tensor& x, double s);
Tensor rsub(const Tensor& x, double s);  // s - x
Tensor rdiv(const Tensor& x, double s);  // s / x

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& x, double s);
Tensor operator-(const Tensor& x, double s);
Tensor operator*(const Tensor& x, double s);
Tensor operator/(const Tensor& x, double s);
Tensor operator+(double s, const Tensor& x);
Tensor operator-(double s, const Tensor& x);
Tensor operator*(double s, const Tensor& x);
Tensor operator/(double s, const Tensor& x);

// Comparisons with a scalar: int64 tensors of 0/1, the dtype of masks. Not differentiable.
Tensor eq(const Tensor& x, double s);
Tensor ne(const Tensor& x, double s);
Tensor lt(const Tensor& x, double s);
Tensor gt(const Tensor& x, double s);

// --- selection (ops_elementwise.cpp) ---
// out = mask != 0 ? value : x. mask: int64, broadcasts to x's shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// out = condition != 0 ? a : b. condition: int64; all three broadcast together.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// --- matmul (ops_matmul.cpp) ---
// a: (..., M, K), b: (..., K, N) -> (..., M, N); leading batch dims broadcast.
// A 1-d a is a row (K), a 1-d b a column (K), and that dim is dropped from the result.
Tensor matmul(const Tensor& a, const Tensor& b);

// --- reductions (ops_reduce.cpp) ---
Tensor sum(const Tensor& x);                                    // -> ()
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);                                   // -> ()
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
// The largest value along dim; the gradient flows to the first position attaining it.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);                                    // -> ()
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, no gradient

// --- softmax (ops_softmax.cpp) ---
// x: any shape; normalised along dim; fused, numerically stable.
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Attention's weights: softmax(scale * scores) over the keys each query may
// see, exact 0 at the others (kernels/masked_softmax.h). scores: (B, ..., Tq, Tk);
// key_lengths: int64 (B) with each in [0, Tk], or undefined = every key is real;
// causal: query i sees keys j <= i + Tk - Tq. A query that sees no key gets zeros.
Tensor masked_softmax(const Tensor& scores, const Tensor& key_lengths, bool causal, double scale);

// --- shapes, joins and gathers (ops_shape.cpp) ---
Tensor reshape(const Tensor& x, const Shape& shape);  // one size may be -1
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
// tensors: same shape except along dim; joined along dim.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim = 0);  // same as cat
// tensors: all the same shape; joined along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Pieces of split_size along dim (the last may be shorter); views of x.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// out = x gathered at `index` (int64, 1-d) along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// --- layers as functions (ops_nn.cpp) ---
// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out):
// y = x W^T + b as one GEMM that adds onto the bias; dL/dW comes out in W's
// own (out, in) layout. nn::linear is this function.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// A linear layer's weight packed once for many products, as decoding does at
// every step (ops_packed_linear.cpp, kernels/packed_linear.h). The name is
// PyTorch's (torch.ops.quantized.linear_prepack). A snapshot: a weight changed
// in place after packing is not seen until it is packed again.
struct PackedLinear {
  Tensor weight;  // (out, in): what was packed; linear_prepacked falls back to it
  Tensor bias;    // (out), or undefined
  Tensor packed;  // (ceil(out / 16), in, 16), or undefined where nothing is packed (CUDA)
};
// weight: (out, in), bias: (out) or undefined.
PackedLinear linear_prepack(const Tensor& weight, const Tensor& bias = Tensor());
// x: (..., in) -> (..., out) = linear(x, packed.weight, packed.bias), from the
// packed copy; linear() itself where a graph records the product, under
// bfloat16 autocast, and where nothing was packed.
Tensor linear_prepacked(const Tensor& x, const PackedLinear& packed);
// weight: (V, D), ids: int64 of any shape (...) -> (..., D). Rows of ids equal
// to padding_idx get no gradient (pass -1 for none).
Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx = -1);
// Zeroes each element with probability p and scales the rest by 1/(1-p)
// (inverted dropout), in training only; the identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Generator* generator = nullptr);
// x: (..., D), gamma, beta: (D) or undefined -> (..., D). Normalises over the
// last dim (Ba et al. 2016, eq. 4).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5);

enum class Reduction { None, Sum, Mean };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;    // target rows with this id add no loss (PyTorch's default)
  double label_smoothing = 0.0;   // Szegedy et al. 2016; 0.1 in the Transformer paper
  Reduction reduction = Reduction::Mean;  // Mean divides by the number of non-ignored rows

  CrossEntropyOptions& ignore(int64_t index) { ignore_index = index; return *this; }
  CrossEntropyOptions& smoothing(double eps) { label_smoothing = eps; return *this; }
  CrossEntropyOptions& reduce(Reduction r) { reduction = r; return *this; }
};

// logits: (N, V), target: int64 (N) -> () for Mean and Sum, (N) for None.
// Fused log-softmax and negative log-likelihood.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});

// --- recurrent cells (ops_rnn.cpp) ---
// The slices of x along dim, each a view without that dim: x (B, T, F), dim 1
// -> T tensors (B, F). Unlike T calls of select, the backward costs O(size of
// x), not O(T * size of x) (ops_rnn.cpp says how); the recurrent layers use
// it to walk a sequence's time steps.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);
// One GRU step from its two projections, in PyTorch's gate order (r, z, n):
// gi = x W_ih^T + b_ih: (B, 3H), gh = h W_hh^T + b_hh: (B, 3H), h: (B, H) -> h': (B, H),
//   h' = (1 - z) * n + z * h,  n = tanh(gi_n + r * gh_n).
// The gates are one fused kernel and one graph node; nn::GRUCell and nn::GRU call it.
Tensor gru_cell_fused(const Tensor& gi, const Tensor& gh, const Tensor& h);
// One LSTM step, gate order (i, f, g, o): gates = gi + gh: (B, 4H), c: (B, H)
// -> (B, 2H) holding h' = o * tanh(c') in [:, :H] and c' = f * c + i * g in
// [:, H:]; take them out with narrow(1, 0, H) and narrow(1, H, H).
Tensor lstm_cell_fused(const Tensor& gates, const Tensor& c);
// One GRU layer in one direction over whole sequences, BPTT in one node
// (ops_rnn_layer.cpp): gi = x W_ih^T + b_ih for every step (B, T, 3H),
// w_hh (3H, H), b_hh (3H), h0 (B, H); lengths: int64 (B) or undefined: at
// t >= lengths[b] row b's state passes through unchanged. reverse: t = T-1..0.
// -> every step's state, time-major (T, B, H).
Tensor gru_layer(const Tensor& gi, const Tensor& w_hh, const Tensor& b_hh, const Tensor& h0,
                 const Tensor& lengths, bool reverse);
// The same for an LSTM layer: gi = x W_ih^T + b_ih + b_hh (B, T, 4H), w_hh
// (4H, H), h0 and c0 (B, H) -> every step's [h | c], time-major (T, B, 2H).
Tensor lstm_layer(const Tensor& gi, const Tensor& w_hh, const Tensor& h0, const Tensor& c0,
                  const Tensor& lengths, bool reverse);

// --- attention (ops_attention.cpp) ---
// Bahdanau's alignment scores, fused: v . tanh(keys[b, s] + query[b]).
// keys: (B, S, A), query: (B, A), v: (A) -> (B, S)
Tensor additive_attention_scores(const Tensor& keys, const Tensor& query, const Tensor& v);

// --- fused RNN decoders (ops_bahdanau_decoder.cpp, ops_luong_decoder.cpp) ---
// A translator's decoder over all T target positions in one op, forward and
// backpropagation through time, for training with teacher forcing; the
// step-by-step path (nn::RNNSearch::step, nn::Luong::step) is the reference.
// RNNsearch: GRU decoder with additive attention whose query is s_{i-1}.
// gi_emb: (T, B, 3H) = E y W_ih[:, :E]^T + b_ih, time-major; s0: (B, H);
// w_ctx: W_ih[:, E:] (3H, Hk); w_hh (3H, H), b_hh (3H); w_query: W_a (A, H);
// v: (A); keys: U_a h + b_a (B, S, A); values: the annotations (B, S, Hk);
// lengths: int64 (B), the real source lengths -> (T, B, H + Hk) = [s_i | c_i].
Tensor bahdanau_decoder(const Tensor& gi_emb, const Tensor& s0, const Tensor& w_ctx,
                        const Tensor& w_hh, const Tensor& b_hh, const Tensor& w_query,
                        const Tensor& v, const Tensor& keys, const Tensor& values,
                        const Tensor& lengths);
// Luong: LSTM decoder with input feeding and global attention, score h_t . keys.
// gi_emb: (T, B, 4H) = E y W_ih[:, :E]^T + b_ih + b_hh, time-major; h0, c0: (B, H);
// w_feed: W_ih[:, E:] (4H, H), read by htilde_{t-1}; w_hh (4H, H);
// w_combine: W_c (H, Hk + H); keys: W_a hbar (general) or hbar (dot) (B, S, H);
// values: hbar (B, S, Hk); lengths: int64 (B) -> htilde (T, B, H).
Tensor luong_decoder(const Tensor& gi_emb, const Tensor& h0, const Tensor& c0,
                     const Tensor& w_feed, const Tensor& w_hh, const Tensor& w_combine,
                     const Tensor& keys, const Tensor& values, const Tensor& lengths);

// --- fused attention (ops_flash_attention.cpp) ---
// softmax(q k^T / sqrt(D)) v in one kernel that never stores the (Tq, Tk)
// scores (FlashAttention); the composed reference is
// nn::scaled_dot_product_attention. key_lengths: int64 (B) or undefined, key j
// of batch b visible when j < key_lengths[b]; causal: query i sees keys
// j <= i + (Tk - Tq). A query that sees no key gets zeros. Grouped (MQA,
// GQA): k and v may have Hkv heads, Hkv dividing H, query head h reading kv
// head h / (H / Hkv); the gradients of k and v sum over each group.
// q: (B, H, Tq, D), k and v: (B, Hkv, Tk, D) -> (B, H, Tq, D)
Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& key_lengths = Tensor(), bool causal = false);
// The same attention for inference (decoding, eval), with no graph: throws if
// q, k or v requires grad. Grouped: k and v have Hkv heads, Hkv dividing H,
// query head h reading kv head h / (H / Hkv) (MQA, GQA) without repeating
// them; any strides with the last dim contiguous (a KV cache's view of its
// first positions, heads split off a projection) are read in place.
// q: (B, H, Tq, D), k and v: (B, Hkv, Tk, D) -> (B, H, Tq, D), a view of a
// (B, Tq, H, D) tensor: .transpose(1, 2) is contiguous.
Tensor grouped_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& key_lengths = Tensor(), bool causal = false);

// --- rotary positions (ops_rope.cpp) ---
// RoPE (Su et al. 2021, RoFormer): each (T, D) slice of x has its step t at
// position p = offset + t, and each pair of dimensions (2i, 2i+1) of that
// step turned by the angle p * base^(-2i/D) (kernels/rope.h). Queries and
// keys turned this way score by their relative position (RoFormer eq. 16).
// x: (..., T, D), D even -> (..., T, D), contiguous.
Tensor rope(const Tensor& x, int64_t offset = 0, double base = 10000.0);

}  // namespace attn
