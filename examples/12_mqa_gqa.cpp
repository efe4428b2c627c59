// Chapter 12, MQA and GQA (docs/12-mqa-and-gqa.md).
//
//   ./build/release/examples/example_12_mqa_gqa
//   ./build/release/examples/example_12_mqa_gqa --svg docs/figures/12-kv-cache.svg
//
// Multi-query (Shazeer 2019) and grouped-query attention (Ainslie et al. 2023)
// keep H query heads but only Hkv key/value heads, each shared by a group of
// G = H / Hkv query heads. In attn that is one option, num_kv_heads.
// 1. The idea in numbers, for the paper's base model (d_model 512, 8 heads of
//    64) at Hkv = 8 (MHA), 4, 2 (GQA) and 1 (MQA): the parameters of k_proj and
//    v_proj, and the cache bytes per token per decoder layer, each by formula
//    and from a real module or cache; then the toy model's parameter counts.
// 2. What grouping means: the module (each kv head serving its group in
//    place) against the same attention written head by head, query head h
//    reading key/value head h / G (float64); an MHA module whose k/v rows are
//    copied group-wise equals the GQA module, and its gradient, summed over
//    each group, is the GQA module's gradient.
// 3. A tiny Transformer trained three times on `dates` (MHA, GQA, MQA; the same
//    seed, batches and recipe), the loss every few updates, then the cache
//    of one greedily decoded test sentence for each.
// 4. With --svg PATH: the cache of the base model for a batch of 32 sentences
//    against the positions kept, for MHA, GQA-4, GQA-2 and MQA, drawn with
//    train/plot/canvas.h.
// The checks are what holds on every machine: the formulas, the equivalences,
// and that each model's loss falls by a clear margin. Which of the three ends
// lower is printed, not checked. Returns 1 if a check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "data/batch.h"
#include "data/tasks.h"
#include "nn/transformer.h"
#include "train/plot/canvas.h"
#include "train/plot/line_chart.h"
#include "train/dataset.h"
#include "train/decode/decode.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"

