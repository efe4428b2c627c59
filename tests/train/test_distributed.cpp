// Data parallelism's single-process parts (train/distributed/): the shares of
// a global batch, the gradient buckets, the ranks' dropout streams and the
// launcher's environment. The ranks themselves, over MPI, are tested by
// tests/train/mpi_equal_test.sh and mpi_failure_test.sh.
#include <attn/attn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "data/batch.h"
#include "kernels/generator.h"
#include "train/distributed/communicator.h"
#include "train/distributed/data_parallel.h"

namespace {

using attn::Tensor;
namespace distributed = attn::distributed;

// Two ranks in one process, both holding the same numbers: every sum doubles.
// Records the length of each float all-reduce, one per bucket.
class TwinRanks : public distributed::SingleProcess {
 public:
  int size() const override { return 2; }
  void allreduce_sum(float* data, int64_t count) override {
    calls.push_back(count);
    for (int64_t i = 0; i < count; ++i) data[i] *= 2;
  }
  std::vector<int64_t> calls;
};

std::vector<size_t> iota(size_t n) {
  std::vector<size_t> indices(n);
  std::iota(indices.begin(), indices.end(), size_t(0));
  return indices;
}

TEST(Shares, AreContiguousCoverEveryIndexOnceAndDifferByAtMostOne) {
  for (size_t batch : {1, 2, 5, 16, 17}) {
    for (int size : {1, 2, 3, 4}) {
      std::vector<size_t> joined;
      size_t smallest = batch, largest = 0;
      for (int rank = 0; rank < size; ++rank) {
        std::vector<size_t> share = distributed::share_of(iota(batch), rank, size);
        joined.insert(joined.end(), share.begin(), share.end());
        smallest = std::min(smallest, share.size());
        largest = std::max(largest, share.size());
      }
      EXPECT_EQ(joined, iota(batch)) << "B " << batch << ", " << size << " ranks";
      EXPECT_LE(largest - smallest, 1u) << "B " << batch << ", " << size << " ranks";
    }
  }
  // Fewer sentences than ranks: the first ranks sit out.
  EXPECT_TRUE(distributed::share_of(iota(1), 0, 2).empty());
  EXPECT_EQ(distributed::share_of(iota(1), 1, 2), iota(1));
}

TEST(Shares, ABadRankIsNamed) {
  try {
    distributed::share_of(iota(4), 2, 2);
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2 of 2 ranks"), std::string::npos) << e.what();
  }
}

TEST(Shares, LocalBatchesSplitTheGlobalBatchsSentencesAndTokens) {
  const std::vector<std::vector<int64_t>> sources = {{4, 5}, {6}, {7, 8, 9}, {4}, {5, 6}};
  const std::vector<std::vector<int64_t>> targets = {{4}, {5, 6, 7}, {8}, {9, 4}, {5}};
  const attn::data::Batch global = attn::data::make_batch(sources, targets, {4, 0, 2, 1, 3});
  const attn::data::Batch first = distributed::local_batch(global, sources, targets, 0, 2);
  const attn::data::Batch second = distributed::local_batch(global, sources, targets, 1, 2);
  EXPECT_EQ(first.indices, (std::vector<size_t>{4, 0}));
  EXPECT_EQ(second.indices, (std::vector<size_t>{2, 1, 3}));
  EXPECT_EQ(first.target_tokens + second.target_tokens, global.target_tokens);
  EXPECT_EQ(first.source.shape(), (attn::Shape{2, 2}));  // padded to its own longest
  EXPECT_EQ(second.source.shape(), (attn::Shape{3, 3}));

  const attn::data::Batch tiny = attn::data::make_batch(sources, targets, {1});
  const attn::data::Batch none = distributed::local_batch(tiny, sources, targets, 0, 2);
  EXPECT_EQ(none.size(), 0);
  EXPECT_EQ(none.target_tokens, 0);
  EXPECT_FALSE(none.source.defined());
}

// Parameters of 4, 4, 10 and 2 floats; all but the last with a gradient.
std::vector<Tensor> parameters_with_gradients() {
  std::vector<Tensor> parameters;
  float value = 1.0f;
  for (attn::Shape shape : {attn::Shape{2, 2}, attn::Shape{4}, attn::Shape{2, 5}, attn::Shape{2}}) {
    Tensor p = attn::zeros(shape);
    p.requires_grad_();
    if (parameters.size() < 3) {
      std::vector<float> grad(static_cast<size_t>(p.numel()));
      for (float& g : grad) g = value++;
      p.set_grad(attn::from_vector(grad, shape));
    }
    parameters.push_back(p);
  }
  return parameters;
}

TEST(AllreduceGradients, SumsEveryGradientInBucketsOfAtMostTheBucketSize) {
  std::vector<Tensor> parameters = parameters_with_gradients();
  TwinRanks twins;
  distributed::allreduce_gradients(parameters, twins, /*bucket_floats=*/8);
  // Buckets in parameter order: {4, 4}, {10} (larger than a bucket: its own), {2}.
  EXPECT_EQ(twins.calls, (std::vector<int64_t>{8, 10, 2}));
  float value = 1.0f;
  for (size_t i = 0; i < 3; ++i) {
    for (float g : parameters[i].grad().to_vector<float>()) EXPECT_EQ(g, 2 * value++);
  }
  // No gradient on this rank counts as zeros, and gets the sum.
  ASSERT_TRUE(parameters[3].grad().defined());
  EXPECT_EQ(parameters[3].grad().to_vector<float>(), (std::vector<float>{0, 0}));
}

TEST(AllreduceGradients, OneBucketWhenEverythingFits) {
  std::vector<Tensor> parameters = parameters_with_gradients();
  TwinRanks twins;
  distributed::allreduce_gradients(parameters, twins);  // kBucketFloats
  EXPECT_EQ(twins.calls, (std::vector<int64_t>{20}));
}

TEST(AllreduceGradients, OneProcessLeavesTheGradientsAsTheyAre) {
  std::vector<Tensor> parameters = parameters_with_gradients();
  distributed::SingleProcess single;
  distributed::allreduce_gradients(parameters, single, 3);
  EXPECT_EQ(parameters[2].grad().to_vector<float>()[0], 9.0f);
}

TEST(RankStreams, DependOnlyOnSeedRankAndUpdate) {
  auto draw = [](int rank, int64_t update) {
    distributed::seed_rank_generator(1234, rank, update);
    return attn::default_generator().next_u64();
  };
  EXPECT_EQ(draw(1, 7), draw(1, 7));  // a resumed run draws what the uninterrupted one drew
  EXPECT_NE(draw(0, 7), draw(1, 7));  // the ranks' masks differ
  EXPECT_NE(draw(1, 7), draw(1, 8));  // and so do the updates'
}

TEST(Launcher, WorldSizeComesFromTheEnvironment) {
  unsetenv("PMI_SIZE");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_EQ(distributed::launched_world_size(), 1);
  setenv("PMI_SIZE", "3", 1);
  EXPECT_EQ(distributed::launched_world_size(), 3);
  setenv("OMPI_COMM_WORLD_SIZE", "two", 1);
  try {
    distributed::launched_world_size();
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("OMPI_COMM_WORLD_SIZE='two'"), std::string::npos)
        << e.what();
  }
  unsetenv("PMI_SIZE");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  // Not launched by mpirun: world() is the single process.
  EXPECT_EQ(distributed::world().size(), 1);
  EXPECT_EQ(distributed::world().rank(), 0);
  EXPECT_EQ(distributed::rank_label(), "");
}

}  // namespace
