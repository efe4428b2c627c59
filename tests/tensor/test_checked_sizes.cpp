// Checked sizes (issue 15): a size from a flag or a file can be anything, and
// every product or sum the tensor layer forms from it (element counts,
// strides, byte counts, view offsets) must either fit or end in an attn::Error
// that names the op, the shape and the number, before any memory is touched.
// Also the limit on one CPU allocation (tensor/storage.h), and the same class
// met from above: nn layers built with absurd sizes.
//
// Each test here fails if its check is removed: without them these cases
// wrapped around (a small buffer, then SIGSEGV in fill), reached outside a
// buffer, or ended in a bare std::bad_alloc.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

#include <attn/attn.h>

#include "kernels/matmul.h"

#ifdef ATTN_SANITIZE
// AddressSanitizer aborts on an allocation it cannot serve unless told to
// return null as malloc does; the allocation-limit tests need malloc's answer.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

namespace {

using attn::Shape;
using attn::Tensor;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Runs `body`, expects attn::Error, and returns its message.
template <typename Body>
std::string error_of(const Body& body) {
  try {
    body();
  } catch (const attn::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected attn::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected attn::Error, nothing was thrown";
  return "";
}

#define EXPECT_HAS(message, needle) \
  EXPECT_NE((message).find(needle), std::string::npos) << "message: " << (message)

// Sets the allocation limit for one test and puts the default back after,
// so that tests do not depend on their order.
class LimitGuard {
 public:
  explicit LimitGuard(size_t bytes) { attn::set_max_allocation_bytes(bytes); }
  ~LimitGuard() { attn::set_max_allocation_bytes(0); }
};

// Sets (or unsets) ATTN_MAX_ALLOC_BYTES for one test, then restores it and
// the default limit.
class EnvGuard {
 public:
  explicit EnvGuard(const char* value) {
    if (const char* old = std::getenv("ATTN_MAX_ALLOC_BYTES")) old_ = old;
    if (value) {
      setenv("ATTN_MAX_ALLOC_BYTES", value, 1);
    } else {
      unsetenv("ATTN_MAX_ALLOC_BYTES");
    }
  }
  ~EnvGuard() {
    if (old_) {
      setenv("ATTN_MAX_ALLOC_BYTES", old_->c_str(), 1);
    } else {
      unsetenv("ATTN_MAX_ALLOC_BYTES");
    }
    attn::set_max_allocation_bytes(0);
  }

 private:
  std::optional<std::string> old_;
};

// --- element counts, strides and byte counts ---

TEST(CheckedSizes, NumelOverflowIsRefusedWithShapeAndOperands) {
  const Shape huge = {int64_t{1} << 32, int64_t{1} << 32};  // 2^64 elements
  std::string message = error_of([&] { attn::shape_numel(huge); });
  EXPECT_HAS(message, "numel");
  EXPECT_HAS(message, "[4294967296, 4294967296]");
  EXPECT_HAS(message, "4294967296 * 4294967296");

  // Through the creation functions, each named.
  message = error_of([&] { attn::zeros(huge); });
  EXPECT_HAS(message, "zeros: ");
  EXPECT_HAS(message, "[4294967296, 4294967296]");
  message = error_of([&] { attn::randn({3, int64_t{1} << 62}); });  // wraps to a small number
  EXPECT_HAS(message, "randn: ");
  EXPECT_HAS(message, "overflows int64");
}

// A size of 0 counts as 1 in contiguous_strides (so a zero cannot hide an
// overflowing product), and a tensor with no elements is contiguous whatever
// its strides, as in PyTorch: fuzz_safetensors found a [5, 0] tensor that a
// reader made and is_contiguous then refused.
TEST(CheckedSizes, EmptyTensorsAreContiguous) {
  EXPECT_TRUE(attn::zeros({5, 0}).is_contiguous());
  EXPECT_TRUE(attn::zeros({0, 3, 2}).is_contiguous());
  EXPECT_TRUE(attn::zeros({2, 3}).transpose(0, 1).narrow(0, 0, 0).is_contiguous());
  EXPECT_FALSE(attn::zeros({2, 3}).transpose(0, 1).is_contiguous());
}

TEST(CheckedSizes, NegativeSizesAreRefusedByName) {
  std::string message = error_of([] { attn::empty({2, -3}); });
  EXPECT_HAS(message, "empty: negative size -3 at dim 1 of shape [2, -3]");
  message = error_of([] { attn::ones({-1}); });
  EXPECT_HAS(message, "ones: negative size -1");
  message = error_of([] { attn::shape_numel({4, -2, 0}); });  // a zero later does not hide it
  EXPECT_HAS(message, "negative size -2");
}

TEST(CheckedSizes, ByteCountOverflowIsRefused) {
  // 2^62 elements fit an int64; 2^62 * 4 bytes do not.
  const Shape shape = {int64_t{1} << 62};
  std::string message = error_of([&] { Tensor::empty(shape, attn::kFloat32, "test_op"); });
  EXPECT_HAS(message, "test_op: a tensor of shape [4611686018427387904] and dtype float32");
  EXPECT_HAS(message, "4611686018427387904 elements of 4 bytes");
  EXPECT_HAS(message, "more bytes than an int64 can count");
  message = error_of([] { attn::full({int64_t{1} << 61}, 1.0, attn::kFloat64); });
  EXPECT_HAS(message, "full: a tensor of shape [2305843009213693952] and dtype float64");
}

TEST(CheckedSizes, StrideOverflowIsRefusedEvenForAnEmptyShape) {
  // No element, so numel is 0, but the strides of dims 0 and 1 would be 2^80.
  std::string message = error_of([] { attn::empty({0, int64_t{1} << 40, int64_t{1} << 40}); });
  EXPECT_HAS(message, "[0, 1099511627776, 1099511627776]");
  EXPECT_HAS(message, "overflows int64");
  // An empty tensor with ordinary sizes is still fine.
  EXPECT_EQ(attn::empty({0, 3, 4}).numel(), 0);
  EXPECT_EQ(attn::contiguous_strides({0, 3, 4}), (Shape{12, 4, 1}));
}

// --- the allocation limit ---

TEST(AllocationLimit, RefusesBeforeTouchingMemoryAndNamesShapeBytesAndLimit) {
  LimitGuard limit(size_t{1} << 20);  // 1 MiB
  EXPECT_EQ(attn::max_allocation_bytes(), size_t{1} << 20);
  const int64_t in_use = attn::cpu_allocator_stats().bytes_in_use;
  std::string message = error_of([] { attn::randn({1000, 1000}); });  // 4,000,000 bytes
  EXPECT_HAS(message, "randn: a tensor of shape [1000, 1000] and dtype float32");
  EXPECT_HAS(message, "4000000 bytes (3.81 MiB)");
  EXPECT_HAS(message, "1048576 bytes (1.00 MiB");
  EXPECT_HAS(message, "set_max_allocation_bytes");
  EXPECT_EQ(attn::cpu_allocator_stats().bytes_in_use, in_use);  // nothing was allocated
  // Under the limit all is as before.
  EXPECT_EQ(attn::zeros({100, 100}).numel(), 10000);
  // Storage itself (for code that makes one directly) keeps the same limit.
  message = error_of([] { attn::Storage storage(size_t{2} << 20, attn::kCPU); });
  EXPECT_HAS(message, "Storage: a CPU buffer would need 2097152 bytes");
}

TEST(AllocationLimit, DefaultIsThePhysicalMemory) {
  EnvGuard env(nullptr);
  attn::set_max_allocation_bytes(0);
  const size_t physical =
      static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(attn::max_allocation_bytes(), physical);
  // One float more than the machine has: refused by name, not by the OS.
  const auto elements = static_cast<int64_t>(physical / 4 + 1);
  std::string message = error_of([&] { attn::empty({elements}); });
  EXPECT_HAS(message, "empty: a tensor of shape [" + std::to_string(elements) + "] and dtype float32");
  EXPECT_HAS(message, std::to_string(elements * 4) + " bytes");
  EXPECT_HAS(message, "physical memory");
  EXPECT_HAS(message, "ATTN_MAX_ALLOC_BYTES");
}

TEST(AllocationLimit, EnvironmentVariableSetsItAndIsValidated) {
  {
    EnvGuard env("2M");
    attn::set_max_allocation_bytes(0);  // reads the environment again
    EXPECT_EQ(attn::max_allocation_bytes(), size_t{2} << 20);
    std::string message = error_of([] { attn::empty({1 << 20}); });  // 4 MiB
    EXPECT_HAS(message, "set by ATTN_MAX_ALLOC_BYTES");
  }
  {
    EnvGuard env("3000000000");
    attn::set_max_allocation_bytes(0);
    EXPECT_EQ(attn::max_allocation_bytes(), size_t{3000000000});
  }
  {
    EnvGuard env("1GiB");
    attn::set_max_allocation_bytes(0);
    EXPECT_EQ(attn::max_allocation_bytes(), size_t{1} << 30);
  }
  for (const char* bad : {"abc", "0", "-5", "12Q", "8GG", "99999999999999999999T"}) {
    EnvGuard env(bad);
    std::string message = error_of([] { attn::set_max_allocation_bytes(0); });
    EXPECT_HAS(message, "ATTN_MAX_ALLOC_BYTES");
    EXPECT_HAS(message, std::string("got '") + bad + "'");
  }
}

TEST(AllocationLimit, StorageRefusesANegativeByteCount) {
  // A negative int64 converted to size_t: not a request for 16 EiB.
  std::string message = error_of([] { attn::Storage storage(static_cast<size_t>(-8), attn::kCPU); });
  EXPECT_HAS(message, "Storage: 18446744073709551608 bytes");
}

TEST(AllocationLimit, WhatTheSystemRefusesIsAnAttnErrorWithTheBytes) {
  // Under a limit raised out of the way, a 4 EiB request reaches the OS,
  // which cannot map it: once std::bad_alloc, now named.
  LimitGuard limit(size_t{1} << 62);
  const int64_t in_use = attn::cpu_allocator_stats().bytes_in_use;
  std::string message = error_of([] { attn::empty({int64_t{1} << 60}); });
  EXPECT_HAS(message, "Storage: the system refused 4611686018427387904 bytes (4.00 EiB)");
  EXPECT_EQ(attn::cpu_allocator_stats().bytes_in_use, in_use);  // the books still balance
  EXPECT_EQ(attn::zeros({4}).sum().item<double>(), 0.0);        // and allocation still works
}

TEST(AllocationLimit, FormatBytes) {
  EXPECT_EQ(attn::format_bytes(0), "0 bytes");
  EXPECT_EQ(attn::format_bytes(1023), "1023 bytes");
  EXPECT_EQ(attn::format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(attn::format_bytes(size_t{8} << 40), "8.00 TiB");
}

// --- views: offsets and sizes that become addresses ---

TEST(CheckedViews, NarrowWithAHugeStartIsOutOfBoundsNotAWrap) {
  Tensor x = attn::zeros({10});
  // start + length overflows int64: once it wrapped negative and passed the bounds check.
  std::string message = error_of([&] { x.narrow(0, kInt64Max, 1); });
  EXPECT_HAS(message, "narrow: ");
  EXPECT_HAS(message, "of shape [10]");
  message = error_of([&] { x.narrow(0, 4, kInt64Max); });
  EXPECT_HAS(message, "narrow: ");
  EXPECT_EQ(x.narrow(0, 10, 0).numel(), 0);  // an empty window at the end is fine
}

TEST(CheckedViews, SliceWithAHugeStepTakesOneElement) {
  Tensor x = attn::arange(10, attn::kFloat32);
  Tensor s = x.slice(0, 3, 10, kInt64Max);  // (end - start + step - 1) once overflowed
  EXPECT_EQ(s.shape(), (Shape{1}));
  EXPECT_EQ(s.item<double>(), 3.0);
  EXPECT_EQ(x.slice(0, 2, 9, 3).to_vector<float>(), (std::vector<float>{2, 5, 8}));
}

TEST(CheckedViews, MakeViewOutsideItsBufferIsRefusedInEveryBuild) {
  Tensor x = attn::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  // Off by one: the last element would be x's 7th. Once checked only in Debug.
  std::string message = error_of([&] { attn::make_view(x, {2, 3}, {3, 1}, 1); });
  EXPECT_HAS(message, "make_view: a view of shape [2, 3] strides [3, 1] offset 1 reaches outside "
                      "its buffer of 6 elements");
  message = error_of([&] { attn::make_view(x, {2}, {1}, -1); });
  EXPECT_HAS(message, "reaches outside");
  // Reach arithmetic that overflows: (2^40 - 1) * 2^40.
  message = error_of([&] {
    attn::make_view(x, {int64_t{1} << 40, 1}, {int64_t{1} << 40, 1}, 0);
  });
  EXPECT_HAS(message, "make_view: size arithmetic on shape [1099511627776, 1]");
  // The views that fit still work.
  EXPECT_EQ(attn::make_view(x, {3}, {2}, 1).to_vector<float>(), (std::vector<float>{1, 3, 5}));
}

TEST(CheckedViews, ExpandToAnOverflowingShapeIsRefused) {
  Tensor one = attn::ones({1, 1});
  std::string message = error_of([&] { one.expand({int64_t{1} << 32, int64_t{1} << 32}); });
  EXPECT_HAS(message, "[4294967296, 4294967296]");
  EXPECT_HAS(message, "overflows int64");
  // A large expand that fits is still a free view.
  EXPECT_EQ(one.expand({int64_t{1} << 20, int64_t{1} << 20}).numel(), int64_t{1} << 40);
}

TEST(CheckedViews, ReshapeToAShapeWhoseProductWrapsIsRefused) {
  // 3 * 6148914691236517206 = 2^64 + 2, which wraps to 2: once this "fit" a
  // 2-element tensor and made a view of 1.8e19 elements.
  Tensor x = attn::zeros({2});
  std::string message = error_of([&] { x.reshape({3, 6148914691236517206}); });
  EXPECT_HAS(message, "reshape: size arithmetic on shape [3, 6148914691236517206]");
  message = error_of([&] { x.view({3, 6148914691236517206}); });
  EXPECT_HAS(message, "view: ");
  // With -1, the known sizes alone overflow.
  message = error_of([&] { x.reshape({-1, int64_t{1} << 62, 8}); });
  EXPECT_HAS(message, "reshape: size arithmetic on shape [-1, 4611686018427387904, 8]");
}

TEST(CheckedViews, CatOfHugeExpandedViewsIsRefused) {
  Tensor big = attn::ones({1}).expand({int64_t{1} << 62});
  std::string message = error_of([&] { attn::cat({big, big}, 0); });
  EXPECT_HAS(message, "cat: size arithmetic");
  EXPECT_HAS(message, "4611686018427387904 + 4611686018427387904");
}

TEST(CheckedViews, MatmulWhoseBatchOverflowsIsRefused) {
  // Batch dims [2^40, 1] and [2^40] broadcast to [2^40, 2^40]: 2^80 matrices.
  Tensor a = attn::ones({1, 1, 1, 1}).expand({int64_t{1} << 40, 1, 1, 1});
  Tensor b = attn::ones({1, 1, 1}).expand({int64_t{1} << 40, 1, 1});
  std::string message = error_of([&] { attn::matmul(a, b); });
  EXPECT_HAS(message, "matmul: ");
  EXPECT_HAS(message, "[1099511627776, 1099511627776]");
}

TEST(CheckedSizes, ArangeWithAnAbsurdCountIsRefused) {
  std::string message = error_of([] { attn::arange(0.0, 1e30, 1.0); });
  EXPECT_HAS(message, "arange: ");
  message = error_of([] { attn::arange(0.0, INFINITY, 1.0); });
  EXPECT_HAS(message, "arange: ");
  // Large but countable: refused by the allocation limit, by name.
  LimitGuard limit(size_t{1} << 20);
  message = error_of([] { attn::arange(0.0, 1e12, 1.0); });
  EXPECT_HAS(message, "arange: a tensor of shape [1000000000000] and dtype int64");
  EXPECT_HAS(message, "8000000000000 bytes");
}

TEST(CheckedSizes, CpuGemmRefusesSizesBeyondCblasInt) {
  // Checked before BLAS (or any thread) sees a pointer, so null ones do here.
  const int64_t k = int64_t{1} << 31;
  std::string message = error_of([&] {
    attn::kernels::gemm<attn::Device::CPU, float>(false, false, 1, 1, 1, k, 1.0f, nullptr, k, 0,
                                                  nullptr, 1, 0, 0.0f, nullptr, 1, 0);
  });
  EXPECT_HAS(message, "gemm: K = 2147483648 does not fit CBLAS's int");
}

// --- from above: nn layers with sizes from a flag or a file ---

TEST(CheckedSizesFromNn, EmbeddingWithAHugeTableNamesShapeAndBytes) {
  // --dim-emb 100000000000 or a model file whose metadata says so. 1e11 rows
  // of 512 floats would be 186 TiB: refused before a byte is touched.
  LimitGuard limit(size_t{1} << 30);
  std::string message = error_of([] {
    attn::nn::Embedding table(attn::nn::EmbeddingOptions(100000000000, 512));
  });
  EXPECT_HAS(message, "randn: a tensor of shape [100000000000, 512] and dtype float32");
  EXPECT_HAS(message, "204800000000000 bytes (186.26 TiB)");
  // 4e9 rows does not overflow anything, and needs terabytes all the same.
  message = error_of([] {
    attn::nn::Embedding table(attn::nn::EmbeddingOptions(20, 4000000000));
  });
  EXPECT_HAS(message, "[20, 4000000000]");
  EXPECT_HAS(message, "320000000000 bytes");
}

TEST(CheckedSizesFromNn, LinearWhoseWeightCountOverflowsIsRefused) {
  // 2^32 x 2^32 weights: the count wraps to 0 without the check, and the
  // bias and the first forward then run on a buffer of nothing.
  const int64_t side = int64_t{1} << 32;
  std::string message = error_of([&] { attn::nn::Linear layer(attn::nn::LinearOptions(side, side)); });
  EXPECT_HAS(message, "[4294967296, 4294967296]");
  EXPECT_HAS(message, "overflows int64");
}

}  // namespace
