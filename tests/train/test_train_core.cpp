// The pieces under the trainer: safetensors files, optimizers, gradient
// clipping, learning-rate schedules and checkpoints.
//
// Optimizer and clipping values come from PyTorch through golden fixtures in
// tests/golden/train/ (regenerate: /usr/bin/python3 scripts/make_optim_golden.py);
// the Python-written safetensors fixture from scripts/safetensors_interop.py.
// Every broken file must give attn::Error naming the file, never a crash.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <attn/attn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/json.h"
#include "tensor/safetensors.h"
#include "train/checkpoint.h"
#include "train/optim/clip.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"

namespace {

using attn::Tensor;
using Bytes = std::string;

const std::string kFixtures = std::string(ATTN_TEST_DATA_DIR) + "/golden/train/";

// --- files ------------------------------------------------------------------

// A fresh directory per test under gtest's temporary folder.
std::string temp_dir() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string dir =
      testing::TempDir() + "attn_train_" + info->test_suite_name() + "_" + info->name();
  std::system(("rm -rf '" + dir + "'").c_str());
  ::mkdir(dir.c_str(), 0755);
  return dir + "/";
}

bool exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  // Removed first: ext4 flushes a file truncated over existing data on close,
  // which made the loops over hundreds of broken files take seconds.
  std::remove(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text and a data section, built by hand.
Bytes raw_file(const std::string& header, const Bytes& data, uint64_t length_field) {
  Bytes out(8, '\0');
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>(length_field >> (8 * k));
  return out + header + data;
}
Bytes raw_file(const std::string& header, const Bytes& data) {
  return raw_file(header, data, header.size());
}

// Runs f, which must throw attn::Error whose message names `path` and contains `what`.
void expect_error(const std::function<void()>& f, const std::string& path,
                  const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one about: " << what;
  } catch (const attn::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos)
        << "the message does not name the file: " << message;
    EXPECT_NE(message.find(what), std::string::npos) << "expected '" << what << "' in: " << message;
  }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  size_t n = static_cast<size_t>(x.numel()) * attn::element_size(x.dtype());
  const char* px = static_cast<const char*>(x.unsafe_impl()->storage->data()) +
                   x.offset() * attn::element_size(x.dtype());
  const char* py = static_cast<const char*>(y.unsafe_impl()->storage->data()) +
                   y.offset() * attn::element_size(y.dtype());
  return n == 0 || std::memcmp(px, py, n) == 0;
}

// The demo of scripts/safetensors_interop.py, written from C++.
void demo(std::map<std::string, Tensor>* tensors, std::map<std::string, std::string>* metadata) {
  (*tensors)["weight"] =
      attn::from_vector(std::vector<float>{0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 65504.0f}, {2, 3});
  (*tensors)["scalar"] = attn::from_vector(std::vector<double>{3.141592653589793}, {});
  (*tensors)["ids"] =
      attn::from_vector(std::vector<int64_t>{-1, 0, int64_t{1} << 40, -(int64_t{1} << 62)}, {4});
  (*tensors)["empty"] = attn::zeros({0, 2});
  (*tensors)["encoder.layer.0.bias"] = attn::from_vector(std::vector<double>{1, 2, 3}, {3});
  (*metadata)["quote"] = "say \"hi\"\\ and\nnew line\ttab";
  (*metadata)["unicode"] = "na\xc3\xafve \xe2\x9c\x93 \xf0\x9f\x98\x80";
  (*metadata)["model"] = "bahdanau";
}

// --- json (the header's reader and writer) -------------------------------------

