// Pictures drawn by attn itself: the metrics log read into series, round
// axis ticks, the training curve, the attention heatmap and the grid of a
// layer's heads as SVG (counted shape by shape), and PNG where attn was built
// with librsvg.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "autograd/ops.h"
#include "tensor/creation.h"
#include "kernels/error.h"
#include "train/plot/canvas.h"
#include "train/plot/curve.h"
#include "train/plot/heatmap.h"
#include "train/plot/line_chart.h"
#ifdef ATTN_WITH_PNG
#include "train/plot/png.h"
#endif

namespace attn::plot {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class CurveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("attn_test_curve_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// How often `needle` occurs in `text`.
int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The points="..." of the first polyline whose class is `css_class`, counted.
int polyline_points(const std::string& svg, const std::string& css_class) {
  size_t at = svg.find("class=\"" + css_class + "\"");
  if (at == std::string::npos) return -1;
  size_t start = svg.rfind("<polyline points=\"", at);
  if (start == std::string::npos) return -1;
  start += 18;
  std::string points = svg.substr(start, svg.find('"', start) - start);
  return count(points, ",");
}

// Runs f, which must throw attn::Error, and returns the message.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no attn::Error thrown";
  return "";
}

// Records as train/trainer.cpp writes them, plus what a reader must skip.
const char* kLog =
    "{\"kind\":\"train\",\"update\":100,\"epoch\":1,\"loss\":2.5,\"ppl\":12.18,\"lr\":0.001}\n"
    "{\"kind\":\"train\",\"update\":200,\"epoch\":1,\"loss\":1.5,\"ppl\":4.48}\n"
    "\n"
    "{\"kind\":\"valid\",\"update\":200,\"epoch\":1,\"loss\":1.75,\"ppl\":5.75,\"exact_match\":0.25,"
    "\"token_accuracy\":0.5}\n"
    "{\"kind\":\"note\",\"text\":\"a kind this reader does not know\"}\n"
    "{\"kind\":\"train\",\"update\":300,\"epoch\":2,\"loss\":0.75,\"ppl\":2.11}\n"
    "{\"kind\":\"valid\",\"update\":400,\"epoch\":2,\"loss\":1.25,\"ppl\":3.49,\"exact_match\":0.5,"
    "\"token_accuracy\":0.75,\"bleu\":41.5}\n";

TEST_F(CurveTest, ReadsTheLogIntoSeries) {
  MetricsLog log = read_metrics_log(write("m.metrics.jsonl", kLog));
  EXPECT_EQ(log.train_loss.updates, (std::vector<double>{100, 200, 300}));
  EXPECT_EQ(log.train_loss.values, (std::vector<double>{2.5, 1.5, 0.75}));
  EXPECT_EQ(log.valid_loss.updates, (std::vector<double>{200, 400}));
  EXPECT_EQ(log.valid_loss.values, (std::vector<double>{1.75, 1.25}));
  // Fractions become percent; BLEU is in percent already and starts late.
  ASSERT_EQ(log.valid_scores.size(), 3u);
  EXPECT_EQ(log.valid_scores[0].key, "exact_match");
  EXPECT_EQ(log.valid_scores[0].values, (std::vector<double>{25, 50}));
  EXPECT_EQ(log.valid_scores[1].key, "token_accuracy");
  EXPECT_EQ(log.valid_scores[1].values, (std::vector<double>{50, 75}));
  EXPECT_EQ(log.valid_scores[2].label, "BLEU");
  EXPECT_EQ(log.valid_scores[2].updates, (std::vector<double>{400}));
  EXPECT_EQ(log.valid_scores[2].values, (std::vector<double>{41.5}));
}

TEST_F(CurveTest, AResumedRunReplacesTheRecordsItOvertakes) {
  // Saved at 200, interrupted after logging 300, resumed from 200.
  MetricsLog log = read_metrics_log(write("m.metrics.jsonl",
                                          "{\"kind\":\"train\",\"update\":100,\"loss\":3}\n"
                                          "{\"kind\":\"train\",\"update\":200,\"loss\":2}\n"
                                          "{\"kind\":\"train\",\"update\":300,\"loss\":1.9}\n"
                                          "{\"kind\":\"train\",\"update\":300,\"loss\":1.5}\n"
                                          "{\"kind\":\"train\",\"update\":400,\"loss\":1}\n"));
  EXPECT_EQ(log.train_loss.updates, (std::vector<double>{100, 200, 300, 400}));
  EXPECT_EQ(log.train_loss.values, (std::vector<double>{3, 2, 1.5, 1}));
  EXPECT_TRUE(log.valid_loss.updates.empty());
}

TEST_F(CurveTest, ABadLineIsNamedAsFileAndLine) {
  std::string bad = write("bad.jsonl",
                          "{\"kind\":\"train\",\"update\":100,\"loss\":2}\n"
                          "\n"
                          "{\"kind\":\"train\",\"update\":200,\"loss\":\n");
  std::string message = error_of([&] { read_metrics_log(bad); });
  EXPECT_NE(message.find(bad + ":3"), std::string::npos) << message;

  std::string not_object = write("array.jsonl", "[1, 2]\n");
  message = error_of([&] { read_metrics_log(not_object); });
  EXPECT_NE(message.find(not_object + ":1"), std::string::npos) << message;
  EXPECT_NE(message.find("object"), std::string::npos) << message;

  std::string no_loss = write("no_loss.jsonl", "{\"kind\":\"train\",\"update\":1,\"loss\":1}\n"
                                               "{\"kind\":\"valid\",\"update\":2,\"loss\":\"high\"}\n");
  message = error_of([&] { read_metrics_log(no_loss); });
  EXPECT_NE(message.find(no_loss + ":2"), std::string::npos) << message;
  EXPECT_NE(message.find("\"loss\" must be a number"), std::string::npos) << message;
}

TEST_F(CurveTest, ANumberThatIsNotFiniteIsNamedWithFileLineKeyAndText) {
  // Each case: a log whose line 2 holds a number that cannot be drawn, the key, the text.
  struct Case {
    std::string line, key, text;
  };
  const Case cases[] = {
      // Valid JSON beyond the range of a double (std::stod threw a bare "stod").
      {"{\"kind\":\"train\",\"update\":200,\"loss\":1e999}", "loss", "1e999"},
      {"{\"kind\":\"train\",\"update\":-2E+400,\"loss\":1}", "update", "-2E+400"},
      // What iostream writes for a double that is not finite, and Python's json.
      {"{\"kind\":\"valid\",\"update\":200,\"loss\": inf }", "loss", "inf"},
      {"{\"kind\":\"valid\",\"update\":200,\"loss\":1,\"exact_match\":-nan}", "exact_match", "-nan"},
      {"{\"kind\":\"valid\",\"update\":200,\"loss\":1,\"bleu\":NaN}", "bleu", "NaN"},
      {"{\"kind\":\"train\",\"update\":Infinity,\"loss\":1}", "update", "Infinity"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    std::string log = write("bad.jsonl", "{\"kind\":\"train\",\"update\":100,\"loss\":2}\n" + c.line + "\n");
    std::string message = error_of([&] { read_metrics_log(log); });
    EXPECT_NE(message.find(log + ":2"), std::string::npos) << message;
    EXPECT_NE(message.find("\"" + c.key + "\" is " + c.text), std::string::npos) << message;
    EXPECT_EQ(message.find("stod"), std::string::npos) << message;
  }
  // A field the plot does not read may overflow (a perplexity of e^1000): skipped.
  // A quoted "inf" is text, and a number below the smallest double is 0.
  MetricsLog log = read_metrics_log(write("ok.jsonl",
      "{\"kind\":\"train\",\"update\":100,\"loss\":1000,\"ppl\":inf,\"note\":\"x: inf\"}\n"
      "{\"kind\":\"train\",\"update\":200,\"loss\":1e-999,\"ppl\":-nan}\n"));
  EXPECT_EQ(log.train_loss.updates, (std::vector<double>{100, 200}));
  EXPECT_EQ(log.train_loss.values, (std::vector<double>{1000, 0}));
  // Something else that is not a number still fails in the JSON reader, by line and byte.
  std::string word = write("word.jsonl", "{\"kind\":\"train\",\"update\":100,\"loss\":infinite}\n");
  std::string message = error_of([&] { read_metrics_log(word); });
  EXPECT_NE(message.find(word + ":1: not valid JSON"), std::string::npos) << message;
}

TEST_F(CurveTest, AnEmptyOrMissingLogSaysSo) {
  std::string empty = write("empty.jsonl", "\n  \n");
  std::string message = error_of([&] { read_metrics_log(empty); });
  EXPECT_NE(message.find("is empty"), std::string::npos) << message;
  message = error_of([&] { read_metrics_log(path("missing.jsonl")); });
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
  EXPECT_NE(message.find("missing.jsonl"), std::string::npos) << message;
  std::string other = write("other.jsonl", "{\"kind\":\"note\"}\n");
  message = error_of([&] { read_metrics_log(other); });
  EXPECT_NE(message.find("none of kind"), std::string::npos) << message;
}

// line_chart (train/plot/line_chart.h): one dot per point, one legend entry per
// series, axes from nice_ticks, and bad series named.
TEST(LineChart, DotsLegendAndAxes) {
  ChartSeries a{"cached", {8, 16, 32}, {0.5, 0.6, 0.7}};
  ChartSeries b{"recomputed", {8, 16, 32}, {1.0, 2.5, 7.25}, true};
  LineChartOptions options;
  options.title = "ms per token";
  options.x_label = "length";
  options.y_label = "ms";
  Drawing d = line_chart({a, b}, options);
  int circles = 0, dashed = 0;
  bool has_cached = false, has_recomputed = false, has_zero = false, has_8 = false;
  for (const Shape& s : d.shapes) {
    if (s.kind == Shape::Kind::Circle) ++circles;
    if (s.kind == Shape::Kind::Line && s.dash > 0) ++dashed;
    if (s.kind == Shape::Kind::Text) {
      has_cached |= s.text == "cached";
      has_recomputed |= s.text == "recomputed";
      has_zero |= s.text == "0";  // y_from_zero: the y axis starts at 0
      has_8 |= s.text == "8";     // but x starts at the smallest x
    }
  }
  EXPECT_EQ(circles, 6);
  EXPECT_EQ(dashed, 2);  // b's line and its legend swatch
  EXPECT_TRUE(has_cached && has_recomputed && has_zero && has_8);
  EXPECT_NE(to_svg(d).find("ms per token"), std::string::npos);
}

TEST(LineChart, BadSeriesAreNamed) {
  try {
    line_chart({ChartSeries{"short", {1, 2, 3}, {1, 2}}});
    FAIL() << "no error for 3 x values and 2 y values";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'short' has 3 x values and 2 y values"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(line_chart({}), Error);
  EXPECT_THROW(line_chart({ChartSeries{"nan", {1}, {std::nan("")}}}), Error);
}

TEST(NiceTicks, PicksRoundSteps) {
  Ticks t = nice_ticks(0, 2.31, 6);
  EXPECT_DOUBLE_EQ(t.step, 0.5);
  EXPECT_DOUBLE_EQ(t.low, 0);
  EXPECT_DOUBLE_EQ(t.high, 2.5);
  EXPECT_EQ(t.values.size(), 6u);

  t = nice_ticks(0, 400, 8);  // 50 would need 9 ticks
  EXPECT_DOUBLE_EQ(t.step, 100);
  EXPECT_EQ(t.values, (std::vector<double>{0, 100, 200, 300, 400}));

  t = nice_ticks(0.3, 0.9, 6);  // rounded outward, without an extra tick at 0.3 / 0.1
  EXPECT_DOUBLE_EQ(t.step, 0.2);
  EXPECT_NEAR(t.low, 0.2, 1e-12);
  EXPECT_NEAR(t.high, 1.0, 1e-12);

  t = nice_ticks(5, 5, 6);  // one value: a range around it
  EXPECT_LT(t.low, 5);
  EXPECT_GT(t.high, 5);
}

TEST(NiceTicks, AlwaysOneTwoOrFiveTimesAPowerOfTenAndCoverTheRange) {
  const double ranges[][2] = {{0, 1}, {0, 7}, {0, 9.9}, {0, 12000}, {-3, 17}, {0.001, 0.0043},
                              {1e6, 1e6 + 37}, {0, 0.07}, {2.2, 2.3}};
  for (const auto& r : ranges) {
    for (int max_ticks : {3, 4, 5, 6, 8, 11}) {
      Ticks t = nice_ticks(r[0], r[1], max_ticks);
      SCOPED_TRACE(std::to_string(r[0]) + ".." + std::to_string(r[1]) + " max " + std::to_string(max_ticks));
      double mantissa = t.step / std::pow(10.0, std::floor(std::log10(t.step) + 1e-9));
      EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
                  std::abs(mantissa - 5) < 1e-9)
          << t.step;
      EXPECT_LE(static_cast<int>(t.values.size()), max_ticks);
      EXPECT_GE(t.values.size(), 2u);
      EXPECT_LE(t.low, r[0] + 1e-9 * std::abs(r[0]));
      EXPECT_GE(t.high, r[1] - 1e-9 * std::abs(r[1]));
      // The first step that fits: half of it (or the 1-2-5 step below) would
      // not, so the axis is never needlessly coarse.
      EXPECT_LT(t.high - t.low, 2.5 * t.step * (max_ticks - 1) + 1e-9);
    }
  }
  EXPECT_NE(error_of([] { nice_ticks(1, 0); }).find("low <= high"), std::string::npos);
  EXPECT_NE(error_of([] { nice_ticks(0, NAN); }).find("finite"), std::string::npos);
  EXPECT_NE(error_of([] { nice_ticks(0, 1, 2); }).find("max_ticks"), std::string::npos);
}

TEST(NiceTicks, LabelsShowTheDecimalsTheStepNeeds) {
  EXPECT_EQ(tick_label(0.5, 0.5), "0.5");
  EXPECT_EQ(tick_label(2, 0.5), "2.0");
  EXPECT_EQ(tick_label(1500, 500), "1500");
  EXPECT_EQ(tick_label(0.25, 0.05), "0.25");
  EXPECT_EQ(tick_label(0.30000000000000004, 0.1), "0.3");
  EXPECT_EQ(tick_label(-1e-17, 0.1), "0.0");
}

TEST_F(CurveTest, TheSvgHasOnePolylinePointPerRecord) {
  std::string svg_path = path("curve.svg");
  write_training_curve_svg(write("m.metrics.jsonl", kLog), svg_path, "dates <& test>");
  EXPECT_FALSE(fs::exists(svg_path + ".tmp"));
  std::string svg = read(svg_path);
  ASSERT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("dates &lt;&amp; test&gt;"), std::string::npos);
  EXPECT_EQ(polyline_points(svg, "train_loss"), 3);
  EXPECT_EQ(polyline_points(svg, "valid_loss"), 2);
  EXPECT_EQ(polyline_points(svg, "score exact_match"), 2);
  EXPECT_EQ(polyline_points(svg, "score bleu"), 1);
  // Dots on the validation points: 2 (loss) + 2 + 2 + 1 (scores).
  EXPECT_EQ(count(svg, "class=\"marker\""), 7);
  EXPECT_NE(svg.find("validation score (%)"), std::string::npos);
  EXPECT_NE(svg.find(">training loss<"), std::string::npos);
  EXPECT_NE(svg.find(">exact match<"), std::string::npos);
}

TEST_F(CurveTest, WithoutScoresThereIsNoRightAxis) {
  std::string svg = to_svg(training_curve(read_metrics_log(write(
      "m.jsonl", "{\"kind\":\"train\",\"update\":10,\"loss\":2}\n{\"kind\":\"train\",\"update\":20,\"loss\":1}\n"))));
  EXPECT_EQ(polyline_points(svg, "train_loss"), 2);
  EXPECT_EQ(polyline_points(svg, "valid_loss"), -1);
  EXPECT_EQ(svg.find("validation score"), std::string::npos);
}

// weights (T = 3, S = 4) for the heatmap tests.
Tensor three_by_four() {
  return from_vector(std::vector<float>{0.7f, 0.2f, 0.1f, 0, 0.1f, 0.8f, 0.1f, 0, 0, 0.1f, 0.3f, 0.6f}, {3, 4});
}

TEST_F(CurveTest, HeatmapMarksLocalAttentionWindows) {
  std::vector<std::string> source = {"a", "b", "c", "d"}, output = {"x", "y", "</s>"};
  std::string svg_path = path("local.svg");
  write_attention_svg(svg_path, source, output, three_by_four(), "local", {0.2, 1.4, 2.9}, 1);
  std::string svg = read(svg_path);
  EXPECT_EQ(count(svg, "class=\"position\""), 3);
  EXPECT_EQ(count(svg, "class=\"window\""), 3);
  EXPECT_NE(svg.find("predicted centre p_t"), std::string::npos);
  EXPECT_EQ(count(svg, "<title>"), 12);  // each cell keeps its tooltip
  // Column j's centre is position j: the grid starts at x = 130 with 28 px
  // cells, so p = 1.4 is drawn at 130 + (1.4 + 0.5) * 28 = 183.2.
  EXPECT_NE(svg.find("cx=\"183.2\""), std::string::npos);

  // Fewer positions than rows: only those rows get a marker; D = 0: no window.
  svg = to_svg(attention_heatmap(source, output, three_by_four(), "", {1.0}, 0));
  EXPECT_EQ(count(svg, "class=\"position\""), 1);
  EXPECT_EQ(count(svg, "class=\"window\""), 0);

  // Global attention: no markers, no key.
  write_attention_svg(svg_path, source, output, three_by_four());
  svg = read(svg_path);
  EXPECT_EQ(count(svg, "class=\"position\""), 0);
  EXPECT_EQ(count(svg, "class=\"window\""), 0);
  EXPECT_EQ(svg.find("p_t"), std::string::npos);
  EXPECT_EQ(count(svg, "<title>"), 12);
}

TEST(Heatmap, RejectsWeightsThatAreNotAMatrix) {
  std::string message = error_of([] { attention_heatmap({"a"}, {"b"}, zeros({2, 2, 2})); });
  EXPECT_NE(message.find("(T, S)"), std::string::npos) << message;
}

TEST(AttentionGrid, PanelsAreNearSquareAndWiderThanTall) {
  const auto shape_of = [](int64_t n) {
    GridShape g = grid_shape(n);
    return std::to_string(g.rows) + "x" + std::to_string(g.columns);
  };
  EXPECT_EQ(shape_of(1), "1x1");
  EXPECT_EQ(shape_of(2), "1x2");
  EXPECT_EQ(shape_of(3), "1x3");
  EXPECT_EQ(shape_of(4), "2x2");
  EXPECT_EQ(shape_of(6), "2x3");
  EXPECT_EQ(shape_of(8), "2x4");  // the base model's heads
  EXPECT_EQ(shape_of(7), "3x3");  // a prime: the last row part-filled
  EXPECT_EQ(shape_of(16), "4x4");
  for (int64_t n = 1; n <= 64; ++n) {
    GridShape g = grid_shape(n);
    EXPECT_GE(g.rows * g.columns, n) << n;
    EXPECT_LT((g.rows - 1) * g.columns, n) << n << ": an empty row";
    EXPECT_LE(g.rows, g.columns) << n;
  }
  EXPECT_NE(error_of([] { grid_shape(0); }).find("at least one panel"), std::string::npos);
}

TEST_F(CurveTest, AttentionGridDrawsOnePanelPerHeadAndOneLegend) {
  // 4 heads of (T = 3, S = 4): head h is three_by_four() scaled by 1 / (h + 1).
  std::vector<Tensor> heads;
  for (int h = 0; h < 4; ++h) heads.push_back(three_by_four() * (1.0 / (h + 1)));
  Tensor weights = stack(heads, 0);  // (4, 3, 4)
  std::vector<std::string> titles = {"layer 2, head 1", "layer 2, head 2", "layer 2, head 3", "layer 2, head 4"};
  std::string svg = to_svg(attention_grid({"a", "b", "c", "d"}, {"x", "y", "</s>"}, weights, titles, "a grid"));
  EXPECT_EQ(count(svg, "class=\"panel-title\""), 4);
  for (const std::string& title : titles) EXPECT_EQ(count(svg, ">" + title + "<"), 1) << title;
  EXPECT_EQ(count(svg, "<title>"), 4 * 12);  // every cell of every head keeps its tooltip
  // Each panel's tooltips name the head; its cells are that head's weights.
  EXPECT_EQ(count(svg, "<title>layer 2, head 3: x -&gt; a: 0.23</title>"), 1);
  EXPECT_EQ(count(svg, "<title>layer 2, head 1: x -&gt; a: 0.70</title>"), 1);
  EXPECT_EQ(count(svg, ">&lt;/s&gt;</text>"), 4);  // each panel labels its rows
  EXPECT_EQ(count(svg, ">1</text>"), 1);          // one legend for all
  EXPECT_NE(svg.find(">a grid</text>"), std::string::npos);
  // 2 x 2 panels: the second row's titles sit lower than the first's, the
  // second column's further right.
  Drawing d = attention_grid({"a", "b", "c", "d"}, {"x", "y", "</s>"}, weights, titles);
  std::vector<Point> title_at;
  for (const Shape& s : d.shapes) {
    if (s.css_class == "panel-title") title_at.push_back(s.points[0]);
  }
  ASSERT_EQ(title_at.size(), 4u);
  EXPECT_EQ(title_at[0].y, title_at[1].y);
  EXPECT_GT(title_at[1].x, title_at[0].x);
  EXPECT_EQ(title_at[0].x, title_at[2].x);
  EXPECT_GT(title_at[2].y, title_at[0].y);
  for (const Shape& s : d.shapes) {  // everything inside the picture
    for (const Point& p : s.points) {
      EXPECT_LE(p.x, d.width);
      EXPECT_LE(p.y, d.height);
    }
  }
}

TEST(AttentionGrid, RejectsWeightsThatAreNotHeadsAndMismatchedTitles) {
  std::string message = error_of([] { attention_grid({"a"}, {"b"}, zeros({2, 2}), {"h1", "h2"}); });
  EXPECT_NE(message.find("(H, T, S)"), std::string::npos) << message;
  message = error_of([] { attention_grid({"a"}, {"b"}, zeros({2, 1, 1}), {"only one"}); });
  EXPECT_NE(message.find("one per head"), std::string::npos) << message;
}

#ifdef ATTN_WITH_PNG
TEST(Png, RasterizesRectanglesLinesCirclesAndText) {
  Drawing d(40, 30);
  d.rect(0, 0, 10, 10, Colour{255, 0, 0});
  d.line({{0, 20}, {39, 20}}, Colour{0, 0, 255}, 2);
  d.circle(30, 8, 4, Colour{0, 128, 0});
  Image image = rasterize(d, 2);
  ASSERT_EQ(image.width, 80);
  ASSERT_EQ(image.height, 60);
  EXPECT_EQ(image.at(5, 5).hex(), "#ff0000");    // inside the square
  EXPECT_EQ(image.at(25, 5).hex(), "#ffffff");   // beside it
  EXPECT_EQ(image.at(40, 40).hex(), "#0000ff");  // on the line's centre row (y = 20 * 2)
  EXPECT_EQ(image.at(60, 16).hex(), "#008000");  // the circle's centre
  EXPECT_EQ(image.at(60, 30).hex(), "#ffffff");  // below the circle
}

// The ink of one label drawn alone at 2x: which pixels are not white.
std::vector<bool> ink_of(const std::string& label, int width, int height) {
  Drawing d(width, height);
  d.text(4, height - 8, label, 20);
  Image image = rasterize(d, 2);
  std::vector<bool> ink(static_cast<size_t>(image.width) * image.height);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) ink[static_cast<size_t>(y) * image.width + x] = image.at(x, y).hex() != "#ffffff";
  }
  return ink;
}

