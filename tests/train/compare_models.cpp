// compare_models A.safetensors B.safetensors TOLERANCE: whether two trained
// models hold the same parameters, to within TOLERANCE (largest absolute
// difference of any element), for the data-parallel tests
// (tests/train/mpi_equal_test.sh). Prints how far apart they are and how many
// tensors are bit-identical; exits 0 when within the tolerance, 1 when not,
// 2 on a usage or file error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/error.h"
#include "tensor/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: compare_models A.safetensors B.safetensors TOLERANCE\n";
    return 2;
  }
  try {
    const double tolerance = std::stod(argv[3]);
    const attn::SafetensorsFile a = attn::load_safetensors(argv[1]);
    const attn::SafetensorsFile b = attn::load_safetensors(argv[2]);
    ATTN_CHECK(a.tensors.size() == b.tensors.size(), argv[1], " holds ", a.tensors.size(),
               " tensors, ", argv[2], " ", b.tensors.size());
    double worst = 0.0, worst_relative = 0.0;
    std::string worst_name;
    std::vector<std::pair<double, std::string>> per_tensor;  // largest difference, name
    int64_t identical = 0, elements = 0;
    for (const auto& [name, x] : a.tensors) {
      auto found = b.tensors.find(name);
      ATTN_CHECK(found != b.tensors.end(), argv[2], " has no tensor '", name, "'");
      const attn::Tensor& y = found->second;
      ATTN_CHECK(
          x.shape() == y.shape() && x.dtype() == attn::kFloat32 && y.dtype() == attn::kFloat32, "'",
          name, "': shapes or dtypes differ (float32 expected)");
      const float* p = x.data_ptr<float>();
      const float* q = y.data_ptr<float>();
      bool same = true;
      double largest = 0.0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double difference = std::fabs(static_cast<double>(p[i]) - q[i]);
        same = same && p[i] == q[i];
        largest = std::max(largest, difference);
        if (!(difference <= worst)) {  // also catches a NaN
          worst = difference;
          worst_relative = difference / std::max(1e-30, std::fabs(static_cast<double>(p[i])));
          worst_name = name;
        }
      }
      identical += same ? 1 : 0;
      per_tensor.push_back({largest, name});
      elements += x.numel();
    }
    std::printf(
        "%zu tensors, %lld elements: %lld tensors bit-identical; largest difference %.3g "
        "(relative %.3g, in %s); tolerance %.3g\n",
        a.tensors.size(), static_cast<long long>(elements), static_cast<long long>(identical),
        worst, worst_relative, worst_name.empty() ? "none" : worst_name.c_str(), tolerance);
    std::sort(per_tensor.rbegin(), per_tensor.rend());
    std::printf("  furthest apart:");
    for (size_t i = 0; i < per_tensor.size() && i < 4; ++i) {
      std::printf(" %s %.2g%s", per_tensor[i].second.c_str(), per_tensor[i].first,
                  i + 1 < per_tensor.size() && i < 3 ? "," : "\n");
    }
    return worst <= tolerance ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "compare_models: " << error.what() << "\n";
    return 2;
  }
}