TEST(Json, QuotedStringsParseBackAndErrorsGiveTheOffset) {
  const std::string tricky = std::string("q\"b\\s/\x01\n\t\0 caf\xc3\xa9 \xf0\x9f\x98\x80", 22);
  attn::json::Value v = attn::json::parse("[" + attn::json::quote(tricky) + ", true, -1.5e3, null, {}]", "t");
  ASSERT_EQ(v.kind, attn::json::Value::Kind::Array);
  ASSERT_EQ(v.items.size(), 5u);
  EXPECT_EQ(v.items[0].text, tricky);
  EXPECT_EQ(v.items[1].text, "true");
  EXPECT_EQ(v.items[2].text, "-1.5e3");
  EXPECT_EQ(v.items[3].kind, attn::json::Value::Kind::Null);
  EXPECT_EQ(attn::json::parse(R"("\u00e9\ud83d\ude00")", "t").text, "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(attn::json::find_invalid_utf8("ok \xe2\x9c\x93 \xc0\xaf"), 7u);  // an overlong '/'
  expect_error([] { attn::json::parse("{\"a\": tru}", "ctx.json"); }, "ctx.json", "at byte 6");
  expect_error([] { attn::json::parse("[1,]", "ctx.json", 100); }, "ctx.json", "at byte 103");
}

// --- safetensors ---------------------------------------------------------------

TEST(Safetensors, RoundTripDtypesShapesAndMetadata) {
  const std::string path = temp_dir() + "t.safetensors";
  std::map<std::string, Tensor> tensors;
  tensors["f32"] = attn::randn({3, 4});
  tensors["f64_scalar"] = attn::scalar_tensor(-2.5, attn::kFloat64);
  tensors["i64"] = attn::from_vector(std::vector<int64_t>{INT64_MIN, -1, 0, INT64_MAX}, {2, 2});
  tensors["empty"] = attn::zeros({0, 5}, attn::kFloat64);
  tensors["transposed"] =
      attn::randn({2, 3}).transpose(0, 1);  // non-contiguous is written row-major
  tensors["nan_inf"] = attn::from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, -0.0f}, {4});
  std::map<std::string, std::string> metadata{
      {"quotes", "a \"b\" \\c\\ /d"},
      {"control", std::string("x\x01y\x1f\b\f\r\n\t", 10)},  // and a NUL
      {"unicode \xe2\x9c\x93", "\xf0\x9f\x98\x80 caf\xc3\xa9"},
      {"", "empty key"}};
  attn::save_safetensors(path, tensors, metadata);
  attn::SafetensorsFile file = attn::load_safetensors(path);
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(file.tensors.count(name)) << name;
    EXPECT_TRUE(same_bits(file.tensors[name], t)) << name;
    EXPECT_TRUE(file.tensors[name].is_contiguous());
  }
  // The format's layout: a little-endian length, then JSON padded to 8 bytes.
  Bytes bytes = read_bytes(path);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(bytes[k]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
}

TEST(Safetensors, EmptyFileRoundTripsAndAtomicWriteLeavesNoTmp) {
  const std::string dir = temp_dir();
  attn::save_safetensors(dir + "e.safetensors", {});
  EXPECT_TRUE(attn::load_safetensors(dir + "e.safetensors").tensors.empty());
  // Overwriting replaces the file and leaves no NAME.tmp behind.
  attn::save_safetensors(dir + "e.safetensors", {{"x", attn::ones({2})}});
  EXPECT_EQ(attn::load_safetensors(dir + "e.safetensors").tensors.size(), 1u);
  EXPECT_FALSE(exists(dir + "e.safetensors.tmp"));
  // An unwritable place: an error naming it, nothing left behind.
  expect_error([&] { attn::save_safetensors(dir + "no/such/dir/x.safetensors", {}); },
               "no/such/dir", "cannot open");
  // Bad arguments are refused before anything is written.
  expect_error(
      [&] {
        attn::save_safetensors(dir + "r.safetensors", {{"__metadata__", attn::ones({1})}});
      },
      "r.safetensors", "reserved");
  expect_error([&] { attn::save_safetensors(dir + "r.safetensors", {}, {{"k", "\xff\xfe"}}); },
               "r.safetensors", "not valid UTF-8");
  expect_error(
      [&] {
        attn::save_safetensors(dir + "r.safetensors", {{"u", Tensor()}});
      },
      "r.safetensors", "undefined");
  EXPECT_FALSE(exists(dir + "r.safetensors"));
  EXPECT_FALSE(exists(dir + "r.safetensors.tmp"));
}

TEST(Safetensors, InteropReadsPythonWrittenFileAndWritesTheSame) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  demo(&tensors, &metadata);
  attn::SafetensorsFile python = attn::load_safetensors(kFixtures + "from_python.safetensors");
  EXPECT_EQ(python.metadata, metadata);
  ASSERT_EQ(python.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) EXPECT_TRUE(same_bits(python.tensors.at(name), t)) << name;
  // attn's own file of the demo; with ATTN_INTEROP_OUT set it goes there for
  // `scripts/safetensors_interop.py check` to read.
  const char* out = std::getenv("ATTN_INTEROP_OUT");
  const std::string path = out ? std::string(out) : temp_dir() + "demo.safetensors";
  attn::save_safetensors(path, tensors, metadata);
  attn::SafetensorsFile ours = attn::load_safetensors(path);
  EXPECT_EQ(ours.metadata, python.metadata);
  for (const auto& [name, t] : python.tensors)
    EXPECT_TRUE(same_bits(ours.tensors.at(name), t)) << name;
}

