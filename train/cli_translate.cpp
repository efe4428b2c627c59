// `attn translate --model PATH`: one sentence per line in, one translation per
// line out (stdin to stdout, or --input / --output), greedy decoding in batches.
#include <fstream>
#include <iostream>

#include <cxxopts.hpp>

#include "autograd/grad_mode.h"
#include "data/batch.h"
#include "train/cli.h"
#include "train/decode.h"
#include "train/loaded_model.h"
#include "train/trainer.h"

namespace attn::cli {

int run_translate(int argc, char** argv) {
  cxxopts::Options options("attn translate", "Translate sentences, one per line");
  std::string model_path, input_path, output_path;
  int64_t mini_batch = 64;
  options.add_options()
      ("m,model", "model file written by attn train", cxxopts::value(model_path))
      ("i,input", "read sentences from this file (default: stdin)", cxxopts::value(input_path))
      ("o,output", "write translations to this file (default: stdout)", cxxopts::value(output_path))
      ("mini-batch", "sentences translated together", cxxopts::value(mini_batch)->default_value("64"))
      ("h,help", "show this help");
  if (int exit_code = parse_command_line(options, argc, argv); exit_code >= 0) return exit_code;
  ATTN_CHECK(!model_path.empty(), "--model PATH is required");
  ATTN_CHECK(mini_batch > 0, "--mini-batch must be positive");
  train::LoadedModel loaded = train::load_model(model_path);

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
    std::vector<std::vector<int64_t>> sources;
    std::vector<size_t> nonempty;
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string where = (input_path.empty() ? "stdin" : input_path) + ":" +
                          std::to_string(line_number - lines.size() + i + 1);
      auto tokens = loaded.pipeline.tokenizer.tokenize(lines[i], where);
      if (tokens.empty()) continue;
      nonempty.push_back(sources.size());
      sources.push_back(loaded.pipeline.source_vocab.encode(tokens));
      nonempty.back() = i;
    }
    std::vector<std::string> translations(lines.size());
    if (!sources.empty()) {
      std::vector<size_t> indices(sources.size());
      for (size_t k = 0; k < indices.size(); ++k) indices[k] = k;
      data::Batch batch = data::make_batch(sources, {}, indices);
      train::DecodeResult decoded = train::greedy_decode(
          *loaded.model, batch.source, batch.source_lengths,
          train::max_output_length(batch.source.size(1)));
      for (size_t k = 0; k < nonempty.size(); ++k) {
        translations[nonempty[k]] = loaded.pipeline.tokenizer.detokenize(
            loaded.pipeline.target_vocab.decode(decoded.tokens[k]));
      }
    }
    for (const std::string& t : translations) out << t << "\n";
    out.flush();
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
  return 0;
}

}  // namespace attn::cli
