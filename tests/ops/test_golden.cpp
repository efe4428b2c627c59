// Golden values: every op of autograd/ops.h checked against PyTorch.
//
// scripts/make_golden.py ran each case in PyTorch (float64) and wrote its
// inputs, its outputs and, for gradient cases, an upstream gradient and the
// input gradients into tests/golden/<case>.txt. Here attn reads the same inputs,
// runs the same op and must agree: in float64 to about 1e-12, and for a few
// cases also in float32 to about 1e-5. No Python is needed to run this test;
// to change the cases, edit the script and rerun it:
//
//   /usr/bin/python3 scripts/make_golden.py
//
// The file format (the script's docstring has the full story):
//   case <name>                       attr <key> <value>...
//   op <attn op>                      tensor <name> <float64|int64> <ndim> <sizes>...
//                                     <values, row-major, on the next line>
// Inputs have plain names; the expected outputs are `out` (or out0, out1, ...);
// a gradient case adds the upstream gradient `grad_out` and the expected
// gradients `grad_<input>`.
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using attn::DType;
using attn::Shape;
using attn::Tensor;

const std::string kGoldenDir = std::string(ATTN_TEST_DATA_DIR) + "/golden/";
const char* kRegenerate = "(regenerate with: /usr/bin/python3 scripts/make_golden.py)";

// --- reading a fixture ---------------------------------------------------------

struct GoldenTensor {
  std::string name;
  DType dtype = attn::kFloat64;  // float64 or int64
  Shape shape;
  std::vector<double> values;   // float64 tensors
  std::vector<int64_t> ints;    // int64 tensors
};

struct GoldenCase {
  std::string name;
  std::string op;
  std::map<std::string, std::vector<std::string>> attrs;
  std::vector<GoldenTensor> tensors;  // in file order

  const GoldenTensor* find(const std::string& tensor_name) const {
    for (const GoldenTensor& t : tensors) {
      if (t.name == tensor_name) return &t;
    }
    return nullptr;
  }
  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }

  // The attribute's words; throws (failing the test with the key named) if absent.
  const std::vector<std::string>& attr(const std::string& key) const {
    auto it = attrs.find(key);
    if (it == attrs.end() || it->second.empty()) {
      throw std::runtime_error("case " + name + ": missing attr '" + key + "'");
    }
    return it->second;
  }
  double attr_double(const std::string& key) const { return to_double(attr(key)[0], key); }
  int64_t attr_int(const std::string& key) const { return to_int(attr(key)[0], key); }
  bool attr_bool(const std::string& key) const { return attr_int(key) != 0; }
  Shape attr_shape(const std::string& key) const {
    Shape out;
    for (const std::string& word : attr(key)) out.push_back(to_int(word, key));
    return out;
  }

 private:
  double to_double(const std::string& word, const std::string& key) const {
    char* end = nullptr;
    double v = std::strtod(word.c_str(), &end);
    if (word.empty() || *end != '\0') {
      throw std::runtime_error("case " + name + ": attr '" + key + "' is not a number: " + word);
    }
    return v;
  }
  int64_t to_int(const std::string& word, const std::string& key) const {
    char* end = nullptr;
    long long v = std::strtoll(word.c_str(), &end, 10);
    if (word.empty() || *end != '\0') {
      throw std::runtime_error("case " + name + ": attr '" + key + "' is not an integer: " + word);
    }
    return v;
  }
};

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

bool is_blank_or_comment(const std::string& line) {
  size_t first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line[first] == '#';
}