TEST(Safetensors, TruncatedFilesAreRefusedNamingTheFile) {
  const std::string dir = temp_dir();
  attn::save_safetensors(dir + "full.safetensors",
                         {{"a", attn::randn({4, 4})}, {"b", attn::ones({3}, attn::kInt64)}});
  const Bytes full = read_bytes(dir + "full.safetensors");
  const std::string path = dir + "cut.safetensors";
  write_bytes(path, "");
  expect_error([&] { attn::load_safetensors(path); }, path, "fewer than the 8");
  write_bytes(path, full.substr(0, 5));
  expect_error([&] { attn::load_safetensors(path); }, path, "fewer than the 8");
  write_bytes(path, full.substr(0, 20));
  expect_error([&] { attn::load_safetensors(path); }, path, "larger than the rest of the file");
  write_bytes(path, full.substr(0, full.size() - 1));
  expect_error([&] { attn::load_safetensors(path); }, path, "truncated");
  write_bytes(path, full + "junk");
  expect_error([&] { attn::load_safetensors(path); }, path, "trailing garbage");
  // Every cut: an error naming the file, never a crash.
  for (size_t cut = 0; cut < full.size(); ++cut) {
    write_bytes(path, full.substr(0, cut));
    EXPECT_THROW(attn::load_safetensors(path), attn::Error) << "cut at " << cut;
  }
  expect_error([&] { attn::load_safetensors(dir + "missing.safetensors"); }, "missing.safetensors",
               "cannot open");
  expect_error([&] { attn::load_safetensors(dir); }, dir, "not a regular file");
}

TEST(Safetensors, MalformedHeadersAreRefusedWithWhatIsWrong) {
  const std::string path = temp_dir() + "bad.safetensors";
  const Bytes eight(8, '\0');
  struct Case {
    std::string header;
    Bytes data;
    std::string what;
  };
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<Case> cases = {
      {"{\"a\":", eight, "bad JSON header at byte 13"},
      {"[1,2]", eight, "must be a JSON object"},
      {"{" + ok_entry + "} x", eight, "unexpected text after"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{}})", eight, "appears twice"},
      {R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", eight, "dtype 'F16'"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight,
       "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", eight,
       "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", eight, "must hold integers"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, "needs 12 bytes"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight, "end before they begin"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", eight,
       "beyond the data section"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       Bytes(16, '\0'), "overlap"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", eight, "no \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", eight,
       "unknown field 'extra'"},
      {R"({"a":{"dtype":"F32","shape":[99999999999,99999999999,99999999999],)"
       R"("data_offsets":[0,8]}})",
       eight, "too large"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}})", eight,
       "too large"},
      {R"({"__metadata__":{"k":1},)" + ok_entry + "}", eight, "must hold a string"},
      {R"({"__metadata__":{"k":"\q"}})", "", "unknown escape"},
      {R"({"__metadata__":{"k":"\ud800"}})", "", "lone UTF-16 surrogate"},
      {"{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", "", "invalid UTF-8"},
      {"{\"__metadata__\":{\"k\":\"a\nb\"}}", "", "control character"},
      {R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", eight, "leading zero"},
      {std::string(100, '[') + std::string(100, ']'), "", "nested more than"},
      {"", "", "expected a value"},
  };
  for (const Case& c : cases) {
    write_bytes(path, raw_file(c.header, c.data));
    SCOPED_TRACE(c.header);
    expect_error([&] { attn::load_safetensors(path); }, path, c.what);
  }
  // A header length far beyond the file.
  write_bytes(path, raw_file("{}", "", uint64_t{1} << 40));
  expect_error([&] { attn::load_safetensors(path); }, path,
               "header length 1099511627776 is larger");
}

