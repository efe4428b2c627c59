// `attn translate --model PATH`: one sentence per line in, one translation per
// line out (stdin to stdout, or --input / --output), beam search in batches
// (train/decode/beam_search.h; --beam-size 1 is greedy decoding).
//
// With --n-best N each sentence gives its N best translations instead, in
// Marian's n-best format, SENTENCE_ID counting lines from 0:
//   0 ||| the translation ||| F0= -1.2345 ||| -0.2469
// (the sum of log-probabilities, then the score --normalize ranks by). Marian's
// --n-best is a switch that prints the whole beam; ours says how many.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include <cxxopts.hpp>

#include "tensor/grad_mode.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"
#include "train/cli/cli.h"
#include "train/cli/config_file.h"
#include "train/loaded_model.h"
#include "train/options.h"

namespace attn::cli {

int run_translate(int argc, char** argv) {
  cxxopts::Options options("attn translate", "Translate sentences, one per line");
  std::string model_path, input_path, output_path, device;
  int64_t mini_batch = 64, n_best = 0, cpu_threads = 0;
  bool report_cache = false, crop = false;
  nn::KVCacheOptions kv_cache;
  decode::BeamSearchOptions beam;
  beam.need_attention = false;  // translations only: the Transformer's attention all runs fused
  options.add_options()
      ("m,model", "model file written by attn train", cxxopts::value(model_path))
      ("i,input", "read sentences from this file (default: stdin)", cxxopts::value(input_path))
      ("o,output", "write translations to this file (default: stdout)", cxxopts::value(output_path))
      ("mini-batch", "sentences translated together", cxxopts::value(mini_batch)->default_value("64"))
      ("b,beam-size", "hypotheses kept per sentence; 1 = greedy decoding (Joey NMT's default 5; "
       "Marian's is 12). Default: 5; a transformer model: 4, the paper's", cxxopts::value(beam.beam_size))
      ("n,normalize", "rank translations by score / length^ARG, the length counting </s>; 0 = by "
       "log-probability, which favours short outputs. Default: 0; a transformer model: 0.6, the "
       "paper's length penalty", cxxopts::value(beam.normalize))
      ("max-length-factor", "output at most ARG times the source length in tokens, plus --max-length-offset",
       cxxopts::value(beam.max_length_factor)->default_value("3"))
      ("max-length-offset", "tokens added to the factor's limit, for short sources with long translations",
       cxxopts::value(beam.max_length_offset)->default_value("10"))
      ("max-length", "the longest source line and translation, in tokens: a longer line is refused "
       "(or cut, with --max-length-crop) and no output runs past it; 0 = no cap of its own (a "
       "transformer still reads at most 512 positions)",
       cxxopts::value(beam.max_length)->default_value(std::to_string(decode::kDefaultMaxLength)))
      ("max-length-crop", "translate only the first --max-length tokens of a longer line, with a "
       "warning on stderr, instead of refusing it", cxxopts::value(crop))
      ("n-best", "print the ARG best translations of each sentence, at most --beam-size, as "
       "ID ||| translation ||| F0= score ||| normalized score; 0 = the best only",
       cxxopts::value(n_best)->default_value("0"))
      ("device", "cpu or cuda: where the model runs", cxxopts::value(device)->default_value("cpu"))
      ("cpu-threads", "threads of the CPU kernels (0: the ATTN_NUM_THREADS environment variable, or else every core)",
       cxxopts::value(cpu_threads)->default_value("0"))
      ("kv-cache", "how a transformer caches its self-attention keys and values while decoding: "
       "contiguous (a buffer per hypothesis) or paged (blocks shared by the beams, vLLM's PagedAttention)",
       cxxopts::value(kv_cache.kind)->default_value("contiguous"))
      ("kv-block-size", "positions per block of --kv-cache paged", cxxopts::value(kv_cache.block_size)->default_value("16"))
      ("report-cache", "print, per batch, the most bytes the key/value caches held (transformer; to stderr); "
       "with --kv-cache paged also the most blocks in use beside the blocks of unshared beams",
       cxxopts::value(report_cache))
      ("h,help", "show this help");
  std::set<std::string> given;
  add_config_options(options);  // -c/--config, --dump-config (train/cli/config_file.h)
  if (int exit_code = parse_with_config_files(options, argc, argv, &given); exit_code >= 0) {
    return exit_code;
  }
  ATTN_CHECK(!model_path.empty(), "--model PATH is required");
  apply_cpu_threads(cpu_threads);
  train::check_flag("--mini-batch", mini_batch, 1, train::kMaxBatchSentences);
  ATTN_CHECK(n_best >= 0, "--n-best: expected 0 (the best only) or a count up to --beam-size, got ",
             n_best);
  beam.n_best = n_best > 0 ? n_best : 1;
  decode::check_beam_search_options(beam);  // before the model loads, and even for empty input
  kv_cache.check();  // before the model loads
  const Device on = train::parse_device(device);  // before loading, so a bad value fails fast
  data::check_input_file(model_path, "--model");
  if (!input_path.empty()) data::check_input_file(input_path, "--input");
  if (!output_path.empty()) data::check_output_file(output_path, "--output");
  train::LoadedModel loaded = train::load_model(model_path);
  loaded.model->to(on);
  decode::set_kv_cache(*loaded.model, kv_cache);
  decode::apply_decoding_defaults(*loaded.model, beam,
                                  [&](const std::string& flag) { return given.count(flag) > 0; });
  // The cap on source and output tokens: --max-length, or a transformer's table.
  const decode::LengthCap cap = decode::length_cap(*loaded.model, beam);
  int64_t cropped = 0, at_limit = 0, translated = 0;  // reported on stderr at the end

  std::ifstream input_file;
  if (!input_path.empty()) {
    input_file.open(input_path);
    ATTN_CHECK(input_file.is_open(), "cannot open --input file '", input_path, "'");
  }
  std::istream& in = input_path.empty() ? std::cin : input_file;
  std::ofstream output_file;
  if (!output_path.empty()) {
    output_file.open(output_path);
    ATTN_CHECK(output_file.is_open(), "cannot write --output file '", output_path, "'");
  }
  std::ostream& out = output_path.empty() ? std::cout : output_file;

  NoGradGuard no_grad;
  std::vector<std::string> lines;
  int64_t line_number = 0;
  auto flush = [&]() {
    // Empty lines translate to empty lines; the rest go through the model together.
    const int64_t first_id = line_number - static_cast<int64_t>(lines.size());  // 0-based
    std::vector<std::vector<int64_t>> sources;
    std::vector<size_t> nonempty;  // the line of each source
    std::vector<std::string> places;  // "stdin:12" of each source, for warnings
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string where = (input_path.empty() ? "stdin" : input_path) + ":" +
                          std::to_string(first_id + static_cast<int64_t>(i) + 1);
      auto tokens = loaded.pipeline.tokenizer.tokenize(lines[i], where);
      if (tokens.empty()) continue;
      nonempty.push_back(i);
      places.push_back(where);
      sources.push_back(loaded.pipeline.source_vocab.encode(tokens));
      if (decode::fit_source(sources.back(), cap, crop, where)) {
        std::cerr << "attn translate: warning: " << where << ": " << tokens.size()
                  << " tokens, cut to the first " << cap.tokens << " (--max-length-crop)\n";
        ++cropped;
      }
    }
    std::vector<std::vector<decode::Hypothesis>> hypotheses(lines.size());  // best first
    std::string cache_line;  // --report-cache, printed after the batch's translations
    if (!sources.empty()) {
      std::vector<size_t> indices(sources.size());
      for (size_t k = 0; k < indices.size(); ++k) indices[k] = k;
      data::Batch batch = data::make_batch(sources, {}, indices).to(on);
      decode::BeamSearchResult result =
          decode::beam_search(*loaded.model, batch.source, batch.source_lengths, beam);
      for (size_t k = 0; k < nonempty.size(); ++k) {
        if (result.nbest[k].front().reached_max_length) {
          // Each cut translation named by its line: it is not a whole translation.
          const int64_t limit = std::min(
              decode::beam_max_length(static_cast<int64_t>(sources[k].size()), beam), cap.tokens);
          std::cerr << "attn translate: warning: " << places[k] << ": the translation stopped at "
                    << "the length limit (" << limit << (limit == 1 ? " token" : " tokens")
                    << ") without </s>\n";
          ++at_limit;
        }
        hypotheses[nonempty[k]] = std::move(result.nbest[k]);
      }
      translated += static_cast<int64_t>(nonempty.size());
      if (report_cache) {
        std::ostringstream line_out;
        line_out << "[cache] lines " << first_id + 1 << "-" << line_number << ": "
                  << sources.size() << " sentences x beam " << beam.beam_size << ", peak "
                  << result.peak_cache.total() << " bytes (self-attention "
                  << result.peak_cache.self_attention << ", cross-attention "
                  << result.peak_cache.cross_attention << "), "
                  << result.peak_cache.self_attention_per_token()
                  << " self-attention bytes per token";
        const nn::KVCacheBytes& peak = result.peak_cache;
        if (peak.block_bytes > 0) {
          // --kv-cache paged: the most blocks in use, beside what the rows
          // would hold with no sharing and what a contiguous cache holds.
          line_out << "\n[cache] paged: peak " << peak.blocks << " blocks of "
                   << kv_cache.block_size << (kv_cache.block_size == 1 ? " position x " : " positions x ")
                   << peak.block_bytes << " bytes = "
                   << peak.blocks * peak.block_bytes << " bytes; unshared (" << beam.beam_size
                   << " copies for beam " << beam.beam_size << ") " << peak.unshared_blocks
                   << " blocks = " << peak.unshared_blocks * peak.block_bytes
                   << " bytes; contiguous cache " << peak.contiguous_self_attention << " bytes";
        }
        cache_line = line_out.str();
      }
    }
    auto text = [&](const decode::Hypothesis& h) {
      return loaded.pipeline.tokenizer.detokenize(loaded.pipeline.target_vocab.decode(h.tokens));
    };
    for (size_t i = 0; i < lines.size(); ++i) {
      if (n_best == 0) {
        out << (hypotheses[i].empty() ? "" : text(hypotheses[i][0])) << "\n";
        continue;
      }
      // An empty line has one empty translation, scored 0.
      if (hypotheses[i].empty()) out << first_id + static_cast<int64_t>(i) << " |||  ||| F0= 0 ||| 0\n";
      for (const decode::Hypothesis& h : hypotheses[i]) {
        out << first_id + static_cast<int64_t>(i) << " ||| " << text(h) << " ||| F0= " << h.score
            << " ||| " << h.normalized_score << "\n";
      }
    }
    out.flush();
    if (!cache_line.empty()) std::cerr << cache_line << std::endl;
    lines.clear();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
    if (static_cast<int64_t>(lines.size()) == mini_batch) flush();
  }
  if (!lines.empty()) flush();
  // Outputs that stopped at a length limit instead of at </s>, and cut lines:
  // said once, so that a cut-off translation is never taken for a whole one.
  if (at_limit > 0) {
    std::cerr << "attn translate: " << at_limit << " of " << translated << " translations stopped at "
              << "the length limit without </s> (--max-length-factor " << beam.max_length_factor
              << " x source + --max-length-offset " << beam.max_length_offset << "; "
              << (cap.tokens == std::numeric_limits<int64_t>::max()
                      ? cap.reason
                      : "at most " + std::to_string(cap.tokens) + " tokens: " + cap.reason)
              << ")\n";
  }
  if (cropped > 0) {
    std::cerr << "attn translate: " << cropped << " lines longer than " << cap.tokens
              << " tokens were cut (--max-length-crop)\n";
  }
  return 0;
}

}  // namespace attn::cli
