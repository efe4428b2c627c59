// The translator as a whole: RNNsearch's composed gradients, padding that never
// leaks into the outputs, greedy decoding's attention weights, and the
// trainer's promises (issue 3, "Tests"):
//   - gradcheck of the whole RNNsearch (and of RNNencdec, the model without
//     attention) in float64, through every parameter, on a tiny padded batch;
//   - mask leaks: changing the ids at padded source positions changes
//     nothing, bit for bit (logits, greedy outputs, attention weights);
//   - attention weights from greedy decoding are (B, T, S), 0 on padding,
//     and each row sums to 1;
//   - resuming equals an uninterrupted run, bit for bit (weights, optimizer
//     moments, step, RNG and data position);
//   - a truncated or altered checkpoint is refused, naming the file;
//   - a non-finite loss stops the run with exit code 1 and leaves the last
//     checkpoint intact.
// The command line is checked by tests/train/cli_test.sh.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/grad_mode.h"
#include "data/batch.h"
#include "data/vocab.h"
#include "nn/rnnsearch.h"
#include "tensor/safetensors.h"
#include "train/checkpoint.h"
#include "train/decode/decode.h"
#include "train/loaded_model.h"
#include "train/options.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
namespace nn = attn::nn;
namespace decode = attn::decode;
namespace train = attn::train;
using attn::Tensor;

// --- helpers ---------------------------------------------------------------------

// A fresh directory under /tmp (mkdtemp), removed with everything in it at
// the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "attn_test_translator_XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const char* made = ::mkdtemp(buffer.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// The message of the attn::Error that `body` throws, or "(no error)".
std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const attn::Error& error) {
    return error.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& piece) {
  return text.find(piece) != std::string::npos;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Same dtype, same shape and the same bytes: "bit for bit".
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.detach().cpu().contiguous(), y = b.detach().cpu().contiguous();
  if (x.numel() == 0) return true;
  size_t bytes = static_cast<size_t>(x.numel()) * attn::element_size(x.dtype());
  const char* px = static_cast<const char*>(x.unsafe_impl()->storage->data()) +
                   x.offset() * attn::element_size(x.dtype());
  const char* py = static_cast<const char*>(y.unsafe_impl()->storage->data()) +
                   y.offset() * attn::element_size(y.dtype());
  return std::memcmp(px, py, bytes) == 0;
}

// Two safetensors files hold the same tensors, bit for bit, and the same metadata.
void expect_same_safetensors(const std::string& path_a, const std::string& path_b) {
  attn::SafetensorsFile a = attn::load_safetensors(path_a);
  attn::SafetensorsFile b = attn::load_safetensors(path_b);
  ASSERT_EQ(a.tensors.size(), b.tensors.size()) << path_a << " vs " << path_b;
  EXPECT_FALSE(a.tensors.empty()) << path_a;
  for (const auto& [name, tensor] : a.tensors) {
    auto other = b.tensors.find(name);
    ASSERT_NE(other, b.tensors.end()) << name << " is missing from " << path_b;
    EXPECT_TRUE(bitwise_equal(tensor, other->second)) << name << " differs: " << path_a << " vs " << path_b;
  }
  EXPECT_EQ(a.metadata, b.metadata) << path_a << " vs " << path_b;
}

