#include "train/decode/beam_search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "data/vocab.h"
#include "nn/transformer.h"
#include "tensor/creation.h"

namespace attn::decode {
namespace {

// The score of a beam slot that holds no hypothesis.
constexpr double kDead = -std::numeric_limits<double>::infinity();

// One extension of a live hypothesis: row `row` of this step's batch followed
// by `token`, reaching cumulative score `score`.
struct Candidate {
  double score;
  int64_t row;
  int64_t token;
};

// Better first: the higher score; ties go to the lower (row, token), the one
// argmax picks, so that beam size 1 is greedy decoding exactly.
bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.row != b.row) return a.row < b.row;
  return a.token < b.token;
}

// What one step of the search saw and chose. The model ran on R rows; the
// choices fill the next step's R' rows (R' < R once some sentences are done).
// parent, token and score are the backpointers a hypothesis is read back by.
struct Step {
  Tensor attention;              // (R, S) float32 on the CPU, or undefined
  Tensor positions;              // (R) float32 on the CPU, or undefined
  std::vector<int64_t> parent;   // (R') the row of this step that each next row extends
  std::vector<int64_t> token;    // (R') the token it appended
  std::vector<double> score;     // (R') its cumulative score
};

// A hypothesis that left the beam at step `step` (0-based): row `row` of that
// step followed by `token` (</s>, or any token when cut at the maximum length).
struct Ending {
  int64_t step, row, token;
  double score, normalized_score;
};

Ending ending(int64_t step, const Candidate& c, double alpha) {
  // Length counts every step, </s> included: T = step + 1.
  double length = static_cast<double>(step + 1);
  return Ending{step, c.row, c.token, c.score, c.score / std::pow(length, alpha)};
}

// True when a sentence's search can stop before its maximum length: K
// hypotheses have finished and no live beam (live is sorted best first) can
// still beat the K-th best of them. A score only falls as tokens are added,
// so with raw scores (alpha = 0) a live beam ends no better than it stands.
// With alpha > 0 a longer output is divided by a larger length^alpha, so the
// best a live beam can reach is its score now over max_length^alpha: a loose
// bound, so such searches often run longer. (OpenNMT and Marian stop at K
// finished whatever alpha is; that can miss a long output alpha would rank
// first, the case alpha exists for.)
bool search_is_over(const std::vector<Ending>& finished, const std::vector<Candidate>& live,
                    const BeamSearchOptions& options, int64_t max_length) {
  const size_t K = static_cast<size_t>(options.beam_size);
  if (finished.size() < K) return false;
  std::vector<double> kept;
  for (const Ending& e : finished) kept.push_back(e.normalized_score);
  std::nth_element(kept.begin(), kept.begin() + (K - 1), kept.end(), std::greater<double>());
  double best_reachable = live.front().score / std::pow(static_cast<double>(max_length), options.normalize);
  return best_reachable <= kept[K - 1];
}

// Follows the backpointers from `end` back to the first step and collects the
// hypothesis's tokens, scores and attention rows. source_length: the
// sentence's own S; attention columns beyond it (padding) are left out.
Hypothesis read_back(const std::vector<Step>& history, const Ending& end, int64_t source_length) {
  const int64_t T = end.step + 1;
  // rows[t]: the row whose step t produced the hypothesis's token t.
  std::vector<int64_t> rows(T), tokens(T);
  Hypothesis hypothesis;
  hypothesis.step_scores.resize(T);
  rows[T - 1] = end.row;
  tokens[T - 1] = end.token;
  hypothesis.step_scores[T - 1] = end.score;
  for (int64_t t = T - 2; t >= 0; --t) {
    // Row rows[t + 1] of step t + 1 was filled by step t's choice.
    const int64_t next = rows[t + 1];
    tokens[t] = history[t].token[next];
    hypothesis.step_scores[t] = history[t].score[next];
    rows[t] = history[t].parent[next];
  }
  if (end.token == data::kEos) tokens.pop_back();
  hypothesis.reached_max_length = end.token != data::kEos;  // cut at the limit
  hypothesis.tokens = tokens;
  hypothesis.score = end.score;
  hypothesis.normalized_score = end.normalized_score;

  if (history.front().attention.defined()) {
    const int64_t S = history.front().attention.size(1);
    const int64_t columns = std::min(source_length, S);
    std::vector<float> weights(static_cast<size_t>(T * columns));
    for (int64_t t = 0; t < T; ++t) {
      const float* row = history[t].attention.data_ptr<float>() + rows[t] * S;
      std::copy(row, row + columns, weights.begin() + t * columns);
    }
    hypothesis.attention = from_vector(weights, {T, columns});  // (T, S_own)
  }
  if (history.front().positions.defined()) {
    std::vector<float> centres(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) centres[t] = history[t].positions.data_ptr<float>()[rows[t]];
    hypothesis.positions = from_vector(centres, {T});  // (T)
  }
  return hypothesis;
}

}  // namespace

