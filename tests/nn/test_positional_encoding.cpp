// Positional encoding (nn/positional_encoding.h):
//   - the sinusoid table against section 3.5's formula, worked out by hand
//     for d_model = 4, and the shape of a large-d_model row;
//   - float32 and float64 tables agree (both computed in double);
//   - the relative-position property the paper chose sinusoids for: PE(pos+k)
//     is the same rotation of PE(pos) in each frequency pair, whatever pos;
//   - forward adds the right rows, honours offset, and steps one at a time
//     exactly as a whole sentence;
//   - the learned table is one parameter and gets gradient only where used;
//   - bad sizes are refused with messages that name them.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "golden_fixture.h"
#include "nn/positional_encoding.h"
#include "nn_test_util.h"

namespace {

using attn_test::error_of;
using attn_test::values_of;
using attn_test::max_diff;

using attn::Tensor;
namespace nn = attn::nn;

// --- the table ------------------------------------------------------------------------

TEST(PositionalEncodingTable, HandComputedDModel4) {
  // d_model = 4: two frequencies, w_0 = 10000^(-0/4) = 1 and
  // w_1 = 10000^(-2/4) = 1/100. Columns: sin(pos), cos(pos), sin(pos/100), cos(pos/100).
  const std::vector<double> expected = {
      // pos 0: sin(0), cos(0), sin(0), cos(0)
      0.0, 1.0, 0.0, 1.0,
      // pos 1: PE(1,0) = sin(1), PE(1,1) = cos(1), PE(1,2) = sin(1/100), PE(1,3) = cos(1/100)
      0.8414709848078965, 0.5403023058681398, 0.009999833334166664, 0.9999500004166653,
      // pos 2: PE(2,0) = sin(2), PE(2,1) = cos(2), PE(2,2) = sin(2/100), PE(2,3) = cos(2/100)
      0.9092974268256817, -0.4161468365471424, 0.01999866669333308, 0.9998000066665778,
  };
  Tensor table = nn::sinusoidal_positions(3, 4, attn::kFloat64);
  ASSERT_EQ(table.shape(), attn::Shape({3, 4}));
  std::vector<double> got = values_of(table);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-15) << i;
}

TEST(PositionalEncodingTable, PositionZeroIsSinZeroCosZero) {
  // sin(0) = 0 on every even dim, cos(0) = 1 on every odd dim.
  std::vector<double> row = values_of(nn::sinusoidal_positions(1, 64, attn::kFloat64));
  for (size_t j = 0; j < row.size(); ++j) EXPECT_EQ(row[j], j % 2 == 0 ? 0.0 : 1.0) << j;
}

TEST(PositionalEncodingTable, Float32MatchesFloat64) {
  Tensor f64 = nn::sinusoidal_positions(200, 32, attn::kFloat64);
  Tensor f32 = nn::sinusoidal_positions(200, 32);  // default dtype
  EXPECT_EQ(f64.dtype(), attn::kFloat64);
  EXPECT_EQ(f32.dtype(), attn::kFloat32);
  // Both come from the same doubles; float32 only rounds once (half an ulp of 1 ~ 6e-8).
  EXPECT_LT(max_diff(f32, f64), 1e-7);
}

TEST(PositionalEncodingTable, LastDimsOfLargeDModelHaveVeryLongWavelength) {
  // d_model = 512: the last pair has w_255 = 10000^(-510/512) ~ 1.04e-4, a
  // wavelength of ~60000 positions, so at pos 100 it has barely moved from
  // [sin 0, cos 0] = [0, 1], while the first pair (w_0 = 1) is at sin(100), cos(100).
  std::vector<double> row = values_of(nn::sinusoidal_positions(101, 512, attn::kFloat64)
                                          .narrow(0, 100, 1));
  const double w_last = std::pow(10000.0, -510.0 / 512.0);
  EXPECT_NEAR(row[510], std::sin(100 * w_last), 1e-12);
  EXPECT_NEAR(row[510], 0.0, 0.011);
  EXPECT_NEAR(row[511], 1.0, 1e-4);
  EXPECT_NEAR(row[0], std::sin(100.0), 1e-12);
  EXPECT_NEAR(row[1], std::cos(100.0), 1e-12);
}

