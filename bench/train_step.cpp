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
#include <memory>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include <attn/attn.h>

#include "data/batch.h"
#include "nn/luong.h"
#include "nn/rnnsearch.h"
#include "nn/transformer.h"
#include "kernels/cuda/runtime.h"
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

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("bench_train_step", "Time training steps on synthetic batches");
  std::string model_name = "bahdanau", config_name = "tiny";
  std::string device_name = "cpu";
  int steps = 30, warmup = 5;
  options.add_options()
      ("model", "bahdanau, s2s, luong or transformer", cxxopts::value(model_name)->default_value("bahdanau"))
      ("config", "tiny or small (torch_ref.py's configurations)", cxxopts::value(config_name)->default_value("tiny"))
      ("steps", "timed steps", cxxopts::value(steps)->default_value("30"))
      ("warmup-steps", "untimed steps first", cxxopts::value(warmup)->default_value("5"))
      ("device", "cpu or cuda", cxxopts::value(device_name)->default_value("cpu"));
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
  std::printf("[attn train] %s/%s on %s  %lld params  batch=%lld len=%lld\n", model_name.c_str(),
              config_name.c_str(), device_name.c_str(), static_cast<long long>(model.parameter_count()),
              static_cast<long long>(c.batch), static_cast<long long>(c.length));
  std::printf("  median %.1f ms/step, %.0f target tok/s over %d steps; peak RSS %.0f MB\n", median,
              tokens / (median / 1000.0), steps, peak_rss_mb());
  return 0;
}
