// `attn gradcheck`: runs the finite-difference check of every registered op
// (autograd/gradcheck_cases.cpp) and prints one row per op. Exits non-zero
// if any case fails, so it can stand in a script or CI. `--list` prints the
// cases instead, each with the backward nodes its graph records, and the
// nodes no case covers here, with the reason (gradcheck_exclusions()).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <cxxopts.hpp>

#include <attn/attn.h>

#include "autograd/gradcheck_cases.h"
#include "train/cli/cli.h"

namespace attn::cli {

int run_gradcheck(int argc, char** argv) {
  cxxopts::Options options("attn gradcheck",
                           "Check each op's backward rule against central finite differences "
                           "in float64");
  options.add_options()
      ("op", "only the cases of this op (e.g. matmul)", cxxopts::value<std::string>())
      ("list", "list the cases and the backward nodes each one's graph records; run nothing")
      ("eps", "finite-difference step (a case with its own step keeps it unless this is given)",
       cxxopts::value<double>()->default_value("1e-6"))
      ("rtol", "relative tolerance", cxxopts::value<double>()->default_value("1e-6"))
      ("seed", "seed for the random inputs", cxxopts::value<uint64_t>()->default_value("0"))
      ("h,help", "show this help");
  cxxopts::ParseResult args;
  if (int exit_code = parse_command_line(options, argc, argv, {}, nullptr, &args); exit_code >= 0) {
    return exit_code;
  }
  GradcheckOptions check;
  check.eps = args["eps"].as<double>();
  check.rtol = args["rtol"].as<double>();
  // A step of 0 divides by zero; a tolerance of 1 or more passes anything.
  ATTN_CHECK(std::isfinite(check.eps) && check.eps > 0 && check.eps < 1,
             "--eps: expected a positive step below 1, got ", check.eps);
  ATTN_CHECK(std::isfinite(check.rtol) && check.rtol > 0 && check.rtol < 1,
             "--rtol: expected a positive tolerance below 1, got ", check.rtol);
  std::string only = args.count("op") ? args["op"].as<std::string>() : "";
  ATTN_CHECK(!args.count("op") || !only.empty(), "--op: expected an op name (see --list), got ''");
  const std::vector<GradcheckCase>& cases = gradcheck_cases();

  if (args.count("list")) {
    if (!only.empty() && std::none_of(cases.begin(), cases.end(),
                                      [&](const GradcheckCase& c) { return c.op == only; })) {
      std::cerr << "attn gradcheck: --op " << only << ": no case for this op (see --list)\n";
      return 2;
    }
    std::printf("%4s  %-26s %-46s  %s\n", "case", "op", "shapes", "backward nodes in its graph");
    for (size_t index = 0; index < cases.size(); ++index) {
      const GradcheckCase& c = cases[index];
      if (!only.empty() && c.op != only) continue;
      Generator generator(args["seed"].as<uint64_t>() + index + 1);
      std::string nodes;
      for (const std::string& name : case_node_names(c, generator)) {
        nodes += (nodes.empty() ? "" : " ") + name;
      }
      std::printf("%4zu  %-26s %-46s  %s\n", index, c.op.c_str(), c.shapes.c_str(), nodes.c_str());
    }
    for (const GradcheckExclusion& e : gradcheck_exclusions()) {
      std::printf("no case: %s: %s\n", e.node.c_str(), e.reason.c_str());
    }
    return 0;
  }

  // One row per op: every case of that op, its shapes, the worst errors.
  struct OpRow {
    std::string op, shapes;
    double max_abs = 0, max_rel = 0;
    bool passed = true;
    std::vector<std::string> failures;
  };
  std::vector<OpRow> rows;
  int failed = 0, ran = 0;
  check.seed = args["seed"].as<uint64_t>();
  for (size_t index = 0; index < cases.size(); ++index) {
    const GradcheckCase& c = cases[index];
    if (!only.empty() && c.op != only) continue;
    // Seeded by the case's place in the list, so --op reproduces the full run.
    Generator generator(check.seed + index + 1);
    GradcheckOptions case_check = check;
    if (c.eps > 0 && !args.count("eps")) case_check.eps = c.eps;
    GradcheckResult result = gradcheck(c.fn, c.make_inputs(generator), case_check);
    ++ran;
    if (!result.passed) ++failed;
    if (rows.empty() || rows.back().op != c.op) rows.push_back({c.op, "", 0, 0, true, {}});
    OpRow& row = rows.back();
    row.shapes += (row.shapes.empty() ? "" : "; ") + c.shapes;
    row.max_abs = std::max(row.max_abs, result.max_abs_error);
    row.max_rel = std::max(row.max_rel, result.max_rel_error);
    if (!result.passed) {
      row.passed = false;
      row.failures.push_back(c.shapes + ": " + result.message);
    }
  }
  std::printf("%-26s %11s %11s  %-6s %s\n", "op", "max abs err", "max rel err", "result",
              "shapes tried");
  for (const OpRow& row : rows) {
    std::printf("%-26s %11.2e %11.2e  %-6s %s\n", row.op.c_str(), row.max_abs, row.max_rel,
                row.passed ? "pass" : "FAIL", row.shapes.c_str());
    for (const std::string& failure : row.failures) std::printf("    %s\n", failure.c_str());
  }
  if (ran == 0) {
    std::cerr << "attn gradcheck: --op " << only << ": no case for this op (see --list)\n";
    return 2;
  }
  std::printf("%zu ops, %d cases: %d passed, %d failed\n", rows.size(), ran, ran - failed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace attn::cli
