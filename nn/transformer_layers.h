// The layers of the Transformer (Vaswani et al. 2017, "Attention Is All You
// Need"): the position-wise feed-forward network and one encoder and one
// decoder layer. nn/transformer.h stacks them into the model.
//
// Section 3.1: each encoder layer has two sub-layers, self-attention and a
// feed-forward network; each decoder layer has a third in between, attention
// over the encoder's output (the "memory"). The attention sub-layers are
// multi-head attention (section 3.2.2, nn/multihead_attention.h), with
// num_kv_heads for MQA and GQA. Every sub-layer is wrapped as
//     post-LN (the paper's):  x = LayerNorm(x + Dropout(Sublayer(x)))
//     pre-LN  (an option):    x = x + Dropout(Sublayer(LayerNorm(x)))
// with dropout on the sub-layer's output before the residual add (section
// 5.4). Pre-LN (Xiong et al. 2020, "On Layer Normalization in the
// Transformer Architecture"; tensor2tensor's later default) keeps an
// un-normalised residual path from the input to the output, trains without
// learning-rate warm-up, and needs one more LayerNorm after the whole stack
// (nn/transformer.cpp adds it), because nothing else normalises the sum of
// all the residuals. The Annotated Transformer uses pre-LN while its text
// describes post-LN; here post-LN is the default and pre-LN is named.
//
// Decoding one position at a time (design.md, "Generation"): the decoder's
// self-attention at position t needs the keys and values of positions 0..t,
// and those of 0..t-1 do not change when t is added (the causal mask stops
// them seeing t). So each layer keeps them in a cache and appends one
// position per step; the cross-attention keys and values depend only on the
// memory and are projected once per source sentence. A step then costs one
// query against t keys instead of recomputing the whole prefix, and gives
// the same numbers as forward() on the prefix (tests/nn/test_transformer.cpp).
//
// Cross-Layer Attention (Brandon et al. 2024, "Reducing Transformer
// Key-Value Cache Size with Cross-Layer Attention"): a decoder layer built
// with share_kv = true has no key/value projections of its own. Its
// self-attention attends over the keys and values that the first layer of its
// group projected (from that layer's input), and its cross-attention over
// that layer's cross keys and values; it keeps its own query and output
// projections (SharedKVAttention below). nn/transformer.h groups the layers.
//
// Shapes: B batch, S source length, T target length, D = d_model, H heads,
// Hkv key/value heads, Dh = D / H, F = d_ff.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/latent_attention.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/multihead_attention.h"

namespace attn::nn {

// What one encoder or decoder layer is built from; nn/transformer.h fills
// it from TransformerOptions.
struct TransformerLayerOptions {
  int64_t d_model = 512;          // D (paper: 512)
  int64_t num_heads = 8;          // H (paper: 8); must divide D
  int64_t num_kv_heads = 0;       // Hkv: 0 = num_heads (MHA), 1 = MQA, a divisor = GQA
  int64_t d_ff = 2048;            // F, the FFN's inner size (paper: 2048)
  double dropout = 0.1;           // P_drop on each sub-layer's output (paper 5.4: 0.1),
                                  // and inside the FFN after the ReLU (see PositionwiseFeedForward)
  double attention_dropout = 0.0; // on the attention weights; the paper has none
  bool fused_attention = true;    // the fused kernel where it applies (MultiheadAttention)
  bool pre_ln = false;            // LayerNorm before each sub-layer instead of after
  bool rope = false;              // rotary positions in the self-attentions (not in
                                  // cross-attention); the model then adds none to embeddings
  double layer_norm_eps = 1e-5;   // PyTorch's default
  bool share_kv = false;          // Cross-Layer Attention, decoder only: no k/v projections;
                                  // attend over the keys and values of the group's first layer
  int64_t kv_rank = 0;            // Low-Rank KV rank r in every attention (MultiheadAttention); 0 = off
  int64_t mla_kv_latent = 0;      // MLA d_c: the self-attentions are MultiHeadLatentAttention
                                  // (nn/latent_attention.h); 0 = off
  int64_t mla_q_latent = 0;       // MLA d_c' (0 = queries not compressed)
  int64_t mla_rope_dim = 0;       // MLA d_R (0 = d_h / 2, the paper's)