// A padded batch from id lists (no specials; the batcher adds <s> and </s>).
attn::data::Batch batch_of(const std::vector<std::vector<int64_t>>& sources,
                           const std::vector<std::vector<int64_t>>& targets) {
  std::vector<size_t> indices(sources.size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return attn::data::make_batch(sources, targets, indices);
}

nn::RNNSearchOptions tiny_options(bool attention, bool maxout) {
  nn::RNNSearchOptions options(/*source_vocab=*/7, /*target_vocab=*/6);
  options.embedding_size = 3;  // E
  options.hidden_size = 4;     // H
  options.attention_size = 3;  // A
  options.attention = attention;
  options.maxout = maxout;
  return options;
}

// --- 1. gradcheck of the composed model -------------------------------------------
//
// The per-op gradchecks (tests/autograd) and per-layer ones (tests/nn) already
// exist; this checks that the model wires them together right: every
// parameter's gradient through the encoder, the initial state, attention, the
// decoder, maxout and the output layer. Parameters are float32 by construction;
// Module::to(kFloat64) converts them in place, so the check runs in float64
// with gradcheck's tight default tolerance (1e-6 relative), not a loose
// float32 one that a small wiring mistake could hide under.
//
// Padding. Sources are padded; the <pad> row of the source embedding then
// gets gradient 0 by construction, and the finite difference is 0 too only
// because padded positions never reach the output: the check doubles as a
// leak check. Targets are not padded in the logits check (the <pad> row of the
// target embedding has gradient 0 by design, but padded target positions do
// change their own logits); the loss check pads them, since cross-entropy
// ignores <pad> positions.

void expect_model_gradcheck(const nn::RNNSearchOptions& options, const std::string& what) {
  attn::manual_seed(11);
  nn::RNNSearch model(options);
  model.to(attn::kFloat64);
  // B = 3, S = 4 (lengths 4, 2, 3), T = 3, no target padding.
  attn::data::Batch batch = batch_of({{4, 5, 6, 1}, {6, 4}, {5, 5, 4}}, {{4, 5}, {5, 4}, {1, 5}});
  ASSERT_EQ(batch.source.shape(), attn::Shape({3, 4}));
  ASSERT_EQ(batch.target_input.shape(), attn::Shape({3, 3}));
  std::vector<Tensor> parameters = model.parameters();
  attn::GradcheckResult logits = attn::gradcheck(
      [&](const std::vector<Tensor>&) {
        return model.forward(batch.source, batch.source_lengths, batch.target_input);
      },
      parameters);
  EXPECT_TRUE(logits.passed) << what << ", logits: " << logits.message;
  EXPECT_LT(logits.max_rel_error, 1e-6) << what;

  // The training loss, with padded targets and label smoothing.
  attn::data::Batch padded = batch_of({{4, 5, 6}, {6}, {5, 4}}, {{4, 5, 1}, {5}, {1, 5}});
  attn::GradcheckResult loss = attn::gradcheck(
      [&](const std::vector<Tensor>&) {
        Tensor out = model.forward(padded.source, padded.source_lengths, padded.target_input);
        return attn::cross_entropy(out.reshape({-1, out.size(-1)}), padded.target_output.reshape({-1}),
                                   attn::CrossEntropyOptions().ignore(attn::data::kPad).smoothing(0.1));
      },
      parameters);
  EXPECT_TRUE(loss.passed) << what << ", loss: " << loss.message;
  EXPECT_LT(loss.max_rel_error, 1e-6) << what;
}

TEST(RNNSearchGradcheck, AttentionAndMaxout) {
  expect_model_gradcheck(tiny_options(true, true), "RNNsearch (attention, maxout)");
}

TEST(RNNSearchGradcheck, NoAttentionPlainOutput) {
  expect_model_gradcheck(tiny_options(false, false), "RNNencdec (no attention, plain output)");
}

TEST(RNNSearchGradcheck, TwoLayersEachSide) {
  nn::RNNSearchOptions options = tiny_options(true, true);
  options.encoder_layers = 2;
  options.decoder_layers = 2;
  expect_model_gradcheck(options, "RNNsearch, 2 encoder and 2 decoder layers");
}

// --- 2. mask leaks ---------------------------------------------------------------------

struct LeakCase {
  attn::data::Batch batch;   // padded with <pad>
  Tensor source_changed;     // the same, with other valid ids at the padded positions
};

// B = 3, S = 6, lengths 6, 2, 4; the padded cells get ids 9, 10, 11 (ids that
// appear nowhere else), then 5.
LeakCase leak_case() {
  LeakCase out;
  out.batch = batch_of({{4, 5, 6, 7, 8, 4}, {8, 6}, {5, 5, 7, 4}},
                       {{4, 5, 6}, {7}, {8, 4, 5, 6, 7}});
  out.source_changed = out.batch.source.clone();
  int64_t* ids = out.source_changed.data_ptr<int64_t>();
  const int64_t S = out.batch.source.size(1);
  const int64_t* lengths = out.batch.source_lengths.data_ptr<int64_t>();
  int64_t fill[] = {9, 10, 11, 5};
  int k = 0;
  for (int64_t b = 0; b < out.batch.size(); ++b) {
    for (int64_t j = lengths[b]; j < S; ++j) ids[b * S + j] = fill[k++ % 4];
  }
  return out;
}

std::shared_ptr<nn::RNNSearch> leak_model(bool attention, bool maxout) {
  attn::manual_seed(5);
  nn::RNNSearchOptions options(/*source_vocab=*/12, /*target_vocab=*/10);
  options.embedding_size = 8;
  options.hidden_size = 8;
  options.attention = attention;
  options.maxout = maxout;
  options.encoder_layers = 2;
  auto model = std::make_shared<nn::RNNSearch>(options);
  model->eval();
  return model;
}

void expect_no_leak(bool attention, bool maxout) {
  SCOPED_TRACE(attention ? "with attention" : "without attention");
  auto model = leak_model(attention, maxout);
  LeakCase c = leak_case();
  ASSERT_FALSE(bitwise_equal(c.batch.source, c.source_changed));
  attn::NoGradGuard no_grad;
  Tensor logits = model->forward(c.batch.source, c.batch.source_lengths, c.batch.target_input);
  Tensor logits_changed = model->forward(c.source_changed, c.batch.source_lengths, c.batch.target_input);
  EXPECT_EQ(logits.shape(), attn::Shape({3, 6, 10}));
  EXPECT_TRUE(bitwise_equal(logits, logits_changed)) << "padded source ids changed the logits";

  decode::DecodeResult decoded = decode::greedy_decode(*model, c.batch.source, c.batch.source_lengths, 12);
  decode::DecodeResult decoded_changed =
      decode::greedy_decode(*model, c.source_changed, c.batch.source_lengths, 12);
  EXPECT_EQ(decoded.tokens, decoded_changed.tokens);
  EXPECT_EQ(decoded.attention.defined(), attention);
  EXPECT_EQ(decoded_changed.attention.defined(), attention);
  if (attention) {
    EXPECT_TRUE(bitwise_equal(decoded.attention, decoded_changed.attention))
        << "padded source ids changed the attention weights";
  }
}

TEST(MaskLeak, PaddedSourceIdsChangeNothingWithAttention) { expect_no_leak(true, true); }

TEST(MaskLeak, PaddedSourceIdsChangeNothingWithoutAttention) { expect_no_leak(false, false); }

// Embedding rows used only at padded positions get no gradient: nothing
// there reaches the loss, backward included.
TEST(MaskLeak, PaddedSourceIdsGetNoGradient) {
  auto model = leak_model(true, true);
  model->train();  // dropout is 0: training mode only switches the code path
  LeakCase c = leak_case();
  Tensor logits = model->forward(c.source_changed, c.batch.source_lengths, c.batch.target_input);
  Tensor loss = attn::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                    c.batch.target_output.reshape({-1}),
                                    attn::CrossEntropyOptions().ignore(attn::data::kPad));
  loss.backward();
  Tensor grad;
  for (const auto& [name, parameter] : model->named_parameters()) {
    if (name == "source_embedding.weight") grad = parameter.grad();
  }
  ASSERT_TRUE(grad.defined()) << "no gradient for source_embedding.weight";
  std::vector<float> rows = grad.to(attn::kFloat32).to_vector<float>();
  const int64_t E = 8;
  for (int64_t id : {9, 10, 11}) {
    for (int64_t e = 0; e < E; ++e) {
      EXPECT_EQ(rows[id * E + e], 0.0f) << "id " << id << " (only at padded positions), feature " << e;
    }
  }
  bool some_real_row_learns = false;
  for (int64_t e = 0; e < E; ++e) some_real_row_learns |= rows[4 * E + e] != 0.0f;
  EXPECT_TRUE(some_real_row_learns) << "id 4 (a real token) got no gradient at all";
}

