// The options of `attn train`, grouped as on the command line. Defaults sit
// next to each field; train/cli/train.cpp maps the kebab-case flags (Marian's
// names) onto these fields one to one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace attn::train {

// What model to build. Stored in the model file's metadata, so that
// `attn translate --model PATH` rebuilds the same model without flags.
struct ModelOptions {
  std::string type = "bahdanau";   // bahdanau (RNNsearch) | luong (Luong et al. 2015) | s2s (no attention, Cho et al. 2014)
  int64_t dim_emb = 128;           // --dim-emb: word embedding size (paper: 620)
  int64_t dim_rnn = 256;           // --dim-rnn: GRU state size per direction (paper: 1000)
  int64_t dim_att = 0;             // --dim-att: alignment MLP size; 0 = dim_rnn (paper: 1000)
  int64_t enc_depth = 1;           // --enc-depth: stacked bidirectional encoder layers
  int64_t dec_depth = 1;           // --dec-depth: stacked decoder GRU layers
  double dropout_rnn = 0.0;        // --dropout-rnn: on embeddings, between layers, before the output
  std::string output = "maxout";   // --output-layer: maxout (the paper's deep output) | plain
  // Attention (nn/luong_attention.h). "" picks the model's own: mlp (Bahdanau's
  // additive score) for bahdanau, general for luong.
  std::string attention_type;      // --attention-type: mlp | dot | general | concat
  std::string attention_scope = "global";  // --attention-scope: global | local-m | local-p (luong)
  int64_t attention_window = 10;   // --attention-window: D of the local scopes (paper: 10)
  bool input_feed = true;          // --input-feed: htilde_{t-1} joins the next input (luong; paper: on)
  // The Transformer (nn/transformer.h). --dim-emb is d_model, --enc-depth and
  // --dec-depth the layers; with --type transformer, flags not given take the
  // paper's base values (apply_transformer_defaults below).
  int64_t transformer_heads = 8;              // --transformer-heads: h (paper: 8)
  int64_t transformer_kv_heads = 0;           // --transformer-kv-heads: 0 = heads (MHA); 1 = MQA; a divisor = GQA
  int64_t transformer_dim_ffn = 2048;         // --transformer-dim-ffn: d_ff (paper: 2048)
  double transformer_dropout = 0.1;           // --transformer-dropout: P_drop (paper: 0.1)
  double transformer_dropout_attention = 0.0; // --transformer-dropout-attention: on the weights (paper: none)
  bool pre_ln = false;                        // --pre-ln: LayerNorm before each sub-layer (paper: after)
  bool tied_embeddings = false;               // --tied-embeddings: output projection = target embeddings
  std::string positions = "sinusoidal";       // --positions: sinusoidal (paper) | learned | rope (RoFormer)
  int64_t cla_factor = 1;                     // --cla-factor: decoder layers per shared K/V set (1 = none)
  int64_t kv_rank = 0;                        // --kv-rank: Low-Rank KV rank r, 1..head size; 0 = off
  int64_t mla_kv_latent = 0;                  // --mla-kv-latent: MLA's cached latent d_c; 0 = off
  int64_t mla_q_latent = 0;                   // --mla-q-latent: MLA's query latent d_c'; 0 = none
  int64_t mla_rope_dim = 0;                   // --mla-rope-dim: MLA's rotary key d_R; 0 = head size / 2
  int64_t source_vocab_size = 0;   // filled in from the data
  int64_t target_vocab_size = 0;

  std::map<std::string, std::string> to_metadata() const;
  // Throws attn::Error naming the key when one is missing or malformed.
  static ModelOptions from_metadata(const std::map<std::string, std::string>& metadata);
};

