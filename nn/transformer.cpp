#include "nn/transformer.h"

#include <cmath>
#include <sstream>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/scaled_dot_product_attention.h"
#include "kernels/error.h"
#include "tensor/shape.h"

namespace attn::nn {
namespace {

constexpr int64_t kPadId = 0;  // data/vocab.h's kPad; nn/ does not include data/
const char* kName = "Transformer";

// An embedding table of V rows of size D, N(0, 1/D) (tensor2tensor, fairseq),
// with the padding row at zero: sqrt(D) E[id] then has unit variance (section
// 3.4; the header says why this and not torch.nn.Embedding's N(0, 1)).
std::shared_ptr<Embedding> make_embedding(int64_t vocab, int64_t d_model) {
  auto table = std::make_shared<Embedding>(
      EmbeddingOptions(vocab, d_model).set_padding_idx(kPadId));
  NoGradGuard no_grad;
  table->weight.copy_(init::normal({vocab, d_model}, 0.0, 1.0 / std::sqrt(double(d_model))));
  table->weight.narrow(0, kPadId, 1).zero_();
  return table;
}

int64_t bytes_of(const Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(element_size(t.dtype())) : 0;
}

}  // namespace

// --- options ---------------------------------------------------------------------------

TransformerOptions TransformerOptions::base(int64_t source_vocab, int64_t target_vocab) {
  return TransformerOptions(source_vocab, target_vocab);  // the defaults are the paper's base
}

TransformerOptions TransformerOptions::toy(int64_t source_vocab, int64_t target_vocab) {
  return TransformerOptions(source_vocab, target_vocab)
      .set_d_model(64).set_num_heads(4).set_d_ff(256).set_layers(2, 2).set_dropout(0.1);
}

// --- the decoding state ----------------------------------------------------------------

void TransformerState::reorder(const Tensor& indices) {
  // index_select moves the indices to each tensor's device: source_lengths
  // often stays on the CPU while the caches are on the GPU.
  auto pick = [&](Tensor& t) {
    if (t.defined()) t = index_select(t, 0, indices);
  };
  if (paged) {
    // No key moves: each new row takes its parent's block table (nn/paged_kv_cache.h).
    paged->reorder(indices.cpu().to_vector<int64_t>());
  }
  for (TransformerDecoderLayerCache& cache : layers) {
    if (cache.key_buffer.defined()) {
      // The buffers keep their capacity; the views are taken again.
      const int64_t t = cache.self_keys.size(2);
      pick(cache.key_buffer);
      pick(cache.value_buffer);
      cache.self_keys = cache.key_buffer.narrow(2, 0, t);
      cache.self_values = cache.value_buffer.narrow(2, 0, t);
    } else {
      pick(cache.self_keys);
      pick(cache.self_values);
    }
    pick(cache.cross_keys);
    pick(cache.cross_values);
  }
  pick(memory_mask);
  pick(source_lengths);
  for (Tensor& w : cross_weights) pick(w);
}

Tensor TransformerState::last_attention() const {
  if (cross_weights.empty() || !cross_weights.back().defined()) return Tensor();
  return cross_weights.back().mean(1);  // (B, H, S) -> (B, S)
}

KVCacheBytes TransformerState::cache_bytes() const {
  // The positions held (design.md's formula), not the buffers' spare room,
  // which is less than as much again.
  KVCacheBytes bytes;
  for (const TransformerDecoderLayerCache& cache : layers) {
    bytes.self_attention += bytes_of(cache.self_keys) + bytes_of(cache.self_values);
    bytes.cross_attention += bytes_of(cache.cross_keys) + bytes_of(cache.cross_values);
    // Every set holds the same rows and positions; count them once.
    if (bytes.tokens == 0 && cache.self_keys.defined())
      bytes.tokens = cache.self_keys.size(0) * cache.self_keys.size(2);
  }
  if (paged) {
    // Whole blocks, each counted once however many rows share it; beside it
    // what the contiguous cache would hold (its formula) and what the rows
    // would hold in blocks without sharing.
    const KVBlockPool& pool = paged->pool();
    bytes.blocks = paged->blocks_in_use();
    bytes.block_bytes = pool.block_bytes();
    bytes.self_attention = bytes.blocks * bytes.block_bytes;
    bytes.unshared_blocks = paged->unshared_blocks();
    bytes.contiguous_self_attention = bytes.block_bytes / pool.block_size() * paged->rows() *
                                      paged->length();
    bytes.tokens = paged->rows() * paged->length();
  }
  return bytes;
}

// --- the model -------------------------------------------------------------------------

Transformer::Transformer(const TransformerOptions& options) : options_(options) {
  const TransformerOptions& o = options;
  ATTN_CHECK(o.source_vocab_size > 0 && o.target_vocab_size > 0 && o.encoder_layers > 0 &&
                 o.decoder_layers > 0 && o.max_length > 0,
             kName, ": sizes must be positive (vocabularies ", o.source_vocab_size, "/",
             o.target_vocab_size, ", layers ", o.encoder_layers, "+", o.decoder_layers,
             ", max_length ", o.max_length, ")");
  ATTN_CHECK(!o.shared_embeddings || o.source_vocab_size == o.target_vocab_size, kName,
             ": shared_embeddings needs one vocabulary for source and target, but the source "
             "vocabulary has ", o.source_vocab_size, " entries and the target ",
             o.target_vocab_size, " (build a joint vocabulary, or turn shared_embeddings off)");
  const int64_t D = o.d_model;
  ATTN_CHECK(D > 0, kName, ": d_model must be positive, got ", D);
  ATTN_CHECK(o.cla_factor >= 1 && o.cla_factor <= o.decoder_layers, kName,
             ": cla_factor (--cla-factor) must be in 1..decoder_layers (--dec-depth) = 1..",
             o.decoder_layers, ", got ", o.cla_factor);

  if (o.mla_kv_latent > 0) {
    // MLA brings its own shared rotary key and compressed keys and values.
    ATTN_CHECK(o.kv_rank == 0 && (o.num_kv_heads == 0 || o.num_kv_heads == o.num_heads) &&
                   o.cla_factor == 1,
               kName, ": mla_kv_latent ", o.mla_kv_latent, " (Multi-Head Latent Attention) "
               "compresses keys and values itself; it needs kv_rank 0, num_kv_heads 0 and "
               "cla_factor 1, got ", o.kv_rank, ", ", o.num_kv_heads, " and ", o.cla_factor);
  } else {
    ATTN_CHECK(o.mla_q_latent == 0 && o.mla_rope_dim == 0, kName, ": mla_q_latent ",
               o.mla_q_latent, " and mla_rope_dim ", o.mla_rope_dim,
               " need mla_kv_latent > 0 (Multi-Head Latent Attention)");
  }

  if (o.shared_embeddings) {
    // One module, registered once: its parameter appears once in
    // parameters(), so the optimizer updates it once with both gradients.
    source_embedding = register_module("shared_embedding", make_embedding(o.source_vocab_size, D));
    target_embedding = source_embedding;
  } else {
    source_embedding = register_module("source_embedding", make_embedding(o.source_vocab_size, D));
    target_embedding = register_module("target_embedding", make_embedding(o.target_vocab_size, D));
  }
  ATTN_CHECK(o.positions == "sinusoidal" || o.positions == "learned" || o.positions == "rope",
             kName, ": positions must be sinusoidal, learned or rope, got '", o.positions, "'");
  const bool rope = o.positions == "rope";
  if (rope) {
    // Rotary positions live in the self-attentions; the embeddings get only
    // the dropout that the paper puts on their sum with the positions.
    embedding_dropout = register_module("embedding_dropout", std::make_shared<Dropout>(o.dropout));
  } else {
    auto positions = PositionalEncodingOptions(D).set_max_length(o.max_length)
                         .set_dropout(o.dropout).set_learned(o.positions == "learned");
    source_positions = register_module("source_positions",
                                       std::make_shared<PositionalEncoding>(positions));
    target_positions = register_module("target_positions",
                                       std::make_shared<PositionalEncoding>(positions));
  }

  TransformerLayerOptions layer(D, o.num_heads, o.d_ff);
  layer.set_num_kv_heads(o.num_kv_heads).set_dropout(o.dropout)
      .set_attention_dropout(o.attention_dropout).set_pre_ln(o.pre_ln)
      .set_fused_attention(o.fused_attention).set_rope(rope).set_kv_rank(o.kv_rank)
      .set_mla(o.mla_kv_latent, o.mla_q_latent, o.mla_rope_dim);
  for (int64_t l = 0; l < o.encoder_layers; ++l) {
    encoder_layers.push_back(register_module("encoder_l" + std::to_string(l),
                                             std::make_shared<TransformerEncoderLayer>(layer)));
  }
  for (int64_t l = 0; l < o.decoder_layers; ++l) {
    // CLA: only the first layer of each group of cla_factor projects keys and values.
    TransformerLayerOptions decoder = layer;
    decoder.set_share_kv(l % o.cla_factor != 0);
    decoder_layers.push_back(register_module("decoder_l" + std::to_string(l),
                                             std::make_shared<TransformerDecoderLayer>(decoder)));
  }
  if (o.pre_ln) {
    // Pre-LN leaves the sum of all residuals un-normalised: one LayerNorm
    // after each stack (as tensor2tensor and PyTorch's norm_first).
    encoder_norm = register_module("encoder_norm", std::make_shared<LayerNorm>(D));
    decoder_norm = register_module("decoder_norm", std::make_shared<LayerNorm>(D));
  }
  if (!o.tied_output) {
    output = register_module("output", std::make_shared<Linear>(D, o.target_vocab_size));
  }
}

Tensor Transformer::embed(const Embedding& table, const PositionalEncoding* positions,
                          const Tensor& ids, int64_t offset) const {
  const double scale = std::sqrt(static_cast<double>(options_.d_model));  // section 3.4
  Tensor x = table.forward(ids) * scale;                                   // (B, T, D)
  if (!positions) return embedding_dropout->forward(x);  // rope: positions act in attention
  return positions->forward(x, offset);  // + PE[offset..], then dropout (3.5, 5.4)
}

Tensor Transformer::logits(const Tensor& y) const {
  Tensor top = decoder_norm ? decoder_norm->forward(y) : y;               // (..., D)
  if (output) return output->forward(top);                                 // (..., V)
  // Tied (section 3.4): the pre-softmax map is the embedding matrix itself,
  // (V, D), so row v of the logits is <y, E[v]>.
  return linear_in_scope(top, target_embedding->weight);                   // (..., V)
}

void Transformer::check_source(const Tensor& source, const Tensor& source_lengths) const {
  ATTN_CHECK(source.defined() && source.dim() == 2 && source.dtype() == kInt64, kName,
             ": source must be (B, S) int64, got ",
             source.defined() ? dtype_name(source.dtype()) : "undefined", " ",
             source.defined() ? shape_str(source.shape()) : "");
  ATTN_CHECK(source_lengths.defined() && source_lengths.dtype() == kInt64 &&
                 source_lengths.shape() == Shape({source.size(0)}),
             kName, ": source_lengths must be int64 (", source.size(0), ") for source ",
             shape_str(source.shape()), ", got ",
             source_lengths.defined() ? shape_str(source_lengths.shape()) : "undefined");
  // The positional table has max_length rows: a longer source has no position to add.
  ATTN_CHECK(source.size(1) <= options_.max_length, kName, ": the source has ", source.size(1),
             " positions (", shape_str(source.shape()), "), but this model's positional table holds ",
             options_.max_length, " (TransformerOptions::max_length); crop or split the sentence");
}

Tensor Transformer::source_mask(const Tensor& source, const Tensor& source_lengths) const {
  check_source(source, source_lengths);
  return padding_mask(source_lengths, source.size(1)).to(source.device());  // (B, 1, 1, S)
}

Tensor Transformer::run_encoder(const Tensor& source, const Tensor& source_lengths) const {
  check_source(source, source_lengths);
  // The padding mask as numbers, so that the fused kernel can take it.
  const AttentionMask mask = AttentionMask::from_lengths(source_lengths);
  Tensor x = embed(*source_embedding, source_positions.get(), source, 0);   // (B, S, D)
  for (const auto& layer : encoder_layers) x = layer->forward(x, mask);     // (B, S, D)
  return encoder_norm ? encoder_norm->forward(x) : x;                       // (B, S, D)
}

Tensor Transformer::encode(const Tensor& source, const Tensor& source_lengths) const {
  return run_encoder(source, source_lengths);                               // (B, S, D)
}

Tensor Transformer::run(const Tensor& source, const Tensor& source_lengths,
                        const Tensor& target_input, std::vector<Tensor>* cross_weights) {
  check_source(source, source_lengths);
  ATTN_CHECK(target_input.defined() && target_input.dim() == 2 &&
                 target_input.dtype() == kInt64 && target_input.size(0) == source.size(0),
             kName, ": target_input must be (", source.size(0), ", T) int64 for source ",
             shape_str(source.shape()), ", got ",
             target_input.defined() ? shape_str(target_input.shape()) : "undefined");
  ATTN_CHECK(target_input.size(1) <= options_.max_length, kName, ": target_input has ",
             target_input.size(1), " positions (", shape_str(target_input.shape()),
             "), but this model's positional table holds ", options_.max_length,
             " (TransformerOptions::max_length); leave out longer pairs (--max-length)");
  Tensor memory = run_encoder(source, source_lengths);                      // (B, S, D)
  // Both masks as numbers: the causal mask (1, 1, T, T) and the padding
  // mask (B, 1, 1, S) are never built unless a composed path needs them.
  const AttentionMask causal = AttentionMask::causal_only();
  const AttentionMask padding = AttentionMask::from_lengths(source_lengths);
  Tensor y = embed(*target_embedding, target_positions.get(), target_input, 0);  // (B, T, D)
  if (cross_weights) cross_weights->clear();
  TransformerDecoderLayerOutput group;  // the output of the current CLA group's first layer
  for (size_t l = 0; l < decoder_layers.size(); ++l) {
    TransformerDecoderLayerOutput out = decoder_layers[l]->forward(
        y, memory, causal, padding, /*need_weights=*/cross_weights != nullptr, &group);
    if (kv_layer(static_cast<int64_t>(l)) == static_cast<int64_t>(l)) group = out;
    y = out.output;                                                         // (B, T, D)
    if (cross_weights) cross_weights->push_back(out.cross_weights);         // (B, H, T, S)
  }
  return logits(y);                                                         // (B, T, V)
}

Tensor Transformer::forward_with_attention(const Tensor& source, const Tensor& source_lengths,
                                           const Tensor& target_input,
                                           std::vector<Tensor>& cross_weights) {
  return run(source, source_lengths, target_input, &cross_weights);         // (B, T, V)
}

Tensor Transformer::forward(const Tensor& source, const Tensor& source_lengths,
                            const Tensor& target_input) {
  return run(source, source_lengths, target_input, nullptr);                // (B, T, V)
}

std::unique_ptr<DecoderState> Transformer::start(const Tensor& source,
                                                 const Tensor& source_lengths) {
  auto state = std::make_unique<TransformerState>();
  // Every product with a weight in this decode, from here to the last step,
  // uses the state's packed copy of it (made once; nn/packed_weights.h).
  PackedWeightsScope packed(state->packed_weights);
  state->memory_mask = source_mask(source, source_lengths);                 // (B, 1, 1, S)
  state->source_lengths = source_lengths;
  Tensor memory = run_encoder(source, source_lengths);                      // (B, S, D)
  // The memory never changes while decoding: each layer projects its cross
  // keys and values once, here, instead of at every step.
  for (const auto& layer : decoder_layers) state->layers.push_back(layer->start(memory));
  if (kv_cache_.paged()) {
    // One layer-set per CLA group; every set's blocks under one block table per row.
    const int64_t L = static_cast<int64_t>(decoder_layers.size()), N = options_.cla_factor;
    const int64_t sets = (L + N - 1) / N, H = options_.num_heads;
    const int64_t Hkv = options_.num_kv_heads == 0 ? H : options_.num_kv_heads;
    const int64_t Dh = options_.d_model / H, P = kv_cache_.block_size;
    // The pool outlives the decode (as vLLM's, made once per engine); a new
    // one when the shape, dtype or device changed. Decodes alive at once share it.
    if (!kv_pool_ || !kv_pool_->fits(sets, Hkv, Dh, P, memory.dtype(), memory.device())) {
      kv_pool_ = std::make_shared<KVBlockPool>(sets, Hkv, Dh, P, memory.dtype(), memory.device());
    }
    state->paged = std::make_unique<PagedKVCache>(kv_pool_, source.size(0));
    for (int64_t l = 0; l < L; ++l) {
      if (kv_layer(l) != l) continue;  // CLA: reads its group's first layer's set
      state->layers[l].paged = state->paged.get();
      state->layers[l].paged_set = l / N;
    }
  }
  state->cross_weights.resize(decoder_layers.size());
  return state;
}

Tensor Transformer::step(DecoderState& base, const Tensor& previous) {
  auto* state = dynamic_cast<TransformerState*>(&base);
  ATTN_CHECK(state != nullptr, kName, "::step: the state does not come from Transformer::start");
  const int64_t B = state->memory_mask.size(0);
  PackedWeightsScope packed(state->packed_weights);  // this decode's packed weights
  ATTN_CHECK(previous.defined() && previous.dtype() == kInt64 && previous.shape() == Shape({B}),
             kName, "::step: previous must be int64 (", B, "), the batch of the state, got ",
             previous.defined() ? shape_str(previous.shape()) : "undefined");
  ATTN_CHECK(state->position < options_.max_length, kName, "::step: output position ",
             state->position, " is past this model's positional table (", options_.max_length,
             " positions, TransformerOptions::max_length); cap the output length below it");
  // The token at position t, embedded with position t's encoding.
  Tensor y = embed(*target_embedding, target_positions.get(), previous.reshape({B, 1}),
                   state->position);                                        // (B, 1, D)
  // With weights, the cross-attention takes the composed path and the
  // (B, 1, 1, S) mask built once in start(); without, the fused kernel and
  // the lengths (reordered with the rest of the state by beam search).
  if (state->paged) state->paged->append_position();  // room for position t in every row
  const AttentionMask memory_mask =
      state->need_weights ? AttentionMask(state->memory_mask)
                          : AttentionMask::from_lengths(state->source_lengths);
  for (size_t l = 0; l < decoder_layers.size(); ++l) {
    // CLA: a sharing layer reads its group's first layer's cache, stepped just before.
    TransformerDecoderLayerOutput out =
        decoder_layers[l]->step(y, state->layers[l], memory_mask, state->need_weights,
                                &state->layers[kv_layer(static_cast<int64_t>(l))]);
    y = out.output;                                                         // (B, 1, D)
    state->cross_weights[l] = state->need_weights ? out.cross_weights.squeeze(2)  // (B, H, S)
                                                  : Tensor();
  }
  ++state->position;
  return logits(y).squeeze(1);                                              // (B, V)
}

void Transformer::set_kv_cache(const KVCacheOptions& options) {
  options.check();
  ATTN_CHECK(!options.paged() || options_.kv_rank == 0, kName,
             ": --kv-cache paged does not support Low-Rank KV (--kv-rank ", options_.kv_rank,
             "): its cache holds one compact key per position, not Hkv heads; use "
             "--kv-cache contiguous");
  ATTN_CHECK(!options.paged() || options_.mla_kv_latent == 0, kName,
             ": --kv-cache paged does not support Multi-Head Latent Attention (--mla-kv-latent ",
             options_.mla_kv_latent, "): its cache holds a latent and a rotary key per position, "
             "not Hkv heads of keys and values; use --kv-cache contiguous");
  kv_cache_ = options;
}

KVCacheBytes Transformer::cache_bytes(const DecoderState& state) {
  const auto* transformer = dynamic_cast<const TransformerState*>(&state);
  ATTN_CHECK(transformer != nullptr, kName,
             "::cache_bytes: the state does not come from Transformer::start");
  return transformer->cache_bytes();
}

std::string Transformer::describe() const {
  const TransformerOptions& o = options_;
  const int64_t kv = o.num_kv_heads == 0 ? o.num_heads : o.num_kv_heads;
  const char* kind = kv == o.num_heads ? "MHA" : (kv == 1 ? "MQA" : "GQA");
  std::ostringstream out;
  out << "transformer: " << o.encoder_layers << "+" << o.decoder_layers << " layers, d_model "
      << o.d_model << ", " << o.num_heads << " heads (";
  if (o.mla_kv_latent > 0) {
    out << "MLA";  // no kv heads: keys and values come from the one latent
  } else {
    out << kv << (kv == 1 ? " kv head: " : " kv heads: ") << kind;
  }
  out << "), d_ff " << o.d_ff << ", " << (o.pre_ln ? "pre-LN" : "post-LN") << ", dropout "
      << o.dropout;
  if (o.attention_dropout > 0.0) out << ", attention dropout " << o.attention_dropout;
  if (o.kv_rank > 0) out << ", low-rank KV (rank " << o.kv_rank << ")";
  if (o.mla_kv_latent > 0) {
    out << ", latent attention (MLA: d_c " << o.mla_kv_latent << ", d_c' "
        << (o.mla_q_latent > 0 ? std::to_string(o.mla_q_latent) : std::string("none")) << ", d_R "
        << (o.mla_rope_dim > 0 ? o.mla_rope_dim
                               : MultiHeadLatentAttention::default_rope_dim(o.d_model / o.num_heads))
        << ")";
  }
  out << ", " << (o.positions == "rope" ? "rotary (RoPE)" : o.positions) << " positions";
  if (o.shared_embeddings) out << ", shared embeddings";
  if (o.tied_output) out << ", tied output";
  if (o.cla_factor > 1) out << ", CLA factor " << o.cla_factor;
  out << ", vocabularies " << o.source_vocab_size << "/" << o.target_vocab_size << ", "
      << parameter_count() << " parameters";
  return out.str();
}

}  // namespace attn::nn
