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
#include <optional>
#include <sstream>

#include "tensor/grad_mode.h"
#include "autograd/graph_dump.h"
#include "autograd/ops.h"
#include "data/batch.h"
#include "kernels/generator.h"
#include "train/checkpoint.h"
#include "train/clip.h"
#include "train/decode.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/models.h"
#include "train/optimizer.h"
#include "train/schedule.h"

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
                                                         .betas(beta1, beta2)
                                                         .eps(eps)
                                                         .weight_decay(options.weight_decay));
  }
  if (options.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(parameters, optim::AdamWOptions(options.learn_rate)
                                                          .betas(beta1, beta2)
                                                          .eps(eps)
                                                          .weight_decay(options.weight_decay));
  }
  if (options.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(parameters, optim::SGDOptions(options.learn_rate)
                                                        .momentum(options.momentum)
                                                        .weight_decay(options.weight_decay));
  }
  throw Error("--optimizer: expected adam, adamw or sgd, got '" + options.optimizer + "'");
}

std::unique_ptr<optim::Schedule> make_schedule(const TrainOptions& options) {
  if (options.lr_schedule == "constant") {
    return std::make_unique<optim::ConstantSchedule>(options.learn_rate, options.lr_warmup);
  }
  if (options.lr_schedule == "halving") {
    return std::make_unique<optim::StepHalvingSchedule>(optim::StepHalvingOptions(options.learn_rate)
                                                            .every(options.lr_decay_freq)
                                                            .warmup(options.lr_warmup));
  }
  if (options.lr_schedule == "inv-sqrt") {
    return std::make_unique<optim::InverseSqrtSchedule>(
        optim::InverseSqrtOptions(options.learn_rate).warmup(std::max<int64_t>(options.lr_warmup, 1)));
  }
  throw Error("--lr-schedule: expected constant, halving or inv-sqrt, got '" +
              options.lr_schedule + "'");
}

// The loss of one batch: mean cross-entropy over non-pad target tokens.
Tensor batch_loss(nn::Translator& model, const data::Batch& on_host, double label_smoothing) {
  const data::Batch batch = on_host.to(model.device());
  Tensor logits = model.forward(batch.source, batch.source_lengths, batch.target_input);
  int64_t vocab = logits.size(-1);
  return cross_entropy(logits.reshape({-1, vocab}), batch.target_output.reshape({-1}),
                       CrossEntropyOptions().ignore(data::kPad).smoothing(label_smoothing));
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

}  // namespace

Trainer::Trainer(ModelOptions model, DataOptions data, TrainOptions train)
    : model_options_(std::move(model)), data_options_(std::move(data)), train_options_(std::move(train)) {}

