// Fuzzes the metrics log reader, read_metrics_log (train/plot/curve.cpp), that
// `attn plot --metrics` reads, and the curve drawn from what it returns.
//
// Input: the whole PATH.metrics.jsonl file. Beyond "no crash", every message
// names the file, and a log that loads holds finite numbers at increasing
// updates and draws into an SVG.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "train/plot/canvas.h"
#include "train/plot/curve.h"

namespace {

void check_series(const attn::plot::Series& series) {
  attn_fuzz::check(series.updates.size() == series.values.size(), series.key + ": sizes differ");
  for (size_t i = 0; i < series.updates.size(); ++i) {
    attn_fuzz::check(std::isfinite(series.updates[i]) && std::isfinite(series.values[i]),
                     series.key + ": a number that is not finite");
    attn_fuzz::check(i == 0 || series.updates[i - 1] < series.updates[i],
                     series.key + ": updates do not increase");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const attn_fuzz::ScratchFile file("in.metrics.jsonl");
  file.write(std::string(reinterpret_cast<const char*>(data), size));
  attn::plot::MetricsLog log;
  try {
    log = attn::plot::read_metrics_log(file.path());
  } catch (const attn::Error& e) {
    attn_fuzz::check_names(e, file.path());
    return 0;
  }
  check_series(log.train_loss);
  check_series(log.valid_loss);
  for (const attn::plot::Series& scores : log.valid_scores) check_series(scores);
  // What `attn plot` does with it next. A log can hold numbers no axis can
  // show (a loss of 1e300): a refusal is fine, a crash or a hang is not.
  try {
    attn_fuzz::check(!attn::plot::to_svg(attn::plot::training_curve(log, "fuzz")).empty(),
                     "an empty SVG");
  } catch (const attn::Error&) {
  }
  return 0;
}
