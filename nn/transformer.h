// The Transformer (Vaswani et al. 2017, "Attention Is All You Need"): an
// encoder-decoder made of attention and feed-forward layers only.
//
//   encoder   x_0 = Dropout(sqrt(D) E_src[source] + PE)     sections 3.4, 3.5, 5.4
//             (+ PE: none with rotary positions, which act inside attention)
//             x_l = EncoderLayer_l(x_{l-1}, source padding)  section 3.1, N layers
//             memory = x_N  (pre-LN: LayerNorm(x_N))
//   decoder   y_0 = Dropout(sqrt(D) E_tgt[target_in] + PE)
//             y_l = DecoderLayer_l(y_{l-1}, memory, causal, source padding)
//             logits = y_N W_out^T + b  (pre-LN: LayerNorm(y_N) first)
// with the layers of nn/transformer_layers.h.
//
// Section 3.4, embeddings: the embeddings are multiplied by sqrt(d_model).
// Our embedding tables start as N(0, 1/d_model), as tensor2tensor and
// fairseq initialise them, so the scaled embeddings have unit variance like
// the sinusoids they are added to. (torch.nn.Embedding's N(0, 1) times
// sqrt(D) would give them a standard deviation of sqrt(D), 22 for the base
// model, and drown the positions.)
// Section 3.4, shared weights: the paper shares one matrix between the two
// embeddings and the pre-softmax linear map. Both are options here, off by
// default (our toy tasks have different source and target vocabularies):
//   shared_embeddings  one table for source and target (a joint vocabulary,
//                      as the paper's BPE for English-German); needs equal
//                      vocabulary sizes;
//   tied_output        logits = y E_tgt^T, with no bias (Press & Wolf 2017).
//                      The <pad> row then learns through the output layer
//                      (its logit is pushed down) and leaves zero; harmless,
//                      as padded positions are masked or ignored by the loss.
//
// Masks: the encoder and the cross-attention hide source padding (the
// source lengths, AttentionMask::from_lengths of
// nn/scaled_dot_product_attention.h); the decoder's self-attention is causal
// (AttentionMask::causal_only). Given as numbers, both let attention run
// through the fused kernel wherever no weights are asked for: training,
// forward(), the encoder and the self-attention always; the cross-attention
// except in forward_with_attention() and in step() while the state's
// need_weights is on. fused_attention = false keeps the composed path. Target padding needs no mask of its
// own: it sits after every real token, so the causal mask already hides it
// from every real position, and the loss ignores the padding positions'
// outputs.
//
// Where we differ from the paper, each a named option:
//   attention_dropout (default 0.0, the paper's): PyTorch's nn.Transformer
//       also drops attention weights, with the same p as everything else;
//   dropout inside the FFN after the ReLU, with P_drop (nn/transformer_layers.h);
//   pre_ln (default false, the paper's post-LN);
//   positions (default "sinusoidal", the paper's): "learned", a trained table
//       (Table 3 row E), or "rope", rotary positions (Su et al. 2021,
//       RoFormer): nothing is added to the embeddings, and every
//       self-attention turns its queries and keys by their positions
//       (nn/multihead_attention.h; cross-attention has none);
//   initialisation: PyTorch's for Linear and LayerNorm (the paper gives none).
//
// Generation: start() encodes once and projects every decoder layer's cross
// keys and values once; step() embeds one token at position t, runs each
// decoder layer on it with its key/value cache, and returns (B, V) logits.
// With rope, step t turns its query and its new key at position t, and the
// cache keeps the turned keys (docs/15-rotary-positions.md).
// The cache grows by 2 * layers * B * Hkv * Dh numbers per step (design.md,
// "Generation"); cache_bytes() reports it.
// set_kv_cache(paged) keeps the self-attention keys and values in blocks
// from a pool instead, a block table per row, so that beam search's reorder
// shares blocks instead of copying rows (vLLM's PagedAttention,
// nn/paged_kv_cache.h, docs/20-paged-kv-cache.md); the numbers are the same.
//
// Cross-Layer Attention (cla_factor N > 1; Brandon et al. 2024): the decoder
// layers form groups of N adjacent layers, l = 0..N-1, N..2N-1, ...; the
// first layer of each group projects the self-attention keys and values (from
// its own input) and the cross-attention keys and values (from the memory),
// and the other N-1 layers attend over those, with their own query and output
// projections only (share_kv, nn/transformer_layers.h). One flag for both
// kinds of attention (the paper's CLA2 is N = 2 on self-attention; sharing
// the cross keys too saves the same factor of the fixed cross cache). When N
// does not divide the decoder layers, the last group is smaller. Factor 1 is
// the paper's model, parameter for parameter. The cache then holds
// ceil(layers / N) sets instead of layers (TransformerState::cache_bytes).
//
//   attn::nn::Transformer model(attn::nn::TransformerOptions::toy(src_vocab, tgt_vocab));
//   attn::Tensor logits = model.forward(source, source_lengths, target_input);  // (B, T, V)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/packed_weights.h"
#include "nn/paged_kv_cache.h"
#include "nn/positional_encoding.h"
#include "nn/transformer_layers.h"
#include "nn/translator.h"

