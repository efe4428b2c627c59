// Training-step speed of attn's models on the configurations of
// ../shared/peers/torch_ref.py, so the two can be timed back to back:
//
//   build/release/bench/bench_train_step --model bahdanau --config tiny  (or luong, s2s, transformer)
//   /usr/bin/python3 ../shared/peers/torch_ref.py --model bahdanau --config tiny --omp-wait-policy PASSIVE
//
// Same shapes as the reference: synthetic batches of fixed length (no
// padding), token ids uniform over the non-special ids, Adam at 1e-3 (betas
// 0.9/0.999, eps 1e-8: torch_ref's default, not the paper's warm-up
// schedule), global norm clipping at 1, label smoothing 0 for the RNN models
// and 0.1 for the Transformer (torch_ref's --label-smoothing, which it applies
// to the Transformer only); N timed steps after W warm-up steps; median ms per
// step and target tokens per second. Each step is the library's
// attn::train::train_step (train/train_step.h), the one `attn train` runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <tuple>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include <attn/attn.h>

#include "data/batch.h"
#include "nn/luong.h"
#include "nn/rnnsearch.h"
#include "nn/transformer.h"
#include "kernels/cpu/gemm_recorder.h"
#include "kernels/cuda/runtime.h"
#include "kernels/matmul.h"
#include "tensor/creation.h"
#include "train/options.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"

namespace {

struct Config {
  int64_t vocab, batch, length;
  int64_t embedding, hidden;                        // the RNN models
  int64_t d_model, num_heads, d_ff, layers;         // the Transformer: `layers` each side
};

Config config_named(const std::string& name) {
  // vocab = 64 + 4 specials (tiny) or 8000 (small), as torch_ref.py's CONFIGS.
  if (name == "tiny") return {68, 64, 20, 128, 256, 128, 4, 512, 2};
  if (name == "small") return {8000, 128, 32, 128, 256, 256, 8, 1024, 3};
  throw attn::Error("--config: expected tiny or small, got '" + name + "'");
}

double peak_rss_mb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double mb = 0;
  while (std::fgets(line, sizeof line, f)) {
    long kb = 0;
    if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) mb = kb / 1024.0;
  }
  std::fclose(f);
  return mb;
}

// The GEMM-bound floor of a step (bench/README.md, "The GEMM-bound floor"):
// record the GEMMs of one more step, then time each distinct shape alone,
// through the same kernels::gemm (OpenBLAS, attn's row blocks and threads) on
// fresh buffers, and add up count x time. A step that did nothing but its
// GEMMs would take that long; the step's own time over it says how much the
// rest costs.
struct ShapeKey {
  attn::kernels::cpu::GemmCall c;
  bool operator<(const ShapeKey& o) const {
    auto t = [](const attn::kernels::cpu::GemmCall& g) {
      return std::make_tuple(g.trans_a, g.trans_b, g.shared_b, g.batch, g.M, g.N, g.K, g.is_double);
    };
    return t(c) < t(o.c);
  }
};