// Reads the fixture at `path`, which must hold case `name`, into *out. On
// failure returns false and puts a message naming the file and line into
// *error: a broken fixture fails its test; it does not crash the program.
bool load_case_file(const std::string& path, const std::string& name, GoldenCase* out,
                    std::string* error) {
  std::ifstream file(path);
  if (!file) {
    *error = "cannot open golden fixture " + path + " " + kRegenerate;
    return false;
  }
  auto fail = [&](int line_no, const std::string& message) {
    *error = path + ":" + std::to_string(line_no) + ": " + message + " " + kRegenerate;
    return false;
  };
  GoldenCase c;
  std::string line;
  int line_no = 0;
  while (std::getline(file, line)) {
    ++line_no;
    if (is_blank_or_comment(line)) continue;
    std::vector<std::string> words = split_words(line);
    const std::string& keyword = words[0];
    if (keyword == "case" && words.size() == 2) {
      c.name = words[1];
    } else if (keyword == "op" && words.size() == 2) {
      c.op = words[1];
    } else if (keyword == "attr" && words.size() >= 3) {
      c.attrs[words[1]] = std::vector<std::string>(words.begin() + 2, words.end());
    } else if (keyword == "tensor" && words.size() >= 4) {
      GoldenTensor t;
      t.name = words[1];
      if (words[2] == "float64") {
        t.dtype = attn::kFloat64;
      } else if (words[2] == "int64") {
        t.dtype = attn::kInt64;
      } else {
        return fail(line_no, "unknown dtype '" + words[2] + "'");
      }
      char* end = nullptr;
      long ndim = std::strtol(words[3].c_str(), &end, 10);
      if (*end != '\0' || ndim < 0 || static_cast<size_t>(ndim) != words.size() - 4) {
        return fail(line_no, "tensor " + t.name + ": ndim " + words[3] + " does not match " +
                                 std::to_string(words.size() - 4) + " sizes");
      }
      for (size_t k = 4; k < words.size(); ++k) {
        long long size = std::strtoll(words[k].c_str(), &end, 10);
        if (*end != '\0' || size < 0) return fail(line_no, "bad size '" + words[k] + "'");
        t.shape.push_back(size);
      }
      // The values: the next line that is not a comment.
      std::string values_line;
      bool found = false;
      while (std::getline(file, values_line)) {
        ++line_no;
        if (is_blank_or_comment(values_line)) continue;
        found = true;
        break;
      }
      if (!found) return fail(line_no, "tensor " + t.name + ": missing its line of values");
      std::vector<std::string> values = split_words(values_line);
      const int64_t numel = attn::shape_numel(t.shape);
      if (static_cast<int64_t>(values.size()) != numel) {
        return fail(line_no, "tensor " + t.name + " " + attn::shape_str(t.shape) + " needs " +
                                 std::to_string(numel) + " values, got " +
                                 std::to_string(values.size()));
      }
      for (const std::string& v : values) {
        errno = 0;
        if (t.dtype == attn::kInt64) {
          long long x = std::strtoll(v.c_str(), &end, 10);
          if (*end != '\0' || errno != 0) return fail(line_no, "bad int64 value '" + v + "'");
          t.ints.push_back(x);
        } else {
          double x = std::strtod(v.c_str(), &end);  // reads inf and -inf too
          if (*end != '\0') return fail(line_no, "bad float64 value '" + v + "'");
          t.values.push_back(x);
        }
      }
      if (c.find(t.name) != nullptr) return fail(line_no, "tensor " + t.name + " appears twice");
      c.tensors.push_back(std::move(t));
    } else {
      return fail(line_no, "cannot read the line '" + line + "'");
    }
  }
  if (c.name != name) {
    return fail(line_no, "the file names case '" + c.name + "', not '" + name + "'");
  }
  if (c.op.empty()) return fail(line_no, "no 'op' line");
  if (c.find("out") == nullptr && c.find("out0") == nullptr) {
    return fail(line_no, "no expected output 'out' or 'out0'");
  }
  *out = std::move(c);
  return true;
}