TEST(Safetensors, EveryFlippedHeaderByteGivesAnErrorOrAFileNeverACrash) {
  const std::string dir = temp_dir();
  attn::save_safetensors(dir + "f.safetensors",
                         {{"w", attn::randn({2, 3})}, {"i", attn::ones({2}, attn::kInt64)}},
                         {{"k", "v"}});
  const Bytes full = read_bytes(dir + "f.safetensors");
  size_t header_end = 8;
  for (int k = 7; k >= 0; --k)
    header_end += static_cast<size_t>(static_cast<unsigned char>(full[k])) << (8 * k);
  int refused = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (unsigned char flip : {0x01, 0x20, 0x80}) {
      Bytes bad = full;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      write_bytes(dir + "x.safetensors", bad);
      try {
        attn::load_safetensors(dir + "x.safetensors");  // some flips (a padding space) are harmless
      } catch (const attn::Error& e) {
        ++refused;
        EXPECT_NE(std::string(e.what()).find("x.safetensors"), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(refused, static_cast<int>(header_end));
}

// --- golden fixtures (the format of scripts/make_golden.py) ----------------------

struct Golden {
  std::string op;
  std::map<std::string, std::vector<double>> attrs;
  std::map<std::string, std::pair<attn::Shape, std::vector<double>>> tensors;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  Tensor tensor(const std::string& name, attn::DType dtype) const {
    const auto& [shape, values] = tensors.at(name);
    return attn::from_vector(values, shape).to(dtype);
  }
  double attr(const std::string& key, size_t i = 0) const { return attrs.at(key).at(i); }
};

Golden load_golden(const std::string& name) {
  const std::string path = kFixtures + name + ".txt";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + " (run scripts/make_optim_golden.py)");
  Golden g;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, key;
    words >> keyword;
    if (keyword == "op") {
      words >> g.op;
    } else if (keyword == "attr") {
      words >> key;
      std::string w;
      while (words >> w) g.attrs[key].push_back(w == "True" ? 1 : w == "False" ? 0 : std::stod(w));
    } else if (keyword == "tensor") {
      std::string dtype;
      int64_t ndim = 0, size = 0;
      words >> key >> dtype >> ndim;
      attn::Shape shape;
      for (int64_t d = 0; d < ndim && words >> size; ++d) shape.push_back(size);
      std::getline(in, line);
      std::istringstream values_line(line);
      std::vector<double> values;
      double v = 0;
      while (values_line >> v) values.push_back(v);
      if (static_cast<int64_t>(values.size()) != attn::shape_numel(shape)) {
        throw std::runtime_error(path + ": tensor " + key + " has the wrong number of values");
      }
      g.tensors[key] = {shape, values};
    }
  }
  return g;
}

void expect_close(const Tensor& got, const Tensor& want, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], tolerance * (1 + std::abs(b[i]))) << what << " element " << i;
  }
}

std::unique_ptr<attn::optim::Optimizer> make_optimizer(const Golden& g,
                                                       std::vector<Tensor> params) {
  using namespace attn::optim;
  const double lr = g.attr("lrs");
  if (g.op == "sgd") {
    return std::make_unique<SGD>(params, SGDOptions(lr)
                                             .set_momentum(g.attr("momentum"))
                                             .set_dampening(g.attr("dampening"))
                                             .set_nesterov(g.attr("nesterov") != 0)
                                             .set_weight_decay(g.attr("weight_decay")));
  }
  if (g.op == "adam") {
    return std::make_unique<Adam>(params, AdamOptions(lr)
                                              .set_betas(g.attr("betas"), g.attr("betas", 1))
                                              .set_eps(g.attr("eps"))
                                              .set_weight_decay(g.attr("weight_decay")));
  }
  return std::make_unique<AdamW>(params, AdamWOptions(lr)
                                             .set_betas(g.attr("betas"), g.attr("betas", 1))
                                             .set_eps(g.attr("eps"))
                                             .set_weight_decay(g.attr("weight_decay")));
}

// Runs a fixture's steps in `dtype` and compares every parameter after every step.
void run_optimizer_case(const std::string& name, attn::DType dtype, double tolerance) {
  SCOPED_TRACE(name + " in " + attn::dtype_name(dtype));
  Golden g = load_golden(name);
  std::vector<Tensor> params;
  for (int i = 0; g.has("p" + std::to_string(i)); ++i) {
    params.push_back(g.tensor("p" + std::to_string(i), dtype).requires_grad_());
  }
  ASSERT_EQ(params.size(), 2u);
  auto optimizer = make_optimizer(g, params);
  const std::vector<double>& lrs = g.attrs.at("lrs");
  for (size_t k = 1; k <= lrs.size(); ++k) {
    optimizer->set_lr(lrs[k - 1]);
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string grad = "grad_p" + std::to_string(i) + "_step" + std::to_string(k);
      params[i].set_grad(g.has(grad) ? g.tensor(grad, dtype) : Tensor());
    }
    optimizer->step();
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string out = "out_p" + std::to_string(i) + "_step" + std::to_string(k);
      expect_close(params[i], g.tensor(out, attn::kFloat64), tolerance, out);
    }
  }
  EXPECT_EQ(optimizer->step_count(), static_cast<int64_t>(lrs.size()));
}

const char* const kOptimizerCases[] = {
    "optim_sgd_plain",        "optim_sgd_momentum_decay",   "optim_sgd_nesterov",
    "optim_sgd_dampening_skip", "optim_adam_default",       "optim_adam_decay_betas",
    "optim_adam_skip_lr_changes", "optim_adamw_default",    "optim_adamw_strong_decay_skip"};

TEST(Optimizer, MatchesPyTorchInFloat64) {
  for (const char* name : kOptimizerCases) run_optimizer_case(name, attn::kFloat64, 1e-12);
}

TEST(Optimizer, MatchesPyTorchInFloat32) {
  for (const char* name : kOptimizerCases) run_optimizer_case(name, attn::kFloat32, 2e-6);
}