namespace attn::nn {

struct TransformerOptions {
  int64_t source_vocab_size;
  int64_t target_vocab_size;
  int64_t d_model = 512;           // D (paper, base: 512)
  int64_t num_heads = 8;           // H (paper: 8); must divide D
  int64_t num_kv_heads = 0;        // Hkv: 0 = num_heads (MHA, the paper's), 1 = MQA, else GQA
  int64_t d_ff = 2048;             // F (paper: 2048)
  int64_t encoder_layers = 6;      // N (paper: 6)
  int64_t decoder_layers = 6;      // N (paper: 6)
  double dropout = 0.1;            // P_drop (paper 5.4: 0.1): sub-layer outputs,
                                   // embeddings + positions, and inside the FFN
  double attention_dropout = 0.0;  // on the attention weights; the paper has none
                                   // (PyTorch's nn.Transformer uses `dropout` here too)
  bool pre_ln = false;             // LayerNorm before each sub-layer + one after each stack
  bool shared_embeddings = false;  // one table for source and target; equal vocabularies
  bool tied_output = false;        // logits use the target embedding matrix (section 3.4)
  // How the model knows word order: "sinusoidal" (the paper's, section 3.5),
  // "learned" (a trained table, Table 3 row E) or "rope" (rotary positions in
  // the self-attentions, RoFormer; none added to the embeddings).
  std::string positions = "sinusoidal";
  bool fused_attention = true;     // attention through the fused kernel wherever no
                                   // weights are asked for (false: always composed)
  int64_t max_length = 512;        // the longest source or target sentence
  int64_t cla_factor = 1;          // Cross-Layer Attention: N adjacent decoder layers share
                                   // one set of keys and values (1 = none, the paper's)
  int64_t kv_rank = 0;             // Low-Rank KV rank r in every attention, 1..D/H; 0 = off
                                   // (nn/multihead_attention.h, docs/17-low-rank-kv.md)
  // Multi-Head Latent Attention in the self-attentions of encoder and decoder
  // (nn/latent_attention.h, docs/19-latent-attention.md); cross-attention
  // stays MHA: its keys come from the memory, once per sentence, and its
  // queries and keys are positions of different sentences, for which the
  // decoupled rotary key has no meaning (the paper is decoder-only).
  int64_t mla_kv_latent = 0;       // d_c, the cached latent; 0 = off
  int64_t mla_q_latent = 0;        // d_c', the query latent; 0 = no query compression
  int64_t mla_rope_dim = 0;        // d_R, the decoupled rotary key; 0 = D/H / 2 (the paper's)

  TransformerOptions(int64_t source_vocab, int64_t target_vocab)
      : source_vocab_size(source_vocab), target_vocab_size(target_vocab) {}

  // The paper's base model (Table 3): 512 / 8 heads / 2048 / 6 + 6 layers, P_drop 0.1.
  static TransformerOptions base(int64_t source_vocab, int64_t target_vocab);
  // A small model for the toy tasks (dates, toy-lang): 64 / 4 heads / 256 /
  // 2 + 2 layers, P_drop 0.1: 233,472 parameters plus 64 (V_src + V_tgt) + 65 V_tgt
  // for the embeddings and the output layer. Forward and backward of a dates
  // batch (64 sentences, 12 tokens each side) take about 90 ms on two CPU cores.
  static TransformerOptions toy(int64_t source_vocab, int64_t target_vocab);