void check_beam_search_options(const BeamSearchOptions& options) {
  // The upper bounds are far above any useful setting and keep B * K * V
  // candidates and factor * length well inside int64 and memory.
  ATTN_CHECK(options.beam_size >= 1 && options.beam_size <= kMaxBeamSize, "beam_search: beam_size "
             "(--beam-size) must be from 1 to ", kMaxBeamSize, ", got ", options.beam_size);
  ATTN_CHECK(options.n_best >= 1 && options.n_best <= options.beam_size, "beam_search: n_best "
             "(--n-best) must be between 1 and beam_size (", options.beam_size, "), got ",
             options.n_best);
  ATTN_CHECK(std::isfinite(options.normalize) && options.normalize >= 0.0 && options.normalize <= 100.0,
             "beam_search: normalize (--normalize) must be a number from 0 to 100, got ",
             options.normalize);
  ATTN_CHECK(std::isfinite(options.max_length_factor) && options.max_length_factor >= 0.0 &&
                 options.max_length_factor <= 1000.0,
             "beam_search: max_length_factor (--max-length-factor) must be a number from 0 to 1000, "
             "got ", options.max_length_factor);
  ATTN_CHECK(options.max_length >= 0 && options.max_length <= kMaxOutputLength, "beam_search: "
             "max_length (--max-length) must be from 0 (no cap) to ", kMaxOutputLength, ", got ",
             options.max_length);
  ATTN_CHECK(options.max_length_offset >= 0 && options.max_length_offset <= kMaxOutputLength,
             "beam_search: max_length_offset (--max-length-offset) must be from 0 to ",
             kMaxOutputLength, ", got ", options.max_length_offset);
  ATTN_CHECK(options.max_length_factor > 0.0 || options.max_length > 0, "beam_search: "
             "max_length_factor (--max-length-factor) and max_length (--max-length) are both 0, "
             "which leaves the output unbounded");
}

int64_t beam_max_length(int64_t source_length, const BeamSearchOptions& options) {
  int64_t limit = std::numeric_limits<int64_t>::max();
  if (options.max_length_factor > 0.0) {
    // Marian's rule, floor(factor * length), plus fairseq's offset; clamped
    // before the cast to stay in range.
    double by_factor = std::min(options.max_length_factor * static_cast<double>(source_length), 1e15);
    limit = static_cast<int64_t>(by_factor) + options.max_length_offset;
  }
  if (options.max_length > 0) limit = std::min(limit, options.max_length);
  return std::max<int64_t>(limit, 1);
}

int64_t model_max_length(const nn::Translator& model) {
  if (const auto* transformer = dynamic_cast<const nn::Transformer*>(&model)) {
    return transformer->options().max_length;
  }
  return std::numeric_limits<int64_t>::max();
}

LengthCap length_cap(const nn::Translator& model, const BeamSearchOptions& options) {
  const int64_t own = model_max_length(model);
  if (options.max_length > 0 && options.max_length <= own) {
    return {options.max_length, "--max-length " + std::to_string(options.max_length)};
  }
  if (own == std::numeric_limits<int64_t>::max()) return {own, "no absolute cap (--max-length 0)"};
  return {own, "this transformer's positional table (" + std::to_string(own) + " positions)"};
}

