// `attn plot`: two pictures, drawn by attn itself.
//
//   attn plot --model PATH --sentence "..." --output FILE.svg
//       translates one sentence with greedy decoding and draws the attention
//       of each output token over the source tokens (train/plot/heatmap.h); for
//       local attention also the window the model chose at each step.
//   attn plot --model PATH --sentence "..." [--layer L] [--head H | --grid] --output FILE.svg
//       a Transformer has a cross-attention per decoder layer and head: draws
//       layer L's (1-based; default: the last), head H's (1-based; default:
//       the average over heads, as last_attention() gives), or with --grid
//       every head of layer L side by side.
//   attn plot --metrics PATH.metrics.jsonl --output FILE.svg
//       draws the training and validation curves of the log `attn train`
//       writes next to the model (train/plot/curve.h); no model needed.
//
// An --output ending in .png writes PNG instead, where attn was built with
// librsvg (train/plot/png.h).
#include <algorithm>
#include <iostream>
#include <set>

#include <cxxopts.hpp>

#include "tensor/grad_mode.h"
#include "autograd/ops.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "nn/transformer.h"
#include "tensor/creation.h"
#include "train/plot/canvas.h"
#include "train/cli/cli.h"
#include "train/plot/curve.h"
#include "train/decode/beam_search.h"
#include "train/decode/decode.h"
#include "train/plot/heatmap.h"
#include "train/loaded_model.h"
#include "train/trainer.h"

