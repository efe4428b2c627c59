// Batches: many sentence pairs of different lengths packed into rectangles of
// ids a model can run on at once, with the lengths that say which cells are real.
//
// For sources {a b c} and {d e} and targets {x y} and {z} (ids, no specials):
//   source         (B=2, S=3)   a  b  c
//                               d  e  <pad>
//   source_lengths (B=2)        3  2          the real cells of row b: columns 0 .. length - 1
//   target_input   (B=2, T=3)   <s> x  y       what the decoder reads (teacher forcing)
//                               <s> z  <pad>
//   target_output  (B=2, T=3)   x  y  </s>     what it must predict at each step
//                               z  </s> <pad>
//   target_tokens  5            non-pad cells of target_output: what the loss averages over
//
// The source mask (1 for a real token, 0 for padding) is not in the batch:
// each model builds it from source_lengths, on its own device and in its own
// shape: RNNSearch::encode (B, S), LuongAttention::attend (B, T, S) with its
// local window, the Transformer (B, 1, 1, S) through nn::padding_mask. It is built there because a model is
// also called without a Batch (decoding, beam search, tests) and its encoder
// reads the lengths anyway, so one rule, position < length, serves encoder,
// attention and every caller, and no second copy can disagree with it.
//
// BatchIterator turns a whole corpus into such batches, one epoch at a time,
// the way Marian does:
//   1. drop pairs longer than max_length on either side (counted);
//   2. shuffle the pairs with a generator seeded from (seed, epoch);
//   3. cut the shuffled list into pools of maxi_batch batches and sort each
//      pool by length, so a batch holds sentences of similar length and
//      little of it is padding;
//   4. cut each pool into batches of mini_batch sentences, or, when
//      mini_batch_words is set, of as many sentences as keep
//      batch size x longest target (with </s>) within that many tokens;
//   5. shuffle the order of the batches, so lengths do not rise and fall in
//      a pattern through the epoch.
// An epoch depends only on (seed, epoch): seek(epoch, position) after a
// restart gives exactly the batches an uninterrupted run would have seen.
// With shuffle = false (validation, evaluation) the pairs keep their original
// order, unsorted, and every epoch is the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace attn::data {

struct Batch {
  Tensor source;            // (B, S) int64: source ids padded with kPad; S = longest source
  Tensor source_lengths;    // (B) int64: tokens per source
  Tensor target_input;      // (B, T) int64: <s> y1 .. yn, padded; T = longest target + 1
  Tensor target_output;     // (B, T) int64: y1 .. yn </s>, padded
  int64_t target_tokens = 0;    // non-pad entries of target_output
  std::vector<size_t> indices;  // (B) which examples, as indices into the corpus given

  int64_t size() const { return static_cast<int64_t>(indices.size()); }  // B

  // The batch with its id tensors on `device` (the model's). source_lengths
  // stays on the host: the models read the lengths there to build their masks.
  Batch to(Device device) const;
};

// The batch of examples `indices` (B >= 1). sources[i] and targets[i] are ids
// without specials; every source must be non-empty. With empty `targets`
// (translation, where there is no reference) the target fields stay undefined.
Batch make_batch(const std::vector<std::vector<int64_t>>& sources,
                 const std::vector<std::vector<int64_t>>& targets, const std::vector<size_t>& indices);

struct BatchOptions {
  int64_t mini_batch = 64;        // sentences per batch (used when mini_batch_words is 0)
  int64_t mini_batch_words = 0;   // > 0: at most this many padded target tokens per batch
  int64_t maxi_batch = 100;       // pool size in batches, sorted by length (1: no pooling)
  int64_t max_length = 0;         // > 0: drop pairs with more tokens than this on either side
  bool shuffle = true;            // false: original order, no sorting (validation)
  uint64_t seed = 1234;           // the shuffle of epoch e depends only on (seed, e)
};

class BatchIterator {
 public:
  // sources (N) and targets (N): ids without specials. Throws when the sizes
  // differ, a source is empty, or no pair is left after the max_length filter.
  BatchIterator(std::vector<std::vector<int64_t>> sources, std::vector<std::vector<int64_t>> targets,
                BatchOptions options = {});

  // Whether the current epoch has batches left.
  bool has_next() const { return position_ < num_batches(); }
  // The next batch of the current epoch; throws when the epoch is over.
  Batch next();
  // Starts the following epoch (a new shuffle) at position 0.
  void next_epoch() { seek(epoch_ + 1, 0); }
  // Jumps to batch `position` of epoch `epoch`: what a resumed run calls with
  // the epoch() and position() it saved.
  void seek(int64_t epoch, int64_t position);

  int64_t epoch() const { return epoch_; }        // 0 for the first epoch
  int64_t position() const { return position_; }  // batches already returned this epoch
  int64_t num_batches() const { return static_cast<int64_t>(plan_.size()); }  // in this epoch
  int64_t num_examples() const { return static_cast<int64_t>(kept_.size()); }  // after the filter
  int64_t num_filtered() const { return filtered_; }  // dropped by max_length
  // The example indices of every batch of the current epoch, in order.
  const std::vector<std::vector<size_t>>& plan() const { return plan_; }

 private:
  void plan_epoch();
  void cut(const std::vector<size_t>& order, std::vector<std::vector<size_t>>* batches) const;

  std::vector<std::vector<int64_t>> sources_;
  std::vector<std::vector<int64_t>> targets_;
  BatchOptions options_;
  std::vector<size_t> kept_;  // examples that passed the filter, in corpus order
  int64_t filtered_ = 0;
  std::vector<std::vector<size_t>> plan_;  // the batches of epoch_
  int64_t epoch_ = 0;
  int64_t position_ = 0;
};

}  // namespace attn::data