// --- 3. greedy decoding's attention weights ------------------------------------------

TEST(GreedyDecode, AttentionIsBTSZeroOnPaddingRowsSumToOne) {
  auto model = leak_model(true, true);
  LeakCase c = leak_case();
  const int64_t B = 3, S = 6, max_length = 9;
  decode::DecodeResult decoded = decode::greedy_decode(*model, c.source_changed, c.batch.source_lengths, max_length);
  ASSERT_EQ(decoded.tokens.size(), static_cast<size_t>(B));
  ASSERT_TRUE(decoded.attention.defined());
  ASSERT_EQ(decoded.attention.dim(), 3);
  // T = the longest output including its </s>, at most max_length steps.
  int64_t T = 0;
  for (const auto& tokens : decoded.tokens) {
    EXPECT_LE(static_cast<int64_t>(tokens.size()), max_length);
    T = std::max<int64_t>(T, std::min<int64_t>(max_length, static_cast<int64_t>(tokens.size()) + 1));
  }
  EXPECT_EQ(decoded.attention.shape(), attn::Shape({B, T, S}));

  std::vector<float> weights = decoded.attention.to(attn::kFloat32).contiguous().to_vector<float>();
  const int64_t* lengths = c.batch.source_lengths.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < decoded.attention.size(1); ++t) {
      double row_sum = 0.0;
      for (int64_t j = 0; j < S; ++j) {
        float w = weights[(b * decoded.attention.size(1) + t) * S + j];
        if (j >= lengths[b]) {
          EXPECT_EQ(w, 0.0f) << "attention on padding at b=" << b << " t=" << t << " j=" << j;
        } else {
          EXPECT_GE(w, 0.0f);
        }
        row_sum += w;
      }
      EXPECT_NEAR(row_sum, 1.0, 1e-5) << "b=" << b << " t=" << t;
    }
  }
}