// tests/golden/<name>.txt
bool load_case(const std::string& name, GoldenCase* out, std::string* error) {
  return load_case_file(kGoldenDir + name + ".txt", name, out, error);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
bool is_input(const std::string& name) {
  return !starts_with(name, "out") && !starts_with(name, "grad_");
}

// A golden tensor as an attn tensor: float64 values become `float_dtype`.
Tensor to_attn(const GoldenTensor& t, DType float_dtype) {
  if (t.dtype == attn::kInt64) return attn::from_vector(t.ints, t.shape);
  return attn::from_vector(t.values, t.shape).to(float_dtype);
}

// The same values with the last two dims' strides swapped: a non-contiguous view.
Tensor make_noncontiguous(const Tensor& t) {
  if (t.dim() < 2) throw std::runtime_error("noncontiguous needs an input of at least 2 dims");
  return t.transpose(-1, -2).contiguous().transpose(-1, -2);
}

// --- running the op ------------------------------------------------------------

using Inputs = std::map<std::string, Tensor>;
using OpFn = std::function<std::vector<Tensor>(const GoldenCase&, const Inputs&)>;

const Tensor& in(const Inputs& inputs, const std::string& name) {
  auto it = inputs.find(name);
  if (it == inputs.end()) throw std::runtime_error("missing input tensor '" + name + "'");
  return it->second;
}

// Inputs x0, x1, ... in order: the operands of cat and stack.
std::vector<Tensor> numbered(const Inputs& inputs) {
  std::vector<Tensor> out;
  for (int i = 0; inputs.count("x" + std::to_string(i)) != 0; ++i) {
    out.push_back(inputs.at("x" + std::to_string(i)));
  }
  return out;
}

attn::Reduction reduction_of(const std::string& word) {
  if (word == "mean") return attn::Reduction::Mean;
  if (word == "sum") return attn::Reduction::Sum;
  if (word == "none") return attn::Reduction::None;
  throw std::runtime_error("unknown reduction '" + word + "'");
}

// The op named on a fixture's `op` line, run the way attn's users call it.
const std::map<std::string, OpFn>& op_table() {
  using C = const GoldenCase&;
  using I = const Inputs&;
  using V = std::vector<Tensor>;
  static const std::map<std::string, OpFn> table = {
      // element-wise, broadcasting
      {"add", [](C, I x) { return V{attn::add(in(x, "a"), in(x, "b"))}; }},
      {"sub", [](C, I x) { return V{attn::sub(in(x, "a"), in(x, "b"))}; }},
      {"mul", [](C, I x) { return V{attn::mul(in(x, "a"), in(x, "b"))}; }},
      {"div", [](C, I x) { return V{attn::div(in(x, "a"), in(x, "b"))}; }},
      {"pow", [](C, I x) { return V{attn::pow(in(x, "a"), in(x, "b"))}; }},
      {"maximum", [](C, I x) { return V{attn::maximum(in(x, "a"), in(x, "b"))}; }},
      {"neg", [](C, I x) { return V{attn::neg(in(x, "x"))}; }},
      {"exp", [](C, I x) { return V{attn::exp(in(x, "x"))}; }},
      {"log", [](C, I x) { return V{attn::log(in(x, "x"))}; }},
      {"sqrt", [](C, I x) { return V{attn::sqrt(in(x, "x"))}; }},
      {"tanh", [](C, I x) { return V{attn::tanh(in(x, "x"))}; }},
      {"sigmoid", [](C, I x) { return V{attn::sigmoid(in(x, "x"))}; }},
      {"relu", [](C, I x) { return V{attn::relu(in(x, "x"))}; }},
      {"pow_scalar", [](C c, I x) { return V{attn::pow(in(x, "x"), c.attr_double("exponent"))}; }},
      // scalar variants, through the functions and the operators
      {"add_scalar", [](C c, I x) { return V{attn::add(in(x, "x"), c.attr_double("s"))}; }},
      {"mul_scalar", [](C c, I x) { return V{attn::mul(in(x, "x"), c.attr_double("s"))}; }},
      {"rsub_scalar", [](C c, I x) { return V{attn::rsub(in(x, "x"), c.attr_double("s"))}; }},
      {"rdiv_scalar", [](C c, I x) { return V{attn::rdiv(in(x, "x"), c.attr_double("s"))}; }},
      {"sub_scalar", [](C c, I x) { return V{in(x, "x") - c.attr_double("s")}; }},
      {"div_scalar", [](C c, I x) { return V{in(x, "x") / c.attr_double("s")}; }},
      {"scalar_add", [](C c, I x) { return V{c.attr_double("s") + in(x, "x")}; }},
      {"scalar_mul", [](C c, I x) { return V{c.attr_double("s") * in(x, "x")}; }},
      {"eq", [](C c, I x) { return V{attn::eq(in(x, "x"), c.attr_double("s"))}; }},
      {"ne", [](C c, I x) { return V{attn::ne(in(x, "x"), c.attr_double("s"))}; }},
      {"lt", [](C c, I x) { return V{attn::lt(in(x, "x"), c.attr_double("s"))}; }},
      {"gt", [](C c, I x) { return V{attn::gt(in(x, "x"), c.attr_double("s"))}; }},
      // selection
      {"masked_fill",
       [](C c, I x) {
         return V{attn::masked_fill(in(x, "x"), in(x, "mask"), c.attr_double("value"))};
       }},
      {"where",
       [](C, I x) { return V{attn::where(in(x, "condition"), in(x, "a"), in(x, "b"))}; }},
      // matmul
      {"matmul", [](C, I x) { return V{attn::matmul(in(x, "a"), in(x, "b"))}; }},
      // reductions: no `dims` attr means over everything
      {"sum",
       [](C c, I x) {
         if (!c.has_attr("dims")) return V{attn::sum(in(x, "x"))};
         return V{attn::sum(in(x, "x"), c.attr_shape("dims"), c.attr_bool("keepdim"))};
       }},
      {"mean",
       [](C c, I x) {
         if (!c.has_attr("dims")) return V{attn::mean(in(x, "x"))};
         return V{attn::mean(in(x, "x"), c.attr_shape("dims"), c.attr_bool("keepdim"))};
       }},
      {"max",
       [](C c, I x) {
         if (!c.has_attr("dim")) return V{attn::max(in(x, "x"))};
         return V{attn::max(in(x, "x"), c.attr_int("dim"), c.attr_bool("keepdim"))};
       }},
      {"argmax",
       [](C c, I x) {
         return V{attn::argmax(in(x, "x"), c.attr_int("dim"), c.attr_bool("keepdim"))};
       }},
      // softmax
      {"softmax", [](C c, I x) { return V{attn::softmax(in(x, "x"), c.attr_int("dim"))}; }},
      {"log_softmax",
       [](C c, I x) { return V{attn::log_softmax(in(x, "x"), c.attr_int("dim"))}; }},
      // shapes, joins and gathers
      {"reshape", [](C c, I x) { return V{attn::reshape(in(x, "x"), c.attr_shape("shape"))}; }},
      {"transpose",
       [](C c, I x) {
         Shape dims = c.attr_shape("dims");
         return V{attn::transpose(in(x, "x"), dims.at(0), dims.at(1))};
       }},
      {"permute", [](C c, I x) { return V{attn::permute(in(x, "x"), c.attr_shape("dims"))}; }},
      {"narrow",
       [](C c, I x) {
         return V{attn::narrow(in(x, "x"), c.attr_int("dim"), c.attr_int("start"),
                               c.attr_int("length"))};
       }},
      {"expand", [](C c, I x) { return V{attn::expand(in(x, "x"), c.attr_shape("shape"))}; }},
      {"squeeze", [](C c, I x) { return V{attn::squeeze(in(x, "x"), c.attr_int("dim"))}; }},
      {"unsqueeze", [](C c, I x) { return V{attn::unsqueeze(in(x, "x"), c.attr_int("dim"))}; }},
      {"cat", [](C c, I x) { return V{attn::cat(numbered(x), c.attr_int("dim"))}; }},
      {"concat", [](C c, I x) { return V{attn::concat(numbered(x), c.attr_int("dim"))}; }},
      {"stack", [](C c, I x) { return V{attn::stack(numbered(x), c.attr_int("dim"))}; }},
      {"split",
       [](C c, I x) {
         return attn::split(in(x, "x"), c.attr_int("split_size"), c.attr_int("dim"));
       }},
      {"index_select",
       [](C c, I x) {
         return V{attn::index_select(in(x, "x"), c.attr_int("dim"), in(x, "index"))};
       }},
      // layers as functions
      {"embedding",
       [](C c, I x) {
         return V{attn::embedding(in(x, "weight"), in(x, "ids"), c.attr_int("padding_idx"))};
       }},
      {"layer_norm",
       [](C c, I x) {
         Tensor gamma = x.count("gamma") ? x.at("gamma") : Tensor();
         Tensor beta = x.count("beta") ? x.at("beta") : Tensor();
         return V{attn::layer_norm(in(x, "x"), gamma, beta, c.attr_double("eps"))};
       }},
      {"cross_entropy",
       [](C c, I x) {
         attn::CrossEntropyOptions options;
         options.ignore(c.attr_int("ignore_index"))
             .smoothing(c.attr_double("label_smoothing"))
             .reduce(reduction_of(c.attr("reduction")[0]));
         return V{attn::cross_entropy(in(x, "logits"), in(x, "target"), options)};
       }},
  };
  return table;
}

// --- comparing -----------------------------------------------------------------

struct Tolerance {
  double atol;
  double rtol;
};
constexpr Tolerance kFloat64Tolerance{1e-12, 1e-12};
constexpr Tolerance kFloat32Tolerance{1e-5, 1e-5};

// got must have want's shape and, element by element, |got - want| <= atol +
// rtol * |want| (infinities must match exactly; int64 tensors must be equal).
void expect_matches(const std::string& what, const Tensor& got, const GoldenTensor& want,
                    DType float_dtype, Tolerance tol) {
  ASSERT_TRUE(got.defined()) << what << " is undefined";
  ASSERT_EQ(attn::shape_str(got.shape()), attn::shape_str(want.shape)) << what << ": shape";
  if (want.dtype == attn::kInt64) {
    ASSERT_EQ(got.dtype(), attn::kInt64) << what << ": dtype";
    EXPECT_EQ(got.to_vector<int64_t>(), want.ints) << what << ": values";
    return;
  }
  ASSERT_EQ(got.dtype(), float_dtype) << what << ": dtype";
  std::vector<double> values = got.to_vector<double>();
  int mismatches = 0;
  std::ostringstream report;
  report.precision(17);
  for (size_t i = 0; i < values.size(); ++i) {
    const double g = values[i], w = want.values[i];
    bool ok = std::isinf(w) ? g == w : std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w);
    if (!ok && ++mismatches <= 5) {
      report << "\n  [" << i << "] got " << g << ", PyTorch " << w << " (diff " << g - w << ")";
    }
  }
  EXPECT_EQ(mismatches, 0) << what << ": " << mismatches << " of " << values.size()
                           << " elements differ beyond atol " << tol.atol << " + rtol "
                           << tol.rtol << ":" << report.str();
}

