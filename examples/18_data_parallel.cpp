// Chapter 18, data-parallel training (docs/18-data-parallel-training.md).
//
//   ./build/release/examples/example_18_data_parallel
//
// What `mpirun -np N attn train` does, in one process, so that every step can
// be printed and checked: a global batch split into the ranks' shares; each
// share's gradient, weighted by the global batch's token count; the ring
// all-reduce that sums those gradients across N = 3 simulated ranks, step by
// step, counting what each rank sends; the sum compared with one process's
// gradient on the whole batch (equal to float rounding), and with the naive
// average of the ranks' own means (not equal). The real ranks, over MPI, are
// in tests/train/mpi_equal_test.sh. Returns 1 if any check fails.
#include <attn/attn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/vocab.h"
#include "train/distributed/data_parallel.h"
#include "train/models.h"
#include "train/train_step.h"

namespace {

using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

constexpr int kRanks = 3;
constexpr int64_t kSymbols = 8;  // ids 4 .. 11 after the four specials (data/vocab.h)

// Every parameter's gradient, flattened into one vector, in parameter order:
// what one rank hands to the all-reduce (train/distributed/data_parallel.cpp
// packs the same, bucket by bucket).
std::vector<float> flat_gradients(const std::vector<Tensor>& parameters) {
  std::vector<float> flat;
  for (const Tensor& p : parameters) {
    std::vector<float> g = p.grad().defined() ? p.grad().to_vector<float>()
                                              : std::vector<float>(static_cast<size_t>(p.numel()));
    flat.insert(flat.end(), g.begin(), g.end());
  }
  return flat;
}

// The ring all-reduce of N vectors of L floats, in place: afterwards every
// vector is the element-wise sum. The vectors are cut into N chunks; in each
// of N - 1 reduce-scatter steps every rank r sends one chunk to rank r + 1,
// which adds it to its own; then rank r holds the whole sum of chunk r + 1.
// In N - 1 all-gather steps those finished chunks go round the ring the same
// way, copied instead of added. Returns the floats each rank sent.
std::vector<int64_t> ring_allreduce(std::vector<std::vector<float>>& ranks) {
  const int n = static_cast<int>(ranks.size());
  const int64_t length = static_cast<int64_t>(ranks[0].size());
  auto begin = [&](int chunk) { return length * chunk / n; };  // chunk c: [begin(c), begin(c + 1))
  std::vector<int64_t> sent(static_cast<size_t>(n), 0);
  for (int phase = 0; phase < 2; ++phase) {  // 0: reduce-scatter (add), 1: all-gather (copy)
    for (int step = 0; step < n - 1; ++step) {
      // All ranks send at once: the messages are taken before any is applied.
      std::vector<std::vector<float>> messages(static_cast<size_t>(n));
      std::vector<int> chunks(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        // Reduce-scatter step s: rank r sends chunk r - s; all-gather: chunk r + 1 - s.
        const int chunk = ((phase == 0 ? r - step : r + 1 - step) % n + n) % n;
        chunks[static_cast<size_t>(r)] = chunk;
        messages[static_cast<size_t>(r)].assign(
            ranks[static_cast<size_t>(r)].begin() + begin(chunk),
            ranks[static_cast<size_t>(r)].begin() + begin(chunk + 1));
        sent[static_cast<size_t>(r)] +=
            static_cast<int64_t>(messages[static_cast<size_t>(r)].size());
      }
      for (int r = 0; r < n; ++r) {
        const int to = (r + 1) % n;
        const std::vector<float>& message = messages[static_cast<size_t>(r)];
        float* target =
            ranks[static_cast<size_t>(to)].data() + begin(chunks[static_cast<size_t>(r)]);
        for (size_t i = 0; i < message.size(); ++i) {
          target[i] = phase == 0 ? target[i] + message[i] : message[i];
        }
      }
    }
  }
  return sent;
}

double largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

double largest_magnitude(const std::vector<float>& a) {
  double worst = 0.0;
  for (float x : a) worst = std::max(worst, std::fabs(double(x)));
  return worst;
}

}  // namespace

