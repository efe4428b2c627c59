#include "train/plot/curve.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "kernels/error.h"
#include "tensor/json.h"

namespace attn::plot {
namespace {

// The validation scores the right axis knows, and what turns each into
// percent: trainer.cpp writes exact match and token accuracy as fractions;
// BLEU and chrF are reported in percent, as sacreBLEU does. A new score is
// one more line here.
struct ScoreField {
  const char* key;
  const char* label;
  double to_percent;
};
const ScoreField kScoreFields[] = {
    {"exact_match", "exact match", 100.0},
    {"token_accuracy", "token accuracy", 100.0},
    {"bleu", "BLEU", 1.0},
    {"chrf", "chrF", 1.0},
};

const json::Value* find_member(const json::Value& object, const std::string& key) {
  for (const auto& [name, value] : object.members) {
    if (name == key) return &value;
  }
  return nullptr;
}

// iostream writes a double that is not finite as inf, -inf, nan or -nan
// (Python's json as Infinity, -Infinity, NaN), literals JSON does not have.
// Such a value, as the value of a member, is replaced by null before parsing
// and remembered by its key (in `found`), so that a field the plot reads is
// refused naming the key and the text, and one it does not read (a ppl that
// overflowed) is skipped like any other. Strings are walked over, so a quoted
// "inf" stays text.
std::string null_non_finite(const std::string& line, std::map<std::string, std::string>* found) {
  static const char* const kLiterals[] = {"-Infinity", "Infinity", "-inf", "inf",
                                          "-nan",      "nan",      "-NaN", "NaN"};
  std::string out;
  std::string last_string;  // the most recent string: the key, when a ':' follows
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '"') {  // a string, escapes and all
      size_t end = i + 1;  // then: the closing quote, or past the end of an unterminated string
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      last_string = line.substr(i + 1, std::min(end, line.size()) - i - 1);
      const size_t next = std::min(end + 1, line.size());
      out.append(line, i, next - i);
      i = next;
      continue;
    }
    out += c;
    ++i;
    if (c != ':') continue;
    size_t start = i;
    while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
    for (const char* literal : kLiterals) {
      const size_t n = std::char_traits<char>::length(literal);
      const size_t after = start + n;
      if (line.compare(start, n, literal) != 0) continue;
      if (after < line.size() && std::string(",} \t\r").find(line[after]) == std::string::npos)
        continue;  // part of something longer: json::parse will say what
      (*found)[last_string] = literal;
      out.append(line, i, start - i);
      out += "null";
      i = after;
      break;
    }
  }
  return out;
}

// The number in field `key`, or an error naming path:line, the key and the
// text when it is not one. JSON's grammar (tensor/json.h) has already checked
// the digits; what it allows and a double cannot hold is a literal out of
// range, 1e999, which strtod reads as infinity (std::stod would throw a bare
// "stod"). A point at infinity cannot be drawn, so it is refused by name.
// (A literal below the smallest double, 1e-999, reads as 0: drawn as 0.)
double number_field(const json::Value& object, const std::string& key, const std::string& where,
                    const std::map<std::string, std::string>& non_finite) {
  const json::Value* value = find_member(object, key);
  ATTN_CHECK(value != nullptr, where, ": the record has no \"", key, "\"");
  auto literal = non_finite.find(key);
  ATTN_CHECK(literal == non_finite.end() || value->kind != json::Value::Kind::Null, where, ": \"",
             key, "\" is ", literal == non_finite.end() ? "" : literal->second,
             ": not a finite number, nothing to draw");
  ATTN_CHECK(value->kind == json::Value::Kind::Number, where, ": \"", key, "\" must be a number, got ",
             json::kind_name(value->kind));
  const char* text = value->text.c_str();
  char* end = nullptr;
  const double number = std::strtod(text, &end);
  ATTN_CHECK(end != text && *end == '\0', where, ": \"", key, "\" is not a number: '", value->text,
             "'");
  ATTN_CHECK(std::isfinite(number), where, ": \"", key, "\" is ", value->text,
             ", beyond the largest double (about 1.8e308): not a finite number, nothing to draw");
  return number;
}