// Loads the case, runs its op in `float_dtype` and compares the outputs and, for
// a gradient case, the input gradients with PyTorch's.
void check_case(const std::string& name, DType float_dtype, Tolerance tol) {
  GoldenCase c;
  std::string error;
  ASSERT_TRUE(load_case(name, &c, &error)) << error;
  auto op = op_table().find(c.op);
  ASSERT_NE(op, op_table().end())
      << name << ": no attn op named '" << c.op << "' in test_golden.cpp";

  const GoldenTensor* upstream = c.find("grad_out");
  const bool grad_case = upstream != nullptr;
  Inputs inputs;
  std::set<std::string> noncontiguous;
  if (c.has_attr("noncontiguous")) {
    for (const std::string& input : c.attr("noncontiguous")) noncontiguous.insert(input);
  }
  for (const GoldenTensor& t : c.tensors) {
    if (!is_input(t.name)) continue;
    Tensor x = to_attn(t, float_dtype);
    if (noncontiguous.count(t.name)) {
      x = make_noncontiguous(x);
      EXPECT_FALSE(x.is_contiguous()) << name << ": input " << t.name;
    }
    if (grad_case && t.dtype != attn::kInt64) x.requires_grad_();
    inputs[t.name] = x;
  }

  std::vector<Tensor> outputs;
  try {
    outputs = op->second(c, inputs);
  } catch (const std::exception& e) {
    FAIL() << name << ": attn threw: " << e.what();
  }

  // out, or out0, out1, ... with none missing and none extra
  if (c.find("out") != nullptr) {
    ASSERT_EQ(outputs.size(), 1u) << name << ": the op returned " << outputs.size() << " tensors";
    expect_matches(name + " out", outputs[0], *c.find("out"), float_dtype, tol);
  } else {
    size_t expected = 0;
    while (c.find("out" + std::to_string(expected)) != nullptr) ++expected;
    ASSERT_EQ(outputs.size(), expected) << name << ": number of outputs";
    for (size_t i = 0; i < expected; ++i) {
      const std::string out_name = "out" + std::to_string(i);
      expect_matches(name + " " + out_name, outputs[i], *c.find(out_name), float_dtype, tol);
    }
  }
  if (!grad_case) return;

  ASSERT_EQ(outputs.size(), 1u) << name << ": a gradient case has one output";
  try {
    outputs[0].backward(to_attn(*upstream, float_dtype));
  } catch (const std::exception& e) {
    FAIL() << name << ": backward threw: " << e.what();
  }
  int grads_checked = 0;
  for (const GoldenTensor& t : c.tensors) {
    if (!starts_with(t.name, "grad_") || t.name == "grad_out") continue;
    const std::string input = t.name.substr(5);
    ASSERT_TRUE(inputs.count(input)) << name << ": " << t.name << " names no input";
    Tensor grad = inputs.at(input).grad();
    ASSERT_TRUE(grad.defined()) << name << ": attn computed no gradient for " << input;
    expect_matches(name + " " + t.name, grad, t, float_dtype, tol);
    ++grads_checked;
  }
  for (const auto& [input_name, x] : inputs) {
    if (x.requires_grad()) {
      EXPECT_NE(c.find("grad_" + input_name), nullptr)
          << name << ": no expected gradient for input " << input_name;
    }
  }
  EXPECT_GT(grads_checked, 0) << name << ": a gradient case with no gradient to check";
}

