// Greedy decoding: at each position take the most probable next token.
//
// Works for every model through the nn::Translator interface: encode once
// (start), then one step per output position, feeding back the chosen token,
// until every sentence of the batch has produced </s> or max_length tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/paged_kv_cache.h"
#include "nn/translator.h"

namespace attn::decode {

struct DecodeResult {
  // One token sequence per sentence, without <s> and without the final </s>.
  std::vector<std::vector<int64_t>> tokens;
  // (B, T, S) attention weights of each output position over the source
  // (T = the longest output, including its </s>); undefined if the model has none.
  Tensor attention;
  // Local attention only: (B, T) float, the window centre p_t of each output
  // position, and the window's half-width D; undefined and 0 otherwise.
  Tensor positions;
  int64_t window = 0;
  // The largest the key/value caches grew (zero for models without a cache).
  nn::KVCacheBytes peak_cache;
  // Sentences that reached max_length tokens without </s>.
  int64_t reached_max_length = 0;
};

// source: (B, S) int64, source_lengths: (B) int64. Runs under NoGradGuard; the
// caller puts the model in eval mode. max_length: most tokens per sentence,
// lowered to the model's own limit (a Transformer's positional table,
// decode::model_max_length).
// need_attention: false when only the tokens are wanted; `attention` is then
// left undefined and the Transformer's attention all runs fused
// (DecoderState::need_weights).
// --kv-cache KIND and --kv-block-size P of `attn translate` and `attn eval`:
// the cache a Transformer decodes with (nn/paged_kv_cache.h; contiguous is
// the default). Throws attn::Error naming the flag and the value: a kind or
// size out of range, paged for a model that is not a Transformer, or paged
// with an option the paged cache does not take (Low-Rank KV's --kv-rank).
void set_kv_cache(nn::Translator& model, const nn::KVCacheOptions& options);

DecodeResult greedy_decode(nn::Translator& model, const Tensor& source,
                           const Tensor& source_lengths, int64_t max_length,
                           bool need_attention = true);

}  // namespace attn::decode