// Where the sentences come from and how they become batches.
struct DataOptions {
  std::string task;                // --task: a built-in task (reverse, dates, toy-lang)
  std::string train_tsv;           // --train-tsv FILE: source<TAB>target lines
  std::string train_sets;          // --train-sets SRC,TGT: two line-aligned files
  std::string valid_tsv;           // --valid-tsv
  std::string valid_sets;          // --valid-sets
  std::string tokenizer = "word";  // --tokenizer: word | char | space | spm (data/tokenizer.h)
  // SentencePiece (--tokenizer spm): one joint model for source and target,
  // learned from the training pairs unless --spm-model gives one.
  std::string spm_type = "unigram";  // --spm-type: unigram (SentencePiece's default) | bpe
  int64_t spm_vocab_size = 8000;     // --spm-vocab-size: pieces to learn
  std::string spm_model;             // --spm-model FILE: a trained model (spm_train's NAME.model)
  bool lowercase = false;          // --lowercase (always on for the lowercase tasks dates, toy-lang)
  int64_t vocab_min_frequency = 1; // --vocab-min-freq
  int64_t vocab_max_size = 0;      // --vocab-max-size (0: no cap)
  int64_t max_length = 100;        // --max-length: drop training pairs longer than this
  int64_t mini_batch = 64;         // --mini-batch: sentences per batch
  int64_t mini_batch_words = 0;    // --mini-batch-words: target tokens per batch (0: use --mini-batch)
  int64_t task_train_size = 0;     // --task-train-size: 0 = the task's default
  int64_t task_max_length = 0;     // --task-max-length: reverse's longest sequence (0 = 10)
};

// How to optimise, when to log, validate, save and stop.
struct TrainOptions {
  std::string model_path;          // --model: weights; other files are derived from it
  std::string after = "10e";       // --after: 10e (epochs) or 5000u (updates)
  int64_t disp_freq = 100;         // --disp-freq: updates between log lines
  int64_t valid_freq = 500;        // --valid-freq: updates between validations
  int64_t save_freq = 1000;        // --save-freq: updates between checkpoints
  int64_t early_stopping = 10;     // --early-stopping: stop after N validations without improvement (0: never)
  std::string optimizer = "adam";  // --optimizer: adam | adamw | sgd
  double learn_rate = 1e-3;        // --learn-rate
  double momentum = 0.9;           // --momentum (sgd)
  double weight_decay = 0.0;       // --weight-decay
  double clip_norm = 1.0;          // --clip-norm: global gradient norm (0: off)
  double label_smoothing = 0.0;    // --label-smoothing
  int64_t lr_warmup = 0;           // --lr-warmup: linear warm-up updates (0: none)
  std::string lr_schedule = "constant";  // --lr-schedule: constant | halving | inv-sqrt
  int64_t lr_decay_freq = 0;       // --lr-decay-freq: halve every N updates (halving)
  // --valid-metrics: what validation reports, comma-separated; the first
  // decides the best model and early stopping (Marian's default: cross-entropy).
  std::string valid_metrics = "cross-entropy";
  int64_t valid_samples = 3;       // --valid-samples: translations shown per validation
  int64_t valid_max_sentences = 0; // --valid-max-sentences: 0 = the whole set
  // Validation's greedy outputs stop at min(factor * source length + offset,
  // max length) tokens, as `attn translate` and `attn eval` decode; 0 turns
  // the factor or the cap off (not both). Outputs cut there are counted.
  double valid_max_length_factor = 3.0;  // --valid-max-length-factor
  int64_t valid_max_length_offset = 10;  // --valid-max-length-offset
  int64_t valid_max_length = 512;        // --valid-max-length (decode::kDefaultMaxLength)
  // --optimizer-params: Adam's beta1 beta2 eps (Marian's flag); empty = 0.9 0.999 1e-8
  std::vector<double> optimizer_params;
  uint64_t seed = 1234;            // --seed: initialisation, dropout and shuffling
  std::string device = "cpu";      // --device: cpu | cuda (train/options.h, parse_device)
  // --precision: fp32 | bf16. bf16 is mixed precision (autograd/autocast.h):
  // float32 weights and optimizer state, the GEMMs of forward and backward in
  // bfloat16 with float32 accumulation, softmax / layer norm / loss in float32.
  std::string precision = "fp32";
  bool quiet = false;              // --quiet: no progress bar
  // --dump-graph: write the first update's autograd graph (op names, shapes,
  // gradient norms before clipping) as Graphviz DOT to this path (autograd/graph_dump.h)
  std::string dump_graph;
  std::string log_path;            // --log FILE: the log lines also go to FILE (appended)
  std::string valid_log_path;      // --valid-log FILE: the validation lines also go to FILE
  int64_t cpu_threads = 0;         // --cpu-threads: 0 = ATTN_NUM_THREADS or every core (train/cli/cli.h)
  // The effective settings as YAML (train/cli/config_file.h, --dump-config),
  // less the paths of the run's own files (--model, --log, --valid-log,
  // --dump-graph), written beside every saved model as MODEL.yml and into its
  // metadata as "train.config"; empty: neither.
  std::string config_yaml;
};

