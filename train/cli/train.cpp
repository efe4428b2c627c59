// `attn train`: flags in Marian's style, grouped as --help shows them, mapped
// one to one onto ModelOptions, DataOptions and TrainOptions (train/options.h).
//
//   attn train --type bahdanau --task dates --model dates.safetensors --after 20e
//   attn train --config run.yml --after 20e      (train/cli/config_file.h)
#include <iostream>

#include <cxxopts.hpp>

#include "kernels/error.h"
#include "train/cli/cli.h"
#include "train/cli/config_file.h"
#include "train/cli/log_file.h"
#include "train/distributed/communicator.h"
#include "train/trainer.h"

namespace attn::cli {
namespace {

// The values apply_transformer_defaults gave the flags in `defaulted`, as
// --dump-config writes them: without these, MODEL.yml would say dim-emb 128
// for a model of d_model 512, and reading it back would build that model. A
// defaulted flag missing from the table below goes to `unknown`, which the
// dump leaves out: read back, the flag is again not given and takes the same
// default, so the settings stay right, only less visible.
std::map<std::string, std::string> settings_after_defaults(const train::ModelOptions& model,
                                                           const train::TrainOptions& train,
                                                           const std::set<std::string>& defaulted,
                                                           std::set<std::string>& unknown) {
  std::string params;
  for (double value : train.optimizer_params) params += (params.empty() ? "" : ",") + number_text(value);
  const std::map<std::string, std::string> values = {
      {"dim-emb", std::to_string(model.dim_emb)},
      {"enc-depth", std::to_string(model.enc_depth)},
      {"dec-depth", std::to_string(model.dec_depth)},
      {"optimizer-params", params},
      {"lr-schedule", train.lr_schedule},
      {"lr-warmup", std::to_string(train.lr_warmup)},
      {"label-smoothing", number_text(train.label_smoothing)},
      {"learn-rate", number_text(train.learn_rate)}};
  std::map<std::string, std::string> settings;
  for (const std::string& flag : defaulted) {
    if (values.count(flag)) {
      settings[flag] = values.at(flag);
    } else {
      unknown.insert(flag);  // a default added to apply_transformer_defaults: add its line above
    }
  }
  return settings;
}

// " (set at run.yml:3)" when `message` starts with a flag that a config file
// gave, else "".
std::string place_of_flag(const std::string& message, const std::map<std::string, std::string>& origins) {
  if (message.compare(0, 2, "--") != 0) return "";
  const size_t end = message.find_first_of(" :", 2);
  auto origin = origins.find(message.substr(2, end == std::string::npos ? end : end - 2));
  return origin == origins.end() ? "" : " (set at " + origin->second + ")";
}

}  // namespace

int run_train(int argc, char** argv) {
  train::ModelOptions model;
  train::DataOptions data;
  train::TrainOptions train;
  cxxopts::Options options("attn train", "Train a translation model");
  bool dump_only = false;  // --dump-config
  options.add_options("Config files")
      ("c,config", "read settings from YAML files: keys are these flags' long names (dim-emb: 64), lists are YAML lists; several files merge in order, and flags given here win over them", cxxopts::value<std::vector<std::string>>())
      ("dump-config", "print the settings in effect as YAML (loadable with --config) and exit", cxxopts::value(dump_only));
  // Each default below is the field's default in train/options.h.
  options.add_options("Model")
      ("type", "model: bahdanau (RNNsearch), luong (Luong et al. 2015), s2s (no attention) or transformer (Vaswani et al. 2017; the flags marked 'transformer:' then default to the paper's base model)", cxxopts::value(model.type)->default_value(model.type))
      ("m,model", "model file (safetensors); the training state, best model and metrics log go beside it", cxxopts::value(train.model_path))
      ("dim-emb", "embedding size (transformer: d_model, default 512)", cxxopts::value(model.dim_emb)->default_value(std::to_string(model.dim_emb)))
      ("dim-rnn", "RNN state size per direction", cxxopts::value(model.dim_rnn)->default_value(std::to_string(model.dim_rnn)))
      ("dim-att", "attention MLP size (0: --dim-rnn)", cxxopts::value(model.dim_att)->default_value(std::to_string(model.dim_att)))
      ("enc-depth", "encoder layers (transformer: default 6)", cxxopts::value(model.enc_depth)->default_value(std::to_string(model.enc_depth)))
      ("dec-depth", "decoder layers (transformer: default 6)", cxxopts::value(model.dec_depth)->default_value(std::to_string(model.dec_depth)))
      ("dropout-rnn", "dropout on embeddings, between layers and before the output", cxxopts::value(model.dropout_rnn)->default_value("0"))
      ("output-layer", "maxout (the paper's deep output) or plain (bahdanau, s2s)", cxxopts::value(model.output)->default_value(model.output))
      ("attention-type", "score: mlp (Bahdanau's additive; bahdanau) or dot, general, concat (Luong's; luong). Default: the model's own (mlp, general)", cxxopts::value(model.attention_type))
      ("attention-scope", "global, local-m or local-p (luong)", cxxopts::value(model.attention_scope)->default_value(model.attention_scope))
      ("attention-window", "D: local attention sees [p_t - D, p_t + D]", cxxopts::value(model.attention_window)->default_value(std::to_string(model.attention_window)))
      ("input-feed", "feed the attentional state htilde_{t-1} into the next step (luong; --input-feed=false turns it off)", cxxopts::value(model.input_feed)->default_value("true")->implicit_value("true"));
  // --type transformer: --dim-emb is d_model; flags not given take the paper's
  // base values (train/options.h, apply_transformer_defaults).
  options.add_options("Transformer")
      ("transformer-heads", "attention heads h (paper: 8)", cxxopts::value(model.transformer_heads)->default_value(std::to_string(model.transformer_heads)))
      ("transformer-kv-heads", "key/value heads: 0 = as many as --transformer-heads (MHA), 1 = MQA, a divisor = GQA", cxxopts::value(model.transformer_kv_heads)->default_value("0"))
      ("transformer-dim-ffn", "d_ff, the feed-forward inner size (paper: 2048)", cxxopts::value(model.transformer_dim_ffn)->default_value(std::to_string(model.transformer_dim_ffn)))
      ("transformer-dropout", "dropout on sub-layer outputs and on embeddings + positions (paper: 0.1)", cxxopts::value(model.transformer_dropout)->default_value("0.1"))
      ("transformer-dropout-attention", "dropout on the attention weights (paper: none)", cxxopts::value(model.transformer_dropout_attention)->default_value("0"))
      ("pre-ln", "LayerNorm before each sub-layer and after the stacks (the paper: after each residual)", cxxopts::value(model.pre_ln))
      ("tied-embeddings", "the output projection reuses the target embedding matrix (paper 3.4)", cxxopts::value(model.tied_embeddings))
      ("positions", "sinusoidal (the paper's), learned (a trained table) or rope (rotary, inside self-attention; RoFormer)", cxxopts::value(model.positions)->default_value(model.positions))
      ("cla-factor", "Cross-Layer Attention: each group of N adjacent decoder layers shares one set of self- and cross-attention keys and values (1 = none; 1..--dec-depth)", cxxopts::value(model.cla_factor)->default_value("1"))
      ("kv-rank", "Low-Rank KV: keys and values from one shared projection plus per-head corrections of this rank, 1..d_model/heads (0 = off: the paper's projections)", cxxopts::value(model.kv_rank)->default_value("0"))
      ("mla-kv-latent", "Multi-Head Latent Attention (DeepSeek-V2) in the self-attentions: keys and values through a cached latent of this size d_c (paper: 4 x head size; 0 = off)", cxxopts::value(model.mla_kv_latent)->default_value("0"))
      ("mla-q-latent", "MLA: queries through a latent of this size d_c' (paper: 12 x head size; 0 = not compressed)", cxxopts::value(model.mla_q_latent)->default_value("0"))
      ("mla-rope-dim", "MLA: size d_R of the decoupled rotary query and shared key per head, even (0 = head size / 2, the paper's)", cxxopts::value(model.mla_rope_dim)->default_value("0"));
  options.add_options("Data")
      ("task", "built-in task: reverse, dates, toy-lang", cxxopts::value(data.task))
      ("task-train-size", "training pairs of the built-in task (0: its default)", cxxopts::value(data.task_train_size)->default_value("0"))
      ("task-max-length", "longest sequence of the reverse task (0: its default, 10)", cxxopts::value(data.task_max_length)->default_value("0"))
      ("train-tsv", "training pairs, source<TAB>target per line", cxxopts::value(data.train_tsv))
      ("train-sets", "training pairs as two line-aligned files: SRC TGT (or SRC,TGT)", cxxopts::value(data.train_sets))
      ("valid-tsv", "validation pairs, source<TAB>target", cxxopts::value(data.valid_tsv))
      ("valid-sets", "validation pairs as two files: SRC TGT (or SRC,TGT)", cxxopts::value(data.valid_sets))
      ("tokenizer", "word (splits punctuation off), char, space (whitespace only) or spm (SentencePiece subwords, learned from the training data; stored in the model file)", cxxopts::value(data.tokenizer)->default_value(data.tokenizer))
      ("spm-type", "SentencePiece model to learn: unigram or bpe (--tokenizer spm)", cxxopts::value(data.spm_type)->default_value(data.spm_type))
      ("spm-vocab-size", "SentencePiece pieces to learn, one joint model for source and target (--tokenizer spm)", cxxopts::value(data.spm_vocab_size)->default_value(std::to_string(data.spm_vocab_size)))
      ("spm-model", "a trained SentencePiece model (spm_train's NAME.model) instead of learning one (--tokenizer spm)", cxxopts::value(data.spm_model))
      ("lowercase", "lowercase the text (always on for --task dates and toy-lang)", cxxopts::value(data.lowercase))
      ("vocab-min-freq", "keep tokens seen at least this often", cxxopts::value(data.vocab_min_frequency)->default_value("1"))
      ("vocab-max-size", "cap the vocabulary (0: no cap)", cxxopts::value(data.vocab_max_size)->default_value("0"))
      ("max-length", "leave out training pairs longer than this many tokens (0: keep all; transformer: 1 to 511)", cxxopts::value(data.max_length)->default_value(std::to_string(data.max_length)))
      ("mini-batch", "sentences per batch", cxxopts::value(data.mini_batch)->default_value(std::to_string(data.mini_batch)))
      ("mini-batch-words", "target tokens per batch (0: use --mini-batch)", cxxopts::value(data.mini_batch_words)->default_value("0"));
  options.add_options("Training")
      ("after", "stop after N epochs (10e) or N updates (5000u)", cxxopts::value(train.after)->default_value(train.after))
      ("optimizer", "adam, adamw or sgd", cxxopts::value(train.optimizer)->default_value(train.optimizer))
      ("learn-rate", "learning rate (transformer: default d_model^-0.5 * lr-warmup^-0.5, the peak of the paper's schedule)", cxxopts::value(train.learn_rate)->default_value("0.001"))
      ("momentum", "momentum (sgd)", cxxopts::value(train.momentum)->default_value("0.9"))
      ("weight-decay", "weight decay", cxxopts::value(train.weight_decay)->default_value("0"))
      ("clip-norm", "clip the global gradient norm (0: off)", cxxopts::value(train.clip_norm)->default_value("1"))
      ("label-smoothing", "label smoothing (transformer: default 0.1)", cxxopts::value(train.label_smoothing)->default_value("0"))
      ("lr-schedule", "constant, halving or inv-sqrt (transformer: default inv-sqrt)", cxxopts::value(train.lr_schedule)->default_value(train.lr_schedule))
      ("lr-warmup", "linear warm-up updates (transformer: default 4000)", cxxopts::value(train.lr_warmup)->default_value("0"))
      ("lr-decay-freq", "halve the rate every N updates (halving; 0: only when validation stalls)", cxxopts::value(train.lr_decay_freq)->default_value("0"))
      ("optimizer-params", "Adam's beta1 beta2 eps, space- or comma-separated (default 0.9 0.999 1e-8; transformer: 0.9 0.98 1e-9)", cxxopts::value(train.optimizer_params))
      ("seed", "seed for initialisation, dropout and shuffling", cxxopts::value(train.seed)->default_value(std::to_string(train.seed)))
      ("device", "cpu or cuda: where the model trains", cxxopts::value(train.device)->default_value(train.device))
      ("cpu-threads", "threads of the CPU kernels (0: the ATTN_NUM_THREADS environment variable, or else every core)", cxxopts::value(train.cpu_threads)->default_value("0"))
      ("precision", "fp32, or bf16: mixed precision (bfloat16 GEMMs, float32 weights, optimizer, softmax, layer norm and loss)", cxxopts::value(train.precision)->default_value(train.precision));
  options.add_options("Validation and logging")
      ("disp-freq", "updates between log lines (0: none)", cxxopts::value(train.disp_freq)->default_value(std::to_string(train.disp_freq)))
      ("valid-freq", "updates between validations (0: none)", cxxopts::value(train.valid_freq)->default_value(std::to_string(train.valid_freq)))
      ("save-freq", "updates between checkpoints (0: only at the end and on a signal)", cxxopts::value(train.save_freq)->default_value(std::to_string(train.save_freq)))
      ("early-stopping", "stop after N validations without improvement (0: never)", cxxopts::value(train.early_stopping)->default_value(std::to_string(train.early_stopping)))
      ("valid-metrics", "space- or comma-separated: cross-entropy, perplexity, exact-match, token-accuracy, bleu, chrf; the first picks the best model and drives early stopping", cxxopts::value(train.valid_metrics)->default_value(train.valid_metrics))
      ("valid-samples", "sample translations shown per validation", cxxopts::value(train.valid_samples)->default_value("3"))
      ("valid-max-sentences", "validate on at most this many sentences (0: all)", cxxopts::value(train.valid_max_sentences)->default_value("0"))
      ("valid-max-length-factor", "validation outputs stop at this many tokens per source token, plus --valid-max-length-offset (0: --valid-max-length alone); outputs cut there are counted in the log", cxxopts::value(train.valid_max_length_factor)->default_value("3"))
      ("valid-max-length-offset", "tokens added to the factor's limit", cxxopts::value(train.valid_max_length_offset)->default_value(std::to_string(train.valid_max_length_offset)))
      ("valid-max-length", "no validation output runs past this many tokens (0: no cap of its own; a transformer still reads at most 512 positions)", cxxopts::value(train.valid_max_length)->default_value(std::to_string(train.valid_max_length)))
      ("log", "also write the log to FILE (appended)", cxxopts::value(train.log_path))
      ("valid-log", "also write the validation lines to FILE (appended)", cxxopts::value(train.valid_log_path))
      ("quiet", "no progress bar", cxxopts::value(train.quiet))
      ("dump-graph", "write the first update's autograd graph as Graphviz DOT to PATH (render: dot -Tsvg PATH)", cxxopts::value(train.dump_graph))
      ("h,help", "show this help");
  // Config files first (their settings become tokens before the command
  // line's, which win), then one parse of everything (train/cli/config_file.h).
  const MergedCommandLine line = merge_config_files(options, {argv + 1, argv + argc});
  const std::vector<std::string> groups = {"Config files", "Model", "Transformer", "Data",
                                           "Training", "Validation and logging"};
  std::set<std::string> given;
  cxxopts::ParseResult parsed;
  if (int exit_code = parse_command_line(options, line.tokens, groups, &given, &parsed, line.origins);
      exit_code >= 0) {
    return exit_code;
  }
  // The flags whose default apply_transformer_defaults was asked about and
  // that nobody gave: their values come from the structs, below.
  std::set<std::string> defaulted;
  train::apply_transformer_defaults(model, train, [&](const std::string& flag) {
    if (given.count(flag)) return true;
    defaulted.insert(flag);
    return false;
  });
  // Every flag against what it accepts, before any data is read
  // (train/validate_options.cpp); a value from a config file says where it was written.
  try {
    train::validate(model);
    train::validate(data, model);
    if (dump_only && train.model_path.empty()) {
      train::TrainOptions without_model = train;  // --dump-config needs no --model
      without_model.model_path = "model.safetensors";
      train::validate(without_model);
    } else {
      train::validate(train);
    }
  } catch (const Error& error) {
    throw Error(error.what() + place_of_flag(error.what(), line.origins));
  }
  std::set<std::string> leave_out;  // defaults worked out after parsing that the dump cannot show
  const std::map<std::string, std::string> computed =
      settings_after_defaults(model, train, defaulted, leave_out);
  if (dump_only) {
    std::cout << dump_config(options, parsed, groups, computed, leave_out);
    return 0;
  }
  // MODEL.yml and the metadata leave out where this run writes its files: a
  // model says how it was trained, not where, so two runs that differ only in
  // their paths write byte-identical models (tests/train/kill_test.sh).
  for (const char* path : {"model", "log", "valid-log", "dump-graph"}) leave_out.insert(path);
  train.config_yaml = dump_config(options, parsed, groups, computed, leave_out);
  apply_cpu_threads(train.cpu_threads);
  // --log: rank 0 of a data-parallel run alone writes it, as it alone logs.
  LogFile log(train.log_path, distributed::world().rank() == 0);
  try {
    return train::Trainer(model, data, train).run();
  } catch (const std::exception& error) {
    log.write_line(std::string("attn train: error: ") + error.what());
    throw;
  }
}

}  // namespace attn::cli