// --- the cases -----------------------------------------------------------------
// One list per family; GoldenIndex.EveryCaseIsTested keeps them in step with
// the script's tests/golden/index.txt.

const std::vector<std::string> kElementwise = {
    "add_same", "add_broadcast", "sub_same", "sub_broadcast", "mul_same", "mul_broadcast",
    "div_same", "div_broadcast", "maximum_same", "maximum_broadcast", "add_broadcast_both",
    "mul_scalar_tensor", "add_noncontiguous", "maximum_ties", "div_broadcast_grad",
    "pow_tensor", "pow_tensor_broadcast", "pow_negative_base_integer_exponent",
    "pow_scalar_2_0", "pow_scalar_3_0", "pow_scalar_0_5", "pow_scalar_m1_0", "pow_scalar_m1_5",
    "pow_tensor_grad", "neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu",
    "sigmoid_extremes", "tanh_extremes", "exp_noncontiguous", "add_scalar", "sub_scalar",
    "mul_scalar", "div_scalar", "rsub_scalar", "rdiv_scalar", "scalar_add", "scalar_mul",
    "eq", "ne", "lt", "gt"};

const std::vector<std::string> kSelection = {
    "masked_fill_broadcast", "masked_fill_neg_inf", "masked_fill_grad", "where_broadcast",
    "where_grad"};

