#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include "tensor/grad_mode.h"
#include "data/batch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/generator.h"
#include "train/checkpoint.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"
#include "train/distributed/communicator.h"
#include "train/distributed/data_parallel.h"
#include "train/evaluate.h"
#include "train/metrics/metrics.h"
#include "train/models.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"

namespace attn::train {
namespace {

// Set by the signal handler, read once per update: the loop finishes the
// update it is in, saves a checkpoint, and exits.
volatile std::sig_atomic_t pending_signal = 0;
void on_signal(int signal) { pending_signal = signal; }

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return std::string("[") + buffer + "]";
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                 const std::vector<Tensor>& parameters) {
  const std::vector<double>& params = options.optimizer_params;
  ATTN_CHECK(params.empty() || params.size() == 3, "--optimizer-params: expected beta1,beta2,eps "
             "(three numbers), got ", params.size());
  const double beta1 = params.empty() ? 0.9 : params[0], beta2 = params.empty() ? 0.999 : params[1];
  const double eps = params.empty() ? 1e-8 : params[2];
  if (options.optimizer == "adam") {
    return std::make_unique<optim::Adam>(parameters, optim::AdamOptions(options.learn_rate)
                                                         .set_betas(beta1, beta2)
                                                         .set_eps(eps)
                                                         .set_weight_decay(options.weight_decay));
  }
  if (options.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(parameters, optim::AdamWOptions(options.learn_rate)
                                                          .set_betas(beta1, beta2)
                                                          .set_eps(eps)
                                                          .set_weight_decay(options.weight_decay));
  }
  if (options.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(parameters, optim::SGDOptions(options.learn_rate)
                                                        .set_momentum(options.momentum)
                                                        .set_weight_decay(options.weight_decay));
  }
  throw Error("--optimizer: expected adam, adamw or sgd, got '" + options.optimizer + "'");
}

std::unique_ptr<optim::Schedule> make_schedule(const TrainOptions& options) {
  if (options.lr_schedule == "constant") {
    return std::make_unique<optim::ConstantSchedule>(options.learn_rate, options.lr_warmup);
  }
  if (options.lr_schedule == "halving") {
    return std::make_unique<optim::StepHalvingSchedule>(optim::StepHalvingOptions(options.learn_rate)
                                                            .set_every(options.lr_decay_freq)
                                                            .set_warmup(options.lr_warmup));
  }
  if (options.lr_schedule == "inv-sqrt") {
    return std::make_unique<optim::InverseSqrtSchedule>(
        optim::InverseSqrtOptions(options.learn_rate).set_warmup(std::max<int64_t>(options.lr_warmup, 1)));
  }
  throw Error("--lr-schedule: expected constant, halving or inv-sqrt, got '" +
              options.lr_schedule + "'");
}

std::string join_tokens(const data::Tokenizer& tokenizer, const data::Vocab& vocab,
                        const std::vector<int64_t>& ids) {
  return tokenizer.detokenize(vocab.decode(ids));
}

// Draws "[=====>     ] 40/100" on a terminal between log lines.
void draw_progress(int64_t done, int64_t total) {
  const int width = 30;
  int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
  std::fprintf(stderr, "\r[%s>%s] %lld/%lld", std::string(filled, '=').c_str(),
               std::string(width - filled, ' ').c_str(), static_cast<long long>(done),
               static_cast<long long>(total));
  std::fflush(stderr);
}

void clear_progress() { std::fprintf(stderr, "\r%60s\r", ""); }


// Data parallel, only rank 0 speaks: while this lives, the other ranks'
// std::cout goes nowhere (their errors still reach std::cerr).
class QuietUnlessLead {
 public:
  explicit QuietUnlessLead(bool lead) : buffer_(std::cout.rdbuf()) {
    if (!lead) std::cout.rdbuf(nullptr);
  }
  ~QuietUnlessLead() { std::cout.rdbuf(buffer_); }