  TransformerOptions& set_d_model(int64_t d) { d_model = d; return *this; }
  TransformerOptions& set_num_heads(int64_t h) { num_heads = h; return *this; }
  TransformerOptions& set_num_kv_heads(int64_t h) { num_kv_heads = h; return *this; }
  TransformerOptions& set_d_ff(int64_t f) { d_ff = f; return *this; }
  TransformerOptions& set_layers(int64_t encoder, int64_t decoder) {
    encoder_layers = encoder; decoder_layers = decoder; return *this;
  }
  TransformerOptions& set_dropout(double p) { dropout = p; return *this; }
  TransformerOptions& set_attention_dropout(double p) { attention_dropout = p; return *this; }
  TransformerOptions& set_pre_ln(bool on) { pre_ln = on; return *this; }
  TransformerOptions& set_shared_embeddings(bool on) { shared_embeddings = on; return *this; }
  TransformerOptions& set_tied_output(bool on) { tied_output = on; return *this; }
  TransformerOptions& set_positions(const std::string& kind) { positions = kind; return *this; }
  TransformerOptions& set_kv_rank(int64_t r) { kv_rank = r; return *this; }
  TransformerOptions& set_mla(int64_t kv_latent, int64_t q_latent = 0, int64_t rope_dim = 0) {
    mla_kv_latent = kv_latent; mla_q_latent = q_latent; mla_rope_dim = rope_dim; return *this;
  }
  // The older spelling of set_positions("learned") (on) / ("sinusoidal") (off).
  TransformerOptions& set_learned_positions(bool on) {
    positions = on ? "learned" : "sinusoidal";
    return *this;
  }
  TransformerOptions& set_fused_attention(bool on) { fused_attention = on; return *this; }
  TransformerOptions& set_max_length(int64_t n) { max_length = n; return *this; }
  TransformerOptions& set_cla_factor(int64_t n) { cla_factor = n; return *this; }
};

// What the Transformer carries from one output position to the next.
class TransformerState : public DecoderState {
 public:
  std::vector<TransformerDecoderLayerCache> layers;  // one per decoder layer; with CLA the
                                                     // layers that share hold no keys
  Tensor memory_mask;                 // (B, 1, 1, S) int64, on the source's device
  Tensor source_lengths;              // (B) int64, where the caller keeps it (often the CPU)
  int64_t position = 0;               // t: the position the next step() decodes
  std::vector<Tensor> cross_weights;  // per decoder layer, (B, H, S): the last step's,
                                      // undefined while need_weights (DecoderState) is false
  // With Transformer::set_kv_cache paged: the self-attention keys and values
  // of every layer-set in blocks (nn/paged_kv_cache.h); null: contiguous.
  std::unique_ptr<PagedKVCache> paged;
  // The weights this decode multiplies by, packed for the CPU the first time
  // start() or step() needs each (nn/packed_weights.h): one packing per
  // decode instead of one inside every GEMM call.
  PackedWeights packed_weights;

  // Every cached tensor keeps the rows `indices` (int64 (B')), in that order.
  void reorder(const Tensor& indices) override;
  // The last step's cross-attention of the LAST decoder layer, averaged over
  // its heads: (B, S), rows summing to 1 over the real source words. Other
  // layers and single heads often attend more sharply; cross_weights has them.
  Tensor last_attention() const override;
  // Sums numel * element size over every cached key and value tensor. With
  // L decoder layers, CLA factor N, G = ceil(L / N) groups, after t steps:
  //   self_attention  = 2 * G * B * Hkv * t * Dh * sizeof(dtype)
  //   cross_attention = 2 * G * B * Hkv * S * Dh * sizeof(dtype)
  // (N = 1: G = L, the formula of nn/translator.h.) With MLA (d_c, d_R):
  //   self_attention  = L * B * t * (d_c + d_R) * sizeof(dtype)
  KVCacheBytes cache_bytes() const override;
};

class Transformer : public Translator {
 public:
  // Throws on sizes that do not fit together, e.g. shared embeddings over
  // vocabularies of different sizes, naming both.
  explicit Transformer(const TransformerOptions& options);

