// Chapter 11, Generation and the KV cache (docs/11-generation-and-the-kv-cache.md).
//
//   ./build/release/examples/example_11_generation
//   ./build/release/examples/example_11_generation --svg docs/figures/11-ms-per-token.svg
//
// On the toy Transformer of chapter 10 (D = 64, 4 heads of Dh = 16, 2 + 2
// layers), randomly initialised with a fixed seed and in eval mode: the
// cache's exactness needs no trained model, only the same network both ways.
//
// 1. What is cached: per decoder layer, the self-attention keys and values
//    grow by one position per step() and the cross-attention ones are
//    projected once by start(); the positions already cached never change.
//    cache_bytes() against 2 * L * B * (t + S) * Hkv * Dh * 4.
// 2. Exactness: greedy decoding with the cache against greedy decoding that
//    runs forward() on the whole prefix at every step: the same logits to
//    float32 rounding, the same tokens.
// 3. Beam search moves the cache: reorder() then step() against decoding the
//    reordered batch from the start; then decode::beam_search with the cache
//    against the same search recomputing the prefix (float64): the same
//    hypotheses and scores.
// 4. The cost: milliseconds per generated token, cached against recomputing
//    the prefix, for outputs of 8 to 64 tokens (printed, never checked).
//
// With --svg PATH it times outputs of 8 to 256 tokens instead (best of 5
// each, some seconds more) and draws ms per token against the output length.
// Returns 1 if a check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "train/decode/beam_search.h"
#include "train/plot/canvas.h"
#include "train/plot/line_chart.h"

namespace {

namespace nn = attn::nn;
namespace decode = attn::decode;
namespace plot = attn::plot;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The slow, obviously right decoder: no cache at all. Its state keeps the
// source and the tokens fed so far; every step() runs the Transformer's
// teacher-forced forward() on the whole prefix (re-encoding the source too,
// as forward() does) and keeps the last position's logits.
class RecomputingDecoder : public nn::Translator {
 public:
  explicit RecomputingDecoder(nn::Transformer& model) : model_(model) {}

  struct State : nn::DecoderState {
    Tensor source, lengths;  // (B, S), (B)
    Tensor prefix;           // (B, t) int64: <s> and the tokens fed so far
    void reorder(const Tensor& indices) override {
      source = attn::index_select(source, 0, indices);
      lengths = attn::index_select(lengths, 0, indices);
      prefix = attn::index_select(prefix, 0, indices);
    }
  };

  Tensor forward(const Tensor& source, const Tensor& lengths, const Tensor& target) override {
    return model_.forward(source, lengths, target);
  }
  std::unique_ptr<nn::DecoderState> start(const Tensor& source, const Tensor& lengths) override {
    auto state = std::make_unique<State>();
    state->source = source;
    state->lengths = lengths;
    state->prefix = attn::zeros({source.size(0), 0}, attn::kInt64);
    return state;
  }
  Tensor step(nn::DecoderState& base, const Tensor& previous) override {
    auto& state = static_cast<State&>(base);
    state.prefix = attn::cat({state.prefix, previous.reshape({-1, 1})}, 1);      // (B, t+1)
    Tensor logits = model_.forward(state.source, state.lengths, state.prefix);  // (B, t+1, V)
    const int64_t t = state.prefix.size(1);
    return logits.select(1, t - 1);                                             // (B, V)
  }
  std::string describe() const override { return "recomputing " + model_.describe(); }

 private:
  nn::Transformer& model_;
};

// Greedy decoding of exactly `n` tokens per sentence (no stop at </s>, so
// every output has the same length), through any Translator. Keeps each
// step's (B, V) logits in `logits` when given.
std::vector<Tensor> greedy_n(nn::Translator& model, const Tensor& source, const Tensor& lengths,
                             int64_t n, std::vector<Tensor>* logits = nullptr) {
  std::unique_ptr<nn::DecoderState> state = model.start(source, lengths);
  Tensor previous = attn::full({source.size(0)}, static_cast<double>(attn::data::kBos), attn::kInt64);
  std::vector<Tensor> tokens;
  for (int64_t t = 0; t < n; ++t) {
    Tensor step = model.step(*state, previous);  // (B, V)
    if (logits) logits->push_back(step);
    previous = attn::argmax(step, -1);           // (B)
    tokens.push_back(previous);
  }
  return tokens;
}

// The gap between the largest and the second largest logit of each row, the
// smallest over the rows: how far rounding would have to move a logit to
// change the argmax.
double smallest_top2_gap(const Tensor& logits) {
  const int64_t B = logits.size(0), V = logits.size(1);
  std::vector<double> v = logits.to_vector<double>();
  double gap = std::numeric_limits<double>::infinity();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> row(v.begin() + b * V, v.begin() + (b + 1) * V);
    std::partial_sort(row.begin(), row.begin() + 2, row.end(), std::greater<double>());
    gap = std::min(gap, row[0] - row[1]);
  }
  return gap;
}