 private:
  std::streambuf* buffer_;
};

// Everything one run of `attn train` holds from one update to the next.
struct Run {
  Run(const TrainOptions& options, distributed::Communicator& communicator)
      : opt(options), comm(communicator), lead(communicator.rank() == 0) {}
  const TrainOptions& opt;
  // The ranks of `mpirun -np N` (train/distributed/): one process is rank 0 of 1.
  distributed::Communicator& comm;
  bool lead;  // rank 0: the one rank that writes logs, metrics, validation and checkpoints
  bool resuming = false;  // a checkpoint was found beside --model
  TextPipeline pipeline;  // tokenizer and vocabularies
  EncodedPairs train_set, valid_set;
  data::BatchOptions batching;
  std::unique_ptr<data::BatchIterator> batches;
  std::shared_ptr<nn::Translator> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::Schedule> schedule;
  // With --lr-schedule halving, a stalled validation also halves the rate
  // (Marian's --lr-decay-strategy stalls).
  optim::StepHalvingSchedule* halving = nullptr;
  std::map<std::string, std::string> metadata;  // model config and vocabularies, saved with the weights
  std::map<std::string, std::string> settings;  // what the data position depends on (resume_settings)
  TrainingState state;                          // what the checkpoint keeps
  // The first of --valid-metrics decides "better": the best model and early stopping.
  std::string deciding, best_key;
  bool higher_is_better = false;
  double best_metric = 0.0;
  int64_t stalls = 0;
  EvaluateOptions valid_options;
  std::ofstream metrics_log;       // the JSONL beside the model
  std::ofstream valid_log;         // --valid-log: the validation lines, appended
  int64_t last_saved_update = -1;  // -1: no checkpoint yet
  bool progress_bar = false;
  std::chrono::steady_clock::time_point clock_start;
  // Data parallel: rank 0's time in train_step and in its all-reduce, over `steps` updates.
  double step_seconds = 0.0, allreduce_seconds = 0.0;
  int64_t steps = 0;
};

// The updates since the last display line, which it averages over.
struct Window {
  double loss = 0.0;  // summed per target token
  double norm = 0.0;  // summed per update
  int64_t tokens = 0, updates = 0, sentences = 0;
  std::chrono::steady_clock::time_point since;
};

// "200 pairs (fingerprint 0123456789abcdef)": the training data by content,
// FNV-1a 64 over every source and target, so a moved or renamed file is the
// same data and an edited one is not.
std::string fingerprint(const std::vector<data::SentencePair>& pairs) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto add = [&](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
    hash = hash * 0x100000001b3ull;  // a terminator (xor 0): ("ab", "c") differs from ("a", "bc")
  };
  for (const data::SentencePair& pair : pairs) {
    add(pair.source);
    add(pair.target);
  }
  char text[64];
  std::snprintf(text, sizeof text, "%zu pairs (fingerprint %016llx)", pairs.size(),
                static_cast<unsigned long long>(hash));
  return text;
}

// What the saved data position depends on, by flag name, kept in the
// checkpoint (TrainingState::settings). An epoch's batches are a function of
// the pairs kept (the training data, --max-length; and the tokens the saved
// tokenizer and vocabularies make of them, which these flags would change
// were they honoured), --mini-batch or --mini-batch-words, and the shuffle's
// --seed (data/batch.h). Also the model type, so the state names its model.
std::map<std::string, std::string> resume_settings(const ModelOptions& model,
                                                   const DataOptions& data,
                                                   const TrainOptions& opt,
                                                   const std::vector<data::SentencePair>& pairs) {
  // As build_pipeline decides it (train/dataset.cpp): dates and toy-lang are lowercase.
  const bool lowercase = data.lowercase || data.task == "dates" || data.task == "toy-lang";
  std::map<std::string, std::string> settings = {
      {"type", model.type},
      {"train-data", fingerprint(pairs)},
      {"max-length", std::to_string(data.max_length)},
      {"mini-batch", std::to_string(data.mini_batch)},
      {"mini-batch-words", std::to_string(data.mini_batch_words)},
      {"seed", std::to_string(opt.seed)},
      {"tokenizer", data.tokenizer},
      {"lowercase", lowercase ? "1" : "0"},
      {"vocab-min-freq", std::to_string(data.vocab_min_frequency)},
      {"vocab-max-size", std::to_string(data.vocab_max_size)}};
  // The pieces a learned SentencePiece model makes decide the tokens too.
  if (data.tokenizer == "spm" && data.spm_model.empty()) {
    settings["spm-type"] = data.spm_type;
    settings["spm-vocab-size"] = std::to_string(data.spm_vocab_size);
  }
  // The flags that make a built-in task's pairs, so that a change is named
  // by its flag (the fingerprint alone would say only that the data differ).
  if (!data.task.empty() && data.train_tsv.empty() && data.train_sets.empty()) {
    settings["task"] = data.task;
    settings["task-train-size"] = std::to_string(data.task_train_size);
    settings["task-max-length"] = std::to_string(data.task_max_length);
  }
  return settings;
}

