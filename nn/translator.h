// The interface every translation model implements, so that training,
// decoding (greedy now, beam search later) and plotting work for all of them.
//
// Training calls forward() with the whole target sentence (teacher forcing).
// Generation calls start() once per batch of source sentences, then step()
// once per output position, feeding back the token it chose.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace attn::nn {

// Bytes held by a decoding state's key/value caches (the Transformer's,
// nn/transformer.h; zero for the RNN models, which keep no cache).
struct KVCacheBytes {
  int64_t self_attention = 0;   // 2 * layers * B * Hkv * t * Dh * sizeof(dtype): grows per step
  int64_t cross_attention = 0;  // 2 * layers * B * Hkv * S * Dh * sizeof(dtype): fixed
  // The paged cache only (nn/paged_kv_cache.h; all 0 with the contiguous one).
  // self_attention is then blocks * block_bytes.
  int64_t blocks = 0;               // physical blocks the rows point at (shared ones once)
  int64_t block_bytes = 0;          // keys and values of one block, every layer-set
  int64_t unshared_blocks = 0;      // the blocks with no sharing: B * ceil(t / block_size)
  int64_t contiguous_self_attention = 0;  // what a contiguous cache would hold: the formula above
  int64_t tokens = 0;           // B * t: the (row, position) pairs the self-attention holds
  int64_t total() const { return self_attention + cross_attention; }
  // What one more decoded token of one row adds: 2 * layers * Hkv * Dh * sizeof(dtype)
  // for the paper's model; each variant's formula for the others (docs/12's table).
  int64_t self_attention_per_token() const { return tokens > 0 ? self_attention / tokens : 0; }
};

// Beam search and greedy decoding keep the largest reading over a decode:
// the snapshot of the largest total, with the paged figures each at its own
// largest (sentences leaving the batch shrink the cross cache, so the largest
// total and the most blocks need not come at the same step).
inline void keep_peak(KVCacheBytes& peak, const KVCacheBytes& now) {
  KVCacheBytes most = now.total() > peak.total() ? now : peak;
  most.blocks = std::max(peak.blocks, now.blocks);
  most.block_bytes = std::max(peak.block_bytes, now.block_bytes);
  most.unshared_blocks = std::max(peak.unshared_blocks, now.unshared_blocks);
  most.contiguous_self_attention =
      std::max(peak.contiguous_self_attention, now.contiguous_self_attention);
  peak = most;
}

// What a decoder carries from one output position to the next (RNN states,
// the encoder's memory, a key/value cache...). Models subclass it.
class DecoderState {
 public:
  virtual ~DecoderState() = default;
  // Whether step() must compute the attention weights that last_attention()
  // hands back (for heatmaps, `attn plot`, alignments). Decoders that only
  // want tokens set it false: the Transformer then runs its cross-attention
  // through the fused kernel too. Models whose attention weights are a step
  // of their own arithmetic (RNNsearch, Luong) compute them either way.
  bool need_weights = true;
  // Keeps the rows `indices` (int64 (B')) of every batched tensor, in that
  // order: beam search calls it when it reorders hypotheses.
  virtual void reorder(const Tensor& indices) = 0;
  // The attention weights of the last step, (B, S), or undefined if the model
  // has no attention. Decoding collects them into (B, T, S) for heatmaps.
  virtual Tensor last_attention() const { return Tensor(); }
  // Local attention only (Luong et al. 2015, section 3.2): the centre p_t of
  // the last step's window, float (B), in source positions; undefined otherwise.
  virtual Tensor last_position() const { return Tensor(); }
  // The half-width D of that window; 0 when the model has no window.
  virtual int64_t window() const { return 0; }
  // What the key/value caches hold now (`attn translate --report-cache`).
  virtual KVCacheBytes cache_bytes() const { return {}; }
};

class Translator : public Module {
 public:
  // source: (B, S) int64 ids, padded with <pad>; source_lengths: (B) int64;
  // target_input: (B, T) int64, <s> y1 ... -> logits (B, T, V).
  // Each model builds its source mask from source_lengths (position < length
  // is real), here and in start(): the one place it is built (data/batch.h
  // says why), so ids in the padding never matter.
  virtual Tensor forward(const Tensor& source, const Tensor& source_lengths,
                         const Tensor& target_input) = 0;

  // Encodes the source once and returns the state before the first output.
  virtual std::unique_ptr<DecoderState> start(const Tensor& source,
                                              const Tensor& source_lengths) = 0;
  // previous: (B) int64, the tokens chosen at the last step (<s> at first)
  // -> logits (B, V) for the next token; updates `state`.
  virtual Tensor step(DecoderState& state, const Tensor& previous) = 0;

  // A one-line description for logs: "bahdanau: 2-layer ..."
  virtual std::string describe() const = 0;
};

}  // namespace attn::nn
