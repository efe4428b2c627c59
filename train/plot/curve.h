// Training curves from the metrics log that `attn train` writes next to the
// model (PATH.metrics.jsonl, train/options.h), drawn by attn itself.
//
// The log holds one JSON object a line (train/trainer.cpp):
//   {"kind":"train","update":100,"epoch":1,"loss":2.31,"ppl":10.1,...}        every --disp-freq
//   {"kind":"valid","update":500,"epoch":2,"loss":1.02,"ppl":2.77,
//    "exact_match":0.41,"token_accuracy":0.87}                                every --valid-freq
// The picture: x = updates; left axis = cross-entropy per target token, the
// training loss as a line (the mean over each --disp-freq window) and the
// validation loss as dots joined by a line; right axis, 0-100%, the
// validation scores the records carry (exact match, token accuracy, and BLEU
// and chrF where present) as dashed lines. Both losses share one axis so a
// learner sees the gap between them: overfitting is the validation loss
// turning up while the training loss keeps falling.
//
//   attn plot --metrics m.safetensors.metrics.jsonl --output curve.svg
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/plot/canvas.h"

namespace attn::plot {

// One curve: points (updates[i], values[i]), updates increasing.
struct Series {
  std::string key;    // the field in the log: "loss", "exact_match", ...
  std::string label;  // for the legend: "training loss", "exact match", ...
  std::vector<double> updates;
  std::vector<double> values;
};

struct MetricsLog {
  Series train_loss;                 // cross-entropy per target token (nats)
  Series valid_loss;                 // the same on the validation set
  std::vector<Series> valid_scores;  // in percent (0-100), in the order first seen
};

// Reads a metrics log. Lines of other kinds, other fields and blank lines are
// skipped; validation scores are the fields exact_match and token_accuracy
// (fractions, shown as percent), bleu and chrf (already in percent). A run
// resumed from an earlier checkpoint appends records for updates the log
// already has: a record replaces every earlier one of its kind at the same or
// a later update, so the newest run wins. Throws attn::Error when the file
// cannot be opened, when it holds no train or valid record ("empty"), and for
// a line that is not a JSON object with a numeric "update" (and, for train
// and valid, a numeric "loss"), naming it as path:line. A field it reads that
// is not finite (inf or nan as iostream writes them, or a literal beyond the
// range of a double such as 1e999) is refused naming path:line, the key and
// the text; one it does not read is skipped.
MetricsLog read_metrics_log(const std::string& path);

// Tick marks for an axis covering [low, high]: a step of 1, 2 or 5 times a
// power of ten, the smallest giving at most max_ticks marks, and the ends
// rounded outward to multiples of it. E.g. [0, 2.31] -> 0, 0.5, ..., 2.5.
// low == high is widened by one step around the value. Throws attn::Error for
// non-finite bounds, low > high or max_ticks < 3 (two ticks cannot
// cover a range around 0).
struct Ticks {
  double low = 0, high = 0, step = 0;  // the axis runs from low to high
  std::vector<double> values;          // low, low + step, ..., high
};
Ticks nice_ticks(double low, double high, int max_ticks = 6);

// A tick's label with as many decimals as the step needs: (0.5, 0.5) -> "0.5",
// (1500, 500) -> "1500", (0.25, 0.05) -> "0.25".
std::string tick_label(double value, double step);

// The picture of a log (see the top of this file). Throws attn::Error if the
// log has no points.
Drawing training_curve(const MetricsLog& log, const std::string& title = "");

// read_metrics_log + training_curve, written as SVG to svg_path (through
// svg_path.tmp, renamed into place). For PNG, pass training_curve() to
// write_drawing() (train/plot/canvas.h).
void write_training_curve_svg(const std::string& metrics_jsonl, const std::string& svg_path,
                              const std::string& title = "");

}  // namespace attn::plot
