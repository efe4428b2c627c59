// `attn train`: flags in Marian's style, grouped as --help shows them, mapped
// one to one onto ModelOptions, DataOptions and TrainOptions (train/options.h).
//
//   attn train --type bahdanau --task dates --model dates.safetensors --after 20e
#include <iostream>

#include <cxxopts.hpp>

#include "train/cli/cli.h"
#include "train/trainer.h"

namespace attn::cli {

int run_train(int argc, char** argv) {
  train::ModelOptions model;
  train::DataOptions data;
  train::TrainOptions train;
  cxxopts::Options options("attn train", "Train a translation model");
  // Each default below is the field's default in train/options.h.
  options.add_options("Model")
      ("type", "model: bahdanau (RNNsearch), luong (Luong et al. 2015), s2s (no attention) or transformer (Vaswani et al. 2017)", cxxopts::value(model.type)->default_value(model.type))
      ("m,model", "model file (safetensors); the training state, best model and metrics log go beside it", cxxopts::value(train.model_path))
      ("dim-emb", "embedding size", cxxopts::value(model.dim_emb)->default_value(std::to_string(model.dim_emb)))
      ("dim-rnn", "RNN state size per direction", cxxopts::value(model.dim_rnn)->default_value(std::to_string(model.dim_rnn)))
      ("dim-att", "attention MLP size (0: --dim-rnn)", cxxopts::value(model.dim_att)->default_value(std::to_string(model.dim_att)))
      ("enc-depth", "encoder layers", cxxopts::value(model.enc_depth)->default_value(std::to_string(model.enc_depth)))
      ("dec-depth", "decoder layers", cxxopts::value(model.dec_depth)->default_value(std::to_string(model.dec_depth)))
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
      ("kv-rank", "Low-Rank KV: keys and values from one shared projection plus per-head corrections of this rank, 1..d_model/heads (0 = off: the paper's projections)", cxxopts::value(model.kv_rank)->default_value("0"));
  options.add_options("Data")
      ("task", "built-in task: reverse, dates, toy-lang", cxxopts::value(data.task))
      ("task-train-size", "training pairs of the built-in task (0: its default)", cxxopts::value(data.task_train_size)->default_value("0"))
      ("task-max-length", "longest sequence of the reverse task (0: its default, 10)", cxxopts::value(data.task_max_length)->default_value("0"))
      ("train-tsv", "training pairs, source<TAB>target per line", cxxopts::value(data.train_tsv))
      ("train-sets", "training pairs as two line-aligned files SRC,TGT", cxxopts::value(data.train_sets))
      ("valid-tsv", "validation pairs, source<TAB>target", cxxopts::value(data.valid_tsv))
      ("valid-sets", "validation pairs as SRC,TGT files", cxxopts::value(data.valid_sets))
      ("tokenizer", "word or char", cxxopts::value(data.tokenizer)->default_value(data.tokenizer))
      ("lowercase", "lowercase the text (always on for --task dates and toy-lang)", cxxopts::value(data.lowercase))
      ("vocab-min-freq", "keep tokens seen at least this often", cxxopts::value(data.vocab_min_frequency)->default_value("1"))
      ("vocab-max-size", "cap the vocabulary (0: no cap)", cxxopts::value(data.vocab_max_size)->default_value("0"))
      ("max-length", "leave out training pairs longer than this many tokens (0: keep all; transformer: 1 to 511)", cxxopts::value(data.max_length)->default_value(std::to_string(data.max_length)))
      ("mini-batch", "sentences per batch", cxxopts::value(data.mini_batch)->default_value(std::to_string(data.mini_batch)))
      ("mini-batch-words", "target tokens per batch (0: use --mini-batch)", cxxopts::value(data.mini_batch_words)->default_value("0"));
  options.add_options("Training")
      ("after", "stop after N epochs (10e) or N updates (5000u)", cxxopts::value(train.after)->default_value(train.after))
      ("optimizer", "adam, adamw or sgd", cxxopts::value(train.optimizer)->default_value(train.optimizer))
      ("learn-rate", "learning rate", cxxopts::value(train.learn_rate)->default_value("0.001"))
      ("momentum", "momentum (sgd)", cxxopts::value(train.momentum)->default_value("0.9"))
      ("weight-decay", "weight decay", cxxopts::value(train.weight_decay)->default_value("0"))
      ("clip-norm", "clip the global gradient norm (0: off)", cxxopts::value(train.clip_norm)->default_value("1"))
      ("label-smoothing", "label smoothing", cxxopts::value(train.label_smoothing)->default_value("0"))
      ("lr-schedule", "constant, halving or inv-sqrt", cxxopts::value(train.lr_schedule)->default_value(train.lr_schedule))
      ("lr-warmup", "linear warm-up updates", cxxopts::value(train.lr_warmup)->default_value("0"))
      ("lr-decay-freq", "halve the rate every N updates (halving; 0: only when validation stalls)", cxxopts::value(train.lr_decay_freq)->default_value("0"))
      ("optimizer-params", "Adam's beta1,beta2,eps (default 0.9,0.999,1e-8; transformer 0.9,0.98,1e-9)", cxxopts::value(train.optimizer_params))
      ("seed", "seed for initialisation, dropout and shuffling", cxxopts::value(train.seed)->default_value(std::to_string(train.seed)))
      ("device", "cpu or cuda: where the model trains", cxxopts::value(train.device)->default_value(train.device))
      ("precision", "fp32, or bf16: mixed precision (bfloat16 GEMMs, float32 weights, optimizer, softmax, layer norm and loss)", cxxopts::value(train.precision)->default_value(train.precision));
  options.add_options("Validation and logging")
      ("disp-freq", "updates between log lines (0: none)", cxxopts::value(train.disp_freq)->default_value(std::to_string(train.disp_freq)))
      ("valid-freq", "updates between validations (0: none)", cxxopts::value(train.valid_freq)->default_value(std::to_string(train.valid_freq)))
      ("save-freq", "updates between checkpoints (0: only at the end and on a signal)", cxxopts::value(train.save_freq)->default_value(std::to_string(train.save_freq)))
      ("early-stopping", "stop after N validations without improvement (0: never)", cxxopts::value(train.early_stopping)->default_value(std::to_string(train.early_stopping)))
      ("valid-metrics", "comma-separated: cross-entropy, perplexity, exact-match, token-accuracy, bleu, chrf; the first picks the best model and drives early stopping", cxxopts::value(train.valid_metrics)->default_value(train.valid_metrics))
      ("valid-samples", "sample translations shown per validation", cxxopts::value(train.valid_samples)->default_value("3"))
      ("valid-max-sentences", "validate on at most this many sentences (0: all)", cxxopts::value(train.valid_max_sentences)->default_value("0"))
      ("quiet", "no progress bar", cxxopts::value(train.quiet))
      ("dump-graph", "write the first update's autograd graph as Graphviz DOT to PATH (render: dot -Tsvg PATH)", cxxopts::value(train.dump_graph))
      ("h,help", "show this help");
  std::set<std::string> given;
  if (int exit_code = parse_command_line(
          options, argc, argv, {"Model", "Transformer", "Data", "Training", "Validation and logging"},
          &given);
      exit_code >= 0) {
    return exit_code;
  }
  train::apply_transformer_defaults(model, train,
                                    [&](const std::string& flag) { return given.count(flag) > 0; });
  // Every flag against what it accepts, before any data is read (train/validate_options.cpp).
  train::validate(model);
  train::validate(data, model);
  train::validate(train);
  return train::Trainer(model, data, train).run();
}

}  // namespace attn::cli