  TransformerLayerOptions() = default;
  TransformerLayerOptions(int64_t d, int64_t heads, int64_t ff)
      : d_model(d), num_heads(heads), d_ff(ff) {}
  TransformerLayerOptions& set_num_kv_heads(int64_t h) { num_kv_heads = h; return *this; }
  TransformerLayerOptions& set_dropout(double p) { dropout = p; return *this; }
  TransformerLayerOptions& set_attention_dropout(double p) { attention_dropout = p; return *this; }
  TransformerLayerOptions& set_pre_ln(bool on) { pre_ln = on; return *this; }
  TransformerLayerOptions& set_fused_attention(bool on) { fused_attention = on; return *this; }
  TransformerLayerOptions& set_rope(bool on) { rope = on; return *this; }
  TransformerLayerOptions& set_share_kv(bool on) { share_kv = on; return *this; }
  TransformerLayerOptions& set_kv_rank(int64_t r) { kv_rank = r; return *this; }
  TransformerLayerOptions& set_mla(int64_t kv_latent, int64_t q_latent, int64_t rope_dim) {
    mla_kv_latent = kv_latent; mla_q_latent = q_latent; mla_rope_dim = rope_dim; return *this;
  }
};

// --- the feed-forward network (section 3.3) -------------------------------------

// FFN(x) = max(0, x W_1 + b_1) W_2 + b_2                          (section 3.3, eq. 2)
// applied to every position separately and identically: "two convolutions
// with kernel size 1". W_1 is (D, F), W_2 is (F, D); with F = 4D most of a
// layer's parameters and FLOPs are here.
// Where we differ from the paper: dropout after the ReLU (tensor2tensor's
// relu_dropout, PyTorch's nn.TransformerEncoderLayer, the Annotated
// Transformer), with the model's P_drop; pass 0 for the paper's FFN.
class PositionwiseFeedForward : public Module {
 public:
  // d_model: D, d_ff: F, dropout: on the (.., F) hidden activations.
  PositionwiseFeedForward(int64_t d_model, int64_t d_ff, double dropout = 0.0);

  // x: (..., D) -> (..., D)
  Tensor forward(const Tensor& x) const;

  std::shared_ptr<Linear> linear1;  // D -> F: W_1, b_1
  std::shared_ptr<Linear> linear2;  // F -> D: W_2, b_2

 private:
  int64_t d_model_;
  std::shared_ptr<Dropout> dropout_;
};

// --- encoder layer ---------------------------------------------------------------

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerLayerOptions& options);

  // x: (B, S, D); mask: usually AttentionMask::from_lengths(lengths), which
  // lets the fused kernel run, or an int64 tensor broadcastable to
  // (B, H, S, S), nonzero = may attend (padding_mask(lengths, S), (B, 1, 1, S));
  // empty = all visible. The weights are never needed here. -> (B, S, D)
  Tensor forward(const Tensor& x, const AttentionMask& mask = AttentionMask()) const;

  const TransformerLayerOptions& options() const { return options_; }

  std::shared_ptr<MultiheadAttention> self_attention;  // null with MLA
  std::shared_ptr<MultiHeadLatentAttention> latent_self_attention;  // MLA only, same name
  std::shared_ptr<PositionwiseFeedForward> feed_forward;
  std::shared_ptr<LayerNorm> norm1;  // around self-attention
  std::shared_ptr<LayerNorm> norm2;  // around the FFN

 private:
  TransformerLayerOptions options_;
  std::shared_ptr<Dropout> dropout_;
};

// --- attention over keys and values another layer projected (CLA) ----------------

// MultiheadAttention without k_proj and v_proj: the query and output
// projections of a Cross-Layer Attention layer, which attends over the keys
// and values (B, Hkv, Tk, Dh) that the first layer of its group projected
// (and with rope, turned) with its own MultiheadAttention. The heads are
// attended exactly as MultiheadAttention::attend does, grouped (GQA/MQA)
// included; the parameters are q_proj and out_proj, under the same names, so
// a layer's state_dict differs from a full one only by the missing k_proj
// and v_proj.
class SharedKVAttention : public Module {
 public:
  // The options of the MultiheadAttention it stands beside (H, Hkv, rope...).
  explicit SharedKVAttention(const MultiheadAttentionOptions& options);

