#include "train/options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "kernels/cuda/runtime.h"
#include "kernels/error.h"

namespace attn::train {
namespace {

std::string get(const std::map<std::string, std::string>& metadata, const std::string& key) {
  auto found = metadata.find(key);
  ATTN_CHECK(found != metadata.end(), "model metadata: key '", key,
             "' is missing (was this file written by `attn train`?)");
  return found->second;
}

int64_t get_int(const std::map<std::string, std::string>& metadata, const std::string& key) {
  std::string text = get(metadata, key);
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  ATTN_CHECK(!text.empty() && end && *end == '\0' && errno != ERANGE, "model metadata: key '", key,
             "' should be an integer that fits in 64 bits, got '", text, "'");
  return value;
}

double get_double(const std::map<std::string, std::string>& metadata, const std::string& key) {
  std::string text = get(metadata, key);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  ATTN_CHECK(!text.empty() && end && *end == '\0', "model metadata: key '", key,
             "' should be a number, got '", text, "'");
  return value;
}

bool get_bool(const std::map<std::string, std::string>& metadata, const std::string& key) {
  std::string text = get(metadata, key);
  ATTN_CHECK(text == "0" || text == "1", "model metadata: key '", key, "' should be 0 or 1, got '",
             text, "'");
  return text == "1";
}

// Keys added after the first models were saved: a file without them was
// written before they existed and means the old behaviour, `fallback`.
std::string get_or(const std::map<std::string, std::string>& metadata, const std::string& key,
                   const std::string& fallback) {
  return metadata.count(key) ? get(metadata, key) : fallback;
}

}  // namespace

std::map<std::string, std::string> ModelOptions::to_metadata() const {
  return {{"model.type", type},
          {"model.dim_emb", std::to_string(dim_emb)},
          {"model.dim_rnn", std::to_string(dim_rnn)},
          {"model.dim_att", std::to_string(dim_att)},
          {"model.enc_depth", std::to_string(enc_depth)},
          {"model.dec_depth", std::to_string(dec_depth)},
          {"model.dropout_rnn", std::to_string(dropout_rnn)},
          {"model.output", output},
          {"model.attention_type", attention_type},
          {"model.attention_scope", attention_scope},
          {"model.attention_window", std::to_string(attention_window)},
          {"model.input_feed", input_feed ? "1" : "0"},
          {"model.transformer_heads", std::to_string(transformer_heads)},
          {"model.transformer_kv_heads", std::to_string(transformer_kv_heads)},
          {"model.transformer_dim_ffn", std::to_string(transformer_dim_ffn)},
          {"model.transformer_dropout", std::to_string(transformer_dropout)},
          {"model.transformer_dropout_attention", std::to_string(transformer_dropout_attention)},
          {"model.pre_ln", pre_ln ? "1" : "0"},
          {"model.tied_embeddings", tied_embeddings ? "1" : "0"},
          {"model.positions", positions},
          {"model.cla_factor", std::to_string(cla_factor)},
          {"model.kv_rank", std::to_string(kv_rank)},
          {"model.mla_kv_latent", std::to_string(mla_kv_latent)},
          {"model.mla_q_latent", std::to_string(mla_q_latent)},
          {"model.mla_rope_dim", std::to_string(mla_rope_dim)},
          {"model.source_vocab_size", std::to_string(source_vocab_size)},
          {"model.target_vocab_size", std::to_string(target_vocab_size)}};
}

ModelOptions ModelOptions::from_metadata(const std::map<std::string, std::string>& metadata) {
  ModelOptions options;
  options.type = get(metadata, "model.type");
  options.dim_emb = get_int(metadata, "model.dim_emb");
  options.dim_rnn = get_int(metadata, "model.dim_rnn");
  options.dim_att = get_int(metadata, "model.dim_att");
  options.enc_depth = get_int(metadata, "model.enc_depth");
  options.dec_depth = get_int(metadata, "model.dec_depth");
  options.dropout_rnn = get_double(metadata, "model.dropout_rnn");
  options.output = get(metadata, "model.output");
  options.attention_type = get_or(metadata, "model.attention_type", "");
  options.attention_scope = get_or(metadata, "model.attention_scope", "global");
  if (metadata.count("model.attention_window")) {
    options.attention_window = get_int(metadata, "model.attention_window");
  }
  std::string feed = get_or(metadata, "model.input_feed", "1");
  ATTN_CHECK(feed == "0" || feed == "1", "model metadata: key 'model.input_feed' should be 0 or 1, "
             "got '", feed, "'");
  options.input_feed = feed == "1";
  if (options.type == "transformer") {
    options.transformer_heads = get_int(metadata, "model.transformer_heads");
    options.transformer_kv_heads = get_int(metadata, "model.transformer_kv_heads");
    options.transformer_dim_ffn = get_int(metadata, "model.transformer_dim_ffn");
    options.transformer_dropout = get_double(metadata, "model.transformer_dropout");
    options.transformer_dropout_attention =
        get_double(metadata, "model.transformer_dropout_attention");
    options.pre_ln = get_bool(metadata, "model.pre_ln");
    options.tied_embeddings = get_bool(metadata, "model.tied_embeddings");
    options.positions = get_or(metadata, "model.positions", "sinusoidal");  // older files: the paper's
    if (metadata.count("model.cla_factor")) {  // older files: 1, no Cross-Layer Attention
      options.cla_factor = get_int(metadata, "model.cla_factor");
    }
    // Older files: no Low-Rank KV.
    if (metadata.count("model.kv_rank")) options.kv_rank = get_int(metadata, "model.kv_rank");
    // Older files: no Multi-Head Latent Attention.
    if (metadata.count("model.mla_kv_latent")) {
      options.mla_kv_latent = get_int(metadata, "model.mla_kv_latent");
      options.mla_q_latent = get_int(metadata, "model.mla_q_latent");
      options.mla_rope_dim = get_int(metadata, "model.mla_rope_dim");
    }
  }
  options.source_vocab_size = get_int(metadata, "model.source_vocab_size");
  options.target_vocab_size = get_int(metadata, "model.target_vocab_size");
  // The same checks as the flags: a file with a valid checksum may still say
  // dim_emb = 10^11 (written by hand, or by another program).
  validate(options, "model metadata");
  return options;
}

void apply_transformer_defaults(ModelOptions& model, TrainOptions& train,
                                const std::function<bool(const std::string&)>& given) {
  if (model.type != "transformer") return;
  if (!given("dim-emb")) model.dim_emb = 512;
  if (!given("enc-depth")) model.enc_depth = 6;
  if (!given("dec-depth")) model.dec_depth = 6;
  if (!given("optimizer-params")) train.optimizer_params = {0.9, 0.98, 1e-9};
  if (!given("lr-schedule")) train.lr_schedule = "inv-sqrt";
  if (!given("lr-warmup")) train.lr_warmup = 4000;
  if (!given("label-smoothing")) train.label_smoothing = 0.1;
  if (!given("learn-rate")) {
    // The paper's rate at the end of warm-up, where its schedule peaks (eq. 3).
    train.learn_rate = 1.0 / std::sqrt(static_cast<double>(model.dim_emb) *
                                       static_cast<double>(std::max<int64_t>(train.lr_warmup, 1)));
  }
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return kCPU;
  ATTN_CHECK(text == "cuda" || text == "gpu", "--device: expected cpu or cuda, got '", text, "'");
  ATTN_CHECK(kernels::cuda::built_with_cuda(), "--device ", text,
             ": this attn was built without CUDA; --device cuda needs a CUDA build (install the "
             "CUDA toolkit and rebuild: the build finds it)");
  ATTN_CHECK(kernels::cuda::is_available(), "--device ", text, ": no usable GPU (",
             kernels::cuda::why_unavailable(), ")");
  return kCUDA;
}

StopAfter parse_after(const std::string& text) {
  StopAfter after;
  ATTN_CHECK(text.size() >= 2, "--after: expected a count and a unit, like 10e (epochs) or "
             "5000u (updates), got '", text, "'");
  char unit = text.back();
  std::string number = text.substr(0, text.size() - 1);
  char* end = nullptr;
  long long count = std::strtoll(number.c_str(), &end, 10);
  ATTN_CHECK(end && *end == '\0' && count > 0 && (unit == 'e' || unit == 'u'),
             "--after: expected a positive count and a unit, like 10e (epochs) or 5000u "
             "(updates), got '", text, "'");
  (unit == 'e' ? after.epochs : after.updates) = count;
  return after;
}

std::vector<std::string> split_metrics(const std::string& text) {
  std::vector<std::string> metrics;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t comma = text.find(',', begin);
    if (comma == std::string::npos) comma = text.size();
    if (comma > begin) metrics.push_back(text.substr(begin, comma - begin));
    begin = comma + 1;
  }
  ATTN_CHECK(!metrics.empty(), "--valid-metrics: expected a comma-separated list such as "
             "bleu,cross-entropy, got '", text, "'");
  return metrics;
}

bool metric_higher_is_better(const std::string& metric) {
  if (metric == "cross-entropy" || metric == "perplexity") return false;
  if (metric == "exact-match" || metric == "token-accuracy" || metric == "bleu" ||
      metric == "chrf") {
    return true;
  }
  throw Error("--valid-metrics: unknown metric '" + metric +
              "' (known: cross-entropy, perplexity, exact-match, token-accuracy, bleu, chrf)");
}

std::string best_model_path(const std::string& model_path) {
  const std::string ext = ".safetensors";
  if (model_path.size() > ext.size() &&
      model_path.compare(model_path.size() - ext.size(), ext.size(), ext) == 0) {
    return model_path.substr(0, model_path.size() - ext.size()) + ".best" + ext;
  }
  return model_path + ".best";
}

std::string metrics_log_path(const std::string& model_path) { return model_path + ".metrics.jsonl"; }

}  // namespace attn::train