TEST(GreedyDecode, NoAttentionWithoutAttentionModel) {
  auto model = leak_model(false, true);
  LeakCase c = leak_case();
  decode::DecodeResult decoded = decode::greedy_decode(*model, c.batch.source, c.batch.source_lengths, 5);
  EXPECT_FALSE(decoded.attention.defined());
  ASSERT_EQ(decoded.tokens.size(), 3u);
  for (const auto& tokens : decoded.tokens) {
    EXPECT_LE(tokens.size(), 5u);
    for (int64_t id : tokens) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 10);
      EXPECT_NE(id, attn::data::kEos);
    }
  }
}

// --- the trainer ----------------------------------------------------------------------

struct TrainerConfig {
  train::ModelOptions model;
  train::DataOptions data;
  train::TrainOptions train;
};

// A tiny run of the reverse task: 200 training pairs, batches of 16, 8-unit
// model, dropout on so that the RNG's state matters to the result.
TrainerConfig tiny_config(const std::string& model_path, const std::string& after) {
  TrainerConfig config;
  config.model.type = "bahdanau";
  config.model.dim_emb = 8;
  config.model.dim_rnn = 8;
  config.model.dropout_rnn = 0.1;
  config.data.task = "reverse";
  config.data.task_train_size = 200;
  config.data.mini_batch = 16;
  config.train.model_path = model_path;
  config.train.after = after;
  config.train.save_freq = 5;
  config.train.disp_freq = 5;
  config.train.valid_freq = 10;
  config.train.valid_max_sentences = 16;
  config.train.valid_samples = 1;
  config.train.quiet = true;
  return config;
}

int run_trainer(const TrainerConfig& config) {
  return train::Trainer(config.model, config.data, config.train).run();
}

// 13 batches per epoch (200 / 16), so 20 updates cross an epoch boundary and
// the stop at 10 falls in the middle of the first epoch.
TEST(Trainer, ResumeEqualsUninterruptedBitForBit) {
  TempDir dir_a, dir_b;
  const std::string model_a = dir_a.path("model.safetensors");
  const std::string model_b = dir_b.path("model.safetensors");
  ASSERT_EQ(run_trainer(tiny_config(model_a, "20u")), 0);

  ASSERT_EQ(run_trainer(tiny_config(model_b, "10u")), 0);
  attn::train::Checkpoint halfway = attn::train::load_checkpoint(model_b);
  ASSERT_EQ(halfway.state.update, 10);
  ASSERT_EQ(run_trainer(tiny_config(model_b, "20u")), 0);  // resumes from update 10

  attn::train::Checkpoint a = attn::train::load_checkpoint(model_a);
  attn::train::Checkpoint b = attn::train::load_checkpoint(model_b);
  EXPECT_EQ(a.state.update, 20);
  EXPECT_EQ(b.state.update, 20);
  EXPECT_EQ(a.state.epoch, b.state.epoch);
  EXPECT_EQ(a.state.epoch, 1);  // the second epoch is in progress
  EXPECT_EQ(a.state.batch_in_epoch, b.state.batch_in_epoch);
  EXPECT_EQ(a.state.rng_seed, b.state.rng_seed);
  EXPECT_EQ(a.state.rng_offset, b.state.rng_offset);
  EXPECT_GT(a.state.rng_offset, 0u) << "dropout drew no random numbers";
  EXPECT_FALSE(a.state.optimizer.empty());
  // Weights and metadata (which pairs them with the state's checksum), and the
  // state file itself: optimizer moments, step counts, counters, scores.
  expect_same_safetensors(model_a, model_b);
  expect_same_safetensors(attn::train::checkpoint_state_path(model_a), attn::train::checkpoint_state_path(model_b));
  // The weights moved between update 10 and 20: equality is not trivially true.
  bool moved = false;
  for (const auto& [name, tensor] : a.weights) moved |= !bitwise_equal(tensor, halfway.weights.at(name));
  EXPECT_TRUE(moved);
}