// "--mini-batch 64", or "training data of 200 pairs (...)".
std::string describe_setting(const std::string& name, const std::string& value) {
  if (name == "train-data") return "training data of " + value;
  if (name == "world-size") return value == "1" ? "one process" : "mpirun -np " + value;
  return "--" + name + " " + value;
}

// Refuses to resume `checkpoint` when it holds another model type, or when
// this run's settings would give its saved data position another meaning.
void check_resumable(const std::string& model_path, const Checkpoint& checkpoint,
                     const ModelOptions& model_options,
                     const std::map<std::string, std::string>& settings) {
  auto type = checkpoint.metadata.find("model.type");
  if (type != checkpoint.metadata.end() && type->second != model_options.type) {
    throw Error(model_path + " holds a " + type->second + " model, not the " + model_options.type +
                " model --type asks for: resume it with --type " + type->second + ", or give "
                "another --model to train a new " + model_options.type + " model");
  }
  const ChangedSetting changed = changed_setting(checkpoint.state.settings, settings);
  if (changed.name.empty()) return;
  // The ranks' reduction order and dropout streams depend on their number:
  // only the same number continues the run exactly (docs/16, section 5).
  const std::string why =
      changed.name == "world-size"
          ? "the run's exact continuation (the order its gradients are added in, each rank's "
            "dropout stream) depends on the number of ranks"
          : "its data position (epoch " + std::to_string(checkpoint.state.epoch + 1) + ", batch " +
                std::to_string(checkpoint.state.batch_in_epoch) +
                ") counts the batches of the run that saved it";
  throw Error("resume: " + checkpoint_state_path(model_path) + " was saved with " +
              describe_setting(changed.name, changed.saved) + ", but this run has " +
              describe_setting(changed.name, changed.given) + ": " + why + ". Resume with " +
              (changed.name == "train-data" ? "the same training data (--task, --train-tsv or "
                                              "--train-sets)"
                                            : describe_setting(changed.name, changed.saved)) +
              ", or give another --model to start a new run");
}

// Data and vocabularies (from the checkpoint when resuming) and the batches.
// Returns the checkpoint, empty when there is none.
Checkpoint prepare_data(Run& run, ModelOptions& model_options, const DataOptions& data_options) {
  const TrainOptions& opt = run.opt;
  // The folder of --model is made up front, not discovered missing at the first save.
  std::filesystem::path model_folder = std::filesystem::path(opt.model_path).parent_path();
  if (!model_folder.empty()) std::filesystem::create_directories(model_folder);
  run.resuming = checkpoint_exists(opt.model_path);
  // The checkpoint first: a file of the wrong kind is named before the data loads.
  Checkpoint checkpoint;
  if (run.resuming) checkpoint = load_checkpoint(opt.model_path);
  std::vector<data::SentencePair> train_pairs =
      load_pairs(data_options, Split::Train, data_options.train_tsv, data_options.train_sets);
  std::vector<data::SentencePair> valid_pairs =
      load_pairs(data_options, Split::Valid, data_options.valid_tsv, data_options.valid_sets);
  run.settings = resume_settings(model_options, data_options, opt, train_pairs);
  run.settings["world-size"] = std::to_string(run.comm.size());  // the ranks (mpirun -np N)
  if (run.resuming) {
    check_resumable(opt.model_path, checkpoint, model_options, run.settings);
    try {
      run.pipeline = TextPipeline::from_metadata(checkpoint.metadata);
      model_options = ModelOptions::from_metadata(checkpoint.metadata);
    } catch (const Error& e) {
      throw Error(opt.model_path + ": " + e.what());
    }
  } else {
    run.pipeline = build_pipeline(data_options, train_pairs);
    model_options.source_vocab_size = run.pipeline.source_vocab.size();
    model_options.target_vocab_size = run.pipeline.target_vocab.size();
  }
  run.train_set = encode_pairs(run.pipeline, train_pairs);
  run.valid_set = encode_pairs(run.pipeline, valid_pairs);
  run.batching.mini_batch = data_options.mini_batch;
  run.batching.mini_batch_words = data_options.mini_batch_words;
  run.batching.max_length = data_options.max_length;
  // A resumed run keeps the shuffle of the run it continues, whatever --seed says now.
  run.batching.seed = run.resuming && checkpoint.state.counters.count("seed")
                          ? static_cast<uint64_t>(checkpoint.state.counters.at("seed"))
                          : opt.seed;
  // The seed the batches use (a file older than the settings may hold another).
  run.settings["seed"] = std::to_string(run.batching.seed);
  run.batches = std::make_unique<data::BatchIterator>(run.train_set.sources, run.train_set.targets,
                                                      run.batching);
  return checkpoint;
}