double time_gemm_ms(const attn::kernels::cpu::GemmCall& c) {
  using attn::Tensor;
  const int64_t sa = c.M * c.K, sb = c.shared_b ? 0 : c.K * c.N, sc = c.M * c.N;
  Tensor a = attn::randn({c.batch * sa});
  Tensor b = attn::randn({c.shared_b ? c.K * c.N : c.batch * sb});
  Tensor out = attn::zeros({c.batch * sc});
  auto once = [&] {
    attn::kernels::gemm<attn::Device::CPU, float>(
        c.trans_a, c.trans_b, c.batch, c.M, c.N, c.K, 1.0f, a.data_ptr<float>(),
        c.trans_a ? c.M : c.K, sa, b.data_ptr<float>(), c.trans_b ? c.K : c.N, sb, 0.0f,
        out.data_ptr<float>(), c.N, sc);
  };
  once();
  // Enough repetitions for about 20 ms, median of 5 such rounds.
  auto t0 = std::chrono::steady_clock::now();
  once();
  double one = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const int reps = std::max(1, static_cast<int>(20.0 / std::max(one, 1e-3)));
  std::vector<double> rounds;
  for (int r = 0; r < 5; ++r) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) once();
    rounds.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("bench_train_step", "Time training steps on synthetic batches");
  std::string model_name = "bahdanau", config_name = "tiny";
  std::string device_name = "cpu";
  std::string precision = "fp32";
  int steps = 30, warmup = 5;
  bool gemm_floor = false;
  options.add_options()
      ("model", "bahdanau, s2s, luong or transformer", cxxopts::value(model_name)->default_value("bahdanau"))
      ("config", "tiny or small (torch_ref.py's configurations)", cxxopts::value(config_name)->default_value("tiny"))
      ("steps", "timed steps", cxxopts::value(steps)->default_value("30"))
      ("warmup-steps", "untimed steps first", cxxopts::value(warmup)->default_value("5"))
      ("device", "cpu or cuda", cxxopts::value(device_name)->default_value("cpu"))
      ("precision", "fp32, or bf16 (attn train --precision bf16: bfloat16 GEMMs)", cxxopts::value(precision)->default_value("fp32"))
      ("gemm-floor", "also record one step's GEMMs, time each shape alone and print the step's GEMM-bound floor",
       cxxopts::value(gemm_floor)->default_value("false"));
  try {
    options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 2;
  }
  Config c = config_named(config_name);
  attn::manual_seed(0);
  std::shared_ptr<attn::nn::Translator> built;
  double label_smoothing = 0.0;
  if (model_name == "transformer") {
    // torch_ref.py's TransformerModel: post-LN, ReLU FFN, sinusoids, separate
    // source and target embeddings and output layer, dropout 0.1 everywhere
    // nn.TransformerEncoderLayer/DecoderLayer put it, attention weights included.
    attn::nn::TransformerOptions o(c.vocab, c.vocab);
    o.set_d_model(c.d_model).set_num_heads(c.num_heads).set_d_ff(c.d_ff)
        .set_layers(c.layers, c.layers).set_dropout(0.1).set_attention_dropout(0.1);
    built = std::make_shared<attn::nn::Transformer>(o);
    label_smoothing = 0.1;
  } else if (model_name == "luong") {
    // torch_ref.py's LuongModel: one LSTM layer each side, 'general' score,
    // global attention, input feeding.
    attn::nn::LuongOptions o(c.vocab, c.vocab);
    o.embedding_size = c.embedding;
    o.hidden_size = c.hidden;
    o.dropout = 0.1;
    built = std::make_shared<attn::nn::Luong>(o);
  } else if (model_name == "bahdanau" || model_name == "s2s") {
    attn::nn::RNNSearchOptions o(c.vocab, c.vocab);
    o.embedding_size = c.embedding;
    o.hidden_size = c.hidden;
    o.dropout = 0.1;
    o.attention = model_name == "bahdanau";
    built = std::make_shared<attn::nn::RNNSearch>(o);
  } else {
    std::fprintf(stderr,
                 "bench_train_step: --model must be bahdanau, s2s, luong or transformer, got '%s'\n",
                 model_name.c_str());
    return 2;
  }
  attn::nn::Translator& model = *built;
  const attn::Device device = attn::train::parse_device(device_name);
  model.to(device);
  attn::optim::Adam optimizer(model.parameters(), attn::optim::AdamOptions(1e-3));
  attn::optim::ConstantSchedule schedule(1e-3);
  attn::train::TrainStepOptions step_options;
  step_options.label_smoothing = label_smoothing;
  step_options.clip_norm = 1.0;
  if (precision != "fp32" && precision != "bf16") {
    std::fprintf(stderr, "bench_train_step: --precision must be fp32 or bf16, got '%s'\n",
                 precision.c_str());
    return 2;
  }
  step_options.bf16 = precision == "bf16";

  // 8 distinct batches, cycled, as the reference does.
  attn::Generator g(1);
  attn::Tensor lengths = attn::full({c.batch}, static_cast<double>(c.length), attn::kInt64);
  std::vector<attn::data::Batch> batches;
  for (int k = 0; k < 8; ++k) {
    attn::data::Batch batch;
    batch.source = attn::randint(4, c.vocab, {c.batch, c.length}, &g);              // (B, S)
    attn::Tensor target = attn::randint(4, c.vocab, {c.batch, c.length + 1}, &g);  // (B, T + 1)
    attn::Tensor input = target.narrow(1, 0, c.length).contiguous();
    {
      attn::NoGradGuard no_grad;
      input.narrow(1, 0, 1).fill_(2.0);  // <s>
    }
    batch.target_input = input.to(device);                                         // (B, T)
    batch.target_output = target.narrow(1, 1, c.length).contiguous().to(device);  // (B, T)
    batch.source = batch.source.to(device);
    batch.source_lengths = lengths;  // (B), on the host, as the batcher leaves it
    batch.target_tokens = c.batch * c.length;  // no padding
    for (int64_t b = 0; b < c.batch; ++b) batch.indices.push_back(static_cast<size_t>(b));
    batches.push_back(batch);
  }

  std::vector<double> times;
  for (int step = 0; step < warmup + steps; ++step) {
    auto start = std::chrono::steady_clock::now();
    attn::train::train_step(model, batches[step % 8], optimizer, schedule, step + 1, step_options);
    // The step's kernels are queued on the GPU; wait for them before reading the clock.
    if (device == attn::kCUDA) attn::kernels::cuda::synchronize();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (step >= warmup) times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  double tokens = static_cast<double>(c.batch * c.length);
  std::printf("[attn train] %s/%s on %s%s  %lld params  batch=%lld len=%lld\n", model_name.c_str(),
              config_name.c_str(), device_name.c_str(), precision == "bf16" ? " (bf16)" : "",
              static_cast<long long>(model.parameter_count()),
              static_cast<long long>(c.batch), static_cast<long long>(c.length));
  std::printf("  median %.1f ms/step, %.0f target tok/s over %d steps; peak RSS %.0f MB\n", median,
              tokens / (median / 1000.0), steps, peak_rss_mb());
  if (gemm_floor && device == attn::kCPU) {
    attn::kernels::cpu::start_recording_gemms();
    attn::train::train_step(model, batches[0], optimizer, schedule, warmup + steps + 1, step_options);
    std::map<ShapeKey, int> counts;
    for (const auto& call : attn::kernels::cpu::stop_recording_gemms()) ++counts[ShapeKey{call}];
    double floor_ms = 0, flops = 0;
    for (const auto& [key, count] : counts) {
      if (key.c.is_double) continue;
      floor_ms += count * time_gemm_ms(key.c);
      flops += count * 2.0 * key.c.batch * key.c.M * key.c.N * key.c.K;
    }
    std::printf("  GEMM-bound floor %.1f ms/step: %.2f GFLOP in %zu shapes at %.1f GFLOP/s; "
                "the step runs at %.1f GFLOP/s, %.0f%% of the floor's rate\n",
                floor_ms, flops / 1e9, counts.size(), flops / 1e6 / floor_ms,
                flops / 1e6 / median, 100.0 * floor_ms / median);
  }
  return 0;
}
