// Greedy decoding with the Transformer, timed two ways, on the configuration
// of ../shared/peers/torch_ref.py --bench decode, so the two can be run back
// to back:
//
//   build/release/bench/bench_decode --config tiny
//   /usr/bin/python3 ../shared/peers/torch_ref.py --model transformer --config tiny --bench decode
//
// The two ways (docs/11-generation-and-the-kv-cache.md; nn/transformer_layers.h
// says why they agree):
//   cached      Transformer::start encodes the source once and projects every
//               decoder layer's cross keys and values once; then one step()
//               per output position: one query against the t cached keys.
//   recomputed  encode once; at position t run the whole decoder stack over
//               the prefix <s> y_1 .. y_t (causal mask, cross keys and values
//               projected again) and keep the last position's logits. This is
//               torch_ref's greedy_recompute: self.decoder on ys, then
//               self.out(h[:, -1]), the encoder's memory computed once.
// Step t costs the cached decoder O(t) attention and one position of
// everything else; the recomputed decoder pays all t + 1 positions of
// everything, O(t^2) attention, so the gap grows with the output length.
//
// Timing as torch_ref's: the model in eval mode (no dropout), random weights,
// sources uniform over the non-special ids with no padding, fixed output
// length (no stopping at </s>; decoding starts from attn's <s>, id 2, where
// torch_ref's is 1: random weights make the tokens incomparable anyway); a
// warm-up of 4 positions per variant; the encoder alone, mean of 3 runs;
// each variant's total time (encoder included), median of --reps runs.
// Printed per variant:
//   ms/step   (total - encoder) / L: one decoded position for the whole batch
//   µs/token  total / (B * L)
//   tok/s     B * L / total
// Threads: attn reads ATTN_NUM_THREADS (default: every core).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <ctime>
#include <vector>

#include <cxxopts.hpp>

#include <attn/attn.h>

#include "data/vocab.h"
#include "kernels/cpu/parallel.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn/transformer.h"

namespace {

using attn::Tensor;
using Clock = std::chrono::steady_clock;

struct Config {
  int64_t vocab, d_model, num_heads, d_ff, layers;  // `layers` each side
};

Config config_named(const std::string& name) {
  // torch_ref.py's CONFIGS: vocab = 64 + 4 specials (tiny) or 8000 (small).
  if (name == "tiny") return {68, 128, 4, 512, 2};
  if (name == "small") return {8000, 256, 8, 1024, 3};
  throw attn::Error("--config: expected tiny or small, got '" + name + "'");
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time of the whole process, all threads, in ms.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double peak_rss_mb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double mb = 0;
  while (std::fgets(line, sizeof line, f)) {
    long kb = 0;
    if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) mb = kb / 1024.0;
  }
  std::fclose(f);
  return mb;
}

// The decoder stack over a whole target prefix, as Transformer::forward runs
// it but with the memory given: prefix (B, T) int64, memory (B, S, D),
// memory_mask (B, 1, 1, S) -> the top layer's output (B, T, D), after the
// final LayerNorm for pre-LN.
Tensor decoder_states(const attn::nn::Transformer& model, const Tensor& prefix,
                      const Tensor& memory, const Tensor& memory_mask) {
  const int64_t T = prefix.size(1);
  const double scale = std::sqrt(static_cast<double>(model.options().d_model));  // section 3.4
  Tensor y = model.target_positions->forward(model.target_embedding->forward(prefix) * scale,
                                             0);                                // (B, T, D)
  Tensor causal = attn::nn::causal_mask(T);                                     // (1, 1, T, T)
  for (const auto& layer : model.decoder_layers) {
    y = layer->forward(y, memory, causal, memory_mask).output;                  // (B, T, D)
  }
  return model.decoder_norm ? model.decoder_norm->forward(y) : y;               // (B, T, D)
}

// decoder_states walks the layers itself, as torch_ref does; rotary positions
// (no table to add) and CLA (layers borrow their group's keys) need the
// model's own forward instead, which encodes the source again each time.
bool needs_own_forward(const attn::nn::Transformer& model) {
  return model.options().positions == "rope" || model.options().cla_factor > 1;
}

// states (..., D) -> logits (..., V), the output layer or the tied embedding.
Tensor output_logits(const attn::nn::Transformer& model, const Tensor& states) {
  if (model.output) return model.output->forward(states);
  return attn::nn::linear(states, model.target_embedding->weight);
}