int main() {
  attn::manual_seed(16);

  // --- the data: 12 "reverse" pairs of 2 to 9 symbols, one global batch ----------
  section("1. A global batch and its shares (train/distributed/data_parallel.h)");
  attn::Generator lengths(7);
  std::vector<std::vector<int64_t>> sources, targets;
  for (int i = 0; i < 12; ++i) {
    std::vector<int64_t> sentence(static_cast<size_t>(2 + lengths.below(8)));
    for (int64_t& id : sentence) id = 4 + static_cast<int64_t>(lengths.below(kSymbols));
    sources.push_back(sentence);
    std::reverse(sentence.begin(), sentence.end());
    targets.push_back(sentence);
  }
  std::vector<size_t> order(12);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const attn::data::Batch global = attn::data::make_batch(sources, targets, order);
  std::printf("  global batch: B = %lld sentences, %lld target tokens\n",
              static_cast<long long>(global.size()), static_cast<long long>(global.target_tokens));
  std::vector<attn::data::Batch> shares;
  int64_t tokens = 0;
  for (int rank = 0; rank < kRanks; ++rank) {
    shares.push_back(attn::distributed::local_batch(global, sources, targets, rank, kRanks));
    tokens += shares.back().target_tokens;
    std::printf("  rank %d of %d: sentences %zu..%zu, %lld target tokens, source %s\n", rank,
                kRanks, shares.back().indices.front(), shares.back().indices.back(),
                static_cast<long long>(shares.back().target_tokens),
                attn::shape_str(shares.back().source.shape()).c_str());
  }
  check(tokens == global.target_tokens, "the shares' tokens add up to the global batch's");
  check(shares[0].target_tokens != shares[1].target_tokens,
        "the shares hold different numbers of tokens (so how to weight them matters)");

  // --- one process: the gradient of the global batch's mean loss ------------------
  section("2. Each rank's gradient, weighted by the global token count (train/train_step.cpp)");
  attn::train::ModelOptions options;
  options.type = "transformer";
  options.dim_emb = 16;
  options.transformer_heads = 2;
  options.transformer_dim_ffn = 32;
  options.enc_depth = options.dec_depth = 1;
  options.transformer_dropout = 0.0;
  options.source_vocab_size = options.target_vocab_size = 4 + kSymbols;
  std::shared_ptr<attn::nn::Translator> model = attn::train::make_model(options);
  const std::vector<Tensor> parameters = model->parameters();
  auto zero_grad = [&] {
    for (const Tensor& p : parameters) p.zero_grad();
  };

  zero_grad();
  attn::train::batch_loss(*model, global, 0.0).backward();  // mean over all 12 sentences' tokens
  const std::vector<float> one_process = flat_gradients(parameters);
  std::printf("  one process: %zu gradient floats, largest |g| %.4f\n", one_process.size(),
              largest_magnitude(one_process));

  // The ranks: each its share's summed token loss / the global token count.
  std::vector<std::vector<float>> ranks, naive;
  for (int rank = 0; rank < kRanks; ++rank) {
    const attn::data::Batch& share = shares[static_cast<size_t>(rank)];
    Tensor logits = model->forward(share.source, share.source_lengths, share.target_input);
    Tensor summed = attn::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), share.target_output.reshape({-1}),
        attn::CrossEntropyOptions().ignore(attn::data::kPad).reduce(attn::Reduction::Sum));
    zero_grad();
    (summed * (1.0 / static_cast<double>(global.target_tokens))).backward();
    ranks.push_back(flat_gradients(parameters));
    // What a careless split would do: each rank's own mean, averaged over ranks.
    zero_grad();
    attn::train::batch_loss(*model, share, 0.0).backward();
    std::vector<float> own_mean = flat_gradients(parameters);
    for (float& g : own_mean) g /= kRanks;
    naive.push_back(own_mean);
  }
  std::printf("  %d ranks, each holding the gradient of its share alone\n", kRanks);

  // --- the ring all-reduce ---------------------------------------------------------
  section("3. The ring all-reduce, simulated (docs/16, section 2)");
  const int64_t length = static_cast<int64_t>(one_process.size());
  const std::vector<int64_t> sent = ring_allreduce(ranks);
  for (int rank = 0; rank < kRanks; ++rank) {
    std::printf("  rank %d sent %lld floats = %.3f x the gradient's %lld\n", rank,
                static_cast<long long>(sent[static_cast<size_t>(rank)]),
                double(sent[static_cast<size_t>(rank)]) / double(length),
                static_cast<long long>(length));
  }
  const double expected = 2.0 * (kRanks - 1) / kRanks;  // 2(N-1)/N
  bool near = true;
  for (int64_t s : sent) near = near && std::fabs(double(s) / double(length) - expected) < 1e-3;
  check(near,
        "each rank sends 2(N-1)/N = " + std::to_string(expected).substr(0, 5) +
            " times the gradient, whatever N (rank 0 alone gathering would take N-1 = 2 times)");
  bool same = true;
  for (int rank = 1; rank < kRanks; ++rank)
    same = same && ranks[static_cast<size_t>(rank)] == ranks[0];
  check(same, "after the ring, every rank holds the very same floats");

  std::printf("\n  bytes each rank sends per all-reduce of a 100 MB gradient:\n");
  std::printf("  %6s  %12s  %22s\n", "N", "ring", "all to rank 0 and back");
  for (int n : {2, 4, 8, 64, 1024}) {
    std::printf("  %6d  %9.1f MB  %16.0f MB (rank 0)\n", n, 100.0 * 2 * (n - 1) / n,
                100.0 * (n - 1));
  }

  // --- equal to one process -----------------------------------------------------
  section("4. The sum is one process's gradient; the average of means is not");
  const double ring_error = largest_difference(ranks[0], one_process);
  std::vector<float> naive_sum(one_process.size(), 0.0f);
  for (const std::vector<float>& g : naive) {
    for (size_t i = 0; i < g.size(); ++i) naive_sum[i] += g[i];
  }
  const double naive_error = largest_difference(naive_sum, one_process);
  std::printf("  sum over ranks of grad(share's summed loss / %lld):  largest difference %.2e\n",
              static_cast<long long>(global.target_tokens), ring_error);
  std::printf("  mean over ranks of grad(share's own mean loss):     largest difference %.2e\n",
              naive_error);
  check(ring_error < 1e-6,
        "weighted by the global token count: one process's gradient, to float "
        "rounding (the additions come in another order)");
  check(naive_error > 100 * ring_error,
        "the average of the ranks' means weights a token of a short share more: another gradient");

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
