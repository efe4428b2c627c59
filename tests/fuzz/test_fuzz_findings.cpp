// What fuzzing found, one test per finding, with the message each now gives.
//
// The crashing inputs themselves sit in tests/fuzz/corpus/NAME/regress_*,
// replayed by the fuzz_replay_NAME tests; these tests say in words what the
// reader must do instead, so that a regression reads as a broken promise, not
// as a crash dump. (tests/fuzz/README.md lists the findings.)
#include <gtest/gtest.h>
#include <unistd.h>  // truncate

#include <cmath>
#include <cstdint>
#include <string>

#include "../data/test_helpers.h"
#include "data/vocab.h"
#include "tensor/json.h"
#include "tensor/safetensors.h"
#include "train/plot/curve.h"

namespace {

using attn_data_test::contains;
using attn_data_test::error_of;
using attn_data_test::TempDir;

// A safetensors file: the 8-byte header length, the header, the data.
std::string safetensors_bytes(const std::string& header, const std::string& data = "",
                              uint64_t length_field = UINT64_MAX) {
  const uint64_t length = length_field == UINT64_MAX ? header.size() : length_field;
  std::string out(8, '\0');
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>(length >> (8 * k));
  return out + header + data;
}

// fuzz_vocab: a lone "\r" inside a line reached the Vocab constructor, whose
// message named no file ("Vocab: id 4 is a token with a line break").
TEST(FuzzFindings, VocabTokenWithACarriageReturnNamesFileAndLine) {
  TempDir dir;
  const std::string path = dir.write("v.vocab", "<pad>\n<unk>\n<s>\n</s>\na\rb\n");
  const std::string message = error_of([&] { attn::data::Vocab::load(path); });
  EXPECT_TRUE(contains(message, path + ":5 (id 4)")) << message;
  EXPECT_TRUE(contains(message, "line break")) << message;
}

// fuzz_safetensors: a shape with a zero size holds no bytes, so the byte
// count passed, but the strides of [0, 2^40, 2^40] overflow int64 (UBSan:
// signed overflow in contiguous_strides). The shape is refused by name.
TEST(FuzzFindings, SafetensorsShapeWhoseStridesOverflowIsRefused) {
  TempDir dir;
  const std::string path = dir.write(
      "z.safetensors",
      safetensors_bytes(R"({"z":{"dtype":"F64","shape":[0,1099511627776,1099511627776],)"
                        R"("data_offsets":[0,0]}})"));
  const std::string message = error_of([&] { attn::load_safetensors(path); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "shape [0, 1099511627776, 1099511627776], too large")) << message;
  EXPECT_TRUE(contains(message, "8 bytes an element")) << message;
  // The same sizes without the zero, and a zero-size tensor that fits, as before.
  const std::string fits = dir.write(
      "f.safetensors",
      safetensors_bytes(R"({"z":{"dtype":"F32","shape":[0,1099511627776],"data_offsets":[0,0]}})"));
  EXPECT_EQ(attn::load_safetensors(fits).tensors.at("z").shape(), (attn::Shape{0, 1099511627776}));
}

TEST(FuzzFindings, SafetensorsRefusesMoreDimsThanTheKernelsTake) {
  TempDir dir;
  const std::string path = dir.write(
      "n.safetensors",
      safetensors_bytes(R"({"n":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})",
                        std::string(4, '\0')));
  const std::string message = error_of([&] { attn::load_safetensors(path); });
  EXPECT_TRUE(contains(message, path + ": tensor 'n' has 9 dims; attn's tensors have at most 8"))
      << message;
}

// Not a fuzz finding (a fuzzer's inputs are kilobytes): a header length the
// file does hold, but beyond the reference implementation's 100 MB cap, is
// refused before 100 MB are allocated and parsed. The file is sparse.
TEST(FuzzFindings, SafetensorsHeaderOverTheCapIsRefusedBeforeReading) {
  TempDir dir;
  const uint64_t length = 100'000'001;
  const std::string path = dir.write("big.safetensors", safetensors_bytes("{}", "", length));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(8 + length)), 0);
  const std::string message = error_of([&] { attn::load_safetensors(path); });
  EXPECT_TRUE(contains(message, path + ": the header length 100000001 is larger than the "
                                       "100000000 bytes"))
      << message;
}

