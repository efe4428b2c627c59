// bfloat16 as a dtype: the conversion against known bit patterns, round
// trips, to(dtype) both ways, printing and safetensors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include <attn/attn.h>

namespace {

using attn::BFloat16;
using attn::Tensor;

uint16_t bits_of(float value) { return attn::float_to_bfloat16_bits(value); }

TEST(BFloat16, KnownBitPatterns) {
  EXPECT_EQ(bits_of(1.0f), 0x3F80);
  EXPECT_EQ(bits_of(-2.0f), 0xC000);
  EXPECT_EQ(bits_of(0.0f), 0x0000);
  EXPECT_EQ(bits_of(-0.0f), 0x8000);
  EXPECT_EQ(bits_of(3.14159265f), 0x4049);  // 3.140625
  EXPECT_EQ(attn::bfloat16_bits_to_float(0x3F80), 1.0f);
  EXPECT_EQ(attn::bfloat16_bits_to_float(0x4049), 3.140625f);
  EXPECT_EQ(float(BFloat16::from_bits(0xC000)), -2.0f);
}

TEST(BFloat16, RoundsToNearestTiesToEven) {
  // 1 + 2^-8 lies exactly halfway between 1 (0x3F80, even) and 1 + 2^-7
  // (0x3F81, odd): the tie goes to the even one.
  EXPECT_EQ(bits_of(attn::bits_to_float(0x3F80'8000u)), 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 0x3F81 (odd) and 0x3F82 (even): up.
  EXPECT_EQ(bits_of(attn::bits_to_float(0x3F81'8000u)), 0x3F82);
  // Just above and below a half: to the nearest.
  EXPECT_EQ(bits_of(attn::bits_to_float(0x3F80'8001u)), 0x3F81);
  EXPECT_EQ(bits_of(attn::bits_to_float(0x3F80'7FFFu)), 0x3F80);
  // Negative numbers round by magnitude the same way.
  EXPECT_EQ(bits_of(attn::bits_to_float(0xBF81'8000u)), 0xBF82);
  // The largest float rounds up to infinity (it is above the largest bfloat16
  // by more than half a step), as IEEE rounding says.
  EXPECT_EQ(bits_of(std::numeric_limits<float>::max()), 0x7F80);
}

TEST(BFloat16, NaNInfinityAndDenormals) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(bits_of(inf), 0x7F80);
  EXPECT_EQ(bits_of(-inf), 0xFF80);
  // A NaN whose payload lives only in the low 16 bits would round to infinity
  // if it were rounded like a number: it must stay a NaN.
  const float low_nan = attn::bits_to_float(0x7F80'0001u);
  ASSERT_TRUE(std::isnan(low_nan));
  EXPECT_TRUE(std::isnan(float(BFloat16(low_nan))));
  EXPECT_TRUE(std::isnan(float(BFloat16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(float(BFloat16(attn::bits_to_float(0xFFFF'FFFFu)))));
  EXPECT_EQ(bits_of(attn::bits_to_float(0xFF80'0001u)) & 0x8000, 0x8000);  // sign kept
  // The largest NaN pattern does not carry into the sign bit either.
  EXPECT_EQ(bits_of(attn::bits_to_float(0x7FFF'FFFFu)), 0x7FFF);
  // Denormals: the smallest float denormal rounds to zero, a denormal with
  // bits in the high half keeps them, and a tie rounds to even.
  EXPECT_EQ(bits_of(attn::bits_to_float(0x0000'0001u)), 0x0000);
  EXPECT_EQ(bits_of(attn::bits_to_float(0x0001'0000u)), 0x0001);
  EXPECT_EQ(bits_of(attn::bits_to_float(0x0001'8000u)), 0x0002);
  EXPECT_EQ(bits_of(attn::bits_to_float(0x0000'8000u)), 0x0000);
  EXPECT_EQ(attn::bfloat16_bits_to_float(0x0001), attn::bits_to_float(0x0001'0000u));
}

TEST(BFloat16, EveryPatternRoundTripsThroughFloat) {
  // Widening is exact, so narrowing it again gives the same bits (NaNs come
  // back NaN, quiet).
  for (uint32_t raw = 0; raw <= 0xFFFF; ++raw) {
    const auto bits = static_cast<uint16_t>(raw);
    const float wide = attn::bfloat16_bits_to_float(bits);
    if (std::isnan(wide)) {
      EXPECT_TRUE(std::isnan(float(BFloat16(wide)))) << raw;
    } else {
      ASSERT_EQ(bits_of(wide), bits) << raw;
    }
  }
}

TEST(BFloat16, TensorToAndFrom) {
  Tensor x = attn::from_vector(std::vector<float>{1.0f, -2.5f, 3.14159265f, 1e-3f, 65504.0f},
                               {5});
  Tensor h = x.to(attn::kBFloat16);
  EXPECT_EQ(h.dtype(), attn::kBFloat16);
  EXPECT_EQ(attn::element_size(attn::kBFloat16), 2u);
  EXPECT_STREQ(attn::dtype_name(attn::kBFloat16), "bfloat16");
  std::vector<BFloat16> raw = h.to_vector<BFloat16>();
  EXPECT_EQ(raw[0].bits, 0x3F80);
  EXPECT_EQ(raw[2].bits, 0x4049);
  std::vector<float> back = h.to(attn::kFloat32).to_vector<float>();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -2.5f);
  EXPECT_EQ(back[2], 3.140625f);
  EXPECT_NEAR(back[3], 1e-3f, 1e-3f * 0.004f);
  EXPECT_EQ(back[4], 65536.0f);  // 65504 is between 65280 and 65536: nearer the second
  // float64 and int64 go both ways as well.
  EXPECT_EQ(h.to(attn::kFloat64).to_vector<double>()[1], -2.5);
  EXPECT_EQ(h.to(attn::kInt64).to_vector<int64_t>()[2], 3);
  EXPECT_EQ(attn::arange(3).to(attn::kBFloat16).to(attn::kFloat32).to_vector<float>(),
            (std::vector<float>{0, 1, 2}));
  // Round trip float -> bfloat16 -> float -> bfloat16 is stable.
  Tensor r = attn::randn({64});
  Tensor once = r.to(attn::kBFloat16).to(attn::kFloat32);
  EXPECT_EQ(once.to(attn::kBFloat16).to(attn::kFloat32).to_vector<float>(),
            once.to_vector<float>());
  // The error of the cast is at most half a step, 2^-8 of the value's power of two.
  std::vector<float> a = r.to_vector<float>(), b = once.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LE(std::fabs(a[i] - b[i]), std::fabs(a[i]) / 256);
}

TEST(BFloat16, CopiesViewsAndFills) {
  Tensor h = attn::arange(6).to(attn::kBFloat16).reshape({2, 3});
  Tensor t = h.t().contiguous();  // a strided copy
  EXPECT_EQ(t.to(attn::kFloat32).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor z = attn::zeros({2, 2}, attn::kBFloat16);
  z.fill_(0.5);
  EXPECT_EQ(z.to(attn::kFloat32).to_vector<float>(), (std::vector<float>{0.5, 0.5, 0.5, 0.5}));
  EXPECT_DOUBLE_EQ(attn::full({}, 1.5, attn::kBFloat16).item(), 1.5);
  // Gradients flow through the casts and come back float32.
  Tensor w = attn::ones({3}).requires_grad_();
  w.to(attn::kBFloat16).to(attn::kFloat32).sum().backward();
  EXPECT_EQ(w.grad().dtype(), attn::kFloat32);
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1, 1, 1}));
}

TEST(BFloat16, OtherOpsRefuseItByName) {
  Tensor h = attn::ones({2}, attn::kBFloat16);
  try {
    (void)(h + h);
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
  }
}

TEST(BFloat16, Prints) {
  Tensor h = attn::from_vector(std::vector<float>{1.0f, 3.14159265f}, {2}).to(attn::kBFloat16);
  std::string text = h.to_string();
  EXPECT_NE(text.find("dtype=bfloat16"), std::string::npos) << text;
  EXPECT_NE(text.find("3.1406"), std::string::npos) << text;
  EXPECT_NE(h.debug_string().find("bfloat16"), std::string::npos);
}

TEST(BFloat16, SafetensorsRoundTrip) {
  const std::string path = ::testing::TempDir() + "bf16_test.safetensors";
  Tensor x = attn::randn({3, 4}).to(attn::kBFloat16);
  attn::save_safetensors(path, {{"w", x}});
  // The header names the dtype as the format does.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string head(200, '\0');
  head.resize(std::fread(head.data(), 1, head.size(), f));
  std::fclose(f);
  EXPECT_NE(head.find("\"BF16\""), std::string::npos) << head;
  attn::SafetensorsFile loaded = attn::load_safetensors(path);
  Tensor y = loaded.tensors.at("w");
  EXPECT_EQ(y.dtype(), attn::kBFloat16);
  EXPECT_EQ(y.shape(), (attn::Shape{3, 4}));
  std::vector<BFloat16> a = x.to_vector<BFloat16>(), b = y.to_vector<BFloat16>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].bits, b[i].bits);
  std::remove(path.c_str());
}

}  // namespace