TEST(Optimizer, StateNamesRoundTripAndBadStatesAreRefused) {
  using namespace attn::optim;
  std::vector<Tensor> params{attn::randn({2, 2}).requires_grad_(),
                             attn::randn({3}).requires_grad_()};
  Adam adam(params, AdamOptions(0.1));
  params[0].set_grad(attn::ones({2, 2}));  // parameter 1 has no gradient: no state for it yet
  adam.step();
  std::map<std::string, Tensor> state = adam.state();
  EXPECT_EQ(state.size(), 4u);
  ASSERT_TRUE(state.count("adam.exp_avg.0") && state.count("adam.exp_avg_sq.0") &&
              state.count("adam.step.0"));
  EXPECT_EQ(state.at("adam.step_count").item<int64_t>(), 1);
  EXPECT_FALSE(state.count("adam.exp_avg.1"));

  Adam fresh(params, AdamOptions(0.1));
  fresh.load_state(state);
  EXPECT_EQ(fresh.step_count(), 1);
  for (const auto& [name, t] : fresh.state()) EXPECT_TRUE(same_bits(t, state.at(name))) << name;

  SGD sgd(params, SGDOptions(0.1).set_momentum(0.9));
  EXPECT_THROW(sgd.load_state(state), attn::Error);  // another optimizer's names
  auto bad = state;
  bad["adam.exp_avg.7"] = attn::zeros({2, 2});
  EXPECT_THROW(fresh.load_state(bad), attn::Error);  // no parameter 7
  bad = state;
  bad["adam.exp_avg.0"] = attn::zeros({4});
  EXPECT_THROW(fresh.load_state(bad), attn::Error);  // wrong shape
  bad = state;
  bad.erase("adam.exp_avg_sq.0");
  EXPECT_THROW(fresh.load_state(bad), attn::Error);  // incomplete: m without v
  EXPECT_EQ(fresh.step_count(), 1);                  // and a refused state changes nothing

  fresh.zero_grad();
  EXPECT_FALSE(params[0].grad().defined());
}

TEST(Optimizer, RefusesParametersItCannotUpdate) {
  using namespace attn::optim;
  Tensor w = attn::randn({3, 4}).requires_grad_();
  EXPECT_THROW(SGD({attn::ones({2}, attn::kInt64)}), attn::Error);
  EXPECT_THROW(SGD({attn::randn({3, 4}).transpose(0, 1)}), attn::Error);
  EXPECT_THROW(SGD({w, w}), attn::Error);
  EXPECT_THROW(SGD({w}, SGDOptions(0.1).set_nesterov(true)), attn::Error);
  EXPECT_THROW(Adam({w}, AdamOptions(0.1).set_betas(1.0, 0.999)), attn::Error);
  SGD ok({w}, SGDOptions(0.1));
  EXPECT_THROW(ok.set_lr(-1), attn::Error);
  EXPECT_EQ(AdamWOptions().weight_decay, 0.01);
  EXPECT_EQ(AdamW({w}).name(), "adamw");
}

// --- clipping -----------------------------------------------------------------

void run_clip_case(const std::string& name, attn::DType dtype, double tolerance) {
  SCOPED_TRACE(name);
  Golden g = load_golden(name);
  std::vector<Tensor> params;
  for (int i = 0; g.has("grad_p" + std::to_string(i)); ++i) {
    Tensor grad = g.tensor("grad_p" + std::to_string(i), dtype);
    params.push_back(attn::zeros(grad.shape(), dtype).requires_grad_());
    params.back().set_grad(grad);
  }
  double norm = attn::optim::clip_grad_norm(params, g.attr("max_norm"));
  EXPECT_NEAR(norm, g.tensor("out_norm", attn::kFloat64).item(), tolerance * norm);
  for (size_t i = 0; i < params.size(); ++i) {
    expect_close(params[i].grad(), g.tensor("out_grad_p" + std::to_string(i), attn::kFloat64),
                 tolerance, "grad");
  }
}

TEST(Clip, MatchesPyTorch) {
  for (const char* name : {"clip_grad_norm_clipped", "clip_grad_norm_unclipped"}) {
    run_clip_case(name, attn::kFloat64, 1e-12);
    run_clip_case(name, attn::kFloat32, 1e-6);
  }
}

