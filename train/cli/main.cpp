// attn: the command-line entry point.
//
//   attn --help                 the subcommands
//   attn --version
//   attn train ...              train a translator (attn train --help)
//   attn translate --model PATH translate stdin to stdout
//   attn eval --model PATH ...  exact match and token accuracy on a test set
//   attn gradcheck [--op NAME]  finite-difference check of every registered op
//
// The first argument picks a subcommand; that subcommand parses the rest with
// its own cxxopts parser, so `attn gradcheck --help` lists its own options.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <typeinfo>
#include <string>

#include <attn/attn.h>

#include "train/cli/cli.h"
#include "train/distributed/communicator.h"
#include "kernels/cuda/runtime.h"

namespace {

void print_usage(std::ostream& out) {
  out << "attn " << ATTN_VERSION << ": learn attention by building it\n\n"
      << "Usage: attn <command> [options]\n\n"
      << "Commands:\n"
      << "  train       train a translation model (--type bahdanau|luong|s2s|transformer, --task or\n"
      << "              files; settings from YAML files with --config)\n"
      << "  translate   translate sentences with a trained model (beam search; stdin to stdout)\n"
      << "  eval        score a trained model on a test set (BLEU, chrF, exact match; beam search)\n"
      << "  plot        draw an attention heatmap, or the loss curves of a run (SVG or PNG)\n"
      << "  gradcheck   check every op's backward against finite differences (float64)\n\n"
      << "Options:\n"
      << "  -h, --help     show this help\n"
      << "      --version  print the version\n\n"
      << "Run 'attn <command> --help' for a command's options.\n";
}

}  // namespace

namespace {

int run_command(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  std::string command = argv[1];
  try {
    if (command == "-h" || command == "--help" || command == "help") {
      print_usage(std::cout);
      return 0;
    }
    if (command == "--version" || command == "-v") {
      std::cout << "attn " << ATTN_VERSION
                << (attn::kernels::cuda::built_with_cuda() ? " (with CUDA)" : " (CPU only)")
                << "\n";
      return 0;
    }
    if (command == "gradcheck") return attn::cli::run_gradcheck(argc - 1, argv + 1);
    if (command == "train") return attn::cli::run_train(argc - 1, argv + 1);
    if (command == "translate") return attn::cli::run_translate(argc - 1, argv + 1);
    if (command == "eval") return attn::cli::run_eval(argc - 1, argv + 1);
    if (command == "plot") return attn::cli::run_plot(argc - 1, argv + 1);
    std::cerr << "attn: unknown command '" << command << "'\n\n";
    print_usage(std::cerr);
    return 2;
  } catch (const attn::Error& error) {
    std::cerr << "attn " << command << ": error: " << attn::distributed::rank_label()
              << error.what() << "\n";
    attn::distributed::end_job_after_error(1);  // under mpirun: the other ranks stop too, now
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "attn " << command << ": " << attn::distributed::rank_label() << error.what()
              << "\n";
    attn::distributed::end_job_after_error(1);
    return 1;
  }
}

}  // namespace

// Under mpirun, MPI starts before the command and ends after it
// (train/distributed/communicator.h); otherwise these do nothing.
int main(int argc, char** argv) {
  try {
    attn::distributed::start(&argc, &argv);
  } catch (const attn::Error& error) {
    std::cerr << "attn: error: " << error.what() << "\n";
    return 1;
  }
  const int exit_code = run_command(argc, argv);
  attn::distributed::finish();
  return exit_code;
}