// A checkpoint cut short or altered is refused, naming the file.
TEST(Trainer, TruncatedOrAlteredCheckpointIsRefused) {
  TempDir dir;
  const std::string model = dir.path("model.safetensors");
  const std::string state = attn::train::checkpoint_state_path(model);
  TrainerConfig config = tiny_config(model, "5u");
  ASSERT_EQ(run_trainer(config), 0);
  const std::string model_bytes = read_bytes(model);
  const std::string state_bytes = read_bytes(state);
  ASSERT_GT(model_bytes.size(), 100u);
  ASSERT_GT(state_bytes.size(), 100u);
  config.train.after = "10u";

  // The model file, cut in half.
  write_bytes(model, model_bytes.substr(0, model_bytes.size() / 2));
  std::string message = error_of([&] { run_trainer(config); });
  EXPECT_TRUE(contains(message, model)) << message;
  message = error_of([&] { train::load_model(model); });
  EXPECT_TRUE(contains(message, model)) << message;
  // Cut by one byte only.
  write_bytes(model, model_bytes.substr(0, model_bytes.size() - 1));
  message = error_of([&] { run_trainer(config); });
  EXPECT_TRUE(contains(message, model)) << message;

  // One byte of the weights flipped: the sizes still agree, the checksum does not.
  std::string altered = model_bytes;
  altered[altered.size() - 3] ^= 0x40;
  write_bytes(model, altered);
  message = error_of([&] { run_trainer(config); });
  EXPECT_TRUE(contains(message, model) && contains(message, "checksum")) << message;
  message = error_of([&] { train::load_model(model); });
  EXPECT_TRUE(contains(message, model) && contains(message, "checksum")) << message;

  // The state file, cut in half, with the model intact: translation still
  // works (it needs only the weights), resuming does not.
  write_bytes(model, model_bytes);
  write_bytes(state, state_bytes.substr(0, state_bytes.size() / 2));
  message = error_of([&] { run_trainer(config); });
  EXPECT_TRUE(contains(message, state)) << message;
  EXPECT_EQ(error_of([&] { train::load_model(model); }), "(no error)");

  // Both restored: the run resumes and finishes.
  write_bytes(state, state_bytes);
  EXPECT_EQ(run_trainer(config), 0);
  EXPECT_EQ(attn::train::load_checkpoint(model).state.update, 10);
}

// A learning rate of 1e30 with SGD and no clipping: the first update is
// computed from finite gradients but moves the weights to ~1e29, so the
// second forward pass overflows float32 (3.4e38). The run must stop with exit
// code 1, name the update, and leave the checkpoint of update 1 as it was.
TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastCheckpoint) {
  TempDir dir, reference_dir;
  const std::string model = dir.path("model.safetensors");
  TrainerConfig config = tiny_config(model, "10u");
  config.model.dropout_rnn = 0.0;
  config.train.optimizer = "sgd";
  config.train.learn_rate = 1e30;
  config.train.clip_norm = 0.0;
  config.train.save_freq = 1;
  config.train.valid_freq = 0;
  testing::internal::CaptureStderr();
  int code = run_trainer(config);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1) << err;
  EXPECT_TRUE(contains(err, "non-finite")) << err;
  EXPECT_TRUE(contains(err, "at update 2")) << err;
  EXPECT_TRUE(contains(err, "update 1) is intact")) << err;

  // The checkpoint on disk is update 1's, whole: it loads, and it equals a
  // run that stopped after one update on purpose.
  attn::train::Checkpoint kept = attn::train::load_checkpoint(model);
  EXPECT_EQ(kept.state.update, 1);
  const std::string reference = reference_dir.path("model.safetensors");
  TrainerConfig one = config;
  one.train.model_path = reference;
  one.train.after = "1u";
  ASSERT_EQ(run_trainer(one), 0);
  expect_same_safetensors(model, reference);
  expect_same_safetensors(attn::train::checkpoint_state_path(model), attn::train::checkpoint_state_path(reference));
  for (const auto& [name, tensor] : kept.weights) {
    for (float v : tensor.to(attn::kFloat32).to_vector<float>()) {
      ASSERT_TRUE(std::isfinite(v)) << name;
    }
  }
}

}  // namespace