  // query: (B, Tq, D) unprojected; keys, values: (B, Hkv, Tk, Dh) from the
  // owning layer's project_keys / project_values; mask and need_weights as
  // in MultiheadAttention::forward; with rope, query i is turned at position
  // query_position + i. -> output (B, Tq, D), weights (B, H, Tq, Tk).
  MultiheadAttentionOutput attend(const Tensor& query, const Tensor& keys, const Tensor& values,
                                  const AttentionMask& mask = AttentionMask(),
                                  bool need_weights = true, int64_t query_position = 0) const;

  const MultiheadAttentionOptions& options() const { return options_; }

  std::shared_ptr<Linear> q_proj;    // D -> H*Dh = D
  std::shared_ptr<Linear> out_proj;  // H*Dh = D -> D

 private:
  MultiheadAttentionOptions options_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
};

// --- decoder layer ---------------------------------------------------------------

struct TransformerDecoderLayerOutput {
  Tensor output;         // (B, T, D), or (B, 1, D) from step()
  Tensor cross_weights;  // (B, H, T, S), or (B, H, 1, S) from step(): for heatmaps;
                         // undefined when need_weights was false
  // forward() only: the keys and values the layer attended over, (B, Hkv, T, Dh)
  // and (B, Hkv, S, Dh): what the other layers of its CLA group read.
  Tensor self_keys, self_values, cross_keys, cross_values;
};

// One decoder layer's share of the decoding state. The self-attention keys
// and values are those of the sub-layer's input (after LayerNorm for pre-LN),
// projected by k_proj / v_proj and split into heads, for every position
// decoded so far; MQA and GQA keep Hkv < H heads here, which is their point.
// With rotary positions the keys are kept turned, each at its own position
// (turned once, when appended; a key never moves, so it never needs turning
// again), and the values as projected.
//
// With Cross-Layer Attention a layer with share_kv keeps none of these
// tensors: its cache stays empty (the stacked weights aside), and its step()
// reads the cache of its group's first layer, which the first layer's step()
// has already advanced to this position. That is the whole saving: one set
// of self and cross keys and values per group instead of per layer.
//
// They live in buffers with room for more positions than they hold: step t
// writes position t in place and self_keys / self_values are views of the
// first t+1 positions. Appending by cat would copy the whole cache at every
// step, O(T^2) traffic over a sentence; a full buffer is replaced by one
// twice its size (the old positions copied once), so the copies add up to
// less than one more cache. (Under grad mode with parameters that require
// grad, step() appends by cat instead, which autograd can differentiate.)
//
// With Multi-Head Latent Attention (mla_kv_latent = d_c > 0) the self cache
// holds what MLA caches and nothing else: self_keys is the rotary key k_R
// (B, 1, t, d_R), self_values the latent c_KV (B, 1, t, d_c), kept in the
// same buffers; `absorbed` holds the folded matrices for the step's
// absorbed attention (nn/latent_attention.h).
class PagedKVCache;  // nn/paged_kv_cache.h

struct TransformerDecoderLayerCache {
  Tensor self_keys;     // (B, Hkv, t, Dh): undefined before the first step; turned with rope
  Tensor self_values;   // (B, Hkv, t, Dh)
  Tensor key_buffer;    // (B, Hkv, capacity, Dh), capacity >= t: self_keys is its
  Tensor value_buffer;  //   first t positions; undefined until the first step
  Tensor cross_keys;    // (B, Hkv, S, Dh): projected once from the memory
  Tensor cross_values;  // (B, Hkv, S, Dh)
  MultiheadAttention::StackedQKV self_qkv;  // the self-attention's projections stacked,
                                            // for one product per step (start())
  // Paged instead (Transformer::set_kv_cache): self_keys and the buffers stay
  // undefined, and step() writes and attends in layer-set `paged_set` of this
  // shared cache, which Transformer::step has advanced to position t first.
  PagedKVCache* paged = nullptr;
  int64_t paged_set = 0;
  MultiHeadLatentAttention::Absorbed absorbed;  // MLA: W^UK and W^UV folded (start())

  // The capacity of the first buffers, in positions; each growth doubles it.
  static constexpr int64_t kFirstCapacity = 32;
};