struct Decoded {
  Tensor tokens;                     // (B, L) int64
  Tensor logits;                     // (B, L, V), only when asked for
  attn::nn::KVCacheBytes peak_cache;  // cached variant only
};

// Variant 1: KV-cached, Transformer::start then one step() per position.
Decoded greedy_cached(attn::nn::Transformer& model, const Tensor& source, const Tensor& lengths,
                      int64_t length, bool keep_logits = false) {
  const int64_t B = source.size(0);
  std::unique_ptr<attn::nn::DecoderState> state = model.start(source, lengths);
  // Tokens only, as torch_ref's greedy_cached and `attn translate` without
  // alignments: no cross-attention weights, so every attention runs fused.
  state->need_weights = false;
  Tensor previous = attn::full({B}, static_cast<double>(attn::data::kBos), attn::kInt64);
  std::vector<Tensor> chosen, all_logits;
  Decoded out;
  for (int64_t t = 0; t < length; ++t) {
    Tensor logits = model.step(*state, previous);                   // (B, V)
    if (keep_logits) all_logits.push_back(logits);
    previous = attn::argmax(logits, -1);                            // (B)
    chosen.push_back(previous);
  }
  out.peak_cache = state->cache_bytes();  // the self-attention cache only grows
  out.tokens = attn::stack(chosen, 1);                              // (B, L)
  if (keep_logits) out.logits = attn::stack(all_logits, 1);         // (B, L, V)
  return out;
}

// Variant 2: encode once, then the decoder over the whole prefix per position.
Decoded greedy_recomputed(attn::nn::Transformer& model, const Tensor& source,
                          const Tensor& lengths, int64_t length) {
  const int64_t B = source.size(0);
  Tensor memory_mask = attn::nn::padding_mask(lengths, source.size(1));  // (B, 1, 1, S)
  Tensor memory = model.encode(source, lengths);                         // (B, S, D)
  Tensor prefix = attn::full({B, 1}, static_cast<double>(attn::data::kBos), attn::kInt64);
  const bool own_forward = needs_own_forward(model);
  for (int64_t t = 0; t < length; ++t) {
    Tensor logits;
    if (own_forward) {
      logits = model.forward(source, lengths, prefix).narrow(1, t, 1).squeeze(1);  // (B, V)
    } else {
      Tensor states = decoder_states(model, prefix, memory, memory_mask);  // (B, t+1, D)
      logits = output_logits(model, states.narrow(1, t, 1).squeeze(1));    // (B, V)
    }
    Tensor next = attn::argmax(logits, -1);                              // (B)
    prefix = attn::cat({prefix, next.reshape({B, 1})}, 1);               // (B, t+2)
  }
  Decoded out;
  out.tokens = prefix.narrow(1, 1, length).contiguous();                 // (B, L)
  return out;
}

struct Timing {
  double total_ms = 0;
  Decoded result;
};