// Appends a point. A record at or before the last point's update comes from
// a later run that resumed from an earlier checkpoint: the points it
// overtakes are dropped, so the newest run wins.
void add_point(Series& series, double update, double value) {
  while (!series.updates.empty() && series.updates.back() >= update) {
    series.updates.pop_back();
    series.values.pop_back();
  }
  series.updates.push_back(update);
  series.values.push_back(value);
}

// Matplotlib's first colours: distinct, and readable by most colour-blind eyes.
const Colour kTrainColour{31, 119, 180}, kValidColour{255, 127, 14};
const Colour kScoreColours[] = {{44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75}};
const Colour kAxis{68, 68, 68}, kGrid{230, 230, 230};

}  // namespace

MetricsLog read_metrics_log(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), "cannot open metrics log '", path,
             "' (attn train writes it next to the model as MODEL.metrics.jsonl)");
  MetricsLog log;
  log.train_loss = {"loss", "training loss", {}, {}};
  log.valid_loss = {"loss", "validation loss", {}, {}};
  std::string line;
  int64_t line_number = 0, records = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++records;
    const std::string where = path + ":" + std::to_string(line_number);
    // json::parse names the byte within the line: "m.jsonl:3: not valid JSON at byte 12: ...".
    std::map<std::string, std::string> non_finite;  // key -> "inf", "nan", ... (null_non_finite)
    json::Value record = json::parse(null_non_finite(line, &non_finite), where + ": not valid JSON");
    ATTN_CHECK(record.kind == json::Value::Kind::Object, where, ": expected a JSON object, got ",
               json::kind_name(record.kind));
    const json::Value* kind = find_member(record, "kind");
    ATTN_CHECK(kind != nullptr && kind->kind == json::Value::Kind::String, where,
               ": the record needs a string \"kind\" (\"train\" or \"valid\")");
    if (kind->text != "train" && kind->text != "valid") continue;  // a later kind of record
    const double update = number_field(record, "update", where, non_finite);
    const double loss = number_field(record, "loss", where, non_finite);
    if (kind->text == "train") {
      add_point(log.train_loss, update, loss);
      continue;
    }
    add_point(log.valid_loss, update, loss);
    for (const ScoreField& field : kScoreFields) {
      if (find_member(record, field.key) == nullptr) continue;
      const double number = number_field(record, field.key, where, non_finite);
      // A fraction of 4e307 is no percent a double can hold.
      const double value = number * field.to_percent;
      ATTN_CHECK(std::isfinite(value), where, ": \"", field.key, "\" is ", number,
                 ", beyond the range of a double as a percent: nothing to draw");
      auto series = std::find_if(log.valid_scores.begin(), log.valid_scores.end(),
                                 [&](const Series& s) { return s.key == field.key; });
      if (series == log.valid_scores.end()) {
        log.valid_scores.push_back({field.key, field.label, {}, {}});
        series = log.valid_scores.end() - 1;
      }
      add_point(*series, update, value);
    }
  }
  ATTN_CHECK(in.eof(), "error reading metrics log '", path, "' after line ", line_number);
  ATTN_CHECK(records > 0, "metrics log '", path, "' is empty: nothing to plot yet (attn train adds a "
             "record every --disp-freq updates and every --valid-freq updates)");
  ATTN_CHECK(!log.train_loss.updates.empty() || !log.valid_loss.updates.empty(), "metrics log '", path,
             "' has ", records, " records but none of kind \"train\" or \"valid\": nothing to plot");
  return log;
}

