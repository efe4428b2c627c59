// The `attn` command line: one binary, one subcommand per job (Marian's style).
// Each subcommand lives in its own file as `int run_NAME(int argc, char** argv)`,
// receiving the arguments after the subcommand's name.
#pragma once

namespace attn::cli {

int run_gradcheck(int argc, char** argv);
int run_train(int argc, char** argv);
int run_translate(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_plot(int argc, char** argv);

}  // namespace attn::cli
