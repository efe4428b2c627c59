#include "train/decode/decode.h"

#include <algorithm>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "data/vocab.h"
#include "nn/transformer.h"
#include "train/decode/beam_search.h"  // model_max_length

namespace attn::decode {

void set_kv_cache(nn::Translator& model, const nn::KVCacheOptions& options) {
  options.check();
  auto* transformer = dynamic_cast<nn::Transformer*>(&model);
  if (transformer == nullptr) {
    // The RNN models keep no key/value cache: only paged is an error there.
    ATTN_CHECK(!options.paged(), "--kv-cache paged: only a transformer has a key/value cache to "
               "page; this model is ", model.describe());
    return;
  }
  transformer->set_kv_cache(options);
}

DecodeResult greedy_decode(nn::Translator& model, const Tensor& source,
                           const Tensor& source_lengths, int64_t max_length,
                           bool need_attention) {
  ATTN_CHECK(source.dim() == 2 && source.dtype() == kInt64, "greedy_decode: source must be "
             "(B, S) int64, got ", dtype_name(source.dtype()), " ", shape_str(source.shape()));
  ATTN_CHECK(max_length > 0, "greedy_decode: max_length must be positive, got ", max_length);
  NoGradGuard no_grad;
  max_length = std::min(max_length, model_max_length(model));
  int64_t batch = source.size(0);
  std::unique_ptr<nn::DecoderState> state = model.start(source, source_lengths);
  state->need_weights = need_attention;
  Tensor previous =
      full({batch}, static_cast<double>(data::kBos), TensorOptions(kInt64).device(source.device()));

  DecodeResult result;
  result.tokens.resize(static_cast<size_t>(batch));
  std::vector<bool> finished(static_cast<size_t>(batch), false);
  std::vector<Tensor> attention_steps, position_steps;
  int64_t remaining = batch;
  for (int64_t t = 0; t < max_length && remaining > 0; ++t) {
    Tensor logits = model.step(*state, previous);   // (B, V)
    const nn::KVCacheBytes cache = state->cache_bytes();
    nn::keep_peak(result.peak_cache, cache);
    Tensor next = argmax(logits, -1);               // (B)
    Tensor weights = state->last_attention();       // (B, S) or undefined
    if (need_attention && weights.defined()) attention_steps.push_back(weights);
    Tensor centre = state->last_position();         // (B) or undefined
    if (centre.defined()) position_steps.push_back(centre);
    const Tensor next_on_host = next.cpu();  // the loop below decides on the host
    const int64_t* chosen = next_on_host.data_ptr<int64_t>();
    for (int64_t b = 0; b < batch; ++b) {
      if (finished[b]) continue;
      if (chosen[b] == data::kEos) {
        finished[b] = true;
        --remaining;
      } else {
        result.tokens[b].push_back(chosen[b]);
      }
    }
    previous = next;
  }
  result.reached_max_length = remaining;  // still going when the loop stopped
  if (!attention_steps.empty()) result.attention = stack(attention_steps, 1);  // (B, T, S)
  if (!position_steps.empty()) result.positions = stack(position_steps, 1);    // (B, T)
  result.window = state->window();
  return result;
}

}  // namespace attn::decode