// The model, optimizer and schedule, and what validation compares.
void prepare_model(Run& run, const ModelOptions& model_options, const DataOptions& data_options) {
  const TrainOptions& opt = run.opt;
  run.model = make_model(model_options);
  run.model->to(parse_device(opt.device));
  run.optimizer = make_optimizer(opt, run.model->parameters());
  run.schedule = make_schedule(opt);
  run.halving = dynamic_cast<optim::StepHalvingSchedule*>(run.schedule.get());
  run.metadata = model_options.to_metadata();
  run.metadata["train.precision"] = opt.precision;  // how it was trained (read by no one yet)
  for (auto& [key, value] : run.pipeline.to_metadata()) run.metadata[key] = value;

  std::vector<std::string> valid_metrics = split_metrics(opt.valid_metrics);
  for (const std::string& metric : valid_metrics) metric_higher_is_better(metric);  // known names?
  run.deciding = valid_metrics.front();
  run.higher_is_better = metric_higher_is_better(run.deciding);
  run.best_key = run.deciding == "cross-entropy" ? "best_valid_loss" : "best_valid_" + run.deciding;
  run.best_metric = run.higher_is_better ? -1e300 : 1e300;
  run.valid_options.batch_size = data_options.mini_batch;
  run.valid_options.max_sentences = opt.valid_max_sentences;
  run.valid_options.pipeline = &run.pipeline;
  // Validation decodes greedily under the same rule as `attn translate`:
  // min(factor * source + offset, cap) output tokens.
  run.valid_options.beam.max_length_factor = opt.valid_max_length_factor;
  run.valid_options.beam.max_length_offset = opt.valid_max_length_offset;
  run.valid_options.beam.max_length = opt.valid_max_length;
  // The run's settings travel with the model (and as MODEL.yml beside it, save()).
  if (!opt.config_yaml.empty()) run.metadata["train.config"] = opt.config_yaml;
}

// Puts back what the checkpoint saved: weights, optimizer moments, the data
// position, the generator, the best score and the stall count.
void resume(Run& run, const Checkpoint& checkpoint) {
  TrainingState& state = run.state;
  run.model->load_state_dict(checkpoint.weights);
  state = checkpoint.state;
  run.optimizer->load_state(state.optimizer);
  try {
    run.batches->seek(state.epoch, state.batch_in_epoch);
  } catch (const Error& e) {
    // Only a file older than the recorded settings gets here (check_resumable).
    throw Error("resume: " + checkpoint_state_path(run.opt.model_path) + ": " + e.what() +
                ". The data or the batching (--mini-batch, --mini-batch-words, --max-length, "
                "--seed) differ from the run that saved it, which is too old to record them: "
                "resume with its settings, or give another --model to start a new run");
  }
  default_generator().set_state(state.rng_seed, state.rng_offset);
  if (state.scores.count(run.best_key)) run.best_metric = state.scores[run.best_key];
  if (state.counters.count("stalls")) run.stalls = state.counters["stalls"];
  if (run.halving && state.counters.count("lr_halvings")) {
    run.halving->set_halvings(state.counters["lr_halvings"]);
  }
  std::cout << timestamp() << " Resuming " << run.opt.model_path << " at epoch " << state.epoch + 1
            << ", update " << state.update << "\n";
}

void announce(const Run& run) {
  std::cout << timestamp() << " " << run.model->describe() << "\n"
            << timestamp() << " Training on " << run.batches->num_examples() << " sentence pairs ("
            << run.batches->num_filtered() << " longer than --max-length left out), validating on "
            << run.valid_set.size() << "; vocabularies " << run.pipeline.source_vocab.size() << "/"
            << run.pipeline.target_vocab.size() << "; " << run.schedule->describe() << "; "
            << kernels::cpu::num_threads() << (kernels::cpu::num_threads() == 1 ? " CPU thread" : " CPU threads")
            << std::endl;
}