class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(const TransformerLayerOptions& options);

  // Teacher forcing, all positions at once.
  // x: (B, T, D); memory: (B, S, D), the encoder's output;
  // self_mask: usually AttentionMask::causal_only(), or an int64 tensor
  // broadcastable to (B, H, T, T) such as causal_mask(T) (1, 1, T, T);
  // memory_mask: usually AttentionMask::from_lengths(source_lengths), or a
  // tensor broadcastable to (B, H, T, S) such as padding_mask(source_lengths, S).
  // need_weights: false leaves cross_weights undefined and lets the
  // cross-attention run fused (the self-attention's weights are never kept).
  // -> output (B, T, D), cross_weights (B, H, T, S)
  // shared: with share_kv, the forward() output of the first layer of this
  // layer's CLA group, whose keys and values it attends over (required then,
  // ignored otherwise).
  // -> output (B, T, D), cross_weights (B, H, T, S), and the keys and values used
  TransformerDecoderLayerOutput forward(const Tensor& x, const Tensor& memory,
                                        const AttentionMask& self_mask = AttentionMask(),
                                        const AttentionMask& memory_mask = AttentionMask(),
                                        bool need_weights = true,
                                        const TransformerDecoderLayerOutput* shared = nullptr) const;

  // Before the first step: memory (B, S, D) -> a cache holding the
  // cross-attention keys and values (B, Hkv, S, Dh) and no self keys yet
  // (with share_kv: an empty cache, the group's first layer holds them).
  TransformerDecoderLayerCache start(const Tensor& memory) const;

  // One position t (t = the cache's current length).
  // x: (B, 1, D), the layer's input at position t; cache: from start(),
  // advanced by every earlier step (its self keys/values become
  // (B, Hkv, t+1, Dh)); memory_mask: as in forward, (B, H, 1, S) when dense;
  // need_weights as in forward; shared: with share_kv, the cache of the
  // first layer of this layer's CLA group, already stepped to position t
  // (required then, ignored otherwise).
  // -> output (B, 1, D), cross_weights (B, H, 1, S)
  TransformerDecoderLayerOutput step(const Tensor& x, TransformerDecoderLayerCache& cache,
                                     const AttentionMask& memory_mask = AttentionMask(),
                                     bool need_weights = true,
                                     const TransformerDecoderLayerCache* shared = nullptr) const;

  const TransformerLayerOptions& options() const { return options_; }

  // A layer that projects its own keys and values has these two (null with share_kv):
  std::shared_ptr<MultiheadAttention> self_attention;   // masked (causal), section 3.2.3
  std::shared_ptr<MultiheadAttention> cross_attention;  // "encoder-decoder attention"
  // A layer with share_kv has these two instead, under the same names (null otherwise):
  std::shared_ptr<SharedKVAttention> shared_self_attention;
  std::shared_ptr<SharedKVAttention> shared_cross_attention;
  // With MLA the self-attention is this one instead, under the same name (null otherwise):
  std::shared_ptr<MultiHeadLatentAttention> latent_self_attention;
  std::shared_ptr<PositionwiseFeedForward> feed_forward;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;       // around each sub-layer, in order

 private:
  // The two sub-layers after self-attention, shared by forward() and step():
  // h: (B, T, D) after self-attention; cross keys/values (B, Hkv, S, Dh),
  // this layer's or (share_kv) its group's first layer's.
  TransformerDecoderLayerOutput cross_and_feed_forward(const Tensor& h, const Tensor& cross_keys,
                                                       const Tensor& cross_values,
                                                       const AttentionMask& memory_mask,
                                                       bool need_weights) const;
  // step() of a layer with share_kv: x (B, 1, D) against the group's first
  // layer's cache `shared`, holding t+1 positions. -> as step()
  TransformerDecoderLayerOutput step_shared(const Tensor& x,
                                            const TransformerDecoderLayerCache* shared,
                                            const AttentionMask& memory_mask,
                                            bool need_weights) const;

  // step() of a layer with MLA: appends k_R and c_KV, attends absorbed. -> as step()
  TransformerDecoderLayerOutput step_latent(const Tensor& x, TransformerDecoderLayerCache& cache,
                                            const AttentionMask& memory_mask,
                                            bool need_weights) const;

  TransformerLayerOptions options_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace attn::nn