// Milliseconds per generated token: one run of greedy_n of `n` tokens.
double ms_per_token(nn::Translator& model, const Tensor& source, const Tensor& lengths, int64_t n) {
  auto start = std::chrono::steady_clock::now();
  greedy_n(model, source, lengths, n);
  return 1000.0 * seconds_since(start) / static_cast<double>(n);
}

// ms per token against output length, both ways, as an SVG line chart.
void write_timing_svg(const std::string& path, const std::vector<int64_t>& lengths,
                      const std::vector<double>& cached, const std::vector<double>& recomputed) {
  const std::vector<double> x(lengths.begin(), lengths.end());
  plot::LineChartOptions chart;
  chart.title = "Greedy decoding, toy Transformer (64 / 4 heads / 2+2), one sentence; 2-core VM";
  chart.x_label = "output length (tokens generated)";
  chart.y_label = "ms per token";
  chart.x_from_zero = true;
  plot::Drawing d = plot::line_chart({{"recomputing the prefix", x, recomputed},
                                      {"KV cache (step)", x, cached}}, chart);
  plot::write_drawing(d, path);
  std::printf("  wrote %s\n", path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string svg_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--svg") == 0) svg_path = argv[i + 1];
  }
  // The vocabularies of `attn train --task dates`: 249 source words, 15 target characters.
  const int64_t Vs = 249, Vt = 15;
  attn::manual_seed(11);
  nn::Transformer model(nn::TransformerOptions::toy(Vs, Vt));
  model.eval();  // dropout off: both ways must run the same network
  attn::NoGradGuard no_grad;
  Tensor source = attn::from_vector(std::vector<int64_t>{17, 40, 99, 5, 230, 61, 8, 12, 77, 150, 0, 0},
                                    {2, 6});                                // (B, S), padded
  Tensor source_lengths = attn::from_vector(std::vector<int64_t>{6, 4}, {2});
  Tensor target = attn::from_vector(std::vector<int64_t>{2, 5, 9, 4, 13, 6, 7, 2, 11, 10, 4, 8, 14, 6},
                                    {2, 7});                                // (B, T), <s> first
  const int64_t B = 2, S = 6, L = 2, Hkv = 4, Dh = 16;

  section("1. What is cached");
  // start() encodes and projects each decoder layer's cross keys and values;
  // each step() appends one position to each layer's self keys and values.
  std::unique_ptr<nn::DecoderState> state = model.start(source, source_lengths);
  auto& cache = dynamic_cast<nn::TransformerState&>(*state);
  const Tensor cross_at_start = cache.layers[1].cross_keys;
  std::printf("  after start(): layer 0 self keys %s, cross keys %s, cross values %s; %lld bytes\n",
              cache.layers[0].self_keys.defined() ? "defined" : "undefined",
              attn::shape_str(cache.layers[0].cross_keys.shape()).c_str(),
              attn::shape_str(cache.layers[0].cross_values.shape()).c_str(),
              static_cast<long long>(nn::Transformer::cache_bytes(*state).total()));
  bool bytes_follow = nn::Transformer::cache_bytes(*state).self_attention == 0;
  bool old_positions_kept = true;
  Tensor previous_keys;  // layer 1's self keys after the previous step
  for (int64_t t = 0; t < target.size(1); ++t) {
    model.step(*state, target.select(1, t));
    const nn::KVCacheBytes bytes = nn::Transformer::cache_bytes(*state);
    const int64_t self_bytes = 2 * L * B * (t + 1) * Hkv * Dh * 4, cross_bytes = 2 * L * B * S * Hkv * Dh * 4;
    bytes_follow = bytes_follow && bytes.self_attention == self_bytes && bytes.cross_attention == cross_bytes;
    const Tensor keys = cache.layers[1].self_keys;  // (B, Hkv, t+1, Dh)
    if (previous_keys.defined()) {
      old_positions_kept =
          old_positions_kept && largest_difference(keys.narrow(2, 0, t), previous_keys) == 0.0;
    }
    previous_keys = keys;
    std::printf("  t = %lld: self keys %s, self values %s, cross keys %s; self %5lld + cross %5lld bytes\n",
                static_cast<long long>(t), attn::shape_str(cache.layers[0].self_keys.shape()).c_str(),
                attn::shape_str(cache.layers[0].self_values.shape()).c_str(),
                attn::shape_str(cache.layers[0].cross_keys.shape()).c_str(),
                static_cast<long long>(bytes.self_attention), static_cast<long long>(bytes.cross_attention));
  }
  check(bytes_follow,
        "cache_bytes() = 2 * L * B * (t + S) * Hkv * Dh * 4 after every step (self: t, cross: S = 6)");
  check(old_positions_kept, "a step leaves the cached positions 0..t-1 bit for bit as they were (layer 1)");
  check(largest_difference(cache.layers[1].cross_keys, cross_at_start) == 0.0,
        "the cross keys after seven steps are the ones start() projected");

  section("2. Exactness: cached greedy = recomputing greedy");
  // Two independent greedy decodes, each feeding back its own argmax; no
  // stop at </s>, so both run all 12 steps.
  const int64_t n = 12;
  RecomputingDecoder recomputing(model);
  std::vector<Tensor> logits_cached, logits_recomputed;
  std::vector<Tensor> tokens_cached = greedy_n(model, source, source_lengths, n, &logits_cached);
  std::vector<Tensor> tokens_recomputed =
      greedy_n(recomputing, source, source_lengths, n, &logits_recomputed);
  double worst = 0, smallest_gap = std::numeric_limits<double>::infinity();
  bool same_tokens = true;
  for (int64_t t = 0; t < n; ++t) {
    const double diff = largest_difference(logits_cached[t], logits_recomputed[t]);
    const double gap = smallest_top2_gap(logits_cached[t]);
    worst = std::max(worst, diff);
    smallest_gap = std::min(smallest_gap, gap);
    const std::vector<int64_t> a = tokens_cached[t].to_vector<int64_t>();
    const std::vector<int64_t> b = tokens_recomputed[t].to_vector<int64_t>();
    same_tokens = same_tokens && a == b;
    std::printf("  t = %2lld: tokens (%2lld, %2lld) and (%2lld, %2lld), largest |cached - recomputed| %.2e,"
                " top-2 gap %.3f\n",
                static_cast<long long>(t), static_cast<long long>(a[0]), static_cast<long long>(a[1]),
                static_cast<long long>(b[0]), static_cast<long long>(b[1]), diff, gap);
  }
  // float32 has a relative rounding step of 1.2e-7; the two ways add the same
  // products in different groupings (one query row against t cached keys, or
  // the whole (t, t) product under a causal mask; GEMMs of different shapes),
  // so logits of size ~1 differ by a few times 1e-7. 1e-5 leaves room for
  // other BLAS builds; a wrong cache (a lost position, a wrong offset) moves
  // logits by 1e-2 or more.
  check(worst < 1e-5, "the cached logits = the recomputed ones within 1e-5 (float32) at all 12 steps");
  check(same_tokens, "the same 12 greedy tokens for both sentences, token for token");
  check(smallest_gap > 100 * worst,
        "every argmax won by over 100x the largest difference: no near tie decided it");

  section("3. Beam search moves the cache with its hypotheses");
  {
    // Three steps, then the rows {1, 0, 0} (a beam-like reorder: row 1
    // first, row 0 twice), then three more steps; against decoding the batch
    // (source rows 1, 0, 0) from the start with the same tokens.
    Tensor rows = attn::from_vector(std::vector<int64_t>{1, 0, 0}, {3});
    auto moved = model.start(source, source_lengths);
    for (int64_t t = 0; t < 3; ++t) model.step(*moved, target.select(1, t));
    auto& moved_cache = dynamic_cast<nn::TransformerState&>(*moved);
    const Tensor keys_before = moved_cache.layers[0].self_keys;  // (2, 4, 3, 16)
    moved->reorder(rows);
    const Tensor keys_after = moved_cache.layers[0].self_keys;   // (3, 4, 3, 16)
    std::printf("  layer 0 self keys %s -> reorder({1, 0, 0}) -> %s\n",
                attn::shape_str(keys_before.shape()).c_str(), attn::shape_str(keys_after.shape()).c_str());
    check(largest_difference(keys_after.select(0, 0), keys_before.select(0, 1)) == 0.0 &&
              largest_difference(keys_after.select(0, 2), keys_before.select(0, 0)) == 0.0,
          "new row r holds old row rows[r]'s keys, bit for bit");
    Tensor target3 = attn::index_select(target, 0, rows);  // (3, 7)
    auto fresh = model.start(attn::index_select(source, 0, rows),
                             attn::index_select(source_lengths, 0, rows));
    double worst_moved = 0;
    for (int64_t t = 0; t < 6; ++t) {
      Tensor expected = model.step(*fresh, target3.select(1, t));  // (3, V)
      if (t < 3) continue;  // `moved` took these three steps before the reorder
      Tensor got = model.step(*moved, target3.select(1, t));      // (3, V)
      worst_moved = std::max(worst_moved, largest_difference(got, expected));
    }
    std::printf("  steps 3..5 after the reorder, against the reordered batch from the start:"
                " largest difference %.2e\n", worst_moved);
    check(worst_moved < 1e-5, "reorder() then step() = stepping the reordered batch (float32, 1e-5)");
  }
  {
    // The same network in float64, so that two ways of adding the same
    // products differ far below any gap between the K * V candidates that
    // beam search ranks (in float32 a near tie could flip on rounding).
    attn::manual_seed(11);
    nn::Transformer model64(nn::TransformerOptions::toy(Vs, Vt));
    model64.to(attn::kFloat64);
    model64.eval();
    RecomputingDecoder recomputing64(model64);
    decode::BeamSearchOptions options;
    options.beam_size = 4;
    options.normalize = 0.6;  // the paper's alpha
    options.n_best = 3;
    options.max_length = 10;
    decode::BeamSearchResult fast = decode::beam_search(model64, source, source_lengths, options);
    decode::BeamSearchResult slow = decode::beam_search(recomputing64, source, source_lengths, options);
    bool same = fast.nbest.size() == slow.nbest.size();
    double worst_score = 0;
    for (size_t b = 0; same && b < fast.nbest.size(); ++b) {
      same = fast.nbest[b].size() == slow.nbest[b].size();
      for (size_t k = 0; same && k < fast.nbest[b].size(); ++k) {
        same = fast.nbest[b][k].tokens == slow.nbest[b][k].tokens;
        worst_score = std::max(worst_score, std::abs(fast.nbest[b][k].score - slow.nbest[b][k].score));
        std::string tokens;
        for (int64_t id : fast.nbest[b][k].tokens) tokens += " " + std::to_string(id);
        std::printf("  sentence %zu, hypothesis %zu:%s  score %.6f (recomputed %.6f)\n", b, k, tokens.c_str(),
                    fast.nbest[b][k].score, slow.nbest[b][k].score);
      }
    }
    std::printf("  peak cache: self %lld + cross %lld bytes (B * K = 8 rows, float64); recomputing: %lld\n",
                static_cast<long long>(fast.peak_cache.self_attention),
                static_cast<long long>(fast.peak_cache.cross_attention),
                static_cast<long long>(slow.peak_cache.total()));
    check(same, "beam 4, alpha 0.6, 3-best: the same hypotheses in the same order both ways");
    check(worst_score < 1e-9, "and the same scores within 1e-9 (float64)");
  }

  section("4. The cost: ms per generated token");
  // One sentence (B = 1, S = 6), greedy, float32. The recomputing decoder
  // also re-encodes the source at every step (forward() does), a fixed cost
  // per token printed as `encoder`. Timings on this 2-core VM vary with
  // whatever else runs; nothing here is checked.
  Tensor one = source.narrow(0, 0, 1), one_length = source_lengths.narrow(0, 0, 1);
  const bool sweep = !svg_path.empty();
  const std::vector<int64_t> lengths = sweep ? std::vector<int64_t>{8, 16, 32, 64, 96, 128, 192, 256}
                                             : std::vector<int64_t>{8, 16, 32, 64};
  const int repeats = sweep ? 5 : 3;
  double encoder_ms = std::numeric_limits<double>::infinity();
  for (int r = 0; r < 3; ++r) {
    auto start = std::chrono::steady_clock::now();
    model.encode(one, one_length);
    encoder_ms = std::min(encoder_ms, 1000.0 * seconds_since(start));
  }
  std::printf("  encoder, once: %.3f ms\n", encoder_ms);
  std::printf("  length   cached   recomputing   ratio   (ms per token, best of %d)\n", repeats);
  // The best of `repeats` rounds, each round timing every length once: a
  // burst of other work then spoils one round of all lengths, not the five
  // runs of one length.
  const double never = std::numeric_limits<double>::infinity();
  std::vector<double> cached_ms(lengths.size(), never), recomputed_ms(lengths.size(), never);
  for (int r = 0; r < repeats; ++r) {
    for (size_t i = 0; i < lengths.size(); ++i) {
      cached_ms[i] = std::min(cached_ms[i], ms_per_token(model, one, one_length, lengths[i]));
      recomputed_ms[i] = std::min(recomputed_ms[i], ms_per_token(recomputing, one, one_length, lengths[i]));
    }
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::printf("  %6lld   %6.3f   %11.3f   %5.1f\n", static_cast<long long>(lengths[i]), cached_ms[i],
                recomputed_ms[i], recomputed_ms[i] / cached_ms[i]);
  }
  if (sweep) write_timing_svg(svg_path, lengths, cached_ms, recomputed_ms);

  std::printf("\n%s: %d check(s) failed\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