// The model and the training state beside it (train/checkpoint.h). Rank 0
// alone writes: every rank holds the same weights and the same state.
void save(Run& run) {
  run.last_saved_update = run.state.update;
  if (!run.lead) return;
  TrainingState& state = run.state;
  state.epoch = run.batches->epoch();
  state.batch_in_epoch = run.batches->position();
  state.rng_seed = default_generator().seed();
  state.rng_offset = default_generator().offset();
  state.optimizer = run.optimizer->state();
  state.scores[run.best_key] = run.best_metric;
  state.counters["stalls"] = run.stalls;
  state.counters["seed"] = static_cast<int64_t>(run.batching.seed);
  if (run.halving) state.counters["lr_halvings"] = run.halving->halvings();
  state.settings = run.settings;
  save_checkpoint(run.opt.model_path, *run.model, run.metadata, state);
  if (!run.opt.config_yaml.empty()) save_config_file(run.opt.model_path, run.opt.config_yaml);
}

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // A CPU-time budget (`ulimit -S -t SECONDS`, as bench/multi30k.sh sets)
  // arrives as SIGXCPU: stop and save the same way.
  std::signal(SIGXCPU, on_signal);
  pending_signal = 0;
}

// Whether a rerun of a finished command finds its checkpoint at the end already.
bool finished_before(const Run& run, const StopAfter& after) {
  if (after.updates > 0 && run.state.update >= after.updates) return true;
  if (after.epochs > 0 && run.state.epoch >= after.epochs) return true;
  return run.opt.early_stopping > 0 && run.stalls >= run.opt.early_stopping;  // it stopped early before
}

void report_graph_dump(const std::string& path, int64_t update) {
  std::cerr << timestamp() << " [graph] update " << update << "'s autograd graph written to " << path
            << " (render: dot -Tsvg " << path << " -o graph.svg)\n";
}

// What this rank trains on at `update`: the global batch, or, data parallel,
// its share of it (every rank drew the same global batch from the same
// shuffle), with its dropout masks drawn from a stream of its own.
data::Batch share_of_batch(const Run& run, const data::Batch& global, int64_t update) {
  if (run.comm.size() <= 1) return global;
  distributed::seed_rank_generator(run.batching.seed, run.comm.rank(), update);
  return distributed::local_batch(global, run.train_set.sources, run.train_set.targets,
                                  run.comm.rank(), run.comm.size());
}

// A non-finite loss or gradient: stop without saving, naming what went wrong.
int stop_on_nonfinite(const Run& run, const TrainStepResult& step, int64_t update) {
  if (!run.lead) return 1;  // every rank saw the same global loss and norm; rank 0 says so
  if (run.progress_bar) clear_progress();
  std::cerr << timestamp() << " error: non-finite "
            << (std::isfinite(step.loss) ? "gradient in parameter '" + step.nonfinite_parameter + "'"
                                         : std::string("loss"))
            << " at update " << update << "; stopping without saving. "
            << (run.last_saved_update >= 0
                    ? "The last checkpoint (update " + std::to_string(run.last_saved_update) + ") is intact."
                    : std::string("No checkpoint had been saved yet."))
            << " Try a lower --learn-rate or --clip-norm.\n";
  return 1;
}

// Adds one update to the window (and the progress bar).
void add_to_window(const Run& run, Window& window, const TrainStepResult& step) {
  window.loss += step.loss * step.target_tokens;
  window.tokens += step.target_tokens;
  window.norm += step.grad_norm;
  window.sentences += step.sentences;
  ++window.updates;
  if (run.progress_bar) draw_progress(window.updates, run.opt.disp_freq);
}