TEST(PositionalEncodingTable, ShiftByKIsTheSameRotationAtEveryPosition) {
  // Section 3.5: for each pair (2i, 2i+1) with frequency w,
  //   PE(pos+k, 2i)   =  cos(wk) PE(pos, 2i) + sin(wk) PE(pos, 2i+1)   (sin(a+b))
  //   PE(pos+k, 2i+1) = -sin(wk) PE(pos, 2i) + cos(wk) PE(pos, 2i+1)   (cos(a+b))
  // The matrix depends on k and w only, not on pos: a fixed linear map.
  const int64_t D = 16, k = 5;
  std::vector<double> table = values_of(nn::sinusoidal_positions(64, D, attn::kFloat64));
  auto pe = [&](int64_t pos, int64_t j) { return table[static_cast<size_t>(pos * D + j)]; };
  for (int64_t pos : {0, 7, 40}) {
    for (int64_t i = 0; i < D / 2; ++i) {
      const double w = std::pow(10000.0, -2.0 * static_cast<double>(i) / D);
      const double c = std::cos(w * k), s = std::sin(w * k);
      const double even = pe(pos, 2 * i), odd = pe(pos, 2 * i + 1);
      EXPECT_NEAR(pe(pos + k, 2 * i), c * even + s * odd, 1e-12) << pos << " " << i;
      EXPECT_NEAR(pe(pos + k, 2 * i + 1), -s * even + c * odd, 1e-12) << pos << " " << i;
    }
  }
}

// --- the module -----------------------------------------------------------------------

TEST(PositionalEncodingModule, DefaultsAreThePapers) {
  nn::PositionalEncodingOptions options(512);
  EXPECT_EQ(options.max_length, 5000);
  EXPECT_DOUBLE_EQ(options.dropout, 0.1);  // P_drop, section 5.4
  EXPECT_FALSE(options.learned);
  nn::PositionalEncoding positions(options);
  EXPECT_TRUE(positions.parameters().empty());  // the sinusoids are not trained
  EXPECT_EQ(positions.table().shape(), attn::Shape({5000, 512}));
}

TEST(PositionalEncodingModule, ForwardAddsTheRowsAtOffset) {
  attn::manual_seed(1);
  nn::PositionalEncoding positions(nn::PositionalEncodingOptions(8).set_max_length(20));
  positions.eval();  // dropout off
  Tensor x = attn::randn({2, 3, 8});
  Tensor table = nn::sinusoidal_positions(20, 8);
  Tensor rows_0 = table.narrow(0, 0, 3).unsqueeze(0).expand({2, 3, 8});  // (B, T, D)
  Tensor rows_5 = table.narrow(0, 5, 3).unsqueeze(0).expand({2, 3, 8});
  EXPECT_LT(max_diff(positions.forward(x), x + rows_0), 1e-6);
  EXPECT_LT(max_diff(positions.forward(x, 5), x + rows_5), 1e-6);
  // The last rows fit exactly: offset 17 + T 3 = max_length 20.
  EXPECT_EQ(positions.forward(x, 17).shape(), attn::Shape({2, 3, 8}));
}

TEST(PositionalEncodingModule, StepByStepEqualsWholeSentence) {
  // Incremental decoding feeds (B, 1, D) at offset t; it must see position t.
  attn::manual_seed(2);
  nn::PositionalEncoding positions(nn::PositionalEncodingOptions(6).set_dropout(0.0));
  Tensor x = attn::randn({2, 4, 6});
  Tensor whole = positions.forward(x);  // training mode, but p = 0
  for (int64_t t = 0; t < 4; ++t) {
    Tensor step = positions.forward(x.narrow(1, t, 1), t);
    EXPECT_LT(max_diff(step, whole.narrow(1, t, 1)), 1e-7) << t;
  }
}

