// `attn eval --model PATH --task dates`: exact match, token accuracy and
// perplexity of a trained model on a test set (the task's test split, a TSV
// file, or two parallel files), greedy decoding.
#include <cstdio>
#include <iostream>

#include <cxxopts.hpp>

#include "train/cli.h"
#include "train/loaded_model.h"
#include "train/trainer.h"

namespace attn::cli {

int run_eval(int argc, char** argv) {
  cxxopts::Options options("attn eval", "Score a trained model on a test set");
  std::string model_path;
  train::DataOptions data;
  std::string test_tsv, test_sets;
  options.add_options()
      ("m,model", "model file written by attn train", cxxopts::value(model_path))
      ("task", "use the test split of a built-in task", cxxopts::value(data.task))
      ("test-tsv", "test pairs, source<TAB>target per line", cxxopts::value(test_tsv))
      ("test-sets", "test pairs as two line-aligned files SRC,TGT", cxxopts::value(test_sets))
      ("mini-batch", "sentences per batch", cxxopts::value(data.mini_batch)->default_value("64"))
      ("h,help", "show this help");
  if (int exit_code = parse_command_line(options, argc, argv); exit_code >= 0) return exit_code;
  ATTN_CHECK(!model_path.empty(), "--model PATH is required");
  train::LoadedModel loaded = train::load_model(model_path);
  auto pairs = train::load_pairs(data, train::Split::Test, test_tsv, test_sets);
  train::EncodedPairs set = train::encode_pairs(loaded.pipeline, pairs);
  train::ValidationResult result = train::evaluate(*loaded.model, set, data.mini_batch);
  std::printf("sentences %zu : exact-match %.2f%% : token-accuracy %.2f%% : cross-entropy %.4f : ppl %.3f\n",
              set.size(), 100 * result.exact_match, 100 * result.token_accuracy, result.loss,
              result.perplexity);
  return 0;
}

}  // namespace attn::cli