namespace {

namespace nn = attn::nn;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

const char* kind(int64_t H, int64_t Hkv) { return Hkv == H ? "MHA" : (Hkv == 1 ? "MQA" : "GQA"); }

// Parameters of a post-LN Transformer with separate embeddings and an output
// layer with bias, counted from the sizes (as in examples/09_transformer.cpp).
int64_t parameters(int64_t D, int64_t H, int64_t Hkv, int64_t F, int64_t layers, int64_t Vs,
                   int64_t Vt) {
  const int64_t kv = Hkv * (D / H);                               // width of k_proj, v_proj
  const int64_t attention = 2 * (D * D + D) + 2 * (D * kv + kv);  // q, out; k, v
  const int64_t ffn = D * F + F + F * D + D;                      // W_1, b_1, W_2, b_2
  const int64_t norm = 2 * D;                                     // gamma, beta
  const int64_t encoder = attention + ffn + 2 * norm, decoder = 2 * attention + ffn + 3 * norm;
  return layers * (encoder + decoder) + D * (Vs + Vt) + (D + 1) * Vt;
}

// The chapter's cache formula: 2 (a key and a value) * layers * rows *
// positions * Hkv * Dh numbers of 4 bytes (float32).
int64_t cache_bytes(int64_t layers, int64_t rows, int64_t positions, int64_t Hkv, int64_t Dh) {
  return 2 * layers * rows * positions * Hkv * Dh * 4;
}

// --- section 3: training ------------------------------------------------------

constexpr int64_t kDModel = 32, kHeads = 4, kWarmup = 40, kUpdates = 100, kWindow = 20;

struct Run {
  std::vector<double> windows;  // mean smoothed loss of each kWindow updates
  double seconds = 0;
};

// Chapter 10's recipe (Adam 0.9/0.98/1e-9, eq. (3) with warm-up, smoothing
// 0.1, dropout 0.1) on the same batches for every model.
Run train(nn::Transformer& model, const attn::train::EncodedPairs& set) {
  attn::data::BatchOptions batching;
  batching.mini_batch = 32;
  batching.seed = 12;
  attn::data::BatchIterator batches(set.sources, set.targets, batching);
  attn::optim::Adam optimizer(model.parameters(),
                              attn::optim::AdamOptions().set_betas(0.9, 0.98).set_eps(1e-9));
  attn::optim::InverseSqrtSchedule schedule(
      attn::optim::InverseSqrtOptions(1.0).set_warmup(kWarmup).set_d_model(kDModel));
  attn::train::TrainStepOptions step_options;
  step_options.label_smoothing = 0.1;
  step_options.clip_norm = 1.0;
  Run run;
  const auto start = std::chrono::steady_clock::now();
  double window = 0;
  model.train();
  for (int64_t update = 1; update <= kUpdates; ++update) {
    if (!batches.has_next()) batches.next_epoch();
    attn::data::Batch batch = batches.next();
    // forward, smoothed loss, backward, clip, schedule, step (train/train_step.h)
    attn::train::TrainStepResult step =
        attn::train::train_step(model, batch, optimizer, schedule, update, step_options);
    window += step.loss;
    if (update % kWindow == 0) {
      run.windows.push_back(window / kWindow);
      window = 0;
    }
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

// --- section 4: the picture ---------------------------------------------------

// The base model's cache for a batch of 32 sentences against positions kept
// (t + S) per sentence, one line per Hkv, and the model's own weights as a
// dashed line for scale.
void write_cache_svg(const std::string& path) {
  const int64_t layers = 6, Dh = 64, rows = 32, longest = 2048;
  const std::vector<int64_t> kv_heads = {8, 4, 2, 1};
  const char* names[4] = {"MHA (8 kv heads)", "GQA-4", "GQA-2", "MQA (1 kv head)"};
  const double MiB = 1024.0 * 1024.0;
  // The base model with one shared 37000-token table and a tied output layer
  // (as in examples/09_transformer.cpp), in float32.
  const double weights = 4.0 * static_cast<double>(parameters(512, 8, 8, 2048, 6, 37000, 0)) / MiB;

  // Each cache grows linearly with the positions kept, so two points draw it.
  const std::vector<double> ends = {0.0, static_cast<double>(longest)};
  std::vector<attn::plot::ChartSeries> lines;
  for (int m = 0; m < 4; ++m) {
    const double end = static_cast<double>(cache_bytes(layers, rows, longest, kv_heads[m], Dh)) / MiB;
    lines.push_back({names[m], ends, {0.0, end}});
  }
  char weights_label[48];
  std::snprintf(weights_label, sizeof weights_label, "the weights, %.0f MiB", weights);
  lines.push_back({weights_label, ends, {weights, weights}, /*dashed=*/true});
  attn::plot::LineChartOptions chart;
  chart.title = "KV cache of the base model (6 decoder layers, 8 query heads of 64, float32), batch of 32";
  chart.x_label = "positions kept per sentence (decoded t + source S)";
  chart.y_label = "MiB";
  chart.width = 820;
  attn::plot::Drawing d = attn::plot::line_chart(lines, chart);
  attn::plot::write_drawing(d, path);
  std::printf("  the weights (one shared 37000 table, tied output): %.0f MiB\n", weights);
  for (int m = 0; m < 4; ++m) {
    const double per_position = static_cast<double>(cache_bytes(layers, rows, 1, kv_heads[m], Dh)) / MiB;
    std::printf("  %-17s %5.0f MiB at %lld positions; as large as the weights at %4.0f\n", names[m],
                per_position * static_cast<double>(longest), static_cast<long long>(longest),
                weights / per_position);
  }
  std::printf("  wrote %s\n", path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string svg_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--svg") == 0) svg_path = argv[i + 1];
  }

  section("1. The idea in numbers: the base model's k/v projections and cache");
  {
    const int64_t D = 512, H = 8, Dh = D / H;
    std::printf("  D = %lld, H = %lld query heads, Dh = %lld; per attention, per decoder layer:\n",
                static_cast<long long>(D), static_cast<long long>(H), static_cast<long long>(Dh));
    std::printf("  %-4s %8s %6s %16s %22s %18s\n", "", "kv heads", "G", "k_proj + v_proj",
                "cache / token / layer", "self cache, t=100");
    for (int64_t Hkv : {8, 4, 2, 1}) {
      attn::manual_seed(12);
      nn::MultiheadAttention module(nn::MultiheadAttentionOptions(D, H).set_num_kv_heads(Hkv));
      const int64_t counted = module.k_proj->parameter_count() + module.v_proj->parameter_count();
      // One decoder layer, one sentence of one source token, three decoded
      // positions: the self-attention cache then holds 3 keys and 3 values.
      nn::Transformer model(nn::TransformerOptions(8, 8).set_num_kv_heads(Hkv).set_d_ff(16)
                                .set_layers(1, 1));
      model.eval();
      attn::NoGradGuard no_grad;
      Tensor source = attn::from_vector(std::vector<int64_t>{5}, {1, 1});
      Tensor lengths = attn::from_vector(std::vector<int64_t>{1}, {1});
      std::unique_ptr<nn::DecoderState> state = model.start(source, lengths);
      for (int64_t token : {2, 6, 7}) {
        model.step(*state, attn::from_vector(std::vector<int64_t>{token}, {1}));
      }
      const int64_t per_token = nn::Transformer::cache_bytes(*state).self_attention / 3;
      std::printf("  %-4s %8lld %6lld %16lld %16lld bytes %12lld bytes\n", kind(H, Hkv),
                  static_cast<long long>(Hkv), static_cast<long long>(H / Hkv),
                  static_cast<long long>(counted), static_cast<long long>(per_token),
                  static_cast<long long>(cache_bytes(6, 1, 100, Hkv, Dh)));
      check(counted == 2 * (D * Hkv * Dh + Hkv * Dh) && per_token == cache_bytes(1, 1, 1, Hkv, Dh),
            "k/v parameters = 2(D Hkv Dh + Hkv Dh); cache = 2 Hkv Dh 4 bytes per token per layer");
    }
    std::printf("  (the last column: 6 decoder layers, one sentence, 100 decoded positions)\n");
  }
  // The toy model of chapter 10 on `attn train --task dates`: 249 source
  // words, 15 target characters.
  const int64_t Vs = 249, Vt = 15;
  for (int64_t Hkv : {4, 2, 1}) {
    nn::Transformer model(nn::TransformerOptions::toy(Vs, Vt).set_num_kv_heads(Hkv));
    const int64_t counted = model.parameter_count();
    std::printf("  toy dates model, 4 heads, %lld kv head%s (%s): %lld parameters\n",
                static_cast<long long>(Hkv), Hkv == 1 ? "" : "s", kind(4, Hkv),
                static_cast<long long>(counted));
    check(counted == parameters(64, 4, Hkv, 256, 2, Vs, Vt), "parameter_count() = the formula");
  }

  section("2. What grouping does (float64, B = 2, Tq = 3, Tk = 5, D = 16, H = 4, Dh = 4)");
  {
    const int64_t B = 2, Tq = 3, Tk = 5, D = 16, H = 4, Dh = D / H;
    attn::Generator generator(12);
    Tensor query = attn::randn({B, Tq, D}, attn::kFloat64, &generator);   // (B, Tq, D)
    Tensor memory = attn::randn({B, Tk, D}, attn::kFloat64, &generator);  // (B, Tk, D)
    Tensor mask = nn::padding_mask(attn::from_vector(std::vector<int64_t>{5, 3}, {2}), Tk);  // (B, 1, 1, Tk)
    Tensor hidden = attn::eq(mask.squeeze(1), 0);                         // (B, 1, Tk): 1 = padding
    Tensor direction = attn::randn({B, Tq, D}, attn::kFloat64, &generator);  // loss = sum(output * direction)
    for (int64_t Hkv : {2, 1}) {
      const int64_t G = H / Hkv;
      std::printf("  %s, Hkv = %lld, G = %lld: query head h reads key/value head h / %lld\n",
                  kind(H, Hkv), static_cast<long long>(Hkv), static_cast<long long>(G),
                  static_cast<long long>(G));
      attn::manual_seed(12);
      nn::MultiheadAttention grouped(nn::MultiheadAttentionOptions(D, H).set_num_kv_heads(Hkv));
      grouped.to(attn::kFloat64);
      nn::MultiheadAttentionOutput module = grouped.forward(query, memory, memory, mask);

      // The same attention head by head: only Hkv key and value heads exist.
      Tensor keys = grouped.project_keys(memory), values = grouped.project_values(memory);  // (B, Hkv, Tk, Dh)
      Tensor q = grouped.q_proj->forward(query).reshape({B, Tq, H, Dh}).transpose(1, 2);    // (B, H, Tq, Dh)
      std::vector<Tensor> heads, weights;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / G;  // the group of query head h
        Tensor scores = attn::matmul(q.select(1, h), keys.select(1, g).transpose(1, 2)) *
                        (1.0 / std::sqrt(static_cast<double>(Dh)));           // (B, Tq, Tk)
        Tensor w = attn::softmax(attn::masked_fill(scores, hidden, -INFINITY), -1);  // (B, Tq, Tk)
        heads.push_back(attn::matmul(w, values.select(1, g)));               // (B, Tq, Dh)
        weights.push_back(w);
      }
      Tensor by_hand = grouped.out_proj->forward(attn::cat(heads, 2));       // (B, Tq, H*Dh) -> (B, Tq, D)
      const double gap = std::max(largest_difference(module.output, by_hand),
                                  largest_difference(module.weights, attn::stack(weights, 1)));
      std::printf("    cached keys %s, attended as %s; head by head: largest difference %.1e\n",
                  attn::shape_str(keys.shape()).c_str(),
                  attn::shape_str(module.weights.shape()).c_str(), gap);
      check(gap < 1e-12, "the module = each query head h attending with key/value head h / G (to 1e-12)");
      // Heads 0 and 1 share group 0's keys, yet weigh them differently: their queries differ.
      const double apart = largest_difference(weights[0], weights[1]);
      std::printf("    heads 0 and 1 read the same keys; their weights differ by up to %.3f\n", apart);
      check(apart > 1e-3, "query heads of one group share keys, not attention weights");

      // MHA (H key/value heads) with the rows of head h copied from group h / G.
      nn::MultiheadAttention full(nn::MultiheadAttentionOptions(D, H));
      full.to(attn::kFloat64);
      std::vector<int64_t> rows;
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t d = 0; d < Dh; ++d) rows.push_back((h / G) * Dh + d);
      }
      Tensor index = attn::from_vector(rows, {H * Dh});
      auto state = grouped.state_dict();
      for (const char* name : {"k_proj.weight", "k_proj.bias", "v_proj.weight", "v_proj.bias"}) {
        state[name] = attn::index_select(state.at(name).detach(), 0, index);  // (Hkv*Dh, ...) -> (H*Dh, ...)
      }
      full.load_state_dict(state);
      nn::MultiheadAttentionOutput copied = full.forward(query, memory, memory, mask);
      const double same = std::max(largest_difference(module.output, copied.output),
                                   largest_difference(module.weights, copied.weights));
      std::printf("    MHA with k/v rows copied group-wise: %lld k/v parameters against %lld, "
                  "largest difference %.1e\n",
                  static_cast<long long>(full.k_proj->parameter_count() + full.v_proj->parameter_count()),
                  static_cast<long long>(grouped.k_proj->parameter_count() +
                                         grouped.v_proj->parameter_count()),
                  same);
      check(same < 1e-12, "GQA = MHA whose heads in each group have equal k/v projections (to 1e-12)");
      // A shared head's gradient is the sum of what its G query heads send back.
      (module.output * direction).sum().backward();
      (copied.output * direction).sum().backward();
      Tensor summed = full.k_proj->weight.grad().reshape({Hkv, G, Dh, D}).sum(1).reshape({Hkv * Dh, D});
      const double grad_gap = largest_difference(grouped.k_proj->weight.grad(), summed);
      std::printf("    k_proj.weight gradient: GQA's against MHA's summed over each group: %.1e\n",
                  grad_gap);
      check(grad_gap < 1e-12, "a shared head's gradient is the sum over its G query heads (to 1e-12)");
    }
  }