// Where a bitmap font of ASCII draws a box for "ä", a real renderer draws an
// "a" with two dots above it: the two pictures are the same below the top of
// the "a" and differ only above it. A box would differ all the way down to
// the baseline.
TEST(Png, AccentedLettersAreLettersNotBoxes) {
  const int width = 40, height = 40, w2 = 2 * width;
  for (const auto& [plain, accented] : std::vector<std::pair<std::string, std::string>>{
           {"a", "\xc3\xa4"}, {"o", "\xc3\xb6"}, {"u", "\xc3\xbc"}, {"e", "\xc3\xa9"}}) {
    std::vector<bool> base = ink_of(plain, width, height), marked = ink_of(accented, width, height);
    int top = -1;  // the first row with ink of the plain letter
    for (size_t i = 0; i < base.size() && top < 0; ++i) {
      if (base[i]) top = static_cast<int>(i / w2);
    }
    ASSERT_GE(top, 0) << "no ink for '" << plain << "'";
    int differ_above = 0, differ_below = 0, ink_below = 0;
    for (size_t i = 0; i < base.size(); ++i) {
      const bool below = static_cast<int>(i / w2) >= top + 2;  // two rows of anti-aliasing slack
      ink_below += below && base[i];
      if (base[i] != marked[i]) ++(below ? differ_below : differ_above);
    }
    EXPECT_GT(differ_above, 4) << "'" << accented << "' has no mark above its '" << plain << "'";
    EXPECT_LE(differ_below, ink_below / 20) << "'" << accented << "' differs from '" << plain
                                            << "' below the letter's top: drawn as a box?";
  }
}