TEST(PositionalEncodingModule, Float64InputGetsFloat64Positions) {
  nn::PositionalEncoding positions(nn::PositionalEncodingOptions(4).set_dropout(0.0));
  Tensor x = attn::zeros({1, 3, 4}, attn::kFloat64);
  Tensor y = positions.forward(x);
  EXPECT_EQ(y.dtype(), attn::kFloat64);
  EXPECT_NEAR(values_of(y)[5], std::cos(1.0), 1e-15);  // PE(1, 1), exact in float64
}

TEST(PositionalEncodingLearned, OneParameterAndGradientOnlyInUsedRows) {
  attn::manual_seed(3);
  nn::PositionalEncoding positions(
      nn::PositionalEncodingOptions(6).set_max_length(10).set_learned(true).set_dropout(0.0));
  auto named = positions.named_parameters();
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[0].second.shape(), attn::Shape({10, 6}));

  Tensor x = attn::randn({2, 3, 6});
  positions.forward(x, 4).sum().backward();
  // d sum / d PE[r] = number of batch rows it was added to (B = 2) for the
  // used rows 4, 5, 6, and nothing reaches the rows not used.
  std::vector<double> grad = values_of(positions.weight.grad());
  for (int64_t r = 0; r < 10; ++r) {
    const double expected = (r >= 4 && r < 7) ? 2.0 : 0.0;
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(grad[static_cast<size_t>(r * 6 + j)], expected);
  }
}

TEST(PositionalEncodingLearned, InitialisedWithStd002) {
  attn::manual_seed(4);
  nn::PositionalEncoding positions(
      nn::PositionalEncodingOptions(64).set_max_length(1000).set_learned(true));
  std::vector<double> w = values_of(positions.weight);
  double sum = 0, squares = 0;
  for (double v : w) sum += v, squares += v * v;
  const double n = static_cast<double>(w.size());
  EXPECT_NEAR(sum / n, 0.0, 0.001);
  EXPECT_NEAR(std::sqrt(squares / n - (sum / n) * (sum / n)), 0.02, 0.001);
}

// --- errors ---------------------------------------------------------------------------

TEST(PositionalEncodingErrors, NamedWithTheirSizes) {
  std::string odd = error_of([] { nn::sinusoidal_positions(4, 5); });
  EXPECT_NE(odd.find("sinusoidal_positions"), std::string::npos) << odd;
  EXPECT_NE(odd.find("d_model = 5"), std::string::npos) << odd;
  std::string odd_module =
      error_of([] { nn::PositionalEncoding p(nn::PositionalEncodingOptions(7)); });
  EXPECT_NE(odd_module.find("d_model = 7"), std::string::npos) << odd_module;

  nn::PositionalEncoding positions(nn::PositionalEncodingOptions(8).set_max_length(10));
  std::string too_long = error_of([&] { positions.forward(attn::zeros({1, 4, 8}), 7); });
  EXPECT_NE(too_long.find("PositionalEncoding"), std::string::npos) << too_long;
  EXPECT_NE(too_long.find("offset 7"), std::string::npos) << too_long;
  EXPECT_NE(too_long.find("T 4"), std::string::npos) << too_long;
  EXPECT_NE(too_long.find("max_length 10"), std::string::npos) << too_long;

  std::string wrong_dim = error_of([&] { positions.forward(attn::zeros({2, 3, 5})); });
  EXPECT_NE(wrong_dim.find("d_model = 8"), std::string::npos) << wrong_dim;
  EXPECT_NE(wrong_dim.find("[2, 3, 5]"), std::string::npos) << wrong_dim;
  std::string not_3d = error_of([&] { positions.forward(attn::zeros({3, 8})); });
  EXPECT_NE(not_3d.find("[3, 8]"), std::string::npos) << not_3d;
}

}  // namespace