  // source: (B, S) int64, source_lengths: (B) int64, target_input: (B, T)
  // int64 -> logits (B, T, V). Every attention runs fused (when the options allow).
  Tensor forward(const Tensor& source, const Tensor& source_lengths,
                 const Tensor& target_input) override;
  // forward() that also hands back every decoder layer's cross-attention
  // weights, (B, H, T, S) each, in `cross_weights` (for heatmaps).
  Tensor forward_with_attention(const Tensor& source, const Tensor& source_lengths,
                                const Tensor& target_input, std::vector<Tensor>& cross_weights);

  // source: (B, S), source_lengths: (B) -> memory (B, S, D)
  Tensor encode(const Tensor& source, const Tensor& source_lengths) const;

  // Encodes once and projects each decoder layer's cross keys and values:
  // returns a TransformerState at position 0 (need_weights on).
  std::unique_ptr<DecoderState> start(const Tensor& source, const Tensor& source_lengths) override;
  // previous: (B) int64, the token at position t (<s> when t = 0) -> logits
  // (B, V) for position t+1's token; appends position t to every cache.
  Tensor step(DecoderState& state, const Tensor& previous) override;

  // How start() caches the self-attention keys and values: contiguous (the
  // default) or paged (nn/paged_kv_cache.h), a decoding choice, not stored in
  // the model file. Throws on a bad kind or block size, and for paged with
  // Low-Rank KV (kv_rank > 0) or MLA (mla_kv_latent > 0), whose caches are
  // not per kv head.
  void set_kv_cache(const KVCacheOptions& options);
  const KVCacheOptions& kv_cache() const { return kv_cache_; }
  // The pool the paged caches of this model's decodes take their blocks from
  // (made by start(); null before the first paged decode).
  std::shared_ptr<KVBlockPool> kv_block_pool() const { return kv_pool_; }

  // "transformer: 2+2 layers, d_model 64, 4 heads (4 kv heads: MHA), d_ff 256, post-LN, ..."
  std::string describe() const override;

  // The key/value cache of a state from start()/step(), in bytes (--report-cache).
  // Throws unless `state` is a TransformerState.
  static KVCacheBytes cache_bytes(const DecoderState& state);

  const TransformerOptions& options() const { return options_; }

  std::shared_ptr<Embedding> source_embedding;  // (V_src, D); the same module as
  std::shared_ptr<Embedding> target_embedding;  // target_embedding when shared
  std::shared_ptr<PositionalEncoding> source_positions, target_positions;  // null with rope
  std::shared_ptr<Dropout> embedding_dropout;  // rope only: Dropout(sqrt(D) E[ids]), section 5.4
  std::vector<std::shared_ptr<TransformerEncoderLayer>> encoder_layers;
  std::vector<std::shared_ptr<TransformerDecoderLayer>> decoder_layers;
  // The decoder layer whose keys and values layer l attends over: the first of
  // its CLA group, l - l % cla_factor (l itself when it projects its own).
  int64_t kv_layer(int64_t l) const { return l - l % options_.cla_factor; }
  std::shared_ptr<LayerNorm> encoder_norm, decoder_norm;  // pre-LN only, else null
  std::shared_ptr<Linear> output;  // D -> V_tgt; null when tied_output

 private:
  // ids: (B, T) int64 -> Dropout(sqrt(D) E[ids] + PE[offset : offset + T]): (B, T, D);
  // positions null (rope): Dropout(sqrt(D) E[ids]).
  Tensor embed(const Embedding& table, const PositionalEncoding* positions, const Tensor& ids,
               int64_t offset) const;
  // y: (..., D) from the last decoder layer -> logits (..., V)
  Tensor logits(const Tensor& y) const;
  // Checks that source is (B, S) int64 and source_lengths (B) int64.
  void check_source(const Tensor& source, const Tensor& source_lengths) const;
  // The memory mask (B, 1, 1, S) on the source's device, after checking shapes.
  Tensor source_mask(const Tensor& source, const Tensor& source_lengths) const;
  // source: (B, S), source_lengths: (B) -> memory (B, S, D)
  Tensor run_encoder(const Tensor& source, const Tensor& source_lengths) const;
  // forward(), and forward_with_attention() when cross_weights is not null.
  Tensor run(const Tensor& source, const Tensor& source_lengths, const Tensor& target_input,
             std::vector<Tensor>* cross_weights);

  TransformerOptions options_;
  KVCacheOptions kv_cache_;
  std::shared_ptr<KVBlockPool> kv_pool_;  // paged decoding only, kept between decodes
};

}  // namespace attn::nn