TEST(Clip, NonFiniteGradientsAreFoundNotSpread) {
  Tensor a = attn::zeros({3}).requires_grad_(), b = attn::zeros({2}).requires_grad_();
  Tensor c = attn::zeros({2}).requires_grad_();  // no gradient at all
  a.set_grad(attn::from_vector(std::vector<float>{3, 4, 0}, {3}));
  b.set_grad(attn::from_vector(std::vector<float>{1, NAN}, {2}));
  EXPECT_TRUE(std::isnan(attn::optim::clip_grad_norm({a, b, c}, 1.0)));
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3, 4, 0}));  // left alone
  EXPECT_EQ(attn::optim::first_nonfinite_grad({a, b, c}), 1);
  EXPECT_EQ(attn::optim::first_nonfinite_grad({{"a", a}, {"b", b}, {"c", c}}), "b");
  b.set_grad(attn::zeros({2}));
  EXPECT_EQ(attn::optim::first_nonfinite_grad({a, b, c}), -1);
  EXPECT_EQ(attn::optim::first_nonfinite_grad({{"a", a}, {"b", b}}), "");
  EXPECT_DOUBLE_EQ(attn::optim::grad_norm({a, b, c}), 5.0);
  EXPECT_FALSE(attn::optim::all_finite(attn::full({}, INFINITY)));
  EXPECT_TRUE(attn::optim::all_finite(attn::ones({2}, attn::kInt64)));
  EXPECT_THROW(attn::optim::clip_grad_norm({a}, 0.0), attn::Error);
}

// --- schedules --------------------------------------------------------------------

TEST(Schedule, RatesAtAFewSteps) {
  using namespace attn::optim;
  ConstantSchedule constant(0.5, 4);
  EXPECT_DOUBLE_EQ(constant.rate(1), 0.125);
  EXPECT_DOUBLE_EQ(constant.rate(4), 0.5);
  EXPECT_DOUBLE_EQ(constant.rate(1000), 0.5);

  StepHalvingSchedule halving(StepHalvingOptions(1.0).set_every(10).set_min_lr(0.1));
  EXPECT_DOUBLE_EQ(halving.rate(1), 1.0);
  EXPECT_DOUBLE_EQ(halving.rate(10), 1.0);
  EXPECT_DOUBLE_EQ(halving.rate(11), 0.5);
  EXPECT_DOUBLE_EQ(halving.rate(31), 0.125);
  EXPECT_DOUBLE_EQ(halving.rate(1000), 0.1);  // the floor
  halving.halve();
  EXPECT_EQ(halving.halvings(), 1);
  EXPECT_DOUBLE_EQ(halving.rate(1), 0.5);
  EXPECT_DOUBLE_EQ(halving.rate(11), 0.25);
  StepHalvingSchedule on_demand(StepHalvingOptions(0.8));
  on_demand.set_halvings(2);
  EXPECT_DOUBLE_EQ(on_demand.rate(123456), 0.2);

  InverseSqrtSchedule inv(InverseSqrtOptions(1e-3).set_warmup(100));
  EXPECT_DOUBLE_EQ(inv.rate(1), 1e-5);
  EXPECT_DOUBLE_EQ(inv.rate(50), 5e-4);
  EXPECT_DOUBLE_EQ(inv.rate(100), 1e-3);
  EXPECT_DOUBLE_EQ(inv.rate(400), 5e-4);
  // The Transformer paper: d_model 512, warmup 4000, peak 512^-0.5 * 4000^-0.5.
  InverseSqrtSchedule noam(InverseSqrtOptions(1.0).set_warmup(4000).set_d_model(512));
  EXPECT_NEAR(noam.rate(4000), 1.0 / std::sqrt(512.0 * 4000.0), 1e-15);
  EXPECT_NEAR(noam.rate(1), 1.0 / std::sqrt(512.0) * std::pow(4000.0, -1.5), 1e-18);
  EXPECT_NEAR(noam.rate(16000), 1.0 / std::sqrt(512.0 * 16000.0), 1e-15);
  EXPECT_NE(noam.describe().find("noam"), std::string::npos);

  EXPECT_THROW(inv.rate(0), attn::Error);
  EXPECT_THROW(InverseSqrtSchedule(InverseSqrtOptions(1e-3).set_warmup(0)), attn::Error);
}

// --- checkpoints ------------------------------------------------------------------

// A two-layer regressor with a nested module, so that names have dots.
class Head : public attn::nn::Module {
 public:
  explicit Head(attn::Generator& gen) {
    weight = register_parameter("weight", attn::randn({2, 3}, {}, &gen));
  }
  Tensor weight;
};

class Tiny : public attn::nn::Module {
 public:
  explicit Tiny(attn::Generator& gen) {
    weight = register_parameter("weight", attn::randn({3, 4}, {}, &gen));
    bias = register_parameter("bias", attn::zeros({3}));
    head = register_module("head", std::make_shared<Head>(gen));
  }
  Tensor forward(const Tensor& x) const {  // x: (B, 4) -> (B, 2)
    return attn::tanh(x.matmul(weight.t()) + bias).matmul(head->weight.t());
  }
  Tensor weight, bias;
  std::shared_ptr<Head> head;
};