// The display line (and its JSONL record) for the window ending at `update`; empties the window.
void display(Run& run, Window& window, int64_t update, double lr) {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - window.since).count();
  double elapsed = std::chrono::duration<double>(now - run.clock_start).count();
  double mean_loss = window.loss / std::max<int64_t>(window.tokens, 1);
  const int64_t epoch = run.batches->epoch() + 1;
  if (run.progress_bar) clear_progress();
  char line[512];
  std::snprintf(line, sizeof line,
                "Ep. %lld : Up. %lld : Sen. %lld : Cost %.4f : Ppl %.3f : %.0f tok/s : "
                "%.1f ms/up : L.r. %.2e : |g| %.3f : Time %.1fs",
                static_cast<long long>(epoch), static_cast<long long>(update),
                static_cast<long long>(window.sentences), mean_loss, std::exp(mean_loss),
                window.tokens / seconds, 1000.0 * seconds / window.updates, lr,
                window.norm / window.updates, elapsed);
  std::cout << timestamp() << " " << line << std::endl;
  run.metrics_log << "{\"kind\":\"train\",\"update\":" << update << ",\"epoch\":" << epoch
                  << ",\"loss\":" << mean_loss << ",\"ppl\":" << std::exp(mean_loss)
                  << ",\"tokens_per_second\":" << window.tokens / seconds
                  << ",\"ms_per_update\":" << 1000.0 * seconds / window.updates << ",\"lr\":" << lr
                  << ",\"grad_norm\":" << window.norm / window.updates << ",\"elapsed\":" << elapsed
                  << "}" << std::endl;
  window = Window();
  window.since = std::chrono::steady_clock::now();
}

// A few sample translations, so a learner sees what the numbers mean.
void show_samples(Run& run) {
  NoGradGuard no_grad;
  nn::Translator& model = *run.model;
  const EncodedPairs& valid_set = run.valid_set;
  model.eval();
  std::vector<size_t> sample;
  for (int64_t i = 0; i < run.opt.valid_samples && static_cast<size_t>(i) < valid_set.size(); ++i) {
    sample.push_back(i);
  }
  if (!sample.empty()) {
    data::Batch b = data::make_batch(valid_set.sources, valid_set.targets, sample);
    // The limit validation decodes under (--valid-max-length-factor, ...).
    const decode::BeamSearchOptions& limits = run.valid_options.beam;
    const int64_t max_length = std::min(decode::beam_max_length(b.source.size(1), limits),
                                        decode::length_cap(model, limits).tokens);
    decode::DecodeResult decoded = decode::greedy_decode(model, b.source.to(model.device()), b.source_lengths,
                                                         max_length, /*need_attention=*/false);
    for (size_t k = 0; k < sample.size(); ++k) {
      std::cout << "    source: " << valid_set.pairs[sample[k]].source << "\n"
                << "    output: "
                << join_tokens(run.pipeline.tokenizer, run.pipeline.target_vocab, decoded.tokens[k]) << "\n"
                << "    target: " << valid_set.pairs[sample[k]].target << "\n";
    }
    std::cout.flush();  // a log piped to a file shows each validation as it happens
  }
  model.train();
}

