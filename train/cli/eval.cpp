// `attn eval --model PATH --task dates`: how well a trained model translates a
// test set (the task's test split, a TSV file, or two parallel files):
// cross-entropy and perplexity with the reference as input (teacher forcing),
// then the model's own translations, by beam search (or greedy decoding with
// --beam-size 1), scored by exact match, token accuracy, BLEU and chrF.
// BLEU and chrF are computed as sacreBLEU computes them and printed with its
// signature, so a figure can be compared with a paper's (docs/08-decoding-and-bleu.md).
#include <cstdio>
#include <fstream>
#include <iostream>

#include <cxxopts.hpp>

#include "data/corpus.h"
#include "data/tasks.h"
#include "train/cli/cli.h"
#include "train/cli/config_file.h"
#include "train/decode/decode.h"
#include "train/evaluate.h"
#include "train/loaded_model.h"
#include "train/options.h"

namespace attn::cli {

int run_eval(int argc, char** argv) {
  cxxopts::Options options("attn eval", "Score a trained model on a test set");
  std::string model_path, output_path, device;
  train::DataOptions data;
  std::string test_tsv, test_sets;
  train::EvaluateOptions evaluate;
  bool crop = false;
  int64_t cpu_threads = 0;
  nn::KVCacheOptions kv_cache;
  decode::BeamSearchOptions& beam = evaluate.beam;
  beam.beam_size = 5;
  options.add_options()
      ("m,model", "model file written by attn train", cxxopts::value(model_path))
      ("task", "use the test split of a built-in task", cxxopts::value(data.task))
      ("test-tsv", "test pairs, source<TAB>target per line", cxxopts::value(test_tsv))
      ("test-sets", "test pairs as two line-aligned files: SRC TGT (or SRC,TGT)", cxxopts::value(test_sets))
      ("mini-batch", "sentences per batch", cxxopts::value(evaluate.batch_size)->default_value("64"))
      ("beam-size", "hypotheses kept per sentence; 1 = greedy decoding. Default: 5; a transformer model: 4, the paper's", cxxopts::value(beam.beam_size))
      ("normalize", "rank by score / length^alpha (0: raw log-probability). Default: 0; a transformer model: 0.6, the paper's length penalty", cxxopts::value(beam.normalize))
      ("max-length-factor", "at most this many output tokens per source token, plus --max-length-offset", cxxopts::value(beam.max_length_factor)->default_value("3"))
      ("max-length-offset", "tokens added to the factor's limit", cxxopts::value(beam.max_length_offset)->default_value("10"))
      ("max-length", "the longest test source and output, in tokens: a longer source is refused (or cut, "
       "with --max-length-crop) and no output runs past it; 0 = no cap of its own (a transformer still "
       "reads at most 512 positions)", cxxopts::value(beam.max_length)->default_value(std::to_string(decode::kDefaultMaxLength)))
      ("max-length-crop", "score only the first --max-length tokens of a longer source, with a warning, "
       "instead of refusing it", cxxopts::value(crop))
      ("kv-cache", "how a transformer caches its self-attention keys and values while decoding: "
       "contiguous (a buffer per hypothesis) or paged (blocks shared by the beams, vLLM's PagedAttention)",
       cxxopts::value(kv_cache.kind)->default_value("contiguous"))
      ("kv-block-size", "positions per block of --kv-cache paged", cxxopts::value(kv_cache.block_size)->default_value("16"))
      ("o,output", "write the translations to this file, one per line", cxxopts::value(output_path))
      ("device", "cpu or cuda: where the model runs", cxxopts::value(device)->default_value("cpu"))
      ("cpu-threads", "threads of the CPU kernels (0: the ATTN_NUM_THREADS environment variable, or else every core)",
       cxxopts::value(cpu_threads)->default_value("0"))
      ("h,help", "show this help");
  std::set<std::string> given;
  add_config_options(options);  // -c/--config, --dump-config (train/cli/config_file.h)
  if (int exit_code = parse_with_config_files(options, argc, argv, &given); exit_code >= 0) {
    return exit_code;
  }
  ATTN_CHECK(!model_path.empty(), "--model PATH is required");
  apply_cpu_threads(cpu_threads);
  train::check_flag("--mini-batch", evaluate.batch_size, 1, train::kMaxBatchSentences);
  decode::check_beam_search_options(beam);
  kv_cache.check();  // before the model loads
  std::vector<std::string> tasks = data::task_names();
  tasks.insert(tasks.begin(), "");
  train::check_choice("--task", data.task, tasks);
  const Device on = train::parse_device(device);  // before loading, so a bad value fails fast
  data::check_input_file(model_path, "--model");
  if (!output_path.empty()) data::check_output_file(output_path, "--output");
  train::LoadedModel loaded = train::load_model(model_path);
  loaded.model->to(on);
  decode::set_kv_cache(*loaded.model, kv_cache);
  decode::apply_decoding_defaults(*loaded.model, beam,
                                  [&](const std::string& flag) { return given.count(flag) > 0; });
  auto pairs = train::load_pairs(data, train::Split::Test, test_tsv, test_sets);
  train::EncodedPairs set = train::encode_pairs(loaded.pipeline, pairs);
  // Each source against the cap, named by its file and line (or its place in the task's test split).
  const decode::LengthCap cap = decode::length_cap(*loaded.model, beam);
  const std::string place =
      !test_tsv.empty()    ? test_tsv + ":"
      : !test_sets.empty() ? train::split_pair_of_paths(test_sets, "--test-sets").first + ":"
                           : "--task " + data.task + " test sentence ";
  int64_t cropped = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    if (decode::fit_source(set.sources[i], cap, crop, place + std::to_string(i + 1))) ++cropped;
  }
  if (cropped > 0) {
    std::cerr << "attn eval: warning: " << cropped << " sources longer than " << cap.tokens
              << " tokens were cut to their first " << cap.tokens << " (--max-length-crop)\n";
  }
  evaluate.pipeline = &loaded.pipeline;
  evaluate.keep_translations = !output_path.empty();
  train::ValidationResult result = train::evaluate(*loaded.model, set, evaluate);
  if (!output_path.empty()) {
    std::ofstream out(output_path);
    ATTN_CHECK(out.is_open(), "cannot write --output file '", output_path, "'");
    for (const std::string& line : result.translations) out << line << "\n";
  }
  std::printf("sentences %zu : beam %lld : exact-match %.2f%% : token-accuracy %.2f%% : "
              "cross-entropy %.4f : ppl %.3f\n",
              set.size(), static_cast<long long>(beam.beam_size), 100 * result.exact_match,
              100 * result.token_accuracy, result.loss, result.perplexity);
  std::printf("%s\n  signature %s\n", result.bleu_line.c_str(), result.bleu_signature.c_str());
  std::printf("chrF2 = %.2f\n  signature %s\n", result.chrf, result.chrf_signature.c_str());
  if (result.reached_max_length > 0) {
    std::fprintf(stderr, "attn eval: %lld of %zu translations stopped at the length limit without "
                 "</s> (--max-length-factor %g x source + --max-length-offset %lld; %s)\n",
                 static_cast<long long>(result.reached_max_length), set.size(), beam.max_length_factor,
                 static_cast<long long>(beam.max_length_offset), cap.reason.c_str());
  }
  return 0;
}

}  // namespace attn::cli
