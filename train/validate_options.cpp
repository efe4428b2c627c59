// Checking the options of `attn train` the moment they are parsed (and a model
// file's options the moment they are read): every range, choice and relation
// in one place per options struct, each message naming the flag, the value
// and what the flag accepts.
//
// Why here and not where each value is used: a value is used far from where
// it was typed. A --disp-freq of 0 ends in a modulo by zero in the training
// loop; a --dim-emb of 10^11 ends in a tensor of 10^15 elements; a --dropout-rnn
// of 1.5 in a division by -0.5. Each of those sites could check, but then the
// message would name the loop, the tensor or the layer, not the flag. Marian
// does the same in its config validator (src/common/config_validator.cpp).
#include <cmath>
#include <filesystem>

#include "data/corpus.h"
#include "data/sentencepiece.h"
#include "data/tasks.h"
#include "data/vocab.h"
#include "kernels/error.h"
#include "train/evaluate.h"
#include "train/options.h"

namespace attn::train {

void check_flag(const std::string& flag, int64_t value, int64_t lo, int64_t hi,
                const std::string& meaning) {
  ATTN_CHECK(lo <= value && value <= hi, flag, ": expected an integer from ", lo, " to ", hi,
             meaning.empty() ? "" : " (" + meaning + ")", ", got ", value);
}

void check_real_flag(const std::string& flag, double value, double lo, double hi, bool hi_inclusive,
                const std::string& meaning) {
  const bool below_hi = hi_inclusive ? value <= hi : value < hi;
  ATTN_CHECK(std::isfinite(value) && lo <= value && below_hi, flag, ": expected a number from ", lo,
             hi_inclusive ? " to " : " up to (not including) ", hi,
             meaning.empty() ? "" : " (" + meaning + ")", ", got ", value);
}

void check_choice(const std::string& flag, const std::string& value,
                  const std::vector<std::string>& choices) {
  std::string list;
  for (const std::string& choice : choices) {
    if (value == choice) return;
    list += (list.empty() ? "" : ", ") + (choice.empty() ? std::string("'' (empty)") : choice);
  }
  throw Error(flag + ": expected one of " + list + ", got '" + value + "'");
}

void validate(const ModelOptions& o, const std::string& where) {
  // On the command line a value is named by its flag; in a model file by its
  // metadata key, with the flag that set it.
  auto name = [&](const std::string& flag, const std::string& key) {
    return where.empty() ? flag : where + " key 'model." + key + "' (" + flag + ")";
  };
  check_choice(name("--type", "type"), o.type, {"bahdanau", "luong", "s2s", "transformer"});
  check_flag(name("--dim-emb", "dim_emb"), o.dim_emb, 1, kMaxDimension);
  check_flag(name("--dim-rnn", "dim_rnn"), o.dim_rnn, 1, kMaxDimension);
  check_flag(name("--dim-att", "dim_att"), o.dim_att, 0, kMaxDimension, "0 = --dim-rnn");
  check_flag(name("--enc-depth", "enc_depth"), o.enc_depth, 1, kMaxDepth);
  check_flag(name("--dec-depth", "dec_depth"), o.dec_depth, 1, kMaxDepth);
  check_real_flag(name("--dropout-rnn", "dropout_rnn"), o.dropout_rnn, 0.0, 1.0, false, "a probability");
  check_choice(name("--output-layer", "output"), o.output, {"maxout", "plain"});
  check_choice(name("--attention-type", "attention_type"), o.attention_type,
               {"", "mlp", "dot", "general", "concat"});
  check_choice(name("--attention-scope", "attention_scope"), o.attention_scope,
               {"global", "local-m", "local-p"});
  check_flag(name("--attention-window", "attention_window"), o.attention_window, 0,
             kMaxSentenceLength);
  check_flag(name("--transformer-heads", "transformer_heads"), o.transformer_heads, 1, kMaxDimension);
  check_flag(name("--transformer-kv-heads", "transformer_kv_heads"), o.transformer_kv_heads, 0,
             kMaxDimension, "0 = as many as the heads");
  check_flag(name("--transformer-dim-ffn", "transformer_dim_ffn"), o.transformer_dim_ffn, 1,
             kMaxDimension);
  check_real_flag(name("--transformer-dropout", "transformer_dropout"), o.transformer_dropout, 0.0, 1.0,
             false, "a probability");
  check_real_flag(name("--transformer-dropout-attention", "transformer_dropout_attention"),
             o.transformer_dropout_attention, 0.0, 1.0, false, "a probability");
  check_flag(name("--kv-rank", "kv_rank"), o.kv_rank, 0, kMaxDimension, "0 = off");
  check_flag(name("--mla-kv-latent", "mla_kv_latent"), o.mla_kv_latent, 0, kMaxDimension, "0 = off");
  check_flag(name("--mla-q-latent", "mla_q_latent"), o.mla_q_latent, 0, kMaxDimension,
             "0 = queries not compressed");
  check_flag(name("--mla-rope-dim", "mla_rope_dim"), o.mla_rope_dim, 0, kMaxDimension,
             "0 = head size / 2");
  // The latent-attention sizes mean nothing without latent attention.
  ATTN_CHECK(o.mla_kv_latent > 0 || (o.mla_q_latent == 0 && o.mla_rope_dim == 0),
             name("--mla-q-latent", "mla_q_latent"), " ", o.mla_q_latent, " and ",
             name("--mla-rope-dim", "mla_rope_dim"), " ", o.mla_rope_dim, " need ",
             name("--mla-kv-latent", "mla_kv_latent"), " > 0 (Multi-Head Latent Attention)");
  ATTN_CHECK(o.mla_kv_latent == 0 || o.type == "transformer",
             name("--mla-kv-latent", "mla_kv_latent"), " ", o.mla_kv_latent,
             " (Multi-Head Latent Attention) needs ", name("--type", "type"),
             " transformer, got ", o.type);
  if (o.type == "transformer") {
    // Each head sees d_model / h dimensions (paper 3.2.2), and each key/value
    // head serves heads / kv_heads query heads (GQA).
    ATTN_CHECK(o.dim_emb % o.transformer_heads == 0, name("--dim-emb", "dim_emb"), " ", o.dim_emb,
               " is not divisible by ", name("--transformer-heads", "transformer_heads"), " ",
               o.transformer_heads, ": each head gets d_model / h dimensions");
    ATTN_CHECK(o.transformer_kv_heads <= o.transformer_heads &&
                   (o.transformer_kv_heads == 0 || o.transformer_heads % o.transformer_kv_heads == 0),
               name("--transformer-kv-heads", "transformer_kv_heads"), ": expected 0 or a divisor of ",
               name("--transformer-heads", "transformer_heads"), " ", o.transformer_heads, ", got ",
               o.transformer_kv_heads);
    check_choice(name("--positions", "positions"), o.positions, {"sinusoidal", "learned", "rope"});
    // Cross-Layer Attention: groups of cla_factor decoder layers (the last may be smaller).
    check_flag(name("--cla-factor", "cla_factor"), o.cla_factor, 1, o.dec_depth,
               "at most --dec-depth");
    // Low-Rank KV (nn/multihead_attention.h): a per-head correction of rank
    // up to the head size; it shares keys itself, so no GQA and no RoPE.
    ATTN_CHECK(o.kv_rank <= o.dim_emb / o.transformer_heads, name("--kv-rank", "kv_rank"),
               ": expected 0..head size ", name("--dim-emb", "dim_emb"), " ", o.dim_emb, " / ",
               name("--transformer-heads", "transformer_heads"), " ", o.transformer_heads, " = ",
               o.dim_emb / o.transformer_heads, ", got ", o.kv_rank);
    ATTN_CHECK(o.kv_rank == 0 || o.transformer_kv_heads == 0 ||
                   o.transformer_kv_heads == o.transformer_heads,
               name("--kv-rank", "kv_rank"), " ", o.kv_rank, " needs ",
               name("--transformer-kv-heads", "transformer_kv_heads"), " 0 (Low-Rank KV shares "
               "keys and values itself), got ", o.transformer_kv_heads);
    ATTN_CHECK(o.kv_rank == 0 || o.positions != "rope", name("--kv-rank", "kv_rank"), " ",
               o.kv_rank, " does not combine with ", name("--positions", "positions"), " rope");
    // A CLA layer borrows its group's keys and values as MultiheadAttention
    // caches them; Low-Rank KV caches them in its own compact layout.
    ATTN_CHECK(o.kv_rank == 0 || o.cla_factor == 1, name("--kv-rank", "kv_rank"), " ", o.kv_rank,
               " does not combine with ", name("--cla-factor", "cla_factor"), " ", o.cla_factor);
    // Multi-Head Latent Attention (nn/latent_attention.h) compresses keys and
    // values into its own latent and shares one rotary key: no other sharing.
    if (o.mla_kv_latent > 0) {
      const std::string mla = name("--mla-kv-latent", "mla_kv_latent") + " " +
                              std::to_string(o.mla_kv_latent);
      ATTN_CHECK(o.kv_rank == 0, mla, " does not combine with ", name("--kv-rank", "kv_rank"),
                 " ", o.kv_rank, ": both compress the keys and values");
      ATTN_CHECK(o.transformer_kv_heads == 0 || o.transformer_kv_heads == o.transformer_heads,
                 mla, " needs ", name("--transformer-kv-heads", "transformer_kv_heads"),
                 " 0 (every head's keys come from the one latent), got ", o.transformer_kv_heads);
      ATTN_CHECK(o.cla_factor == 1, mla, " does not combine with ",
                 name("--cla-factor", "cla_factor"), " ", o.cla_factor,
                 ": a CLA layer borrows keys and values as MultiheadAttention caches them");
      ATTN_CHECK(o.mla_rope_dim % 2 == 0, name("--mla-rope-dim", "mla_rope_dim"),
                 ": RoPE turns pairs of dimensions, so expected an even number (0 = head size / "
                 "2), got ", o.mla_rope_dim);
    }
    // RoPE turns pairs of dimensions (2i, 2i+1) of each head (RoFormer eq. 13).
    ATTN_CHECK(o.positions != "rope" || (o.dim_emb / o.transformer_heads) % 2 == 0,
               name("--positions", "positions"), " rope needs an even head size, but ",
               name("--dim-emb", "dim_emb"), " ", o.dim_emb, " / ",
               name("--transformer-heads", "transformer_heads"), " ", o.transformer_heads, " = ",
               o.dim_emb / o.transformer_heads);
  }
  // Filled in from the data on the command line (0 until then); a model file must have them.
  if (!where.empty()) {
    check_flag(where + " key 'model.source_vocab_size'", o.source_vocab_size, data::kNumSpecials,
               kMaxVocabSize);
    check_flag(where + " key 'model.target_vocab_size'", o.target_vocab_size, data::kNumSpecials,
               kMaxVocabSize);
  }
}

namespace {

// --spm-type, --spm-vocab-size and --spm-model: in range, used only with
// --tokenizer spm, and not both a model to load and settings to learn one.
void check_spm_flags(const DataOptions& d) {
  const DataOptions defaults;
  check_choice("--spm-type", d.spm_type, {"unigram", "bpe"});
  check_flag("--spm-vocab-size", d.spm_vocab_size, 8, kMaxVocabSize,
             "SentencePiece needs room for its <unk> <s> </s> and every character of the text");
  const bool learn_settings =
      d.spm_type != defaults.spm_type || d.spm_vocab_size != defaults.spm_vocab_size;
  if (d.tokenizer != "spm") {
    ATTN_CHECK(d.spm_model.empty(), "--spm-model ", d.spm_model, ": used only with --tokenizer spm, "
               "got --tokenizer ", d.tokenizer);
    ATTN_CHECK(!learn_settings, d.spm_type != defaults.spm_type ? "--spm-type " + d.spm_type
               : "--spm-vocab-size " + std::to_string(d.spm_vocab_size),
               ": used only with --tokenizer spm, got --tokenizer ", d.tokenizer);
    return;
  }
  ATTN_CHECK(data::sentencepiece_available(), "--tokenizer spm: attn was built without "
             "SentencePiece (CMake said \"sentencepiece: off\"). Install libsentencepiece-dev "
             "(scripts/install-deps), then configure and build again; or use --tokenizer word, "
             "char or space");
  if (d.spm_model.empty()) return;
  data::check_input_file(d.spm_model, "--spm-model");
  ATTN_CHECK(!learn_settings, "--spm-model ", d.spm_model, " brings its own pieces: ",
             d.spm_type != defaults.spm_type ? "--spm-type " + d.spm_type
                                             : "--spm-vocab-size " + std::to_string(d.spm_vocab_size),
             " applies only when attn learns the model (without --spm-model)");
}

}  // namespace

void validate(const DataOptions& d, const ModelOptions& model) {
  std::vector<std::string> tasks = data::task_names();
  tasks.insert(tasks.begin(), "");
  check_choice("--task", d.task, tasks);
  check_choice("--tokenizer", d.tokenizer, {"word", "char", "space", "spm"});
  check_spm_flags(d);
  check_flag("--vocab-min-freq", d.vocab_min_frequency, 1, kMaxCount);
  if (d.vocab_max_size != 0) {
    check_flag("--vocab-max-size", d.vocab_max_size, data::kNumSpecials, kMaxVocabSize,
               "0 = no cap; the specials <pad> <unk> <s> </s> take 4");
  }
  check_flag("--max-length", d.max_length, 0, kMaxSentenceLength, "0 = keep every pair");
  check_flag("--mini-batch", d.mini_batch, 1, kMaxBatchSentences);
  check_flag("--mini-batch-words", d.mini_batch_words, 0, kMaxBatchWords, "0 = use --mini-batch");
  check_flag("--task-train-size", d.task_train_size, 0, kMaxTaskSize, "0 = the task's default");
  check_flag("--task-max-length", d.task_max_length, 0, 1000, "0 = the task's default, 10");
  if (model.type == "transformer") {
    // The decoder reads <s> + target, one position more than the target.
    ATTN_CHECK(d.max_length >= 1 && d.max_length < kTransformerPositions, "--max-length: with --type "
               "transformer, expected an integer from 1 to ", kTransformerPositions - 1,
               " (its positional table holds ", kTransformerPositions, " positions, and the decoder "
               "reads <s> + target), got ", d.max_length);
  }
}

void validate(const TrainOptions& t) {
  ATTN_CHECK(!t.model_path.empty(), "--model PATH is required");
  std::error_code error;
  ATTN_CHECK(!std::filesystem::is_directory(t.model_path, error), "--model ", t.model_path,
             ": is a directory; expected the model file to write, such as ", t.model_path,
             "/model.safetensors");
  if (!t.dump_graph.empty()) data::check_output_file(t.dump_graph, "--dump-graph");
  parse_after(t.after);
  check_choice("--optimizer", t.optimizer, {"adam", "adamw", "sgd"});
  ATTN_CHECK(std::isfinite(t.learn_rate) && t.learn_rate > 0 && t.learn_rate <= 1e3,
             "--learn-rate: expected a positive number up to 1000, got ", t.learn_rate);
  check_real_flag("--momentum", t.momentum, 0.0, 1.0, false);
  check_real_flag("--weight-decay", t.weight_decay, 0.0, 1e3, true);
  check_real_flag("--clip-norm", t.clip_norm, 0.0, 1e30, true, "0 = off");
  check_real_flag("--label-smoothing", t.label_smoothing, 0.0, 1.0, false, "a probability");
  check_choice("--lr-schedule", t.lr_schedule, {"constant", "halving", "inv-sqrt"});
  check_flag("--lr-warmup", t.lr_warmup, 0, kMaxCount, "0 = none");
  check_flag("--lr-decay-freq", t.lr_decay_freq, 0, kMaxCount,
             "0 = halve only when validation stalls");
  ATTN_CHECK(t.lr_decay_freq == 0 || t.lr_schedule == "halving", "--lr-decay-freq ", t.lr_decay_freq,
             " halves the rate, which only --lr-schedule halving does (got --lr-schedule ",
             t.lr_schedule, ")");
  ATTN_CHECK(t.lr_schedule != "halving" || t.lr_decay_freq > 0 || t.valid_freq > 0,
             "--lr-schedule halving halves the rate every --lr-decay-freq updates and when "
             "validation stalls, but --lr-decay-freq and --valid-freq are both 0: the rate would "
             "never change (give --lr-decay-freq N, or use --lr-schedule constant)");
  if (!t.optimizer_params.empty()) {
    ATTN_CHECK(t.optimizer_params.size() == 3, "--optimizer-params: expected beta1,beta2,eps (three "
               "numbers), got ", t.optimizer_params.size());
    check_real_flag("--optimizer-params beta1", t.optimizer_params[0], 0.0, 1.0, false);
    check_real_flag("--optimizer-params beta2", t.optimizer_params[1], 0.0, 1.0, false);
    const double eps = t.optimizer_params[2];
    ATTN_CHECK(std::isfinite(eps) && eps > 0 && eps <= 1, "--optimizer-params: expected eps (the "
               "third number) in (0, 1], got ", eps);
  }
  parse_device(t.device);
  check_choice("--precision", t.precision, {"fp32", "bf16"});
  // The three frequencies: 0 is "never", as --help says. The training loop
  // takes `update % freq` only for a positive freq.
  check_flag("--disp-freq", t.disp_freq, 0, kMaxCount, "0 = no log lines");
  check_flag("--valid-freq", t.valid_freq, 0, kMaxCount, "0 = no validation");
  check_flag("--save-freq", t.save_freq, 0, kMaxCount, "0 = only at the end");
  check_flag("--early-stopping", t.early_stopping, 0, kMaxCount, "0 = never");
  for (const std::string& metric : split_metrics(t.valid_metrics)) metric_higher_is_better(metric);
  check_flag("--valid-samples", t.valid_samples, 0, kMaxCount);
  check_flag("--valid-max-sentences", t.valid_max_sentences, 0, kMaxCount, "0 = the whole set");
  // The ranges of `attn translate`'s --max-length-factor, -offset and --max-length.
  check_real_flag("--valid-max-length-factor", t.valid_max_length_factor, 0.0, 1000.0, true,
                  "0 = --valid-max-length alone");
  check_flag("--valid-max-length-offset", t.valid_max_length_offset, 0, decode::kMaxOutputLength);
  check_flag("--valid-max-length", t.valid_max_length, 0, decode::kMaxOutputLength,
             "0 = no cap of its own");
  ATTN_CHECK(t.valid_max_length_factor > 0.0 || t.valid_max_length > 0,
             "--valid-max-length-factor and --valid-max-length are both 0, which leaves "
             "validation's outputs unbounded");
  if (!t.log_path.empty()) data::check_output_file(t.log_path, "--log");
  if (!t.valid_log_path.empty()) data::check_output_file(t.valid_log_path, "--valid-log");
}

}  // namespace attn::train