// Validation at `update`: scores, the best model, stalls, samples. Returns
// true when early stopping says to stop.
bool validate(Run& run, int64_t update) {
  ValidationResult valid = evaluate(*run.model, run.valid_set, run.valid_options);
  double value = metric_value(valid, run.deciding);
  bool improved = run.higher_is_better ? value > run.best_metric : value < run.best_metric;
  if (improved) {
    run.best_metric = value;
    run.stalls = 0;
    save_best_model(best_model_path(run.opt.model_path), *run.model, run.metadata, run.settings);
    if (!run.opt.config_yaml.empty()) {
      save_config_file(best_model_path(run.opt.model_path), run.opt.config_yaml);
    }
  } else {
    ++run.stalls;
    if (run.halving) run.halving->halve();
  }
  const int64_t epoch = run.batches->epoch() + 1;
  char line[320];
  std::snprintf(line, sizeof line,
                "[valid] Ep. %lld : Up. %lld : cross-entropy %.4f : ppl %.3f : exact-match %.2f%% : "
                "token-accuracy %.2f%% : bleu %.2f : chrf %.2f : %s %s",
                static_cast<long long>(epoch), static_cast<long long>(update), valid.loss,
                valid.perplexity, 100 * valid.exact_match, 100 * valid.token_accuracy, valid.bleu,
                valid.chrf, run.deciding.c_str(),
                improved ? "new best" : ("stalled " + std::to_string(run.stalls) + " times").c_str());
  std::cout << timestamp() << " " << line << std::endl;
  if (run.valid_log.is_open()) run.valid_log << timestamp() << " " << line << std::endl;
  if (valid.reached_max_length > 0) {
    // Outputs that could not be right: say how many, and which flags move the limit.
    const int64_t validated = run.opt.valid_max_sentences > 0
                                  ? std::min<int64_t>(run.opt.valid_max_sentences, run.valid_set.size())
                                  : static_cast<int64_t>(run.valid_set.size());
    const decode::BeamSearchOptions& limits = run.valid_options.beam;
    std::ostringstream cut;
    cut << "[valid] " << valid.reached_max_length << " of " << validated << " outputs stopped at "
        << "the length limit without </s> (--valid-max-length-factor " << limits.max_length_factor
        << " x source + --valid-max-length-offset " << limits.max_length_offset;
    const decode::LengthCap cap = decode::length_cap(*run.model, limits);
    if (cap.tokens == std::numeric_limits<int64_t>::max()) {
      cut << ", no absolute cap)";
    } else {
      cut << ", at most " << cap.tokens << " tokens: "
          << (cap.tokens == limits.max_length ? "--valid-max-length" : cap.reason) << ")";
    }
    std::cout << timestamp() << " " << cut.str() << std::endl;
    if (run.valid_log.is_open()) run.valid_log << timestamp() << " " << cut.str() << std::endl;
  }
  run.metrics_log << "{\"kind\":\"valid\",\"update\":" << update << ",\"epoch\":" << epoch
                  << ",\"loss\":" << valid.loss << ",\"ppl\":" << valid.perplexity
                  << ",\"exact_match\":" << valid.exact_match
                  << ",\"token_accuracy\":" << valid.token_accuracy << ",\"bleu\":" << valid.bleu
                  << ",\"chrf\":" << valid.chrf
                  << ",\"stopped_at_length_limit\":" << valid.reached_max_length << "}" << std::endl;
  show_samples(run);
  if (run.opt.early_stopping > 0 && run.stalls >= run.opt.early_stopping) {
    std::cout << timestamp() << " No improvement in " << run.stalls << " validations: stopping early"
              << std::endl;
    return true;
  }
  return false;
}

// Data parallel: rank 0 alone validates (and keeps the best model); the
// others take its decisions, which the next updates depend on: stop early,
// the stall count, and the rate's halvings. `stop` is rank 0's answer.
bool share_validation(Run& run, bool stop) {
  if (run.comm.size() <= 1) return stop;
  int64_t decisions[3] = {stop ? 1 : 0, run.stalls, run.halving ? run.halving->halvings() : 0};
  run.comm.broadcast(decisions, sizeof decisions, 0);
  run.stalls = decisions[1];
  if (run.halving) run.halving->set_halvings(decisions[2]);
  return decisions[0] != 0;
}

// The signal that stops the run, 0 for none. Data parallel, mpirun hands a
// Ctrl-C to every rank, but not at the same update: the ranks agree on the
// largest they have, and all stop at this update together.
int agreed_signal(Run& run) {
  int64_t signal = pending_signal;
  if (run.comm.size() > 1) run.comm.allreduce_max(&signal, 1);
  return static_cast<int>(signal);
}

// `signal` (Ctrl-C, SIGTERM or SIGXCPU) arrived during `update`: save, say how to resume.
int stop_on_signal(Run& run, int64_t update, int signal) {
  if (run.progress_bar) clear_progress();
  save(run);
  std::cout << timestamp() << " Interrupted by signal " << signal << " at update " << update
            << ": checkpoint saved to " << run.opt.model_path << "; rerun the same command to resume\n";
  return 128 + signal;
}

// `trained`: this run did updates. A rerun of a finished command did none and
// rewrites nothing: the files on disk (MODEL.yml too) stay those of the run
// that trained them.
int finish(Run& run, bool trained) {
  if (run.progress_bar) clear_progress();
  if (trained) save(run);
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run.clock_start).count();
  std::cout << timestamp() << " Training finished at update " << run.state.update << " after "
            << elapsed << " s; model saved to " << run.opt.model_path << "\n";
  if (run.comm.size() > 1 && run.steps > 0) {
    char line[160];
    std::snprintf(line, sizeof line, "the gradients' all-reduce took %.1f%% of rank 0's step time "
                  "(%.2f of %.2f ms per update)", 100.0 * run.allreduce_seconds / run.step_seconds,
                  1000.0 * run.allreduce_seconds / run.steps,
                  1000.0 * run.step_seconds / run.steps);
    std::cout << timestamp() << " Data parallel, " << run.comm.size() << " ranks over "
              << run.comm.name() << ": " << line << std::endl;
  }
  return 0;
}

}  // namespace

