// Beam search: keep the K most probable partial translations at every output
// position instead of greedy decoding's one (Sutskever et al. 2014, section
// 3.2; the decoder of Bahdanau et al. 2014; Marian's and OpenNMT's decoders).
//
// Greedy decoding (train/decode/decode.h) commits to the best next token and can
// never take it back: a first word that looks best may lead to a worse
// sentence than the runner-up would have. Beam search keeps K hypotheses
// alive per sentence. At each position every live hypothesis is extended by
// every token (K * V candidates), scored by the sum of log-probabilities, and
// the K best candidates survive:
//
//   score(y_1..y_t) = sum_i log p(y_i | y_<i, x)       never increases with t
//
// Batched, for every nn::Translator: the model sees B * K rows at each step,
// row b * K + k holding hypothesis k of sentence b, and the decoder state
// follows the survivors with DecoderState::reorder (an index_select of each
// state tensor's rows). How the pieces fit:
//   - start() encodes each sentence once; reorder() then copies it K times;
//   - at the first step only beam 0 is live (the others score -inf), or the K
//     beams would all extend the same empty prefix into K identical hypotheses;
//   - a candidate that ends in </s> moves to its sentence's finished list and
//     the next best candidate takes its beam slot, so K beams stay live
//     (OpenNMT's way; Marian instead lets the beam shrink);
//   - a sentence is done when it has K finished hypotheses and no live beam
//     can still beat the K-th best of them (scores only fall, so a live beam
//     can reach at best its score now, divided by max_length^alpha when
//     normalizing); or when it reaches its maximum length, where its live
//     beams are finished as they stand, without </s>; done sentences leave
//     the batch (their rows are dropped by the same reorder);
//   - finished hypotheses are ranked by score / length^alpha (normalize =
//     alpha, the length counting </s>): raw log-probabilities favour short
//     outputs, since every token can only lower the sum (Wu et al. 2016,
//     section 7, use a softer penalty; Marian's --normalize is this one).
//
// Each row records its parent row and token at each step (the backpointers);
// a finished hypothesis is read back by following them, attention rows
// included, so the best output's heatmap can be drawn (train/plot/heatmap.h).
//
// Beam size 1 with normalize 0 gives exactly greedy_decode's tokens: the best
// candidate wins (ties to the lower id, as argmax), and when it is </s> the
// sentence is done. (With normalize > 0 the runner-up may go on after </s>.)
//
//   decode::BeamSearchOptions options;
//   options.beam_size = 5;
//   model.eval();
//   decode::BeamSearchResult result = decode::beam_search(model, batch.source,
//                                                       batch.source_lengths, options);
//   result.nbest[0][0].tokens   // the best output of sentence 0, without </s>
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/translator.h"