// The median total time of `reps` runs of one variant, and its last result.
template <typename Run>
Timing time_variant(int reps, Run run) {
  std::vector<double> times;
  Timing timing;
  for (int r = 0; r < reps; ++r) {
    auto start = Clock::now();
    timing.result = run();
    times.push_back(ms_since(start));
  }
  std::sort(times.begin(), times.end());
  timing.total_ms = times[times.size() / 2];
  return timing;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("bench_decode",
                           "Greedy Transformer decoding: KV-cached steps against recomputing the "
                           "prefix (threads: ATTN_NUM_THREADS)");
  std::string config_name = "tiny";
  int64_t batch = 256, length = 64, source_length = 64, kv_heads = 0, cla_factor = 1, kv_rank = 0,
          mla_kv_latent = 0, mla_rope_dim = 0;
  std::string positions = "sinusoidal";
  attn::nn::KVCacheOptions kv_cache;
  int reps = 1;
  bool cached_only = false;
  options.add_options()
      ("config", "tiny or small (torch_ref.py's configurations)",
       cxxopts::value(config_name)->default_value("tiny"))
      ("batch", "sentences decoded at once (torch_ref's --decode-batch)",
       cxxopts::value(batch)->default_value("256"))
      ("length", "output tokens per sentence (--decode-len)",
       cxxopts::value(length)->default_value("64"))
      ("source-length", "source tokens per sentence (--decode-src-len)",
       cxxopts::value(source_length)->default_value("64"))
      ("kv-heads", "key/value heads: 0 = one per head (MHA), 1 = MQA, a divisor of the heads = GQA",
       cxxopts::value(kv_heads)->default_value("0"))
      ("positions", "sinusoidal, learned or rope (attn train's --positions)",
       cxxopts::value(positions)->default_value("sinusoidal"))
      ("cla-factor", "decoder layers sharing one set of keys and values (CLA; 1 = none)",
       cxxopts::value(cla_factor)->default_value("1"))
      ("kv-rank", "Low-Rank KV rank per head (0 = off)",
       cxxopts::value(kv_rank)->default_value("0"))
      ("mla-kv-latent", "MLA: the cached latent d_c (0 = off)",
       cxxopts::value(mla_kv_latent)->default_value("0"))
      ("mla-rope-dim", "MLA: the decoupled rotary key d_R (0 = Dh / 2)",
       cxxopts::value(mla_rope_dim)->default_value("0"))
      ("kv-cache", "contiguous or paged (attn translate's --kv-cache)",
       cxxopts::value(kv_cache.kind)->default_value("contiguous"))
      ("kv-block-size", "positions per block of --kv-cache paged",
       cxxopts::value(kv_cache.block_size)->default_value("16"))
      ("reps", "timed runs per variant, median (--decode-reps)",
       cxxopts::value(reps)->default_value("1"))
      ("cached-only", "time the cached variant alone, no checks (for perf record)",
       cxxopts::value(cached_only)->default_value("false"));
  try {
    options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "bench_decode: %s\n", e.what());
    return 2;
  }
  if (batch < 1 || length < 1 || source_length < 1 || kv_heads < 0 || reps < 1) {
    std::fprintf(stderr, "bench_decode: --batch, --length, --source-length and --reps must be "
                         "positive and --kv-heads at least 0\n");
    return 2;
  }
  std::unique_ptr<attn::nn::Transformer> built;
  try {
    const Config c = config_named(config_name);
    attn::manual_seed(0);
    attn::nn::TransformerOptions o(c.vocab, c.vocab);
    o.set_d_model(c.d_model).set_num_heads(c.num_heads).set_num_kv_heads(kv_heads)
        .set_d_ff(c.d_ff).set_layers(c.layers, c.layers).set_dropout(0.1)
        .set_positions(positions).set_cla_factor(cla_factor).set_kv_rank(kv_rank)
        .set_mla(mla_kv_latent, 0, mla_rope_dim)
        .set_max_length(std::max<int64_t>(512, std::max(length, source_length) + 1));
    built = std::make_unique<attn::nn::Transformer>(o);
    built->set_kv_cache(kv_cache);
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "bench_decode: %s\n", e.what());
    return 2;
  }
  attn::nn::Transformer& model = *built;
  const int64_t vocab = model.options().target_vocab_size;
  model.eval();
  attn::NoGradGuard no_grad;

  // torch_ref's decode batch: ids uniform over the non-special ids, no padding.
  attn::Generator g(2);
  const Tensor source = attn::randint(4, vocab, {batch, source_length}, &g);  // (B, S)
  const Tensor lengths = attn::full({batch}, static_cast<double>(source_length), attn::kInt64);

  // Warm-up (allocator, thread pool), then the encoder alone.
  greedy_recomputed(model, source, lengths, std::min<int64_t>(4, length));
  greedy_cached(model, source, lengths, std::min<int64_t>(4, length));
  auto start = Clock::now();
  for (int r = 0; r < 3; ++r) model.encode(source, lengths);
  const double encoder_ms = ms_since(start) / 3;

  if (cached_only) {
    // Also the CPU time of the process (all threads): on a loaded machine it
    // moves much less than the wall clock, for A/B comparisons.
    const double cpu_start = cpu_ms();
    Timing cached =
        time_variant(reps, [&] { return greedy_cached(model, source, lengths, length); });
    const double cpu = (cpu_ms() - cpu_start) / reps;
    const double tokens = static_cast<double>(batch * length);
    std::printf("[attn decode] transformer/%s cached only: threads=%d encoder %.1f ms  "
                "total %.1f ms  %.2f ms/step(batch)  %.0f tok/s  (CPU %.1f ms per run)\n",
                config_name.c_str(), attn::kernels::cpu::num_threads(), encoder_ms,
                cached.total_ms, (cached.total_ms - encoder_ms) / length,
                tokens / (cached.total_ms / 1e3), cpu);
    return 0;
  }
  Timing recomputed = time_variant(reps, [&] {
    return greedy_recomputed(model, source, lengths, length);
  });
  Timing cached = time_variant(reps, [&] { return greedy_cached(model, source, lengths, length); });

  std::printf("[attn decode] transformer/%s  %s\n", config_name.c_str(), model.describe().c_str());
  std::printf("  batch=%lld src_len=%lld out_len=%lld  threads=%d  encoder %.1f ms\n",
              static_cast<long long>(batch), static_cast<long long>(source_length),
              static_cast<long long>(length), attn::kernels::cpu::num_threads(), encoder_ms);
  const double tokens = static_cast<double>(batch * length);
  auto report = [&](const char* name, const Timing& timing) {
    std::printf("  %-12s total %9.1f ms  %8.2f ms/step(batch)  %8.1f us/token  %9.0f tok/s\n",
                name, timing.total_ms, (timing.total_ms - encoder_ms) / length,
                timing.total_ms * 1e3 / tokens, tokens / (timing.total_ms / 1e3));
  };
  report("recomputed", recomputed);
  report("cached", cached);
  std::printf("  cached over recomputed: %.2fx tok/s (total), %.2fx per decoded position "
              "(encoder excluded)\n",
              recomputed.total_ms / cached.total_ms,
              (recomputed.total_ms - encoder_ms) / (cached.total_ms - encoder_ms));

  // Same tokens? Compare on the host, sentence by sentence.
  const Tensor a = cached.result.tokens.contiguous(), b = recomputed.result.tokens.contiguous();
  const int64_t* pa = a.data_ptr<int64_t>();
  const int64_t* pb = b.data_ptr<int64_t>();
  int64_t same_tokens = 0, same_sentences = 0;
  for (int64_t s = 0; s < batch; ++s) {
    int64_t same = 0;
    for (int64_t t = 0; t < length; ++t) same += pa[s * length + t] == pb[s * length + t];
    same_tokens += same;
    same_sentences += same == length;
  }
  // And the logits: cached steps against one teacher-forced decoder pass over
  // the cached tokens, on the first 16 sentences (torch_ref's check).
  const int64_t n = std::min<int64_t>(16, batch);
  const Tensor few = source.narrow(0, 0, n).contiguous(), few_lengths = lengths.narrow(0, 0, n);
  Decoded check = greedy_cached(model, few, few_lengths, length, /*keep_logits=*/true);
  Tensor target_input = attn::cat(
      {attn::full({n, 1}, static_cast<double>(attn::data::kBos), attn::kInt64),
       check.tokens.narrow(1, 0, length - 1)}, 1);                                // (n, L)
  Tensor parallel =
      needs_own_forward(model) ? model.forward(few, few_lengths, target_input)
                  : output_logits(model, decoder_states(model, target_input, model.encode(few, few_lengths),
                                                        attn::nn::padding_mask(few_lengths, source_length)));  // (n, L, V)
  const Tensor diff = check.logits - parallel;
  const double max_diff = std::fabs(attn::max(attn::maximum(diff, -diff)).item<double>());
  std::printf("  %s: %lld/%lld sentences identical (%.3f%% of tokens); max|logit diff| cached "
              "vs parallel %.2e\n",
              same_sentences == batch ? "same tokens from both variants"
                                      : "THE VARIANTS DIFFER",
              static_cast<long long>(same_sentences), static_cast<long long>(batch),
              100.0 * same_tokens / tokens, max_diff);

  const attn::nn::KVCacheBytes cache = cached.result.peak_cache;
  std::printf("  peak KV cache %lld bytes (%.2f MiB): self-attention %lld + cross-attention %lld\n",
              static_cast<long long>(cache.total()), cache.total() / 1048576.0,
              static_cast<long long>(cache.self_attention),
              static_cast<long long>(cache.cross_attention));
  std::printf("  peak RSS %.0f MB\n", peak_rss_mb());
  return 0;
}