namespace attn::cli {
namespace {

// A Transformer's greedy translation of one sentence with every decoder
// layer's cross-attention, head by head (train/decode/decode.h's greedy_decode keeps
// only last_attention(), the last layer's average over heads).
struct HeadsDecodeResult {
  std::vector<int64_t> tokens;  // without <s> and without the final </s>
  std::vector<Tensor> layers;   // per decoder layer, (H, T, S); T counts the </s> step
};

// source: (1, S) int64, source_lengths: (1) int64. The same choices as
// greedy_decode: the most probable token at each step, until </s> or
// max_length tokens; cross_weights of TransformerState holds the step's
// (1, H, S) weights per layer.
HeadsDecodeResult greedy_decode_heads(nn::Translator& model, const Tensor& source,
                                      const Tensor& source_lengths, int64_t max_length) {
  ATTN_CHECK(source.dim() == 2 && source.size(0) == 1, "greedy_decode_heads: source must be (1, S), got ",
             shape_str(source.shape()));
  NoGradGuard no_grad;
  std::unique_ptr<nn::DecoderState> state = model.start(source, source_lengths);
  const auto* transformer = dynamic_cast<const nn::TransformerState*>(state.get());
  ATTN_CHECK(transformer != nullptr, "greedy_decode_heads: needs a Transformer");
  Tensor previous =
      full({1}, static_cast<double>(data::kBos), TensorOptions(kInt64).device(source.device()));
  std::vector<std::vector<Tensor>> steps(transformer->cross_weights.size());  // [layer][t]: (H, S)
  HeadsDecodeResult result;
  for (int64_t t = 0; t < max_length; ++t) {
    Tensor logits = model.step(*state, previous);  // (1, V)
    for (size_t l = 0; l < steps.size(); ++l) steps[l].push_back(transformer->cross_weights[l].select(0, 0));
    Tensor next = argmax(logits, -1);              // (1)
    const int64_t chosen = next.cpu().to_vector<int64_t>()[0];
    if (chosen == data::kEos) break;
    result.tokens.push_back(chosen);
    previous = next;
  }
  for (const std::vector<Tensor>& layer : steps) result.layers.push_back(stack(layer, 1).cpu());  // (H, T, S)
  return result;
}

}  // namespace

int run_plot(int argc, char** argv) {
  cxxopts::Options options("attn plot",
                           "Draw the attention heatmap of one translation, or the training curves of a "
                           "metrics log, as SVG (or PNG)");
  std::string model_path, sentence, metrics_path, output_path, title;
  int64_t layer = 0, head = 0;
  bool grid = false;
  options.add_options()
      ("m,model", "model file written by attn train (heatmap)", cxxopts::value(model_path))
      ("sentence", "the source sentence (heatmap)", cxxopts::value(sentence))
      ("metrics", "metrics log written by attn train, MODEL.metrics.jsonl (curves)",
       cxxopts::value(metrics_path))
      ("o,output", "the file to write: .svg, or .png where attn was built with librsvg",
       cxxopts::value(output_path))
      ("title", "the picture's title (default: the sentence and its translation, or the log's name)",
       cxxopts::value(title))
      ("layer", "transformer: the decoder layer whose cross-attention to draw, 1 to N (default: the last)",
       cxxopts::value(layer))
      ("head", "transformer: the head to draw, 1 to H (default: the average over the layer's heads)",
       cxxopts::value(head))
      ("grid", "transformer: every head of the layer side by side, one panel each", cxxopts::value(grid))
      ("h,help", "show this help");
  std::set<std::string> given;
  if (int exit_code = parse_command_line(options, argc, argv, {}, &given); exit_code >= 0) return exit_code;
  // The flags that pick a layer and head, as given (for messages).
  std::vector<std::string> head_flags;
  for (const char* flag : {"layer", "head", "grid"}) {
    if (given.count(flag)) head_flags.push_back(std::string("--") + flag);
  }
  ATTN_CHECK(!(grid && given.count("head")),
             "--grid draws every head of the layer and --head picks one: give one or the other");
  ATTN_CHECK(!output_path.empty(), "--output is required");
  data::check_output_file(output_path, "--output");
  // Said before loading a model rather than after decoding.
  const bool png = output_path.size() >= 4 && output_path.compare(output_path.size() - 4, 4, ".png") == 0;
  ATTN_CHECK(!png || plot::png_supported(), "cannot write '", output_path,
             "': attn was built without librsvg, so it writes SVG only. Install librsvg2-dev "
             "(scripts/install-deps) and rebuild, or ask for a .svg file");

  if (!metrics_path.empty()) {
    ATTN_CHECK(model_path.empty() && sentence.empty(),
               "--metrics draws training curves; --model and --sentence draw a heatmap: give one or the other");
    ATTN_CHECK(head_flags.empty(), head_flags[0],  // evaluated only when the check fails
               " picks the attention of a heatmap; --metrics draws training curves");
    data::check_input_file(metrics_path, "--metrics");
    plot::Drawing curve = plot::training_curve(plot::read_metrics_log(metrics_path),
                                               title.empty() ? metrics_path : title);
    plot::write_drawing(curve, output_path);
    std::cerr << "attn plot: wrote " << output_path << "\n";
    return 0;
  }

  ATTN_CHECK(!model_path.empty() && !sentence.empty(),
             "--model and --sentence are required for a heatmap (or --metrics for training curves)");
  data::check_input_file(model_path, "--model");
  train::LoadedModel loaded = train::load_model(model_path);
  std::vector<std::string> tokens = loaded.pipeline.tokenizer.tokenize(sentence, "--sentence");
  ATTN_CHECK(!tokens.empty(), "--sentence is empty");
  // A heatmap of more rows and columns than this shows nothing (and a
  // transformer reads no more than its positional table).
  const int64_t most = std::min(decode::kDefaultMaxLength, decode::model_max_length(*loaded.model));
  ATTN_CHECK(static_cast<int64_t>(tokens.size()) <= most, "--sentence: ", tokens.size(),
             " tokens, more than the ", most, " a heatmap is drawn for; give a shorter sentence");
  NoGradGuard no_grad;
  data::Batch batch = data::make_batch({loaded.pipeline.source_vocab.encode(tokens)}, {}, {0});
  const int64_t max_length = std::min(train::max_output_length(batch.source.size(1)), most);
  // Label what the model saw: a word outside the vocabulary was read as <unk>.
  std::vector<std::string> labels;
  for (const std::string& token : tokens) {
    labels.push_back(loaded.pipeline.source_vocab.contains(token) ? token : token + " (<unk>)");
  }
  const auto translation_of = [&](const std::vector<int64_t>& ids) {
    return loaded.pipeline.tokenizer.detokenize(loaded.pipeline.target_vocab.decode(ids));
  };
  // The output tokens down the side, ending in the </s> that stopped decoding.
  const auto output_of = [&](const std::vector<int64_t>& ids) {
    std::vector<std::string> output = loaded.pipeline.target_vocab.decode(ids);
    output.push_back(data::kEosToken);
    return output;
  };
  std::string translation;

  if (const auto* transformer = dynamic_cast<const nn::Transformer*>(loaded.model.get())) {
    // One attention per decoder layer and head: pick them before decoding.
    const int64_t layers = transformer->options().decoder_layers;
    const int64_t heads = transformer->options().num_heads;
    if (!given.count("layer")) layer = layers;
    ATTN_CHECK(layer >= 1 && layer <= layers, "--layer ", layer, ": this model's decoder has ", layers,
               layers == 1 ? " layer, layer 1" : " layers, numbered 1 to " + std::to_string(layers));
    ATTN_CHECK(!given.count("head") || (head >= 1 && head <= heads), "--head ", head, ": this model has ",
               heads, " heads per layer, numbered 1 to ", heads, " (leave --head out for their average)");
    HeadsDecodeResult decoded =
        greedy_decode_heads(*loaded.model, batch.source, batch.source_lengths, max_length);
    translation = translation_of(decoded.tokens);
    const Tensor& weights = decoded.layers[layer - 1];  // (H, T, S)
    ATTN_CHECK(weights.size(0) == heads, "attn plot: expected ", heads, " heads, the model gave ",
               shape_str(weights.shape()));
    const std::string layer_name = "layer " + std::to_string(layer);
    const std::string sentence_title = sentence + "  ->  " + translation;
    if (grid) {
      std::vector<std::string> panel_titles;
      for (int64_t h = 1; h <= heads; ++h) panel_titles.push_back(layer_name + ", head " + std::to_string(h));
      plot::write_drawing(plot::attention_grid(labels, output_of(decoded.tokens), weights, panel_titles,
                                               title.empty() ? sentence_title : title),
                          output_path);
    } else {
      // One head, or the average of the layer's heads: (T, S).
      const bool one_head = given.count("head") > 0;
      Tensor picked = one_head ? weights.select(0, head - 1) : weights.mean(0);
      const std::string which = one_head ? layer_name + ", head " + std::to_string(head)
                                         : layer_name + ", average of " + std::to_string(heads) + " heads";
      if (title.empty()) title = sentence_title + "   (" + which + ")";
      plot::write_drawing(plot::attention_heatmap(labels, output_of(decoded.tokens), picked, title),
                          output_path);
    }
  } else {
    decode::DecodeResult decoded =
        decode::greedy_decode(*loaded.model, batch.source, batch.source_lengths, max_length);
    ATTN_CHECK(decoded.attention.defined(), "this model (", loaded.model->describe(),
               ") has no attention to plot");
    ATTN_CHECK(head_flags.empty(), head_flags[0],
               " needs a transformer model; this model has one attention (", loaded.model->describe(),
               "): leave ", head_flags[0], " out to draw it");
    translation = translation_of(decoded.tokens[0]);
    // Local attention: the window centre p_t of each output position (row 0 of (B, T)).
    std::vector<double> positions;
    if (decoded.positions.defined()) {
      positions = decoded.positions.select(0, 0).contiguous().to_vector<double>();
    }
    if (title.empty()) title = sentence + "  ->  " + translation;
    plot::write_drawing(plot::attention_heatmap(labels, output_of(decoded.tokens[0]),
                                                decoded.attention.select(0, 0), title, positions,
                                                decoded.window),
                        output_path);
  }
  std::cout << translation << "\n";
  std::cerr << "attn plot: wrote " << output_path << "\n";
  return 0;
}

}  // namespace attn::cli
