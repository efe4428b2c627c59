// Data parallelism: what changes in a training step when N ranks share it
// (docs/18-data-parallel-training.md).
//
// Every rank holds the same model. For each global batch of B sentences (the
// batch one process would train on: --mini-batch sentences, or the sentences
// --mini-batch-words packs), every rank draws the same batch from the same
// shuffle, keeps its contiguous share of it, and
//
//   forward + backward on the share        grad of (its tokens' summed loss / all ranks' tokens)
//   allreduce_gradients                    the sum over ranks: the gradient of the global batch
//   clip, step                             the same update on every rank
//
// Dividing by the global token count (train/train_step.cpp) before summing
// is what makes N ranks compute the gradient one process computes on all B
// sentences: sum_r (sum of rank r's token losses) / tokens = the mean over
// the global batch. Only the order of the float additions differs.
#pragma once

#include <cstdint>
#include <vector>

#include "data/batch.h"
#include "tensor/tensor.h"
#include "train/distributed/communicator.h"

namespace attn::distributed {

// The share of `indices` (the global batch, B examples) that rank `rank` of
// `size` trains on: the contiguous run [B * rank / size, B * (rank + 1) / size).
// The shares are in order, cover every index once, and differ in size by at
// most one; a rank gets none when B < size.
//   indices (B) -> (about B / size)
std::vector<size_t> share_of(const std::vector<size_t>& indices, int rank, int size);

// The batch of rank `rank`'s share of `global` (made from the same sources
// and targets as `global`, padded to its own longest sentence). An empty
// share gives an empty batch: size() 0, target_tokens 0, tensors undefined.
data::Batch local_batch(const data::Batch& global, const std::vector<std::vector<int64_t>>& sources,
                        const std::vector<std::vector<int64_t>>& targets, int rank, int size);

// A gradient bucket: at most this many floats (4 MiB) go into one all-reduce.
constexpr int64_t kBucketFloats = int64_t(1) << 20;

// Replaces every parameter's gradient with its sum over all ranks, in place
// (a parameter without a gradient counts as zeros, and gets the sum). The
// gradients, in parameter order, are packed into buckets of at most
// bucket_floats floats (a larger parameter gets a bucket of its own), each
// bucket summed by one comm.allreduce_sum. Called after backward, not during
// it: docs/16 says what starting buckets during backward would take.
//   parameters: float32 tensors, all on one device. Returns the seconds spent
//   in the all-reduce calls (waiting for the slowest rank included).
double allreduce_gradients(const std::vector<Tensor>& parameters, Communicator& comm,
                           int64_t bucket_floats = kBucketFloats);

// Copies rank 0's parameter values to every rank (they start equal anyway,
// from the same seed: this makes sure, as PyTorch's DDP does at construction).
void broadcast_parameters(const std::vector<Tensor>& parameters, Communicator& comm);

// Points the default generator (dropout) at rank `rank`'s own stream for
// update `update`: a function of (seed, rank, update) alone, so the ranks
// draw independent masks for their different sentences, and a resumed run
// draws the masks the uninterrupted one drew. Only for size > 1: one process
// keeps its single running stream (docs/16, section 4).
void seed_rank_generator(uint64_t seed, int rank, int64_t update);

}  // namespace attn::distributed