// Updates from+1 .. to: fresh random data from `gen` at each one, an
// inverse-sqrt schedule, clipping, Adam.
void train(Tiny& model, attn::optim::Optimizer& optimizer, attn::Generator& gen, int64_t from,
           int64_t to) {
  attn::optim::InverseSqrtSchedule schedule(attn::optim::InverseSqrtOptions(0.05).set_warmup(3));
  for (int64_t step = from + 1; step <= to; ++step) {
    Tensor x = attn::randn({8, 4}, {}, &gen), y = attn::randn({8, 2}, {}, &gen);
    optimizer.set_lr(schedule.rate(step));
    optimizer.zero_grad();
    Tensor diff = model.forward(x) - y;
    (diff * diff).mean().backward();
    attn::optim::clip_grad_norm(model.parameters(), 0.5);
    optimizer.step();
  }
}

attn::train::TrainingState capture(const attn::optim::Optimizer& optimizer, const attn::Generator& gen) {
  attn::train::TrainingState state;
  state.update = optimizer.step_count();
  state.epoch = 2;
  state.batch_in_epoch = 17;
  state.rng_seed = gen.seed();
  state.rng_offset = gen.offset();
  state.optimizer = optimizer.state();
  state.counters = {{"lr_halvings", 1}, {"stalls", -3}};
  state.scores = {{"best_valid_loss", 0.1}, {"best_exact_match", -INFINITY}};
  return state;
}

TEST(Checkpoint, ResumeIsBitIdenticalToAnUninterruptedRun) {
  const std::string path = temp_dir() + "model.safetensors";
  for (int use_sgd = 0; use_sgd < 2; ++use_sgd) {
    auto make = [&](Tiny& m) -> std::unique_ptr<attn::optim::Optimizer> {
      if (use_sgd)
        return std::make_unique<attn::optim::SGD>(m.parameters(),
                                                  attn::optim::SGDOptions(0.1).set_momentum(0.9));
      return std::make_unique<attn::optim::Adam>(m.parameters(),
                                                 attn::optim::AdamOptions(0.05).set_weight_decay(0.01));
    };
    attn::Generator gen_a(7);
    Tiny straight(gen_a);
    auto opt_a = make(straight);
    train(straight, *opt_a, gen_a, 0, 10);

    attn::Generator gen_b(7);
    Tiny first_half(gen_b);
    auto opt_b = make(first_half);
    train(first_half, *opt_b, gen_b, 0, 5);
    attn::train::save_checkpoint(path, first_half, {{"config", "tiny"}}, capture(*opt_b, gen_b));

    attn::Generator gen_c(12345);  // different seed and weights: all must come from the files
    Tiny resumed(gen_c);
    auto opt_c = make(resumed);
    attn::train::Checkpoint ckpt = attn::train::load_checkpoint(path, resumed);
    opt_c->load_state(ckpt.state.optimizer);
    gen_c.set_state(ckpt.state.rng_seed, ckpt.state.rng_offset);
    EXPECT_EQ(ckpt.state.update, 5);
    train(resumed, *opt_c, gen_c, ckpt.state.update, 10);

    auto want = straight.named_parameters(), got = resumed.named_parameters();
    ASSERT_EQ(want.size(), 3u);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(same_bits(got[i].second, want[i].second))
          << (use_sgd ? "sgd " : "adam ") << want[i].first;
    }
    EXPECT_EQ(opt_c->step_count(), 10);
  }
}

TEST(Checkpoint, RoundTripsEveryFieldAndNamesItsFiles) {
  const std::string dir = temp_dir();
  const std::string path = dir + "m.safetensors";
  attn::Generator gen(3);
  Tiny model(gen);
  attn::optim::AdamW optimizer(model.parameters());
  attn::train::TrainingState state = capture(optimizer, gen);
  state.rng_seed = UINT64_MAX;
  state.rng_offset = 1ull << 63;
  std::map<std::string, std::string> metadata{{"config", "{\"dim\": 4}"},
                                              {"vocab", "a b \xc3\xa9"}};
  attn::train::save_checkpoint(path, model, metadata, state);
  EXPECT_EQ(attn::train::checkpoint_state_path(path), path + ".state.safetensors");
  EXPECT_TRUE(attn::train::checkpoint_exists(path));
  EXPECT_FALSE(exists(path + ".tmp") || exists(path + ".state.safetensors.new") ||
               exists(path + ".state.safetensors.tmp"));

  attn::train::Checkpoint c = attn::train::load_checkpoint(path);
  EXPECT_EQ(c.metadata, metadata);
  EXPECT_EQ(c.state.update, state.update);
  EXPECT_EQ(c.state.epoch, 2);
  EXPECT_EQ(c.state.batch_in_epoch, 17);
  EXPECT_EQ(c.state.rng_seed, UINT64_MAX);
  EXPECT_EQ(c.state.rng_offset, 1ull << 63);
  EXPECT_EQ(c.state.counters, state.counters);
  EXPECT_EQ(c.state.scores, state.scores);
  EXPECT_EQ(c.state.optimizer.size(), state.optimizer.size());
  for (const auto& [name, t] : model.named_parameters())
    EXPECT_TRUE(same_bits(c.weights.at(name), t)) << name;
  // The model file alone is enough to translate; it opens as plain safetensors too.
  std::remove((path + ".state.safetensors").c_str());
  EXPECT_EQ(attn::train::load_checkpoint_weights(path).metadata, metadata);
  expect_error([&] { attn::train::load_checkpoint(path); }, "m.safetensors.state.safetensors",
               "is missing");
  EXPECT_EQ(attn::load_safetensors(path).tensors.size(), 3u);
  // Reserved keys and a module of another shape are refused.
  EXPECT_THROW(attn::train::save_checkpoint(path, model, {{"attn.checksum", "x"}}, state), attn::Error);
  attn::train::save_checkpoint(path, model, metadata, state);
  Head other(gen);
  expect_error([&] { attn::train::load_checkpoint(path, other); }, path, "parameter 'weight' has shape");
  expect_error([&] { attn::train::load_checkpoint(dir + "none.safetensors"); }, "none.safetensors",
               "no such file");
}

