// Tests for the CPU index_select / index_add kernels, and determinism tests
// for every row-wise kernel (reductions, softmax, layer norm, cross-entropy,
// index_select / index_add).
//
// index_select is checked element by element against the source it copies;
// index_add against a serial loop in the same type, bit for bit, with repeated
// indices, a skipped index and a destination that is added to, not cleared.
// Then the promise that results do not depend on how work is split: large
// runs with 1, 3 and 7 threads must agree bit for bit, and a batch of rows
// must give the same bytes as one call per row.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "tests/kernels/kernel_test_util.h"
#include "kernels/cross_entropy.h"
#include "kernels/index.h"
#include "kernels/layer_norm.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"

namespace attn_test {
namespace {

namespace kernels = attn::kernels;
using attn::Device;

// --- index_select / index_add ------------------------------------------------

template <typename T>
class IndexKernels : public ::testing::Test {};
using IndexTypes = ::testing::Types<float, double, int64_t>;
TYPED_TEST_SUITE(IndexKernels, IndexTypes);

struct IndexCase {
  int64_t outer, src_n, inner, index_n;
};
const std::vector<IndexCase> kIndexCases = {
    {1, 5, 3, 4},     {3, 6, 4, 8},        {2, 7, 1, 5}, {1, 1, 1, 3},
    {2, 4, 2, 0},     {1, 1000, 512, 512},  // an embedding lookup big enough to go parallel
    {64, 50, 8, 100},
};

std::vector<int64_t> make_index(int64_t index_n, int64_t src_n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, src_n - 1);
  std::vector<int64_t> index(static_cast<size_t>(index_n));
  for (auto& v : index) v = dist(gen);  // repeats are likely: src rows picked twice
  return index;
}

TYPED_TEST(IndexKernels, IndexSelectMatchesReference) {
  using T = TypeParam;
  for (const auto& c : kIndexCases) {
    SCOPED_TRACE(::testing::Message() << "outer " << c.outer << " src_n " << c.src_n << " inner "
                                      << c.inner << " index_n " << c.index_n);
    std::vector<T> src(static_cast<size_t>(c.outer * c.src_n * c.inner));
    for (size_t e = 0; e < src.size(); ++e) src[e] = static_cast<T>(e * 7 % 1001);
    const auto index = make_index(c.index_n, c.src_n, 29);
    std::vector<T> out(static_cast<size_t>(c.outer * c.index_n * c.inner), T(-1));
    kernels::index_select<Device::CPU>(src.data(), c.outer, c.src_n, c.inner, index.data(),
                                       c.index_n, out.data());
    for (int64_t o = 0; o < c.outer; ++o)
      for (int64_t j = 0; j < c.index_n; ++j)
        for (int64_t i = 0; i < c.inner; ++i)
          ASSERT_EQ(out[(o * c.index_n + j) * c.inner + i],
                    src[(o * c.src_n + index[j]) * c.inner + i])
              << "o " << o << " j " << j << " i " << i;
  }
}

TYPED_TEST(CpuKernels, IndexAddMatchesReference) {
  using T = TypeParam;
  std::vector<IndexCase> cases = kIndexCases;
  cases.push_back({1, 1000, 64, 4096});  // many repeats per dst row, parallel
  for (const auto& c : cases) {
    for (int64_t skip : {int64_t(-1), int64_t(2)}) {
      SCOPED_TRACE(::testing::Message() << "outer " << c.outer << " dst_n " << c.src_n << " inner "
                                        << c.inner << " index_n " << c.index_n << " skip " << skip);
      const auto grad = random_vector<T>(c.outer * c.index_n * c.inner, -1, 1, 30);
      auto index = make_index(c.index_n, c.src_n, 31);
      if (c.index_n > 1) index[1] = 2 < c.src_n ? 2 : 0;  // make sure skip matters
      // dst is not cleared: start from nonzero values.
      const auto initial = random_vector<T>(c.outer * c.src_n * c.inner, -1, 1, 32);
      std::vector<T> dst = initial;
      kernels::index_add<Device::CPU>(grad.data(), c.outer, c.index_n, c.inner, index.data(), skip,
                                      c.src_n, dst.data());

      // Serial loop in T, adds in order of j: must match bit for bit.
      std::vector<T> serial = initial;
      std::vector<double> expected = to_double(initial);
      for (int64_t o = 0; o < c.outer; ++o)
        for (int64_t j = 0; j < c.index_n; ++j) {
          if (index[j] == skip) continue;
          for (int64_t i = 0; i < c.inner; ++i) {
            const int64_t to = (o * c.src_n + index[j]) * c.inner + i;
            const int64_t from = (o * c.index_n + j) * c.inner + i;
            serial[to] += grad[from];
            expected[to] += static_cast<double>(grad[from]);
          }
        }
      EXPECT_TRUE(bit_equal(dst, serial));
      EXPECT_TRUE(all_close(dst, expected, 10 * Tolerance<T>::value));
      if (skip == 2 && c.src_n > 2) {
        // The skipped dst row is untouched.
        for (int64_t o = 0; o < c.outer; ++o)
          for (int64_t i = 0; i < c.inner; ++i) {
            const int64_t e = (o * c.src_n + 2) * c.inner + i;
            ASSERT_EQ(dst[e], initial[e]);
          }
      }
    }
  }
}

// --- determinism -------------------------------------------------------------

// Every kernel at a parallel size, run with 1, 3 and 7 threads: the bytes must
// be identical (each output has one owner and a fixed order of terms).
TEST(CpuKernelChecks, ResultsDoNotDependOnThreadCount) {
  const int64_t rows = 512, cols = 512;
  const auto x = random_vector<float>(rows * cols, -4, 4, 40);
  const auto dy = random_vector<float>(rows * cols, -1, 1, 41);
  const auto gamma = random_vector<float>(cols, 0.5, 1.5, 42);
  const auto beta = random_vector<float>(cols, -1, 1, 43);
  const auto big = random_vector<float>(3 * 70000, -1, 1, 44);
  const CrossEntropyCase ce{rows, cols, -100, 0.1};
  const auto target = make_targets(ce, 45);
  const auto row_grad = random_vector<float>(rows, 0.1, 1, 46);
  const auto index = make_index(4096, 1000, 47);
  const auto grad = random_vector<float>(4096 * 64, -1, 1, 48);

  auto run_all = [&]() {
    std::vector<std::vector<float>> outs;
    std::vector<int64_t> argmax(cols);
    outs.emplace_back(rows);
    kernels::sum_reduce<Device::CPU>(x.data(), rows, cols, 1, outs.back().data());
    outs.emplace_back(cols);
    kernels::sum_reduce<Device::CPU>(x.data(), 1, rows, cols, outs.back().data());
    outs.emplace_back(3);
    kernels::sum_reduce<Device::CPU>(big.data(), 3, 70000, 1, outs.back().data());
    outs.emplace_back(cols);
    kernels::max_reduce<Device::CPU>(x.data(), 1, rows, cols, outs.back().data(), argmax.data());
    outs.emplace_back(std::vector<float>(argmax.begin(), argmax.end()));
    for (bool log : {false, true}) {
      std::vector<float> y(x.size()), dx(x.size()), y2(x.size());
      kernels::softmax_forward<Device::CPU>(x.data(), rows, cols, 1, log, y.data());
      kernels::softmax_backward<Device::CPU>(y.data(), dy.data(), rows, cols, 1, log, dx.data());
      kernels::softmax_forward<Device::CPU>(x.data(), 4, rows / 4, cols, log, y2.data());
      outs.push_back(y);
      outs.push_back(dx);
      outs.push_back(y2);
    }
    std::vector<float> y(x.size()), mean(rows), rstd(rows), dx(x.size()), dg(cols), db(cols);
    kernels::layer_norm_forward<Device::CPU>(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f,
                                             y.data(), mean.data(), rstd.data());
    kernels::layer_norm_backward<Device::CPU>(dy.data(), x.data(), gamma.data(), mean.data(),
                                              rstd.data(), rows, cols, dx.data(), dg.data(),
                                              db.data());
    outs.insert(outs.end(), {y, mean, rstd, dx, dg, db});
    std::vector<float> loss(rows), lse(rows), dlogits(x.size());
    kernels::cross_entropy_forward<Device::CPU>(x.data(), target.data(), rows, cols, -100, 0.1f,
                                                loss.data(), lse.data());
    kernels::cross_entropy_backward<Device::CPU>(x.data(), target.data(), lse.data(),
                                                 row_grad.data(), rows, cols, -100, 0.1f,
                                                 dlogits.data());
    outs.insert(outs.end(), {loss, lse, dlogits});
    std::vector<float> table(1000 * 64, 0.5f);
    kernels::index_add<Device::CPU>(grad.data(), 1, 4096, 64, index.data(), 7, 1000, table.data());
    outs.push_back(table);
    return outs;
  };

  std::vector<std::vector<float>> one, three, seven;
  with_threads(1, [&] { one = run_all(); });
  with_threads(3, [&] { three = run_all(); });
  with_threads(7, [&] { seven = run_all(); });
  ASSERT_EQ(one.size(), three.size());
  ASSERT_EQ(one.size(), seven.size());
  for (size_t k = 0; k < one.size(); ++k) {
    EXPECT_TRUE(bit_equal(one[k], three[k])) << "output " << k << ", 3 threads";
    EXPECT_TRUE(bit_equal(one[k], seven[k])) << "output " << k << ", 7 threads";
  }
}

// A batch of rows (split between threads) must give the same bytes as one
// call per row (each too small to be split): how rows are grouped into work
// items must not change any row's result. Unlike the test above, this needs
// no OpenMP API, so it runs in every build.
TEST(CpuKernelChecks, BatchEqualsRowByRow) {
  const int64_t rows = 512, cols = 512;
  const auto x = random_vector<float>(rows * cols, -4, 4, 50);
  const auto dy = random_vector<float>(rows * cols, -1, 1, 51);
  const auto gamma = random_vector<float>(cols, 0.5, 1.5, 52);
  const auto beta = random_vector<float>(cols, -1, 1, 53);
  const CrossEntropyCase ce{rows, cols, -100, 0.1};
  const auto target = make_targets(ce, 54);
  const auto row_grad = random_vector<float>(rows, 0.1, 1, 55);
  const auto index = make_index(rows, 1000, 56);
  const auto table = random_vector<float>(1000 * cols, -1, 1, 57);

  // Runs kernel(first_row, row_count, ...) once on all rows, then row by row.
  auto check = [&](const char* name, size_t row_width,
                   const std::function<void(int64_t, int64_t, std::vector<float>&)>& kernel) {
    std::vector<float> batch(rows * row_width), single(rows * row_width);
    kernel(0, rows, batch);
    for (int64_t r = 0; r < rows; ++r) kernel(r, 1, single);
    EXPECT_TRUE(bit_equal(batch, single)) << name;
  };
  const int64_t n = cols;
  check("sum_reduce", 1, [&](int64_t r, int64_t count, std::vector<float>& out) {
    kernels::sum_reduce<Device::CPU>(x.data() + r * n, count, n, 1, out.data() + r);
  });
  check("max_reduce", 2, [&](int64_t r, int64_t count, std::vector<float>& out) {
    std::vector<int64_t> arg(count);
    kernels::max_reduce<Device::CPU>(x.data() + r * n, count, n, 1, out.data() + r, arg.data());
    for (int64_t k = 0; k < count; ++k) out[rows + r + k] = static_cast<float>(arg[k]);
  });
  for (bool log : {false, true}) {
    check(log ? "log_softmax" : "softmax", n,
          [&](int64_t r, int64_t count, std::vector<float>& out) {
            kernels::softmax_forward<Device::CPU>(x.data() + r * n, count, n, 1, log,
                                                  out.data() + r * n);
          });
    check(log ? "log_softmax backward" : "softmax backward", n,
          [&](int64_t r, int64_t count, std::vector<float>& out) {
            // x stands in for y: the kernel does not care where y came from.
            kernels::softmax_backward<Device::CPU>(x.data() + r * n, dy.data() + r * n, count, n, 1,
                                                   log, out.data() + r * n);
          });
  }
  check("layer_norm", n + 2, [&](int64_t r, int64_t count, std::vector<float>& out) {
    float* mean = out.data() + rows * n + r;
    float* rstd = out.data() + rows * (n + 1) + r;
    kernels::layer_norm_forward<Device::CPU>(x.data() + r * n, gamma.data(), beta.data(), count, n,
                                             1e-5f, out.data() + r * n, mean, rstd);
  });
  std::vector<float> mean(rows), rstd(rows), y(rows * n);
  kernels::layer_norm_forward<Device::CPU>(x.data(), gamma.data(), beta.data(), rows, n, 1e-5f,
                                           y.data(), mean.data(), rstd.data());
  check("layer_norm backward dx", n, [&](int64_t r, int64_t count, std::vector<float>& out) {
    kernels::layer_norm_backward<Device::CPU>(
        dy.data() + r * n, x.data() + r * n, gamma.data(), mean.data() + r, rstd.data() + r, count,
        n, out.data() + r * n, static_cast<float*>(nullptr), static_cast<float*>(nullptr));
  });
  std::vector<float> loss(rows), lse(rows);
  kernels::cross_entropy_forward<Device::CPU>(x.data(), target.data(), rows, n, -100, 0.1f,
                                              loss.data(), lse.data());
  check("cross_entropy", 2, [&](int64_t r, int64_t count, std::vector<float>& out) {
    kernels::cross_entropy_forward<Device::CPU>(x.data() + r * n, target.data() + r, count, n, -100,
                                                0.1f, out.data() + r, out.data() + rows + r);
  });
  check("cross_entropy backward", n, [&](int64_t r, int64_t count, std::vector<float>& out) {
    kernels::cross_entropy_backward<Device::CPU>(x.data() + r * n, target.data() + r,
                                                 lse.data() + r, row_grad.data() + r, count, n,
                                                 -100, 0.1f, out.data() + r * n);
  });
  check("index_select", n, [&](int64_t r, int64_t count, std::vector<float>& out) {
    kernels::index_select<Device::CPU>(table.data(), 1, 1000, n, index.data() + r, count,
                                       out.data() + r * n);
  });
}

}  // namespace
}  // namespace attn_test