Trainer::Trainer(ModelOptions model, DataOptions data, TrainOptions train)
    : model_options_(std::move(model)), data_options_(std::move(data)), train_options_(std::move(train)) {}

// The loop, one update per pass: a batch, train_step (train/train_step.h),
// then the log, validation, checkpoints and stop conditions, each in a
// function of its own above.
int Trainer::run() {
  const TrainOptions& opt = train_options_;
  ATTN_CHECK(!opt.model_path.empty(), "--model PATH is required");
  const StopAfter after = parse_after(opt.after);
  manual_seed(opt.seed);
  // Under `mpirun -np N`, this process is one of N ranks (train/distributed/).
  Run run(opt, distributed::communicator_for(parse_device(opt.device)));
  QuietUnlessLead quiet(run.lead);
  const Checkpoint checkpoint = prepare_data(run, model_options_, data_options_);
  prepare_model(run, model_options_, data_options_);
  if (run.resuming) resume(run, checkpoint);
  distributed::broadcast_parameters(run.model->parameters(), run.comm);  // one start for all ranks
  announce(run);
  if (run.comm.size() > 1) {
    std::cout << timestamp() << " Data parallel: " << run.comm.size() << " ranks over "
              << run.comm.name() << ", each training on its share of every batch" << std::endl;
  }
  if (run.lead) run.metrics_log.open(metrics_log_path(opt.model_path), std::ios::app);
  if (run.lead && !opt.valid_log_path.empty()) {
    run.valid_log.open(opt.valid_log_path, std::ios::app);
    ATTN_CHECK(run.valid_log.is_open(), "--valid-log ", opt.valid_log_path, ": cannot open it to write");
  }
  run.last_saved_update = run.resuming ? run.state.update : -1;

  install_signal_handlers();
  run.progress_bar = run.lead && !opt.quiet && isatty(STDERR_FILENO) && opt.disp_freq > 0;  // 0: no log lines
  run.clock_start = std::chrono::steady_clock::now();
  Window window;
  window.since = run.clock_start;
  TrainStepOptions step_options;
  step_options.label_smoothing = opt.label_smoothing;
  step_options.clip_norm = opt.clip_norm;
  step_options.bf16 = opt.precision == "bf16";
  step_options.communicator = &run.comm;
  bool graph_dumped = false;  // --dump-graph: only the first update of this run
  data::BatchIterator& batches = *run.batches;
  run.model->train();

  const bool finished_already = finished_before(run, after);
  bool stop = finished_already;
  while (!stop) {
    if (!batches.has_next()) {
      batches.next_epoch();
      if (after.epochs > 0 && batches.epoch() >= after.epochs) break;
    }
    if (after.epochs > 0 && batches.epoch() >= after.epochs) break;
    const int64_t update = run.state.update + 1;
    data::Batch batch = share_of_batch(run, batches.next(), update);

    step_options.dump_graph = graph_dumped || !run.lead ? "" : opt.dump_graph;
    const auto step_start = std::chrono::steady_clock::now();
    TrainStepResult step =
        train_step(*run.model, batch, *run.optimizer, *run.schedule, update, step_options);
    run.step_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    run.allreduce_seconds += step.allreduce_seconds;
    ++run.steps;
    if (!step_options.dump_graph.empty()) {
      report_graph_dump(opt.dump_graph, update);
      graph_dumped = true;
    }
    if (!step.stepped) return stop_on_nonfinite(run, step, update);
    run.state.update = update;

    add_to_window(run, window, step);
    if (opt.disp_freq > 0 && update % opt.disp_freq == 0) display(run, window, update, step.learning_rate);
    if (opt.valid_freq > 0 && update % opt.valid_freq == 0 && run.valid_set.size() > 0) {
      if (share_validation(run, run.lead && validate(run, update))) stop = true;
    }
    if (opt.save_freq > 0 && update % opt.save_freq == 0) save(run);
    if (after.updates > 0 && update >= after.updates) stop = true;
    if (int signal = agreed_signal(run)) return stop_on_signal(run, update, signal);
  }
  return finish(run, !finished_already);
}

}  // namespace attn::train
