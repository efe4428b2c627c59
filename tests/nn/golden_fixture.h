// Golden fixtures of whole modules (scripts/make_rnn_golden.py and
// scripts/make_luong_golden.py write them): PyTorch's weights, inputs,
// outputs, upstream gradients and expected gradients, as text. Shared by the
// tests of nn/ so that every module is compared the same way.
#pragma once

#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace attn_test {

using attn::Shape;
using attn::Tensor;

// Max |a - b| over all elements; the shapes must agree.
inline double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(attn::shape_str(a.shape()), attn::shape_str(b.shape()));
  if (a.shape() != b.shape()) return INFINITY;
  std::vector<double> x = a.to(attn::kFloat64).to_vector<double>();
  std::vector<double> y = b.to(attn::kFloat64).to_vector<double>();
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
}

struct Fixture {
  std::string name, op;
  std::map<std::string, std::string> attrs;
  std::map<std::string, Tensor> tensors;  // float64 or int64
  std::vector<std::string> order;         // tensor names in file order

  int64_t attr_int(const std::string& key) const {
    auto it = attrs.find(key);
    if (it == attrs.end()) throw std::runtime_error(name + ": missing attr " + key);
    return std::stoll(it->second);
  }
  bool has(const std::string& tensor) const { return tensors.count(tensor) != 0; }
  const Tensor& at(const std::string& tensor) const {
    auto it = tensors.find(tensor);
    if (it == tensors.end()) throw std::runtime_error(name + ": no tensor " + tensor);
    return it->second;
  }
};

// Reads tests/golden/<folder>/<name>.txt; throws naming the file and line on
// a bad line. `script` is the generator to name when the file is missing.
inline Fixture load_fixture(const std::string& folder, const std::string& name,
                            const std::string& script) {
  const std::string path = std::string(ATTN_TEST_DATA_DIR) + "/golden/" + folder + "/" + name + ".txt";
  std::ifstream file(path);
  if (!file) {
    throw std::runtime_error("cannot open " + path + " (regenerate with: /usr/bin/python3 " +
                             script + ")");
  }
  Fixture f;
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + why);
  };
  while (std::getline(file, line)) {
    ++line_no;
    std::istringstream words(line);
    std::string keyword;
    if (!(words >> keyword) || keyword[0] == '#') continue;
    if (keyword == "case") {
      words >> f.name;
    } else if (keyword == "op") {
      words >> f.op;
    } else if (keyword == "attr") {
      std::string key, value;
      if (!(words >> key >> value)) fail("bad attr line");
      f.attrs[key] = value;
    } else if (keyword == "tensor") {
      std::string tensor_name, dtype;
      int64_t ndim = 0;
      if (!(words >> tensor_name >> dtype >> ndim)) fail("bad tensor line");
      Shape shape(static_cast<size_t>(ndim));
      for (int64_t& size : shape) {
        if (!(words >> size)) fail("tensor " + tensor_name + ": missing sizes");
      }
      std::string values_line;
      ++line_no;
      if (!std::getline(file, values_line)) fail("tensor " + tensor_name + ": no values");
      std::istringstream values(values_line);
      const int64_t numel = attn::shape_numel(shape);
      if (dtype == "int64") {
        std::vector<int64_t> v(static_cast<size_t>(numel));
        for (int64_t& x : v) {
          if (!(values >> x)) fail("tensor " + tensor_name + ": too few values");
        }
        f.tensors[tensor_name] = attn::from_vector(v, shape);
      } else if (dtype == "float64") {
        std::vector<double> v(static_cast<size_t>(numel));
        for (double& x : v) {
          if (!(values >> x)) fail("tensor " + tensor_name + ": too few values");
        }
        f.tensors[tensor_name] = attn::from_vector(v, shape);
      } else {
        fail("unknown dtype " + dtype);
      }
      f.order.push_back(tensor_name);
    } else {
      fail("cannot read the line '" + line + "'");
    }
  }
  if (f.name != name) throw std::runtime_error(path + ": the file names case '" + f.name + "'");
  return f;
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Loads the fixture's weights into `module` (converted to `dtype`), runs it
// on the fixture's other tensors, and compares the outputs out0, out1, ...
// and, through the upstream gradients grad_out<i>, every expected gradient.
inline void check_module_against_fixture(
    const Fixture& f, attn::nn::Module* module, attn::DType dtype, double tolerance,
    const std::function<std::vector<Tensor>(const std::map<std::string, Tensor>&)>& run) {
  const std::string& name = f.name;
  // The weights, under PyTorch's names, through load_state_dict.
  module->to(dtype);
  std::map<std::string, Tensor> state;
  std::set<std::string> parameter_names;
  for (const auto& [param_name, param] : module->named_parameters()) {
    parameter_names.insert(param_name);
    ASSERT_TRUE(f.has(param_name)) << name << ": no weights for " << param_name;
    state[param_name] = f.at(param_name).to(dtype);
  }
  module->load_state_dict(state);
  // The rest are inputs (x, h, c, lengths, h0, c0).
  std::map<std::string, Tensor> inputs;
  for (const std::string& tensor_name : f.order) {
    if (parameter_names.count(tensor_name) || starts_with(tensor_name, "out") ||
        starts_with(tensor_name, "grad_")) {
      continue;
    }
    Tensor t = f.at(tensor_name);
    if (t.dtype() != attn::kInt64) t = t.to(dtype).requires_grad_();
    inputs[tensor_name] = t;
  }

  std::vector<Tensor> outputs = run(inputs);
  Tensor loss;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string out = "out" + std::to_string(i);
    ASSERT_TRUE(f.has(out)) << name << ": attn returned more outputs than PyTorch";
    EXPECT_LT(max_diff(outputs[i], f.at(out)), tolerance) << name << " " << out << " in "
                                                          << attn::dtype_name(dtype);
    Tensor term = (outputs[i] * f.at("grad_" + out).to(dtype)).sum();
    loss = loss.defined() ? loss + term : term;
  }
  EXPECT_FALSE(f.has("out" + std::to_string(outputs.size()))) << name << ": too few outputs";
  loss.backward();

  int checked = 0;
  for (const std::string& tensor_name : f.order) {
    if (!starts_with(tensor_name, "grad_") || starts_with(tensor_name, "grad_out")) continue;
    const std::string of = tensor_name.substr(5);
    Tensor variable = parameter_names.count(of) ? module->state_dict().at(of) : inputs.at(of);
    ASSERT_TRUE(variable.grad().defined()) << name << ": no gradient for " << of;
    EXPECT_LT(max_diff(variable.grad(), f.at(tensor_name)), tolerance)
        << name << " " << tensor_name << " in " << attn::dtype_name(dtype);
    ++checked;
  }
  EXPECT_GT(checked, 0) << name;
}


}  // namespace attn_test