// fuzz_metrics: a number beyond a double's range made std::stod throw
// std::out_of_range, whose message is "stod".
TEST(FuzzFindings, MetricsNumberBeyondADoubleNamesFileLineAndKey) {
  TempDir dir;
  const std::string path = dir.write(
      "m.metrics.jsonl",
      "{\"kind\":\"train\",\"update\":1,\"loss\":2}\n"
      "{\"kind\":\"train\",\"update\":2,\"loss\":1e999}\n");
  const std::string message = error_of([&] { attn::plot::read_metrics_log(path); });
  EXPECT_TRUE(contains(message, path + ":2")) << message;
  EXPECT_TRUE(contains(message, "\"loss\" is 1e999")) << message;
}

// fuzz_metrics (150 s into its ten-minute run): an exact match of 4e307 is
// finite, but as a percent (x 100) it is infinity, which reached the plot.
TEST(FuzzFindings, MetricsScoreBeyondADoubleAsAPercentIsNamed) {
  TempDir dir;
  const std::string path =
      dir.write("s.metrics.jsonl",
                "{\"kind\":\"valid\",\"update\":1,\"loss\":1,\"exact_match\":0.411e308}\n");
  const std::string message = error_of([&] { attn::plot::read_metrics_log(path); });
  EXPECT_TRUE(contains(message, path + ":1: \"exact_match\" is 4.11e+307, beyond the range"))
      << message;
}

// Found by reading what fuzz_metrics reaches, confirmed by UBSan: losses of
// -1.7e308 and 1.7e308 are finite, but the axis between them is not, and the
// tick exponent became a float-to-int conversion of infinity (undefined).
TEST(FuzzFindings, CurveWhoseRangeOverflowsIsRefusedNotUndefined) {
  TempDir dir;
  const std::string path = dir.write("r.metrics.jsonl",
                                     "{\"kind\":\"train\",\"update\":1,\"loss\":1.7e308}\n"
                                     "{\"kind\":\"train\",\"update\":2,\"loss\":-1.7e308}\n");
  const attn::plot::MetricsLog log = attn::plot::read_metrics_log(path);
  const std::string message = error_of([&] { attn::plot::training_curve(log); });
  EXPECT_TRUE(contains(message, "nice_ticks: the range [-1.7e+308, 1.7e+308] is wider than a "
                                "double can hold"))
      << message;
}

// Found by fuzz_metrics in ctest's 15-second run (after the merge of issue
// 15's branches): updates 0 and 1e-323 give an axis whose step, a tenth of a
// subnormal, rounds to 0, and the tick exponent became int(-inf) (undefined).
TEST(FuzzFindings, CurveOverASubnormalRangeIsDrawnNotUndefined) {
  const attn::plot::Ticks ticks = attn::plot::nice_ticks(0, 1e-323, 6);
  EXPECT_TRUE(std::isfinite(ticks.step) && ticks.step > 0) << ticks.step;
  EXPECT_LE(ticks.low, 0.0);
  EXPECT_GE(ticks.high, 1e-323);
}

// Found by reading, not by the fuzzer: duplicate keys were found by scanning
// every earlier member, n^2 / 2 comparisons for n keys. Still refused, at the
// second one's offset, however far apart.
TEST(FuzzFindings, JsonDuplicateKeysFoundAmongManyKeys) {
  std::string text = "{";
  for (int i = 0; i < 20000; ++i) {
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  }
  const size_t offset = text.size();
  text += "\"k7\":0}";
  const std::string message = error_of([&] { attn::json::parse(text, "many.json"); });
  EXPECT_TRUE(contains(message, "many.json at byte " + std::to_string(offset) +
                                    ": the key 'k7' appears twice"))
      << message;
  text[offset + 2] = 'x';  // "kx": no duplicate
  EXPECT_EQ(attn::json::parse(text, "many.json").members.size(), 20001u);
}

}  // namespace