bool fit_source(std::vector<int64_t>& ids, const LengthCap& cap, bool crop, const std::string& where) {
  const int64_t length = static_cast<int64_t>(ids.size());
  if (length <= cap.tokens) return false;
  ATTN_CHECK(crop, where, ": the sentence has ", length, " tokens, more than ", cap.reason,
             " allows; give --max-length-crop to use its first ", cap.tokens, " tokens only",
             cap.reason.rfind("--max-length", 0) == 0 ? ", or raise --max-length" : "");
  ids.resize(static_cast<size_t>(cap.tokens));
  return true;
}

void apply_decoding_defaults(const nn::Translator& model, BeamSearchOptions& options,
                             const std::function<bool(const std::string&)>& given) {
  if (dynamic_cast<const nn::Transformer*>(&model) == nullptr) return;
  if (!given("beam-size")) options.beam_size = 4;
  if (!given("normalize")) options.normalize = 0.6;
}

BeamSearchResult beam_search(nn::Translator& model, const Tensor& source,
                             const Tensor& source_lengths, const BeamSearchOptions& options) {
  check_beam_search_options(options);
  ATTN_CHECK(source.dim() == 2 && source.dtype() == kInt64, "beam_search: source must be (B, S) "
             "int64, got ", dtype_name(source.dtype()), " ", shape_str(source.shape()));
  ATTN_CHECK(source_lengths.dtype() == kInt64 && source_lengths.shape() == Shape({source.size(0)}),
             "beam_search: source_lengths must be (", source.size(0), ") int64, got ",
             dtype_name(source_lengths.dtype()), " ", shape_str(source_lengths.shape()));
  NoGradGuard no_grad;
  const int64_t B = source.size(0), K = options.beam_size;
  const std::vector<int64_t> lengths = source_lengths.cpu().to_vector<int64_t>();
  // The output never runs past the cap (a Transformer's table included). A
  // source past it is the caller's to cut or refuse (fit_source), where the
  // line it came from is known; past the table, the model refuses it itself.
  BeamSearchOptions capped = options;
  capped.max_length = length_cap(model, options).tokens;

  // Encode each sentence once, then give each of its K beams a copy:
  // row b * K + k of every state tensor is sentence b's row.
  std::unique_ptr<nn::DecoderState> state = model.start(source, source_lengths);
  state->need_weights = options.need_attention;
  std::vector<int64_t> copies(static_cast<size_t>(B * K));
  for (int64_t row = 0; row < B * K; ++row) copies[row] = row / K;
  const TensorOptions on_device = TensorOptions(kInt64).device(source.device());
  nn::KVCacheBytes peak_cache;  // the largest the caches grow, for --report-cache
  state->reorder(from_vector(copies, {B * K}, on_device));

  // The sentences still searching, in row order: active[i] owns rows
  // i * K .. i * K + K - 1. Only beam 0 of each starts live.
  std::vector<int64_t> active(static_cast<size_t>(B));
  std::iota(active.begin(), active.end(), 0);
  std::vector<double> beam_score(static_cast<size_t>(B * K), kDead);   // (R)
  for (int64_t b = 0; b < B; ++b) beam_score[b * K] = 0.0;
  std::vector<int64_t> previous(static_cast<size_t>(B * K), data::kBos);  // (R)
  std::vector<std::vector<Ending>> finished(static_cast<size_t>(B));
  std::vector<Step> history;

  for (int64_t t = 0; !active.empty(); ++t) {
    const int64_t R = static_cast<int64_t>(active.size()) * K;
    Tensor logits = model.step(*state, from_vector(previous, {R}, on_device));  // (R, V)
    const nn::KVCacheBytes cache = state->cache_bytes();
    nn::keep_peak(peak_cache, cache);
    ATTN_CHECK(logits.dim() == 2 && logits.size(0) == R, "beam_search: step() must return (", R,
               ", V) logits, got ", shape_str(logits.shape()));
    const int64_t V = logits.size(1);
    // log p(y | prefix) of every row and token, read on the CPU in double
    // (exact for float32 models too) to rank the candidates plainly.
    Tensor log_probs = log_softmax(logits, -1).cpu().to(kFloat64).contiguous();  // (R, V)
    const double* log_p = log_probs.data_ptr<double>();

    Step step;
    Tensor weights = state->last_attention();  // (R, S) or undefined
    if (options.need_attention && weights.defined()) {
      step.attention = weights.to(kFloat32).cpu().contiguous();
    }
    Tensor centres = state->last_position();   // (R) or undefined
    if (centres.defined()) step.positions = centres.to(kFloat32).cpu().contiguous();

    std::vector<int64_t> still_active;
    for (size_t i = 0; i < active.size(); ++i) {
      const int64_t b = active[i];
      // Every extension of every live beam: up to K * V candidates.
      std::vector<Candidate> candidates;
      for (int64_t row = static_cast<int64_t>(i) * K; row < static_cast<int64_t>(i + 1) * K; ++row) {
        if (beam_score[row] == kDead) continue;
        for (int64_t v = 0; v < V; ++v) {
          double score = beam_score[row] + log_p[row * V + v];
          if (score > kDead) candidates.push_back({score, row, v});
        }
      }
      // At most K candidates end in </s> (one per beam), so the best 2K hold
      // K that go on, if there are that many at all.
      size_t top = std::min(candidates.size(), static_cast<size_t>(2 * K));
      std::partial_sort(candidates.begin(), candidates.begin() + top, candidates.end(), better);
      // Best first: </s> finishes a hypothesis, anything else keeps a beam
      // live, until K beams are live again.
      std::vector<Candidate> live;
      for (size_t j = 0; j < top && static_cast<int64_t>(live.size()) < K; ++j) {
        if (candidates[j].token == data::kEos) {
          finished[b].push_back(ending(t, candidates[j], options.normalize));
        } else {
          live.push_back(candidates[j]);
        }
      }
      // At the maximum length the live beams finish as they stand, without </s>.
      const int64_t max_length = beam_max_length(lengths[b], capped);
      bool at_limit = t + 1 >= max_length;
      if (at_limit) {
        for (const Candidate& c : live) finished[b].push_back(ending(t, c, options.normalize));
      }
      if (at_limit || live.empty() || search_is_over(finished[b], live, options, max_length)) continue;

      still_active.push_back(b);
      for (int64_t k = 0; k < K; ++k) {
        // Too few candidates (a tiny vocabulary): the slot stays dead, fed
        // any valid token from a live row; its score keeps it out of the search.
        bool filled = k < static_cast<int64_t>(live.size());
        const Candidate& c = filled ? live[k] : live.front();
        step.parent.push_back(c.row);
        step.token.push_back(c.token);
        step.score.push_back(filled ? c.score : kDead);
      }
    }
    history.push_back(std::move(step));
    if (still_active.empty()) break;
    // Row r of the next step continues row parent[r] of this one; the rows of
    // sentences that are done are not selected, so they leave the batch.
    const Step& chosen = history.back();
    state->reorder(
        from_vector(chosen.parent, {static_cast<int64_t>(chosen.parent.size())}, on_device));
    previous = chosen.token;
    beam_score = chosen.score;
    active = std::move(still_active);
  }

  BeamSearchResult result;
  result.window = state->window();
  result.peak_cache = peak_cache;
  result.nbest.resize(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    std::vector<Ending>& ends = finished[b];
    // Best normalized score first; equal ones keep the order they finished in.
    std::stable_sort(ends.begin(), ends.end(), [](const Ending& x, const Ending& y) {
      return x.normalized_score > y.normalized_score;
    });
    size_t count = std::min(ends.size(), static_cast<size_t>(options.n_best));
    for (size_t n = 0; n < count; ++n) {
      result.nbest[b].push_back(read_back(history, ends[n], lengths[b]));
    }
  }
  return result;
}

}  // namespace attn::decode