int Trainer::run() {
  const TrainOptions& opt = train_options_;
  ATTN_CHECK(!opt.model_path.empty(), "--model PATH is required");
  StopAfter after = parse_after(opt.after);
  manual_seed(opt.seed);

  // --- data and vocabularies (from the checkpoint when resuming) ---
  // The folder of --model is made up front, not discovered missing at the first save.
  std::filesystem::path model_folder = std::filesystem::path(opt.model_path).parent_path();
  if (!model_folder.empty()) std::filesystem::create_directories(model_folder);
  bool resuming = checkpoint_exists(opt.model_path);
  std::vector<data::SentencePair> train_pairs =
      load_pairs(data_options_, Split::Train, data_options_.train_tsv, data_options_.train_sets);
  std::vector<data::SentencePair> valid_pairs =
      load_pairs(data_options_, Split::Valid, data_options_.valid_tsv, data_options_.valid_sets);
  Checkpoint checkpoint;
  TextPipeline pipeline;
  if (resuming) {
    checkpoint = load_checkpoint(opt.model_path);
    pipeline = TextPipeline::from_metadata(checkpoint.metadata);
    model_options_ = ModelOptions::from_metadata(checkpoint.metadata);
  } else {
    pipeline = build_pipeline(data_options_, train_pairs);
    model_options_.source_vocab_size = pipeline.source_vocab.size();
    model_options_.target_vocab_size = pipeline.target_vocab.size();
  }
  EncodedPairs train_set = encode_pairs(pipeline, train_pairs);
  EncodedPairs valid_set = encode_pairs(pipeline, valid_pairs);
  data::BatchOptions batching;
  batching.mini_batch = data_options_.mini_batch;
  batching.mini_batch_words = data_options_.mini_batch_words;
  batching.max_length = data_options_.max_length;
  // A resumed run keeps the shuffle of the run it continues, whatever --seed says now.
  batching.seed = resuming && checkpoint.state.counters.count("seed")
                      ? static_cast<uint64_t>(checkpoint.state.counters.at("seed"))
                      : opt.seed;
  data::BatchIterator batches(train_set.sources, train_set.targets, batching);

  // --- model, optimizer, schedule ---
  std::shared_ptr<nn::Translator> model = make_model(model_options_);
  model->to(parse_device(opt.device));
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(opt, model->parameters());
  std::unique_ptr<optim::Schedule> schedule = make_schedule(opt);
  // With --lr-schedule halving, a stalled validation also halves the rate
  // (Marian's --lr-decay-strategy stalls).
  auto* halving = dynamic_cast<optim::StepHalvingSchedule*>(schedule.get());
  std::map<std::string, std::string> metadata = model_options_.to_metadata();
  for (auto& [key, value] : pipeline.to_metadata()) metadata[key] = value;

  TrainingState state;
  // The first of --valid-metrics decides "better": the best model and early stopping.
  std::vector<std::string> valid_metrics = split_metrics(opt.valid_metrics);
  for (const std::string& metric : valid_metrics) metric_higher_is_better(metric);  // known names?
  const std::string& deciding = valid_metrics.front();
  const bool higher_is_better = metric_higher_is_better(deciding);
  const std::string best_key = deciding == "cross-entropy" ? "best_valid_loss" : "best_valid_" + deciding;
  double best_metric = higher_is_better ? -1e300 : 1e300;
  int64_t stalls = 0;
  EvaluateOptions valid_options;
  valid_options.batch_size = data_options_.mini_batch;
  valid_options.max_sentences = opt.valid_max_sentences;
  valid_options.pipeline = &pipeline;
  if (resuming) {
    model->load_state_dict(checkpoint.weights);
    state = checkpoint.state;
    optimizer->load_state(state.optimizer);
    batches.seek(state.epoch, state.batch_in_epoch);
    default_generator().set_state(state.rng_seed, state.rng_offset);
    if (state.scores.count(best_key)) best_metric = state.scores[best_key];
    if (state.counters.count("stalls")) stalls = state.counters["stalls"];
    if (halving && state.counters.count("lr_halvings")) halving->set_halvings(state.counters["lr_halvings"]);
    std::cout << timestamp() << " Resuming " << opt.model_path << " at epoch " << state.epoch + 1
              << ", update " << state.update << "\n";
  }
  std::cout << timestamp() << " " << model->describe() << "\n"
            << timestamp() << " Training on " << batches.num_examples() << " sentence pairs ("
            << batches.num_filtered() << " longer than --max-length left out), validating on "
            << valid_set.size() << "; vocabularies " << pipeline.source_vocab.size() << "/"
            << pipeline.target_vocab.size() << "; " << schedule->describe() << std::endl;

  std::ofstream metrics_log(metrics_log_path(opt.model_path), std::ios::app);
  int64_t last_saved_update = resuming ? state.update : -1;
  auto save = [&]() {
    state.epoch = batches.epoch();
    state.batch_in_epoch = batches.position();
    state.rng_seed = default_generator().seed();
    state.rng_offset = default_generator().offset();
    state.optimizer = optimizer->state();
    state.scores[best_key] = best_metric;
    state.counters["stalls"] = stalls;
    state.counters["seed"] = static_cast<int64_t>(batching.seed);
    if (halving) state.counters["lr_halvings"] = halving->halvings();
    save_checkpoint(opt.model_path, *model, metadata, state);
    last_saved_update = state.update;
  };

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // A CPU-time budget (`ulimit -S -t SECONDS`, as bench/multi30k.sh sets)
  // arrives as SIGXCPU: stop and save the same way.
  std::signal(SIGXCPU, on_signal);
  pending_signal = 0;
  const bool progress_bar = !opt.quiet && isatty(STDERR_FILENO);
  auto named = model->named_parameters();
  std::vector<Tensor> parameters = model->parameters();
  auto clock_start = std::chrono::steady_clock::now();
  auto since = clock_start;
  double window_loss = 0.0, window_norm = 0.0;
  int64_t window_tokens = 0, window_updates = 0, window_sentences = 0;
  bool stop = false;
  bool graph_dumped = false;  // --dump-graph: only the first update of this run
  model->train();

  // A rerun of a finished command finds its checkpoint at the end already.
  if (after.updates > 0 && state.update >= after.updates) stop = true;
  if (after.epochs > 0 && state.epoch >= after.epochs) stop = true;
  if (opt.early_stopping > 0 && stalls >= opt.early_stopping) stop = true;  // it stopped early before
  while (!stop) {
    if (!batches.has_next()) {
      batches.next_epoch();
      if (after.epochs > 0 && batches.epoch() >= after.epochs) break;
    }
    if (after.epochs > 0 && batches.epoch() >= after.epochs) break;
    data::Batch batch = batches.next();

    Tensor loss = batch_loss(*model, batch, opt.label_smoothing);
    optimizer->zero_grad();
    const bool dump_now = !opt.dump_graph.empty() && !graph_dumped;
    // With --dump-graph, the first backward also records each node's incoming gradient norm.
    std::optional<autograd::RecordGradNormsGuard> record_norms;
    if (dump_now) record_norms.emplace();
    loss.backward();
    record_norms.reset();
    int64_t update = state.update + 1;
    if (dump_now) {
      dump_graph(loss, opt.dump_graph, {named});
      graph_dumped = true;
      std::cerr << timestamp() << " [graph] update " << update << "'s autograd graph written to "
                << opt.dump_graph << " (render: dot -Tsvg " << opt.dump_graph << " -o graph.svg)\n";
    }
    double loss_value = loss.item();
    // The global norm is finite exactly when every gradient is (its squares
    // are summed in double, which no float gradient overflows), so only a bad
    // step pays for the search that names the parameter.
    double norm = opt.clip_norm > 0 ? clip_grad_norm(parameters, opt.clip_norm) : grad_norm(parameters);
    std::string bad = !std::isfinite(loss_value) ? "(the loss)"
                      : !std::isfinite(norm)     ? first_nonfinite_grad(named)
                                                 : std::string();
    if (!bad.empty()) {
      if (progress_bar) clear_progress();
      std::cerr << timestamp() << " error: non-finite "
                << (bad == "(the loss)" ? "loss" : "gradient in parameter '" + bad + "'")
                << " at update " << update << "; stopping without saving. "
                << (last_saved_update >= 0
                        ? "The last checkpoint (update " + std::to_string(last_saved_update) + ") is intact."
                        : std::string("No checkpoint had been saved yet."))
                << " Try a lower --learn-rate or --clip-norm.\n";
      return 1;
    }
    double lr = schedule->rate(update);
    optimizer->set_lr(lr);
    optimizer->step();
    state.update = update;

    window_loss += loss_value * batch.target_tokens;
    window_tokens += batch.target_tokens;
    window_norm += norm;
    window_sentences += batch.size();
    ++window_updates;
    if (progress_bar) draw_progress(window_updates, opt.disp_freq);

    auto now = std::chrono::steady_clock::now();
    if (update % opt.disp_freq == 0) {
      double seconds = std::chrono::duration<double>(now - since).count();
      double elapsed = std::chrono::duration<double>(now - clock_start).count();
      double mean_loss = window_loss / std::max<int64_t>(window_tokens, 1);
      if (progress_bar) clear_progress();
      char line[512];
      std::snprintf(line, sizeof line,
                    "Ep. %lld : Up. %lld : Sen. %lld : Cost %.4f : Ppl %.3f : %.0f tok/s : "
                    "%.1f ms/up : L.r. %.2e : |g| %.3f : Time %.1fs",
                    static_cast<long long>(batches.epoch() + 1), static_cast<long long>(update),
                    static_cast<long long>(window_sentences), mean_loss, std::exp(mean_loss),
                    window_tokens / seconds, 1000.0 * seconds / window_updates, lr,
                    window_norm / window_updates, elapsed);
      std::cout << timestamp() << " " << line << std::endl;
      metrics_log << "{\"kind\":\"train\",\"update\":" << update << ",\"epoch\":" << batches.epoch() + 1
                  << ",\"loss\":" << mean_loss << ",\"ppl\":" << std::exp(mean_loss)
                  << ",\"tokens_per_second\":" << window_tokens / seconds
                  << ",\"ms_per_update\":" << 1000.0 * seconds / window_updates << ",\"lr\":" << lr
                  << ",\"grad_norm\":" << window_norm / window_updates << ",\"elapsed\":" << elapsed
                  << "}" << std::endl;
      window_loss = window_norm = 0.0;
      window_tokens = window_updates = window_sentences = 0;
      since = std::chrono::steady_clock::now();
    }

    if (opt.valid_freq > 0 && update % opt.valid_freq == 0 && valid_set.size() > 0) {
      ValidationResult valid = evaluate(*model, valid_set, valid_options);
      double value = metric_value(valid, deciding);
      bool improved = higher_is_better ? value > best_metric : value < best_metric;
      if (improved) {
        best_metric = value;
        stalls = 0;
        model->save(best_model_path(opt.model_path), metadata);
      } else {
        ++stalls;
        if (halving) halving->halve();
      }
      char line[320];
      std::snprintf(line, sizeof line,
                    "[valid] Ep. %lld : Up. %lld : cross-entropy %.4f : ppl %.3f : exact-match %.2f%% : "
                    "token-accuracy %.2f%% : bleu %.2f : chrf %.2f : %s %s",
                    static_cast<long long>(batches.epoch() + 1), static_cast<long long>(update), valid.loss,
                    valid.perplexity, 100 * valid.exact_match, 100 * valid.token_accuracy, valid.bleu,
                    valid.chrf, deciding.c_str(),
                    improved ? "new best" : ("stalled " + std::to_string(stalls) + " times").c_str());
      std::cout << timestamp() << " " << line << std::endl;
      metrics_log << "{\"kind\":\"valid\",\"update\":" << update << ",\"epoch\":" << batches.epoch() + 1
                  << ",\"loss\":" << valid.loss << ",\"ppl\":" << valid.perplexity
                  << ",\"exact_match\":" << valid.exact_match
                  << ",\"token_accuracy\":" << valid.token_accuracy << ",\"bleu\":" << valid.bleu
                  << ",\"chrf\":" << valid.chrf << "}" << std::endl;
      // A few sample translations, so a learner sees what the numbers mean.
      {
        NoGradGuard no_grad;
        model->eval();
        std::vector<size_t> sample;
        for (int64_t i = 0; i < opt.valid_samples && static_cast<size_t>(i) < valid_set.size(); ++i) sample.push_back(i);
        if (!sample.empty()) {
          data::Batch b = data::make_batch(valid_set.sources, valid_set.targets, sample);
          DecodeResult decoded = greedy_decode(*model, b.source.to(model->device()), b.source_lengths, max_output_length(b.source.size(1)));
          for (size_t k = 0; k < sample.size(); ++k) {
            std::cout << "    source: " << valid_set.pairs[sample[k]].source << "\n"
                      << "    output: " << join_tokens(pipeline.tokenizer, pipeline.target_vocab, decoded.tokens[k]) << "\n"
                      << "    target: " << valid_set.pairs[sample[k]].target << "\n";
          }
          std::cout.flush();  // a log piped to a file shows each validation as it happens
        }
        model->train();
      }
      if (opt.early_stopping > 0 && stalls >= opt.early_stopping) {
        std::cout << timestamp() << " No improvement in " << stalls << " validations: stopping early" << std::endl;
        stop = true;
      }
    }
    if (opt.save_freq > 0 && update % opt.save_freq == 0) save();
    if (after.updates > 0 && update >= after.updates) stop = true;
    if (pending_signal != 0) {
      if (progress_bar) clear_progress();
      int signal = pending_signal;
      save();
      std::cout << timestamp() << " Interrupted by signal " << signal << " at update " << update
                << ": checkpoint saved to " << opt.model_path << "; rerun the same command to resume\n";
      return 128 + signal;
    }
  }
  if (progress_bar) clear_progress();
  save();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count();
  std::cout << timestamp() << " Training finished at update " << state.update << " after "
            << elapsed << " s; model saved to " << opt.model_path << "\n";
  return 0;
}

}  // namespace attn::train
