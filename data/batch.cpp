#include "data/batch.h"

#include <algorithm>

#include "data/vocab.h"
#include "tensor/creation.h"
#include "kernels/error.h"
#include "kernels/generator.h"

namespace attn::data {

namespace {

// Mixed into the seed so the shuffle's stream differs from the stream that
// initialises the weights with the same --seed ("shuf" in ASCII).
constexpr uint64_t kShuffleStream = 0x73687566;

// Fisher-Yates: every permutation equally likely, one draw per element.
void shuffle(std::vector<size_t>* items, Generator& generator) {
  for (size_t i = items->size(); i > 1; --i) {
    size_t j = static_cast<size_t>(generator.below(i));
    std::swap((*items)[i - 1], (*items)[j]);
  }
}

void shuffle(std::vector<std::vector<size_t>>* items, Generator& generator) {
  for (size_t i = items->size(); i > 1; --i) {
    size_t j = static_cast<size_t>(generator.below(i));
    std::swap((*items)[i - 1], (*items)[j]);
  }
}

}  // namespace

Batch Batch::to(Device device) const {
  Batch out = *this;
  for (Tensor* t : {&out.source, &out.target_input, &out.target_output}) {
    if (t->defined()) *t = t->to(device);
  }
  return out;
}

Batch make_batch(const std::vector<std::vector<int64_t>>& sources,
                 const std::vector<std::vector<int64_t>>& targets, const std::vector<size_t>& indices) {
  ATTN_CHECK(!indices.empty(), "make_batch: no examples (indices is empty)");
  ATTN_CHECK(targets.empty() || targets.size() == sources.size(), "make_batch: ", sources.size(),
             " sources but ", targets.size(), " targets");
  const int64_t batch_size = static_cast<int64_t>(indices.size());
  int64_t source_length = 0;
  int64_t target_length = 0;
  for (size_t index : indices) {
    ATTN_CHECK(index < sources.size(), "make_batch: index ", index, " is outside the ", sources.size(),
               " examples");
    ATTN_CHECK(!sources[index].empty(), "make_batch: example ", index, " has an empty source");
    source_length = std::max(source_length, static_cast<int64_t>(sources[index].size()));
    if (!targets.empty())
      target_length = std::max(target_length, static_cast<int64_t>(targets[index].size()) + 1);
  }

  Batch batch;
  batch.indices = indices;
  std::vector<int64_t> source(static_cast<size_t>(batch_size * source_length), kPad);
  std::vector<int64_t> lengths;
  for (int64_t b = 0; b < batch_size; ++b) {
    const std::vector<int64_t>& ids = sources[indices[static_cast<size_t>(b)]];
    for (size_t s = 0; s < ids.size(); ++s) {
      source[static_cast<size_t>(b * source_length) + s] = ids[s];
    }
    lengths.push_back(static_cast<int64_t>(ids.size()));
  }
  batch.source = from_vector(source, {batch_size, source_length});
  batch.source_lengths = from_vector(lengths, {batch_size});
  if (targets.empty()) return batch;

  // The decoder reads <s> y1 .. yn and must predict y1 .. yn </s>: the same
  // sentence shifted by one, so step t predicts the token after the ones it saw.
  std::vector<int64_t> input(static_cast<size_t>(batch_size * target_length), kPad);
  std::vector<int64_t> output(input.size(), kPad);
  for (int64_t b = 0; b < batch_size; ++b) {
    const std::vector<int64_t>& ids = targets[indices[static_cast<size_t>(b)]];
    size_t row = static_cast<size_t>(b * target_length);
    input[row] = kBos;
    for (size_t t = 0; t < ids.size(); ++t) {
      input[row + t + 1] = ids[t];
      output[row + t] = ids[t];
    }
    output[row + ids.size()] = kEos;
    batch.target_tokens += static_cast<int64_t>(ids.size()) + 1;
  }
  batch.target_input = from_vector(input, {batch_size, target_length});
  batch.target_output = from_vector(output, {batch_size, target_length});
  return batch;
}

BatchIterator::BatchIterator(std::vector<std::vector<int64_t>> sources,
                             std::vector<std::vector<int64_t>> targets, BatchOptions options)
    : sources_(std::move(sources)), targets_(std::move(targets)), options_(options) {
  ATTN_CHECK(sources_.size() == targets_.size(), "BatchIterator: ", sources_.size(), " sources but ",
             targets_.size(), " targets");
  ATTN_CHECK(options_.mini_batch >= 1 || options_.mini_batch_words >= 1,
             "BatchIterator: mini_batch must be at least 1 (or set mini_batch_words), got ",
             options_.mini_batch);
  ATTN_CHECK(options_.mini_batch_words >= 0, "BatchIterator: mini_batch_words must not be negative, got ",
             options_.mini_batch_words);
  ATTN_CHECK(options_.maxi_batch >= 1, "BatchIterator: maxi_batch must be at least 1, got ",
             options_.maxi_batch);
  ATTN_CHECK(options_.max_length >= 0, "BatchIterator: max_length must not be negative, got ",
             options_.max_length);
  for (size_t i = 0; i < sources_.size(); ++i) {
    ATTN_CHECK(!sources_[i].empty(), "BatchIterator: example ", i, " has an empty source");
    bool too_long =
        options_.max_length > 0 && (static_cast<int64_t>(sources_[i].size()) > options_.max_length ||
                                    static_cast<int64_t>(targets_[i].size()) > options_.max_length);
    if (too_long) {
      ++filtered_;
    } else {
      kept_.push_back(i);
    }
  }
  ATTN_CHECK(!kept_.empty(), "BatchIterator: no examples to batch (", sources_.size(), " given, ", filtered_,
             " longer than max_length = ", options_.max_length, ", attn train's --max-length)");
  plan_epoch();
}

Batch BatchIterator::next() {
  ATTN_CHECK(has_next(), "BatchIterator::next: epoch ", epoch_, " is over after ", num_batches(),
             " batches; call next_epoch()");
  return make_batch(sources_, targets_, plan_[static_cast<size_t>(position_++)]);
}

void BatchIterator::seek(int64_t epoch, int64_t position) {
  ATTN_CHECK(epoch >= 0, "BatchIterator::seek: epoch must not be negative, got ", epoch);
  if (epoch != epoch_ || plan_.empty()) {
    epoch_ = epoch;
    plan_epoch();
  }
  // A position saved with other data or other BatchOptions lands here when it
  // falls past the end; the trainer names the settings (train/trainer.cpp).
  ATTN_CHECK(position >= 0 && position <= num_batches(), "BatchIterator::seek: position ", position,
             " is outside epoch ", epoch, ", which has ", num_batches(),
             " batches (was the position saved with other data or other batch options?)");
  position_ = position;
}

// Cuts `order` into consecutive batches, by sentence count or token budget.
void BatchIterator::cut(const std::vector<size_t>& order, std::vector<std::vector<size_t>>* batches) const {
  std::vector<size_t> batch;
  int64_t longest_target = 0;  // with </s>
  for (size_t index : order) {
    int64_t target_length = static_cast<int64_t>(targets_[index].size()) + 1;
    bool full;
    if (options_.mini_batch_words > 0) {
      // Padded cost if this example joined: (count + 1) rows of the longest target.
      int64_t cost = static_cast<int64_t>(batch.size() + 1) * std::max(longest_target, target_length);
      full = !batch.empty() && cost > options_.mini_batch_words;
    } else {
      full = static_cast<int64_t>(batch.size()) >= options_.mini_batch;
    }
    if (full) {
      batches->push_back(std::move(batch));
      batch.clear();
      longest_target = 0;
    }
    // An example longer than the whole budget still gets a batch of its own.
    batch.push_back(index);
    longest_target = std::max(longest_target, target_length);
  }
  if (!batch.empty()) batches->push_back(std::move(batch));
}

void BatchIterator::plan_epoch() {
  plan_.clear();
  position_ = 0;
  if (!options_.shuffle) {
    cut(kept_, &plan_);
    return;
  }
  Generator generator(Generator::hash(options_.seed ^ kShuffleStream, static_cast<uint64_t>(epoch_)));
  std::vector<size_t> order = kept_;
  shuffle(&order, generator);

  // A pool holds about maxi_batch batches: maxi_batch x mini_batch sentences,
  // or maxi_batch x mini_batch_words target tokens.
  auto by_length = [&](size_t a, size_t b) {
    if (targets_[a].size() != targets_[b].size()) return targets_[a].size() < targets_[b].size();
    return sources_[a].size() < sources_[b].size();
  };
  size_t begin = 0;
  while (begin < order.size()) {
    size_t end = begin;
    int64_t tokens = 0;
    while (end < order.size()) {
      if (options_.mini_batch_words > 0) {
        if (tokens >= options_.maxi_batch * options_.mini_batch_words) break;
        tokens += static_cast<int64_t>(targets_[order[end]].size()) + 1;
      } else if (static_cast<int64_t>(end - begin) >= options_.maxi_batch * options_.mini_batch) {
        break;
      }
      ++end;
    }
    std::vector<size_t> pool(order.begin() + static_cast<std::ptrdiff_t>(begin),
                             order.begin() + static_cast<std::ptrdiff_t>(end));
    // Stable, so equal lengths keep their shuffled order.
    std::stable_sort(pool.begin(), pool.end(), by_length);
    cut(pool, &plan_);
    begin = end;
  }
  shuffle(&plan_, generator);
}

}  // namespace attn::data