// The PNG file is the SVG file's picture: decoding what write_drawing wrote
// as .png gives the pixels of rendering the drawing's SVG, accented labels
// of a heatmap included, and both files come from one layout.
TEST_F(CurveTest, APngWithAccentedLabelsIsItsSvgRendered) {
  const Drawing heatmap = attention_heatmap({"Zwei", "M\xc3\xa4nner", "gr\xc3\xbc\xc3\x9f" "en", "\xce\x95\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1"},
                                            {"Two", "men", "gar\xc3\xa7on"}, three_by_four(), "", {0, 1, 2}, 1);
  write_drawing(heatmap, path("accents.svg"));
  write_drawing(heatmap, path("accents.png"));
  EXPECT_EQ(read(path("accents.svg")), to_svg(heatmap));
  EXPECT_NE(read(path("accents.svg")).find("M\xc3\xa4nner"), std::string::npos);
  const Image from_file = decode_png(read(path("accents.png")));
  const Image rendered = rasterize(heatmap, 2);
  ASSERT_EQ(from_file.width, 2 * heatmap.width);
  ASSERT_EQ(from_file.height, 2 * heatmap.height);
  EXPECT_EQ(from_file.rgb, rendered.rgb);
  // And the labels are there: the same heatmap with plain ASCII labels differs.
  const Drawing plain = attention_heatmap({"Zwei", "Manner", "grussen", "Ellada"}, {"Two", "men", "garcon"},
                                          three_by_four(), "", {0, 1, 2}, 1);
  EXPECT_NE(rasterize(plain, 2).rgb, rendered.rgb);
}