const std::vector<std::string> kMatmul = {
    "matmul_2d", "matmul_batched", "matmul_broadcast_batch", "matmul_2d_by_batched",
    "matmul_batched_by_2d", "matmul_1d_by_2d", "matmul_2d_by_1d", "matmul_1d_by_1d",
    "matmul_batched_by_1d", "matmul_1d_by_batched", "matmul_noncontiguous", "matmul_2d_grad",
    "matmul_broadcast_batch_grad", "matmul_1d_by_batched_grad"};

const std::vector<std::string> kReduce = {
    "sum_all", "sum_dims_1", "sum_dims_1_keepdim", "sum_dims_0_2", "sum_dims_0_2_keepdim",
    "sum_dims_m1", "sum_dims_0_1_2_keepdim", "sum_noncontiguous", "sum_dims_1_grad",
    "mean_all", "mean_dims_1", "mean_dims_1_keepdim", "mean_dims_0_2", "mean_dims_0_2_keepdim",
    "mean_dims_m1", "mean_dims_0_1_2_keepdim", "mean_noncontiguous", "mean_dims_1_grad",
    "max_all", "max_dim_0", "argmax_dim_0", "max_dim_1_keepdim", "argmax_dim_1_keepdim",
    "max_dim_m1", "argmax_dim_m1", "argmax_ties", "max_dim_ties_grad", "max_dim_grad"};

const std::vector<std::string> kSoftmax = {
    "softmax_dim_0", "softmax_dim_1", "softmax_dim_2", "softmax_dim_m1",
    "softmax_large_logits", "softmax_large_logits_dim_0", "softmax_neg_inf",
    "softmax_noncontiguous", "softmax_grad", "softmax_last_dim_grad",
    "log_softmax_dim_0", "log_softmax_dim_1", "log_softmax_dim_2", "log_softmax_dim_m1",
    "log_softmax_large_logits", "log_softmax_large_logits_dim_0", "log_softmax_neg_inf",
    "log_softmax_noncontiguous", "log_softmax_grad", "log_softmax_last_dim_grad"};

