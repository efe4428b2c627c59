// `attn plot --model PATH --sentence "..." --output FILE.svg`: translates one
// sentence with greedy decoding and draws the attention of each output token
// over the source tokens (train/heatmap.h).
#include <iostream>

#include <cxxopts.hpp>

#include "autograd/grad_mode.h"
#include "data/batch.h"
#include "train/cli.h"
#include "train/decode.h"
#include "train/heatmap.h"
#include "train/loaded_model.h"
#include "train/trainer.h"

namespace attn::cli {

int run_plot(int argc, char** argv) {
  cxxopts::Options options("attn plot", "Draw the attention heatmap of one translation as SVG");
  std::string model_path, sentence, output_path;
  options.add_options()
      ("m,model", "model file written by attn train", cxxopts::value(model_path))
      ("sentence", "the source sentence", cxxopts::value(sentence))
      ("o,output", "the SVG file to write", cxxopts::value(output_path))
      ("h,help", "show this help");
  if (int exit_code = parse_command_line(options, argc, argv); exit_code >= 0) return exit_code;
  ATTN_CHECK(!model_path.empty() && !sentence.empty() && !output_path.empty(),
             "--model, --sentence and --output are required");
  train::LoadedModel loaded = train::load_model(model_path);
  std::vector<std::string> tokens = loaded.pipeline.tokenizer.tokenize(sentence, "--sentence");
  ATTN_CHECK(!tokens.empty(), "--sentence is empty");
  NoGradGuard no_grad;
  data::Batch batch = data::make_batch({loaded.pipeline.source_vocab.encode(tokens)}, {}, {0});
  train::DecodeResult decoded = train::greedy_decode(*loaded.model, batch.source, batch.source_lengths,
                                                     train::max_output_length(batch.source.size(1)));
  ATTN_CHECK(decoded.attention.defined(), "this model (", loaded.model->describe(),
             ") has no attention to plot");
  std::vector<std::string> output = loaded.pipeline.target_vocab.decode(decoded.tokens[0]);
  output.push_back(data::kEosToken);
  std::string translation = loaded.pipeline.tokenizer.detokenize(
      loaded.pipeline.target_vocab.decode(decoded.tokens[0]));
  // Label what the model saw: a word outside the vocabulary was read as <unk>.
  std::vector<std::string> labels;
  for (const std::string& token : tokens) {
    labels.push_back(loaded.pipeline.source_vocab.contains(token) ? token : token + " (<unk>)");
  }
  train::write_attention_svg(output_path, labels, output, decoded.attention.select(0, 0),
                             sentence + "  ->  " + translation);
  std::cout << translation << "\n";
  std::cerr << "attn plot: wrote " << output_path << "\n";
  return 0;
}

}  // namespace attn::cli