namespace attn::decode {

constexpr int64_t kDefaultMaxLength = 512;
// The largest values check_beam_search_options accepts.
constexpr int64_t kMaxBeamSize = 1024;
constexpr int64_t kMaxOutputLength = 65536;

struct BeamSearchOptions {
  // K, hypotheses kept per sentence; 1 = greedy decoding. (Marian: 12, Joey NMT: 5.)
  int64_t beam_size = 5;
  // alpha: rank finished hypotheses by score / length^alpha, the length
  // counting </s>; 0 = raw log-probability (Marian's --normalize).
  double normalize = 0.0;
  // Output at most factor * source length tokens, per sentence (at least 1);
  // 0 = no such limit (Marian's --max-length-factor).
  double max_length_factor = 3.0;
  // Added to factor * source length: a short source may have a long
  // translation ("12/10/1981" is 5 tokens, its ISO date 10 characters), so a
  // pure ratio cuts it off (fairseq's max_len_b; greedy_decode allows 2S + 10).
  int64_t max_length_offset = 10;
  // An absolute cap, on by default: no output runs past max_length tokens
  // whatever the source length, and the command lines refuse (or, with
  // --max-length-crop, cut) a source longer than it (fit_source below); 0 =
  // no cap of its own (a Transformer's positional table still bounds both).
  // With max_length_factor 0 this must be set. Marian's default is 1000;
  // ours is 512 (kDefaultMaxLength): the Transformer's positional table, so
  // that one default serves every model type, five times the longest
  // training pair `attn train` keeps by default (--max-length 100), and a
  // bound on decoding time: attention over S source tokens for up to 512
  // steps, where only a relative cap let a 5000-token line decode for minutes.
  int64_t max_length = kDefaultMaxLength;
  // Hypotheses returned per sentence, best first; at most beam_size.
  int64_t n_best = 1;
  // Each hypothesis's attention weights (Hypothesis::attention); false when
  // only the tokens are wanted (`attn translate`, `attn eval`), which lets the
  // Transformer run all its attention fused (DecoderState::need_weights).
  bool need_attention = true;
};

struct Hypothesis {
  std::vector<int64_t> tokens;     // without <s> and </s>
  double score = 0.0;              // sum of log-probabilities, </s> included
  double normalized_score = 0.0;   // score / T^normalize: what the n-best list is sorted by
  // (T) the cumulative score after each step, </s> included: T = tokens + 1
  // when the hypothesis ended with </s>, T = tokens when it was cut at the
  // maximum length. The last entry is `score`.
  std::vector<double> step_scores;
  // (T, S) float32: the attention of each step over the sentence's own S
  // source tokens (no padding columns); undefined if the model has none.
  Tensor attention;
  // (T) float32: local attention's window centres p_t (see
  // DecoderState::last_position); undefined for other models.
  Tensor positions;
  // True when the output was cut at the maximum length, without </s>: the
  // callers count these (translate and eval on stderr, validation in its log).
  bool reached_max_length = false;
};

struct BeamSearchResult {
  // Per sentence, best first by normalized_score, n_best each (fewer only when
  // fewer distinct outputs exist within the maximum length).
  std::vector<std::vector<Hypothesis>> nbest;
  // Local attention's window half-width D, 0 for other models.
  int64_t window = 0;
  // The largest the key/value caches grew during the search (all B * K rows;
  // zero for models without a cache): `attn translate --report-cache`.
  nn::KVCacheBytes peak_cache;
};

// The paper's decoding for a Transformer (Vaswani et al. 2017, section 6.1):
// beam 4 and length penalty 0.6, for the flags (kebab-case names) not given;
// other models keep the options as they are.
void apply_decoding_defaults(const nn::Translator& model, BeamSearchOptions& options,
                             const std::function<bool(const std::string&)>& given);

// source: (B, S) int64 padded with <pad>, source_lengths: (B) int64.
// Runs under NoGradGuard; the caller puts the model in eval mode (dropout off).
// Throws attn::Error naming the option when `options` are out of range.
BeamSearchResult beam_search(nn::Translator& model, const Tensor& source,
                             const Tensor& source_lengths, const BeamSearchOptions& options);

// Throws attn::Error naming the first option out of range (beam_search
// calls it; a command line can call it before loading anything).
void check_beam_search_options(const BeamSearchOptions& options);

// The most output tokens beam_search allows a sentence of `source_length`
// tokens under `options`: min(floor(factor * length) + offset, max_length), at least 1.
int64_t beam_max_length(int64_t source_length, const BeamSearchOptions& options);

// The longest sequence `model` can read or write: a Transformer's positional
// table (nn::TransformerOptions::max_length); the RNN models have no such
// limit (INT64_MAX).
int64_t model_max_length(const nn::Translator& model);

// The cap on source and output tokens in effect for `model` under `options`:
// options.max_length (0 = none) or the model's own limit, whichever is smaller.
// `reason` says which, for messages ("--max-length 512", or the table).
struct LengthCap {
  int64_t tokens;
  std::string reason;
};
LengthCap length_cap(const nn::Translator& model, const BeamSearchOptions& options);

// A source sentence of ids.size() tokens against `cap`: a longer one throws
// attn::Error naming `where` (such as "stdin:12", the 1-based line), its
// length and the cap, or with `crop` is cut to its first cap.tokens tokens
// (Marian's --max-length-crop). Returns true when it cut.
bool fit_source(std::vector<int64_t>& ids, const LengthCap& cap, bool crop, const std::string& where);

}  // namespace attn::decode
