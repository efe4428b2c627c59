// Tensor::debug_string() and dump_graph() (autograd/graph_dump.h): what a
// learner sees of a tensor and of a graph must be exactly what is there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <attn/attn.h>

namespace {

using attn::Tensor;

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(DebugString, ViewShowsLayoutAndLogicalValues) {
  Tensor x = attn::arange(6, attn::kFloat32).reshape({2, 3});
  Tensor xt = x.transpose(0, 1);  // (3, 2), strides [1, 3]: values read through them
  EXPECT_EQ(xt.debug_string(),
            "Tensor shape=[3, 2] strides=[1, 3] offset=0 dtype=float32 device=cpu "
            "requires_grad=false grad=none grad_fn=none values=[0, 3, 1, 4, 2, 5]");
  Tensor row = x.select(0, 1);  // offset 3
  EXPECT_NE(row.debug_string().find("offset=3"), std::string::npos) << row.debug_string();
  EXPECT_NE(row.debug_string().find("values=[3, 4, 5]"), std::string::npos);
}

TEST(DebugString, AutogradStateAndTruncation) {
  Tensor w = attn::ones({10}, attn::kFloat64).requires_grad_();
  Tensor y = w * 2.0;
  std::string text = y.debug_string(4);
  EXPECT_NE(text.find("requires_grad=true"), std::string::npos) << text;
  EXPECT_NE(text.find("grad_fn=MulScalarBackward"), std::string::npos) << text;
  EXPECT_NE(text.find("values=[2, 2, 2, 2, ...]"), std::string::npos) << text;
  y.sum().backward();
  EXPECT_NE(w.debug_string().find("grad=[10] grad_fn=none"), std::string::npos) << w.debug_string();
  EXPECT_EQ(Tensor().debug_string(), "Tensor(undefined)");
  Tensor ids = attn::from_vector(std::vector<int64_t>{7, -1}, {2});
  EXPECT_NE(ids.debug_string().find("dtype=int64"), std::string::npos);
  EXPECT_NE(ids.debug_string().find("values=[7, -1]"), std::string::npos) << ids.debug_string();
}

// L = sum(y * y) with y = x @ W: dL/dy = 2y, so the node that made y
// (MatmulBackward) received a gradient of norm 2 * ||y||.
TEST(DumpGraph, OpsLeavesShapesAndGradientNorms) {
  Tensor x = attn::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = attn::from_vector(std::vector<double>{1, 0, -1, 2, 0.5, 1}, {3, 2}).requires_grad_();
  Tensor y = attn::matmul(x, w);
  Tensor loss = (y * y).sum();
  {
    attn::autograd::RecordGradNormsGuard record;
    loss.backward();
  }
  EXPECT_FALSE(attn::autograd::grad_norms_recorded());  // the guard restored it
  std::string dot = attn::graph_to_dot(loss, {{{"proj.weight", w}}});
  EXPECT_EQ(dot.rfind("digraph autograd {", 0), 0u);
  EXPECT_EQ(count(dot, "SumBackward"), 1) << dot;
  EXPECT_EQ(count(dot, "MulBackward"), 1) << dot;
  EXPECT_EQ(count(dot, "MatmulBackward"), 1) << dot;
  EXPECT_EQ(count(dot, "proj.weight\\n[3, 2] float64"), 1) << dot;
  EXPECT_EQ(count(dot, " -> "), 4) << dot;  // W->Matmul, Matmul->Mul twice, Mul->Sum

  double y_norm = std::sqrt((y.detach() * y.detach()).sum().item<double>());
  char expected[64];
  std::snprintf(expected, sizeof expected, "MatmulBackward\\n[2, 2] float64\\n|grad| %.4g",
                2 * y_norm);
  EXPECT_NE(dot.find(expected), std::string::npos) << expected << "\n" << dot;
  // The leaf's norm comes from its .grad.
  double g_norm = std::sqrt((w.grad() * w.grad()).sum().item<double>());
  std::snprintf(expected, sizeof expected, "proj.weight\\n[3, 2] float64\\n|grad| %.4g", g_norm);
  EXPECT_NE(dot.find(expected), std::string::npos) << expected << "\n" << dot;
}

TEST(DumpGraph, WithoutTheGuardOnlyLeavesHaveNorms) {
  Tensor w = attn::ones({2, 2}).requires_grad_();
  Tensor loss = (w * 3.0).sum();
  loss.backward();
  std::string dot = attn::graph_to_dot(loss);
  EXPECT_EQ(count(dot, "|grad|"), 1) << dot;
  EXPECT_EQ(count(dot, "leaf\\n[2, 2] float32"), 1) << dot;
}

TEST(DumpGraph, WritesTheFileAndNamesBadInput) {
  Tensor w = attn::ones({3}).requires_grad_();
  Tensor loss = w.exp().sum();
  std::string path = ::testing::TempDir() + "attn_graph_dump_test.dot";
  attn::dump_graph(loss, path);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), attn::graph_to_dot(loss));
  std::remove(path.c_str());

  try {
    attn::dump_graph(loss, "/nonexistent-dir/graph.dot");
    FAIL() << "no error for an unwritable path";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/graph.dot"), std::string::npos) << e.what();
  }
  try {
    attn::graph_to_dot(w);
    FAIL() << "no error for a leaf";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no graph"), std::string::npos) << e.what();
  }
  Tensor deep = w;
  for (int i = 0; i < 50; ++i) deep = deep * 1.5;
  attn::GraphDumpOptions small;
  small.max_nodes = 10;
  try {
    attn::graph_to_dot(deep.sum(), small);
    FAIL() << "no error for a graph over max_nodes";
  } catch (const attn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 10 nodes"), std::string::npos) << e.what();
  }
}

}  // namespace