TEST(Checkpoint, AlteredOrTruncatedFilesAreRefused) {
  const std::string dir = temp_dir();
  const std::string path = dir + "m.safetensors";
  const std::string state_path = path + ".state.safetensors";
  attn::Generator gen(5);
  Tiny model(gen);
  attn::optim::Adam optimizer(model.parameters());
  train(model, optimizer, gen, 0, 2);
  attn::train::save_checkpoint(path, model, {{"config", "tiny"}}, capture(optimizer, gen));
  const Bytes model_bytes = read_bytes(path), state_bytes = read_bytes(state_path);

  for (const auto& [file, good] :
       {std::make_pair(path, model_bytes), std::make_pair(state_path, state_bytes)}) {
    SCOPED_TRACE(file);
    Bytes flipped = good;
    flipped[flipped.size() - 3] ^= 0x10;  // one bit of the last tensor's data
    write_bytes(file, flipped);
    expect_error([&] { attn::train::load_checkpoint(path); }, file, "checksum mismatch");
    for (size_t cut : {size_t{3}, size_t{40}, good.size() / 2, good.size() - 1}) {
      write_bytes(file, good.substr(0, cut));
      expect_error([&] { attn::train::load_checkpoint(path); }, file, "");
    }
    write_bytes(file, good);
    EXPECT_NO_THROW(attn::train::load_checkpoint(path));
  }
  // An edited metadata value of the same length: the JSON is fine, the checksum is not.
  Bytes edited = model_bytes;
  edited.replace(edited.find("tiny"), 4, "huge");
  write_bytes(path, edited);
  expect_error([&] { attn::train::load_checkpoint_weights(path); }, path, "checksum mismatch");
}

TEST(Checkpoint, PairingSurvivesAnInterruptedSave) {
  const std::string dir = temp_dir();
  const std::string path = dir + "m.safetensors", other = dir + "other.safetensors";
  const std::string state_path = path + ".state.safetensors";
  attn::Generator gen(9);
  Tiny model(gen);
  attn::optim::SGD optimizer(model.parameters(), attn::optim::SGDOptions(0.1).set_momentum(0.5));
  train(model, optimizer, gen, 0, 3);
  attn::train::save_checkpoint(path, model, {}, capture(optimizer, gen));  // update 3
  const Bytes state3 = read_bytes(state_path);
  train(model, optimizer, gen, 3, 4);
  attn::train::save_checkpoint(other, model, {}, capture(optimizer, gen));  // update 4, elsewhere
  const Bytes model4 = read_bytes(other), state4 = read_bytes(other + ".state.safetensors");

  // Files from different saves are not a checkpoint.
  write_bytes(state_path, state4);
  expect_error([&] { attn::train::load_checkpoint(path); }, state_path, "belongs to another checkpoint");

  // Died after writing the pending state, before the model's rename: the old pair stands.
  write_bytes(state_path, state3);
  write_bytes(state_path + ".new", state4);
  EXPECT_EQ(attn::train::load_checkpoint(path).state.update, 3);

  // Died after the model's rename, before the state's: the pending state completes the pair.
  write_bytes(path, model4);
  EXPECT_EQ(attn::train::load_checkpoint(path).state.update, 4);

  // A new save cleans up: the pending file is gone and the pair is the new one.
  attn::train::save_checkpoint(path, model, {}, capture(optimizer, gen));
  EXPECT_FALSE(exists(state_path + ".new"));
  EXPECT_EQ(attn::train::load_checkpoint(path).state.update, 4);
}

}  // namespace