const std::vector<std::string> kShape = {
    "reshape", "reshape_noncontiguous", "transpose", "transpose_negative", "permute", "narrow",
    "narrow_grad", "expand", "expand_keep", "expand_grad", "squeeze", "squeeze_noop",
    "unsqueeze", "cat_dim_0", "cat_dim_1", "cat_dim_m1", "concat", "cat_grad", "stack_dim_0",
    "stack_dim_1", "stack_dim_m1", "split_uneven", "split_even_dim_0", "index_select_dim_0",
    "index_select_dim_1_repeated", "index_select_repeated_grad", "index_select_dim_1_grad"};

const std::vector<std::string> kNN = {
    "embedding", "embedding_1d_ids", "embedding_grad", "embedding_padding_grad",
    "layer_norm_affine", "layer_norm_plain", "layer_norm_small_variance",
    "layer_norm_constant_row", "layer_norm_noncontiguous", "layer_norm_affine_grad",
    "layer_norm_plain_grad",
    "cross_entropy_mean", "cross_entropy_mean_ignore_default", "cross_entropy_mean_ignore_2",
    "cross_entropy_mean_smoothing", "cross_entropy_mean_smoothing_ignore_default",
    "cross_entropy_mean_smoothing_ignore_2",
    "cross_entropy_sum", "cross_entropy_sum_ignore_default", "cross_entropy_sum_ignore_2",
    "cross_entropy_sum_smoothing", "cross_entropy_sum_smoothing_ignore_default",
    "cross_entropy_sum_smoothing_ignore_2",
    "cross_entropy_none", "cross_entropy_none_ignore_default", "cross_entropy_none_ignore_2",
    "cross_entropy_none_smoothing", "cross_entropy_none_smoothing_ignore_default",
    "cross_entropy_none_smoothing_ignore_2",
    "cross_entropy_large_logits", "cross_entropy_noncontiguous",
    "cross_entropy_mean_smoothing_ignore_grad", "cross_entropy_sum_smoothing_ignore_grad",
    "cross_entropy_none_smoothing_ignore_grad", "cross_entropy_mean_grad"};

// The cases also run in float32 (inputs are float32-representable, so only
// attn's float32 arithmetic differs from PyTorch's float64 answer).
const std::vector<std::string> kFloat32Cases = {
    "add_broadcast", "mul_broadcast", "div_broadcast", "exp", "log", "sqrt", "tanh", "sigmoid",
    "pow_scalar_0_5", "sigmoid_extremes", "tanh_extremes", "masked_fill_neg_inf",
    "matmul_2d", "matmul_broadcast_batch", "matmul_noncontiguous", "matmul_2d_grad",
    "matmul_broadcast_batch_grad", "sum_dims_0_2", "mean_dims_1_keepdim", "max_dim_ties_grad",
    "softmax_dim_1", "softmax_large_logits", "softmax_neg_inf", "softmax_grad",
    "log_softmax_dim_m1", "log_softmax_large_logits", "log_softmax_neg_inf", "log_softmax_grad",
    "embedding_padding_grad", "index_select_repeated_grad", "layer_norm_affine",
    "layer_norm_plain", "layer_norm_affine_grad", "cross_entropy_mean_smoothing_ignore_default",
    "cross_entropy_none_smoothing", "cross_entropy_large_logits",
    "cross_entropy_mean_smoothing_ignore_grad"};

std::string case_name(const testing::TestParamInfo<std::string>& info) { return info.param; }

class GoldenFloat64 : public testing::TestWithParam<std::string> {};
class GoldenFloat32 : public testing::TestWithParam<std::string> {};

TEST_P(GoldenFloat64, MatchesPyTorch) { check_case(GetParam(), attn::kFloat64, kFloat64Tolerance); }
TEST_P(GoldenFloat32, MatchesPyTorch) { check_case(GetParam(), attn::kFloat32, kFloat32Tolerance); }