  section("3. MHA, GQA and MQA trained side by side on dates");
  attn::data::TaskOptions task;
  task.train_size = 2000;
  task.valid_size = 10;
  task.test_size = 10;
  attn::data::TaskSplits splits = attn::data::make_task("dates", task);
  attn::train::DataOptions data;
  data.lowercase = true;
  attn::train::TextPipeline pipeline = attn::train::build_pipeline(data, splits.train);
  attn::train::EncodedPairs train_set = attn::train::encode_pairs(pipeline, splits.train);
  attn::train::EncodedPairs test_set = attn::train::encode_pairs(pipeline, splits.test);
  const int64_t V_src = pipeline.source_vocab.size(), V_tgt = pipeline.target_vocab.size();
  std::printf("  d_model %lld, %lld query heads, 1 + 1 layers, d_ff 64; chapter 10's recipe "
              "(warm-up %lld), %lld updates of 32 sentences,\n  the same seed and batches for "
              "each; smoothed loss, mean of each %lld updates:\n",
              static_cast<long long>(kDModel), static_cast<long long>(kHeads),
              static_cast<long long>(kWarmup), static_cast<long long>(kUpdates),
              static_cast<long long>(kWindow));
  const std::vector<int64_t> trained_kv = {4, 2, 1};
  std::vector<Run> runs;
  std::vector<std::unique_ptr<nn::Transformer>> models;
  for (int64_t Hkv : trained_kv) {
    attn::manual_seed(3);
    models.push_back(std::make_unique<nn::Transformer>(
        nn::TransformerOptions::toy(V_src, V_tgt).set_d_model(kDModel).set_num_heads(kHeads)
            .set_num_kv_heads(Hkv).set_d_ff(64).set_layers(1, 1)));
    runs.push_back(train(*models.back(), train_set));
  }
  std::printf("  %8s", "update");
  for (size_t m = 0; m < runs.size(); ++m) {
    std::printf("  %s-%lld", kind(kHeads, trained_kv[m]), static_cast<long long>(trained_kv[m]));
  }
  std::printf("\n");
  for (size_t w = 0; w < runs[0].windows.size(); ++w) {
    std::printf("  %8lld", static_cast<long long>((w + 1) * kWindow));
    for (const Run& run : runs) std::printf("  %6.3f", run.windows[w]);
    std::printf("\n");
  }
  std::printf("  %8s", "params");
  for (const auto& model : models) std::printf("  %6lld", static_cast<long long>(model->parameter_count()));
  std::printf("\n  %8s", "seconds");
  for (const Run& run : runs) std::printf("  %6.2f", run.seconds);
  std::printf("\n");
  for (size_t m = 0; m < runs.size(); ++m) {
    check(runs[m].windows.back() < 0.7 * runs[m].windows.front(),
          std::string(kind(kHeads, trained_kv[m])) +
              ": the smoothed loss fell to less than 0.7 of its first window's");
  }
  // One test sentence, decoded greedily by each model; its cache at the end.
  attn::data::Batch one = attn::data::make_batch(test_set.sources, test_set.targets, {0});
  const int64_t S = one.source.size(1), Dh = kDModel / kHeads;
  std::printf("  \"%s\" (S = %lld source tokens), greedy, the cache at the last step:\n",
              test_set.pairs[0].source.c_str(), static_cast<long long>(S));
  for (size_t m = 0; m < models.size(); ++m) {
    models[m]->eval();
    attn::decode::DecodeResult out = attn::decode::greedy_decode(*models[m], one.source,
                                                                 one.source_lengths, 20);
    const int64_t steps = out.attention.size(1), Hkv = trained_kv[m];
    std::string text;
    for (const std::string& token : pipeline.target_vocab.decode(out.tokens[0])) text += token + " ";
    std::printf("    %s-%lld: \"%s\" (%lld steps) self %5lld + cross %5lld = %5lld bytes\n",
                kind(kHeads, Hkv), static_cast<long long>(Hkv), text.c_str(),
                static_cast<long long>(steps), static_cast<long long>(out.peak_cache.self_attention),
                static_cast<long long>(out.peak_cache.cross_attention),
                static_cast<long long>(out.peak_cache.total()));
    check(out.peak_cache.self_attention == cache_bytes(1, 1, steps, Hkv, Dh) &&
              out.peak_cache.cross_attention == cache_bytes(1, 1, S, Hkv, Dh),
          "= 2 * layers * B * positions * Hkv * Dh * 4 bytes, self (t = steps) and cross (S)");
  }

  if (!svg_path.empty()) {
    section("4. The base model's cache against length (--svg)");
    write_cache_svg(svg_path);
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