Ticks nice_ticks(double low, double high, int max_ticks) {
  ATTN_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
             "nice_ticks: need finite low <= high, got [", low, ", ", high, "]");
  // Two ticks cannot cover a range around 0 (that takes -s, 0, s); three always can.
  ATTN_CHECK(max_ticks >= 3, "nice_ticks: max_ticks must be at least 3, got ", max_ticks);
  // [-1e308, 1e308]: the width overflows to infinity, and so would the exponent below.
  ATTN_CHECK(std::isfinite(high - low), "nice_ticks: the range [", low, ", ", high,
             "] is wider than a double can hold");
  // One value, or a range so narrow that a step would be below the smallest
  // normal double (update 0 and update 1e-323: log10 of 0 is -inf below):
  // a small range around it.
  if (low == high || (high - low) / (max_ticks - 1) < std::numeric_limits<double>::min()) {
    const double pad = std::max(std::abs(low), 1.0) * 0.1;
    low -= pad;
    high += pad;
  }
  // Start one decade below the even split of the range and take the first
  // 1-2-5 step whose rounded-out ticks fit. The 1e-9 keeps 0.3 / 0.1 =
  // 2.9999999999999996 from rounding out to an extra tick.
  int exponent = static_cast<int>(std::floor(std::log10((high - low) / (max_ticks - 1)))) - 1;
  // With three ticks allowed, a step of at least max(|low|, |high|) fits, so
  // the search ends within a few decades of the first guess.
  for (;; ++exponent) {
    for (double multiple : {1.0, 2.0, 5.0}) {
      const double step = multiple * std::pow(10.0, exponent);
      const double first = std::floor(low / step + 1e-9), last = std::ceil(high / step - 1e-9);
      const int count = static_cast<int>(std::lround(last - first)) + 1;
      if (count > max_ticks) continue;
      Ticks ticks;
      ticks.step = step;
      for (int i = 0; i < count; ++i) ticks.values.push_back((first + i) * step);
      ticks.low = ticks.values.front();
      ticks.high = ticks.values.back();
      return ticks;
    }
  }
}

std::string tick_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  std::string label = buffer;
  // "-0" or "-0.0" from a value a hair below zero reads as a bug.
  if (label.find_first_not_of("-0.") == std::string::npos && label[0] == '-') label.erase(0, 1);
  return label;
}

