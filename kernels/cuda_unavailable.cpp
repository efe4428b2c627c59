// kernels/cuda.h for a build without CUDA: every entry point says so.
//
// Compiled instead of kernels/cuda/*.cu when the toolkit is missing or
// -DATTN_CUDA=OFF, so that the rest of attn links and asks is_available()
// instead of sprinkling #ifdefs. The list is kernels/cuda.h's, one line each.
#include <string>

#include "kernels/cuda.h"
#include "kernels/error.h"

namespace attn::kernels::cuda {
namespace {

[[noreturn]] void unavailable(const char* what) {
  throw Error(std::string(what) +
              ": attn was built without CUDA (reconfigure with the CUDA toolkit installed and "
              "-DATTN_CUDA=ON)");
}

}  // namespace

bool built_with_cuda() { return false; }
bool is_available() { return false; }
std::string why_unavailable() { return "attn was built without CUDA"; }
std::string device_name() { return ""; }

void* device_malloc(size_t) { unavailable("device_malloc"); }
void device_free(void*) {}
size_t allocated_bytes() { return 0; }
size_t cached_bytes() { return 0; }
void empty_cache() {}
void copy_host_to_device(void*, const void*, size_t) { unavailable("copy_host_to_device"); }
void copy_device_to_host(void*, const void*, size_t) { unavailable("copy_device_to_host"); }
void copy_device_to_device(void*, const void*, size_t) { unavailable("copy_device_to_device"); }
void synchronize() {}
void check_ids_later(const int64_t*, int64_t, int64_t, int64_t, const std::string&) {
  unavailable("check_ids_later");
}
void unary(UnaryOp, int64_t, const float*, float*) { unavailable("unary"); }
void unary(UnaryOp, int64_t, const double*, double*) { unavailable("unary"); }
void binary(BinaryOp, int, const int64_t*, const float*, const int64_t*, const float*,
            const int64_t*, float*) {
  unavailable("binary");
}
void binary(BinaryOp, int, const int64_t*, const double*, const int64_t*, const double*,
            const int64_t*, double*) {
  unavailable("binary");
}
void binary_scalar(BinaryOp, int64_t, const float*, float, float*) { unavailable("binary_scalar"); }
void binary_scalar(BinaryOp, int64_t, const double*, double, double*) {
  unavailable("binary_scalar");
}
void compare_scalar(CompareOp, int64_t, const float*, float, float*) {
  unavailable("compare_scalar");
}
void compare_scalar(CompareOp, int64_t, const double*, double, double*) {
  unavailable("compare_scalar");
}
void compare_scalar(CompareOp, int64_t, const int64_t*, int64_t, int64_t*) {
  unavailable("compare_scalar");
}
void where(int, const int64_t*, const int64_t*, const int64_t*, const float*, const int64_t*,
           const float*, const int64_t*, float*) {
  unavailable("where");
}
void where(int, const int64_t*, const int64_t*, const int64_t*, const double*, const int64_t*,
           const double*, const int64_t*, double*) {
  unavailable("where");
}
void copy_strided(int, const int64_t*, const float*, const int64_t*, float*) {
  unavailable("copy_strided");
}
void copy_strided(int, const int64_t*, const double*, const int64_t*, double*) {
  unavailable("copy_strided");
}
void copy_strided(int, const int64_t*, const int64_t*, const int64_t*, int64_t*) {
  unavailable("copy_strided");
}
void copy_into_strided(int, const int64_t*, const float*, float*, const int64_t*, bool) {
  unavailable("copy_into_strided");
}
void copy_into_strided(int, const int64_t*, const double*, double*, const int64_t*, bool) {
  unavailable("copy_into_strided");
}
void copy_into_strided(int, const int64_t*, const int64_t*, int64_t*, const int64_t*, bool) {
  unavailable("copy_into_strided");
}
void fill(int64_t, float, float*) { unavailable("fill"); }
void fill(int64_t, double, double*) { unavailable("fill"); }
void fill(int64_t, int64_t, int64_t*) { unavailable("fill"); }
void convert(int64_t, const float*, double*) { unavailable("convert"); }
void convert(int64_t, const double*, float*) { unavailable("convert"); }
void convert(int64_t, const int64_t*, float*) { unavailable("convert"); }
void convert(int64_t, const int64_t*, double*) { unavailable("convert"); }
void convert(int64_t, const float*, int64_t*) { unavailable("convert"); }
void convert(int64_t, const double*, int64_t*) { unavailable("convert"); }
void sum_reduce(const float*, int64_t, int64_t, int64_t, float*) { unavailable("sum_reduce"); }
void sum_reduce(const double*, int64_t, int64_t, int64_t, double*) { unavailable("sum_reduce"); }
void max_reduce(const float*, int64_t, int64_t, int64_t, float*, int64_t*) {
  unavailable("max_reduce");
}
void max_reduce(const double*, int64_t, int64_t, int64_t, double*, int64_t*) {
  unavailable("max_reduce");
}
void gemm(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
          const float*, int64_t, int64_t, float, float*, int64_t, int64_t) {
  unavailable("gemm");
}
void gemm(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
          const double*, int64_t, int64_t, double, double*, int64_t, int64_t) {
  unavailable("gemm");
}
void softmax_forward(const float*, int64_t, int64_t, int64_t, bool, float*) {
  unavailable("softmax_forward");
}
void softmax_forward(const double*, int64_t, int64_t, int64_t, bool, double*) {
  unavailable("softmax_forward");
}
void softmax_backward(const float*, const float*, int64_t, int64_t, int64_t, bool, float*) {
  unavailable("softmax_backward");
}
void softmax_backward(const double*, const double*, int64_t, int64_t, int64_t, bool, double*) {
  unavailable("softmax_backward");
}
void layer_norm_forward(const float*, const float*, const float*, int64_t, int64_t, float, float*,
                        float*, float*) {
  unavailable("layer_norm_forward");
}
void layer_norm_forward(const double*, const double*, const double*, int64_t, int64_t, double,
                        double*, double*, double*) {
  unavailable("layer_norm_forward");
}
void layer_norm_backward(const float*, const float*, const float*, const float*, const float*,
                         int64_t, int64_t, float*, float*, float*) {
  unavailable("layer_norm_backward");
}
void layer_norm_backward(const double*, const double*, const double*, const double*, const double*,
                         int64_t, int64_t, double*, double*, double*) {
  unavailable("layer_norm_backward");
}
void cross_entropy_forward(const float*, const int64_t*, int64_t, int64_t, int64_t, float,
                              float*, float*) {
  unavailable("cross_entropy_forward");
}
void cross_entropy_forward(const double*, const int64_t*, int64_t, int64_t, int64_t, double,
                              double*, double*) {
  unavailable("cross_entropy_forward");
}
void cross_entropy_backward(const float*, const int64_t*, const float*, const float*, int64_t,
                            int64_t, int64_t, float, float*) {
  unavailable("cross_entropy_backward");
}
void cross_entropy_backward(const double*, const int64_t*, const double*, const double*, int64_t,
                            int64_t, int64_t, double, double*) {
  unavailable("cross_entropy_backward");
}
void index_select(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, float*) {
  unavailable("index_select");
}
void index_select(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, double*) {
  unavailable("index_select");
}
void index_select(const int64_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t*) {
  unavailable("index_select");
}
void index_add(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t, float*) {
  unavailable("index_add");
}
void index_add(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t,
               double*) {
  unavailable("index_add");
}
void gru_cell_forward(int64_t, int64_t, const float*, int64_t, const float*, int64_t, const float*,
                      int64_t, float*, float*) {
  unavailable("gru_cell_forward");
}
void gru_cell_forward(int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                      const double*, int64_t, double*, double*) {
  unavailable("gru_cell_forward");
}
void gru_cell_backward(int64_t, int64_t, const float*, const float*, int64_t, const float*, float*,
                       float*, float*) {
  unavailable("gru_cell_backward");
}
void gru_cell_backward(int64_t, int64_t, const double*, const double*, int64_t, const double*,
                       double*, double*, double*) {
  unavailable("gru_cell_backward");
}
void lstm_cell_forward(int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                       float*, int64_t, float*) {
  unavailable("lstm_cell_forward");
}
void lstm_cell_forward(int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*,
                       double*, int64_t, double*) {
  unavailable("lstm_cell_forward");
}
void lstm_cell_backward(int64_t, int64_t, const float*, const float*, int64_t, const float*,
                        int64_t, const float*, float*, float*) {
  unavailable("lstm_cell_backward");
}
void lstm_cell_backward(int64_t, int64_t, const double*, const double*, int64_t, const double*,
                        int64_t, const double*, double*, double*) {
  unavailable("lstm_cell_backward");
}
void additive_scores_forward(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                             float*, float*) {
  unavailable("additive_scores_forward");
}
void additive_scores_forward(const double*, const double*, const double*, int64_t, int64_t, int64_t,
                             double*, double*) {
  unavailable("additive_scores_forward");
}
void additive_scores_backward(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                              float*, float*, float*) {
  unavailable("additive_scores_backward");
}
void additive_scores_backward(const double*, const double*, const double*, int64_t, int64_t,
                              int64_t, double*, double*, double*) {
  unavailable("additive_scores_backward");
}
void max_reduce_backward(const float*, const int64_t*, int64_t, int64_t, int64_t, float*) {
  unavailable("max_reduce_backward");
}
void max_reduce_backward(const double*, const int64_t*, int64_t, int64_t, int64_t, double*) {
  unavailable("max_reduce_backward");
}
void sum_of_squares(int64_t, const float*, double*) { unavailable("sum_of_squares"); }
void sum_of_squares(int64_t, const double*, double*) { unavailable("sum_of_squares"); }
void uniform(uint64_t, uint64_t, int64_t, float*) { unavailable("uniform"); }
void uniform(uint64_t, uint64_t, int64_t, double*) { unavailable("uniform"); }
void adam_step(int64_t, float*, const float*, float*, float*, const AdamStep&) {
  unavailable("adam_step");
}
void adam_step(int64_t, double*, const double*, double*, double*, const AdamStep&) {
  unavailable("adam_step");
}
void sgd_step(int64_t, float*, const float*, float*, const SgdStep&) { unavailable("sgd_step"); }
void sgd_step(int64_t, double*, const double*, double*, const SgdStep&) { unavailable("sgd_step"); }
void flash_attention_forward(int64_t, int64_t, int64_t, int64_t, int64_t, const float*,
                             const float*, const float*, const int64_t*, bool, float, float*,
                             float*) {
  unavailable("flash_attention_forward");
}
void flash_attention_forward(int64_t, int64_t, int64_t, int64_t, int64_t, const double*,
                             const double*, const double*, const int64_t*, bool, double, double*,
                             double*) {
  unavailable("flash_attention_forward");
}
void flash_attention_backward(int64_t, int64_t, int64_t, int64_t, int64_t, const float*,
                              const float*, const float*, const float*, const float*, const float*,
                              const int64_t*, bool, float, float*, float*, float*) {
  unavailable("flash_attention_backward");
}
void flash_attention_backward(int64_t, int64_t, int64_t, int64_t, int64_t, const double*,
                              const double*, const double*, const double*, const double*,
                              const double*, const int64_t*, bool, double, double*, double*,
                              double*) {
  unavailable("flash_attention_backward");
}
void gemm_naive(int64_t, int64_t, int64_t, const float*, const float*, float*) {
  unavailable("gemm_naive");
}
void gemm_tiled(int64_t, int64_t, int64_t, const float*, const float*, float*) {
  unavailable("gemm_tiled");
}
void gemm_register_tiled(int64_t, int64_t, int64_t, const float*, const float*, float*) {
  unavailable("gemm_register_tiled");
}

}  // namespace attn::kernels::cuda
