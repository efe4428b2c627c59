// `attn plot`: two pictures, drawn by attn itself.
//
//   attn plot --model PATH --sentence "..." --output FILE.svg
//       translates one sentence with greedy decoding and draws the attention
//       of each output token over the source tokens (train/heatmap.h); for
//       local attention also the window the model chose at each step.
//   attn plot --metrics PATH.metrics.jsonl --output FILE.svg
//       draws the training and validation curves of the log `attn train`
//       writes next to the model (train/curve.h); no model needed.
//
// An --output ending in .png writes PNG instead, where attn was built with
// libpng (train/png.h).
#include <iostream>

#include <cxxopts.hpp>

#include "autograd/grad_mode.h"
#include "data/batch.h"
#include "train/canvas.h"
#include "train/cli.h"
#include "train/curve.h"
#include "train/decode.h"
#include "train/heatmap.h"
#include "train/loaded_model.h"
#include "train/trainer.h"

namespace attn::cli {

int run_plot(int argc, char** argv) {
  cxxopts::Options options("attn plot",
                           "Draw the attention heatmap of one translation, or the training curves of a "
                           "metrics log, as SVG (or PNG)");
  std::string model_path, sentence, metrics_path, output_path, title;
  options.add_options()
      ("m,model", "model file written by attn train (heatmap)", cxxopts::value(model_path))
      ("sentence", "the source sentence (heatmap)", cxxopts::value(sentence))
      ("metrics", "metrics log written by attn train, MODEL.metrics.jsonl (curves)",
       cxxopts::value(metrics_path))
      ("o,output", "the file to write: .svg, or .png where attn was built with libpng",
       cxxopts::value(output_path))
      ("title", "the picture's title (default: the sentence and its translation, or the log's name)",
       cxxopts::value(title))
      ("h,help", "show this help");
  if (int exit_code = parse_command_line(options, argc, argv); exit_code >= 0) return exit_code;
  ATTN_CHECK(!output_path.empty(), "--output is required");
  // Said before loading a model rather than after decoding.
  const bool png = output_path.size() >= 4 && output_path.compare(output_path.size() - 4, 4, ".png") == 0;
  ATTN_CHECK(!png || train::png_supported(), "cannot write '", output_path,
             "': attn was built without libpng, so it writes SVG only. Install libpng-dev "
             "(scripts/install-deps) and rebuild, or ask for a .svg file");

  if (!metrics_path.empty()) {
    ATTN_CHECK(model_path.empty() && sentence.empty(),
               "--metrics draws training curves; --model and --sentence draw a heatmap: give one or the other");
    train::Drawing curve = train::training_curve(train::read_metrics_log(metrics_path),
                                                 title.empty() ? metrics_path : title);
    train::write_drawing(curve, output_path);
    std::cerr << "attn plot: wrote " << output_path << "\n";
    return 0;
  }

  ATTN_CHECK(!model_path.empty() && !sentence.empty(),
             "--model and --sentence are required for a heatmap (or --metrics for training curves)");
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
  // Local attention: the window centre p_t of each output position (row 0 of (B, T)).
  std::vector<double> positions;
  if (decoded.positions.defined()) positions = decoded.positions.select(0, 0).contiguous().to_vector<double>();
  train::write_drawing(train::attention_heatmap(labels, output, decoded.attention.select(0, 0),
                                                title.empty() ? sentence + "  ->  " + translation : title,
                                                positions, decoded.window),
                       output_path);
  std::cout << translation << "\n";
  std::cerr << "attn plot: wrote " << output_path << "\n";
  return 0;
}

}  // namespace attn::cli