Drawing training_curve(const MetricsLog& log, const std::string& title) {
  const std::vector<const Series*> losses = {&log.train_loss, &log.valid_loss};
  double max_update = 0, max_loss = 0, min_loss = 0;
  size_t points = 0;
  for (const Series* s : losses) {
    for (size_t i = 0; i < s->updates.size(); ++i) {
      max_update = std::max(max_update, s->updates[i]);
      max_loss = std::max(max_loss, s->values[i]);
      min_loss = std::min(min_loss, s->values[i]);
      ++points;
    }
  }
  ATTN_CHECK(points > 0, "training_curve: the metrics log has no loss to plot");
  const bool scores = !log.valid_scores.empty();

  // The plot area, in pixels; everything else is placed around it.
  // Wider for a long title (15 px text, about 9 px a character).
  const int width = std::max(760, 20 + 9 * static_cast<int>(title.size())), top = 30 + (title.empty() ? 0 : 24), plot_height = 320;
  const double x0 = 75, x1 = width - (scores ? 75 : 30), y0 = top + plot_height, y1 = top;
  const int height = top + plot_height + 112;  // room for two rows of legend
  Drawing d(width, height);
  if (!title.empty()) d.text(10, 22, title, 15);

  // Losses start at 0 so that a learner reads the curve's height honestly.
  const Ticks xs = nice_ticks(0, max_update, 8), ys = nice_ticks(min_loss, max_loss, 6);
  const auto x_of = [&](double update) { return x0 + (update - xs.low) / (xs.high - xs.low) * (x1 - x0); };
  const auto y_of = [&](double loss) { return y0 - (loss - ys.low) / (ys.high - ys.low) * (y0 - y1); };
  const auto y_of_percent = [&](double percent) { return y0 - percent / 100 * (y0 - y1); };

  // Grid and ticks: vertical lines at the updates, horizontal at the losses.
  for (double u : xs.values) {
    d.line({{x_of(u), y0}, {x_of(u), y1}}, kGrid);
    d.line({{x_of(u), y0}, {x_of(u), y0 + 5}}, kAxis);
    d.text(x_of(u), y0 + 19, tick_label(u, xs.step), 12, Shape::Anchor::Middle);
  }
  for (double v : ys.values) {
    d.line({{x0, y_of(v)}, {x1, y_of(v)}}, kGrid);
    d.line({{x0 - 5, y_of(v)}, {x0, y_of(v)}}, kAxis);
    d.text(x0 - 8, y_of(v) + 4, tick_label(v, ys.step), 12, Shape::Anchor::End);
  }
  if (scores) {
    for (int percent = 0; percent <= 100; percent += 20) {
      d.line({{x1, y_of_percent(percent)}, {x1 + 5, y_of_percent(percent)}}, kAxis);
      d.text(x1 + 8, y_of_percent(percent) + 4, std::to_string(percent), 12);
    }
    d.text(x1 + 50, (y0 + y1) / 2, "validation score (%)", 13, Shape::Anchor::Middle).rotate = 90;
  }
  d.rect(x0, y1, x1 - x0, y0 - y1, std::nullopt, kAxis);
  d.text((x0 + x1) / 2, y0 + 40, "update", 13, Shape::Anchor::Middle);
  d.text(x0 - 50, (y0 + y1) / 2, "cross-entropy per token", 13, Shape::Anchor::Middle).rotate = -90;

  // The curves, and the legend below the axis as each is drawn: a swatch
  // (line, and a dot where the curve has dots) and the label.
  double legend_x = x0, legend_y = y0 + 70;
  const auto draw = [&](const Series& s, Colour colour, bool dots, double dash, const auto& y_map) {
    if (s.updates.empty()) return;
    std::vector<Point> line;
    for (size_t i = 0; i < s.updates.size(); ++i) line.push_back({x_of(s.updates[i]), y_map(s.values[i])});
    Shape& curve = d.line(line, colour, 1.8);
    curve.dash = dash;
    curve.css_class = s.key == "loss" ? (dots ? "valid_loss" : "train_loss") : "score " + s.key;
    // One point makes no line: show it as a dot.
    if (dots || line.size() == 1) {
      for (const Point& p : line) d.circle(p.x, p.y, dash > 0 ? 2.5 : 3.2, colour).css_class = "marker";
    }
    // A legend too wide for the picture goes on to a second row.
    const double item = 28 + 7 * static_cast<double>(s.label.size()) + 22;
    if (legend_x > x0 && legend_x + item - 22 > width - 10) {
      legend_x = x0;
      legend_y += 22;
    }
    d.line({{legend_x, legend_y - 4}, {legend_x + 22, legend_y - 4}}, colour, 1.8).dash = dash;
    if (dots) d.circle(legend_x + 11, legend_y - 4, dash > 0 ? 2.5 : 3.2, colour);
    d.text(legend_x + 28, legend_y, s.label, 12);
    legend_x += item;
  };
  draw(log.train_loss, kTrainColour, false, 0, y_of);
  draw(log.valid_loss, kValidColour, true, 0, y_of);
  for (size_t k = 0; k < log.valid_scores.size(); ++k) {
    draw(log.valid_scores[k], kScoreColours[k % 4], true, 5, y_of_percent);
  }
  return d;
}

void write_training_curve_svg(const std::string& metrics_jsonl, const std::string& svg_path,
                              const std::string& title) {
  write_file_atomically(svg_path, to_svg(training_curve(read_metrics_log(metrics_jsonl), title)),
                        "write_training_curve_svg");
}

}  // namespace attn::plot