TEST(Png, DecodeRefusesWhatIsNotAPng) {
  std::string message;
  try {
    decode_png("GIF89a not a png");
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("not a PNG"), std::string::npos) << message;
}

TEST_F(CurveTest, WritesPngForCurvesAndHeatmaps) {
  std::string png_path = path("curve.png");
  write_drawing(training_curve(read_metrics_log(write("m.jsonl", kLog))), png_path);
  std::string bytes = read(png_path);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), "\x89PNG\r\n\x1a\n");
  // IHDR: width and height big-endian at bytes 16 and 20, twice the layout's.
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 3]));
  };
  EXPECT_EQ(be32(16), 2u * 760);
  write_drawing(attention_heatmap({"a", "b", "c", "d"}, {"x", "y", "z"}, three_by_four(), "", {0, 1, 2}, 1),
                path("heatmap.png"));
  EXPECT_EQ(read(path("heatmap.png")).substr(0, 4), "\x89PNG");
  EXPECT_FALSE(fs::exists(path("heatmap.png.tmp")));
  write_drawing(attention_grid({"a", "b", "c", "d"}, {"x", "y", "z"}, stack({three_by_four(), three_by_four()}, 0),
                               {"layer 1, head 1", "layer 1, head 2"}),
                path("grid.png"));
  EXPECT_EQ(read(path("grid.png")).substr(0, 4), "\x89PNG");
}
#else
TEST_F(CurveTest, PngWithoutLibrsvgSaysSo) {
  EXPECT_FALSE(png_supported());
  std::string message = error_of([&] { write_drawing(Drawing(10, 10), path("x.png")); });
  EXPECT_NE(message.find("without librsvg"), std::string::npos) << message;
}
#endif

}  // namespace
}  // namespace attn::plot