INSTANTIATE_TEST_SUITE_P(Elementwise, GoldenFloat64, testing::ValuesIn(kElementwise), case_name);
INSTANTIATE_TEST_SUITE_P(Selection, GoldenFloat64, testing::ValuesIn(kSelection), case_name);
INSTANTIATE_TEST_SUITE_P(Matmul, GoldenFloat64, testing::ValuesIn(kMatmul), case_name);
INSTANTIATE_TEST_SUITE_P(Reduce, GoldenFloat64, testing::ValuesIn(kReduce), case_name);
INSTANTIATE_TEST_SUITE_P(Softmax, GoldenFloat64, testing::ValuesIn(kSoftmax), case_name);
INSTANTIATE_TEST_SUITE_P(Shape, GoldenFloat64, testing::ValuesIn(kShape), case_name);
INSTANTIATE_TEST_SUITE_P(NN, GoldenFloat64, testing::ValuesIn(kNN), case_name);
INSTANTIATE_TEST_SUITE_P(Float32, GoldenFloat32, testing::ValuesIn(kFloat32Cases), case_name);

// Every case the script wrote runs here, and every case here has a fixture.
TEST(GoldenIndex, EveryCaseIsTested) {
  const std::string path = kGoldenDir + "index.txt";
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot open " << path << " " << kRegenerate;
  std::set<std::string> in_index;
  std::string line;
  while (std::getline(file, line)) {
    if (is_blank_or_comment(line)) continue;
    std::vector<std::string> words = split_words(line);
    ASSERT_EQ(words.size(), 1u) << path << ": bad line '" << line << "'";
    in_index.insert(words[0]);
  }
  std::set<std::string> here;
  for (const auto* family :
       {&kElementwise, &kSelection, &kMatmul, &kReduce, &kSoftmax, &kShape, &kNN}) {
    for (const std::string& name : *family) {
      EXPECT_TRUE(here.insert(name).second) << name << " is listed twice in test_golden.cpp";
    }
  }
  for (const std::string& name : in_index) {
    EXPECT_TRUE(here.count(name)) << "case " << name << " from " << path
                                  << " is in no list of test_golden.cpp";
  }
  for (const std::string& name : here) {
    EXPECT_TRUE(in_index.count(name)) << "case " << name << " of test_golden.cpp is not in "
                                      << path << " " << kRegenerate;
  }
  for (const std::string& name : kFloat32Cases) {
    EXPECT_TRUE(here.count(name)) << "float32 case " << name << " is not a float64 case";
  }
  EXPECT_EQ(in_index.size(), here.size());
}

// The reader turns a broken fixture into a message, not a crash.
TEST(GoldenIndex, ReaderReportsMissingFile) {
  GoldenCase c;
  std::string error;
  EXPECT_FALSE(load_case("no_such_case", &c, &error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
  EXPECT_NE(error.find("make_golden.py"), std::string::npos) << error;
}

TEST(GoldenIndex, ReaderReportsMalformedFiles) {
  struct Broken {
    const char* text;
    const char* message;
  };
  const std::vector<Broken> broken = {
      {"case c\nop add\ntensor a float64 2 2 2\n1 2 3\n", "needs 4 values, got 3"},
      {"case c\nop add\ntensor a float64 2 2\n1 2\n", "does not match"},
      {"case c\nop add\ntensor a float16 1 2\n1 2\n", "unknown dtype"},
      {"case c\nop add\ntensor a float64 1 2\n1 x\n", "bad float64 value"},
      {"case c\nop add\ntensor out float64 1 2\n", "missing its line of values"},
      {"case c\nop add\nbogus line\n", "cannot read the line"},
      {"case c\nop add\ntensor a float64 1 1\n1\n", "no expected output"},
      {"case other\nop add\ntensor out float64 1 1\n1\n", "not 'c'"},
  };
  const std::string path = testing::TempDir() + "attn_golden_broken.txt";
  for (const Broken& b : broken) {
    {
      std::ofstream file(path);
      file << b.text;
    }
    GoldenCase c;
    std::string error;
    EXPECT_FALSE(load_case_file(path, "c", &c, &error)) << b.text;
    EXPECT_NE(error.find(b.message), std::string::npos) << "got: " << error;
  }
  std::remove(path.c_str());
}

}  // namespace
