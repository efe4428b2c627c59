// attn::Generator: the one source of randomness (initialisation, dropout,
// shuffling), seeded explicitly so that runs repeat bit for bit.
//
// It is counter-based: the i-th random number of a stream is a hash of
// (seed, i). Its whole state is two integers, so a checkpoint saves it in 16
// bytes, and a GPU kernel can produce the same numbers in parallel (thread i
// hashes (seed, offset + i)) without sharing a sequential state.
#pragma once

#include <cstdint>

// Compiled by nvcc, hash() below is also a GPU function, so that
// kernels/cuda/random.cu draws the very numbers the CPU draws.
#ifdef __CUDACC__
#define ATTN_HOST_DEVICE __host__ __device__
#else
#define ATTN_HOST_DEVICE
#endif

namespace attn {

class Generator {
 public:
  explicit Generator(uint64_t seed = 5489) : seed_(seed), offset_(0) {}

  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  // How many numbers have been drawn: with seed(), the full state.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

  // The next 64 random bits.
  uint64_t next_u64() { return hash(seed_, offset_++); }
  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Standard normal, Box-Muller on two uniforms.
  double normal();
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return next_u64() % n; }

  // splitmix64's finaliser applied to a mix of seed and counter: a cheap hash
  // whose outputs pass the usual statistical tests (BigCrush) for this use.
  ATTN_HOST_DEVICE static uint64_t hash(uint64_t seed, uint64_t counter) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + (counter + 1) * 0xD1B54A32D192ED03ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t seed_;
  uint64_t offset_;
};

// The generator used when none is passed explicitly.
Generator& default_generator();

// Reseeds the default generator, like torch::manual_seed.
void manual_seed(uint64_t seed);

}  // namespace attn