// With --type transformer, the paper's base configuration and training recipe
// for every flag the user did not give (Vaswani et al. 2017, sections 3 and
// 5): d_model 512, 6 + 6 layers, 8 heads, d_ff 2048, dropout 0.1; Adam with
// beta2 0.98 and eps 1e-9; the inverse-square-root schedule with 4000 warm-up
// updates and a peak rate of d_model^-0.5 * warmup^-0.5; label smoothing 0.1.
// `given(flag)` says whether a kebab-case flag was on the command line.
struct TrainOptions;
void apply_transformer_defaults(ModelOptions& model, TrainOptions& train,
                                const std::function<bool(const std::string&)>& given);

// "cpu" or "cuda" (also "gpu"); throws naming the value otherwise, and for
// cuda where attn was built without CUDA or no GPU is usable, saying which.
Device parse_device(const std::string& text);

// "10e" -> {10, 0}; "5000u" -> {0, 5000}. Throws on anything else.
struct StopAfter {
  int64_t epochs = 0;
  int64_t updates = 0;
};
StopAfter parse_after(const std::string& text);

// "bleu,cross-entropy" -> {"bleu", "cross-entropy"}; throws on an empty list
// (train/evaluate.h checks the names).
std::vector<std::string> split_metrics(const std::string& text);

// The names --valid-metrics accepts, and whether larger is better for each.
// Throws attn::Error naming the flag for an unknown one.
bool metric_higher_is_better(const std::string& metric);

// --- Checking what the user gave (train/validate_options.cpp) -------------------------
//
// Every flag is checked right after parsing, and a model file's metadata the
// same way when it is read, so that a value that cannot be right is named
// where it was typed (`--dim-emb 0: expected an integer from 1 to 65536`) and
// never reaches the tensor layer as a size, a modulo or a loop bound.
//
// The largest value each kind of flag accepts: far above anything attn can
// train or decode on one machine, and far below where a product of two or
// three of them could overflow int64.
constexpr int64_t kMaxDimension = 65536;             // --dim-emb, --dim-rnn, --dim-att, --transformer-dim-ffn, heads
constexpr int64_t kMaxDepth = 1024;                  // --enc-depth, --dec-depth
constexpr int64_t kMaxSentenceLength = 65536;        // tokens: --max-length, --task-max-length
constexpr int64_t kMaxBatchSentences = 1 << 20;      // --mini-batch
constexpr int64_t kMaxBatchWords = 1 << 26;          // --mini-batch-words
constexpr int64_t kMaxVocabSize = 1 << 24;           // --vocab-max-size
constexpr int64_t kMaxTaskSize = 10000000;           // --task-train-size
constexpr int64_t kMaxCount = (int64_t{1} << 31) - 1;  // updates, sentences, validations
// The Transformer's positional table holds this many positions
// (nn::TransformerOptions::max_length): a source of at most this many tokens,
// a decoder input (<s> + target) of at most this many.
constexpr int64_t kTransformerPositions = 512;

// Throws attn::Error unless lo <= value <= hi, naming `flag` ("--dim-emb", or
// "model metadata key 'model.dim_emb'"), the value and the range; `meaning`,
// if given, is appended ("0 = no cap").
void check_flag(const std::string& flag, int64_t value, int64_t lo, int64_t hi,
                const std::string& meaning = "");
// For numbers: finite, lo <= value, and value < hi (or <= hi with hi_inclusive).
void check_real_flag(const std::string& flag, double value, double lo, double hi, bool hi_inclusive,
                const std::string& meaning = "");
// One of `choices`; the message lists them.
void check_choice(const std::string& flag, const std::string& value,
                  const std::vector<std::string>& choices);

// Ranges, choices and relations (d_model divisible by the heads, the heads by
// the key/value heads, ...). `where` is empty for the command line, whose
// messages name flags; for a model file, it names the file (or "model
// metadata"), and the messages name the metadata keys instead.
void validate(const ModelOptions& options, const std::string& where = "");
// The data flags; `model` for the relations (a Transformer's --max-length).
void validate(const DataOptions& data, const ModelOptions& model);
void validate(const TrainOptions& train);

// Files that live beside --model PATH.
std::string best_model_path(const std::string& model_path);    // PATH minus .safetensors + .best.safetensors
std::string metrics_log_path(const std::string& model_path);   // PATH + .metrics.jsonl

}  // namespace attn::train
