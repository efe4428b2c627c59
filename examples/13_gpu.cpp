// Chapter 13, Attention on the GPU (docs/13-attention-on-the-gpu.md).
//
//   ./build/release/examples/example_13_gpu
//
// Runs everywhere; the GPU part runs where a GPU is usable. On the CPU: the
// online softmax worked by hand (a row of scores read block by block with a
// running max m and sum l, l rescaled by e^(m_old - m_new) when the max
// grows), checked against the three-pass version and attn::softmax, and two
// partial (m, l) pairs merged as a warp's lanes merge them; then the fused
// attn::flash_attention against the composed nn::scaled_dot_product_attention
// with padding (one sentence of length 0) and causal masks, forward and
// backward; then what the score matrix S would weigh at T = 1024. On a GPU:
// the same checks there, the GPU against the CPU, and the bytes the caching
// allocator holds for each attention's graph. Returns 1 if a check fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <attn/attn.h>

#include "kernels/cuda/runtime.h"
#include "nn/scaled_dot_product_attention.h"

namespace {

namespace nn = attn::nn;
namespace cuda = attn::kernels::cuda;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

double largest_difference(const Tensor& a, const Tensor& b) {
  return attn::max(attn::maximum(a - b, b - a)).item();
}

bool all_zero(const Tensor& t) {
  for (double value : t.to_vector<double>()) {
    if (value != 0.0) return false;
  }
  return true;
}

// The running pair of the online softmax over the scores seen so far.
struct MaxSum {
  double m = -INFINITY;  // the largest score
  double l = 0;          // sum of e^(x - m)
};

// Merges two pairs: each sum is re-expressed against the larger max.
MaxSum merge(MaxSum a, MaxSum b) {
  MaxSum out;
  out.m = std::max(a.m, b.m);
  out.l = a.l * std::exp(a.m - out.m) + b.l * std::exp(b.m - out.m);
  return out;
}

// One attention on `device`, from CPU tensors q, k, v (B, H, T, D): the fused
// op or the composed one, then backward of sum(out * w). Output and gradients
// come back to the CPU.
struct Result {
  Tensor out, dq, dk, dv;
};

Result attend(bool fused, attn::Device device, const Tensor& q, const Tensor& k, const Tensor& v,
              const Tensor& w, const Tensor& lengths, bool causal) {
  // clone(): fresh leaves, so that each run has gradients of its own.
  Tensor ql = q.clone().to(device).requires_grad_();
  Tensor kl = k.clone().to(device).requires_grad_();
  Tensor vl = v.clone().to(device).requires_grad_();
  Tensor out;
  if (fused) {
    out = attn::flash_attention(ql, kl, vl, lengths, causal);                   // (B, H, T, D)
  } else {
    Tensor mask = nn::padding_mask(lengths, k.size(2));                        // (B, 1, 1, T)
    if (causal) mask = nn::combine_masks(mask, nn::causal_mask(q.size(2)));    // (B, 1, T, T)
    out = nn::scaled_dot_product_attention(ql, kl, vl, mask.to(device)).output;  // (B, H, T, D)
  }
  (out * w.to(device)).sum().backward();
  return {out.detach().cpu(), ql.grad().cpu(), kl.grad().cpu(), vl.grad().cpu()};
}

double worst(const Result& a, const Result& b, bool gradients) {
  if (!gradients) return largest_difference(a.out, b.out);
  return std::max({largest_difference(a.dq, b.dq), largest_difference(a.dk, b.dk),
                   largest_difference(a.dv, b.dv)});
}

// B = 3 sentences, H = 2 heads, T = 6 positions, D = 8; key lengths 6, 3, 0.
const int64_t B = 3, H = 2, T = 6, D = 8;

// Fused against composed on one device, with and without the causal mask.
// Returns the four results (fused, composed; then the same with causal).
std::vector<Result> fused_against_composed(attn::Device device, const Tensor& q, const Tensor& k,
                                           const Tensor& v, const Tensor& w,
                                           const Tensor& lengths) {
  std::vector<Result> results;
  for (bool causal : {false, true}) {
    Result fused = attend(true, device, q, k, v, w, lengths, causal);
    Result composed = attend(false, device, q, k, v, w, lengths, causal);
    const std::string masks = causal ? "padding + causal" : "padding";
    std::printf("  %s, %s: largest difference out %.2e, dq dk dv %.2e\n",
                attn::device_name(device), masks.c_str(), worst(fused, composed, false),
                worst(fused, composed, true));
    check(worst(fused, composed, false) < 1e-5,
          "flash_attention = scaled_dot_product_attention (" + masks + ")");
    check(worst(fused, composed, true) < 1e-4, "and so are dq, dk, dv (" + masks + ")");
    results.push_back(fused);
    results.push_back(composed);
  }
  // Sentence 2 has no key at all: every one of its query rows is fully masked.
  check(all_zero(results[0].out.select(0, 2)) && all_zero(results[1].out.select(0, 2)),
        "the fully masked rows (length 0) are zeros in both");
  return results;
}

}  // namespace

int main() {
  section("1. The online softmax, by hand");
  // Ten scores, read in blocks of 4; the max grows in every block.
  const std::vector<float> row = {1.0f, -2.0f, 0.5f, 3.0f, 2.0f, 7.5f, -1.0f, 0.0f, 11.0f, 4.0f};
  const size_t n = row.size(), block = 4;
  MaxSum run;
  for (size_t j0 = 0; j0 < n; j0 += block) {
    const size_t end = std::min(n, j0 + block);
    const double m_new = std::max(run.m, static_cast<double>(*std::max_element(
                                             row.begin() + j0, row.begin() + end)));
    const double rescale = std::exp(run.m - m_new);  // e^-inf = 0 on the first block
    run.l *= rescale;
    for (size_t j = j0; j < end; ++j) run.l += std::exp(row[j] - m_new);
    run.m = m_new;
    std::printf("  block %zu..%zu: m = %5.2f, l rescaled by %.3e, l = %.6f\n", j0, end - 1, run.m,
                rescale, run.l);
  }
  // The three-pass version: max, then sum, then normalise.
  const double m3 = *std::max_element(row.begin(), row.end());
  double l3 = 0;
  for (float x : row) l3 += std::exp(x - m3);
  std::vector<double> online(n), three_pass(n);
  for (size_t j = 0; j < n; ++j) {
    online[j] = std::exp(row[j] - run.m) / run.l;
    three_pass[j] = std::exp(row[j] - m3) / l3;
  }
  Tensor x = attn::from_vector(row, {static_cast<int64_t>(n)});
  Tensor by_attn = attn::softmax(x, -1);  // (n)
  Tensor online_t = attn::from_vector(online, {static_cast<int64_t>(n)}).to(attn::kFloat32);
  Tensor three_t = attn::from_vector(three_pass, {static_cast<int64_t>(n)}).to(attn::kFloat32);
  std::printf("  online: m = %.2f, l = %.6f; three passes: m = %.2f, l = %.6f\n", run.m, run.l, m3,
              l3);
  check(run.m == m3 && std::abs(run.l - l3) < 1e-12 * l3,
        "one read of the row gives the three-pass max and sum");
  check(largest_difference(online_t, by_attn) < 1e-6 && largest_difference(three_t, by_attn) < 1e-6,
        "both equal attn::softmax to float precision");
  // Two lanes take a half each; their pairs merge as __shfl_xor_sync merges them.
  MaxSum left, right;
  for (size_t j = 0; j < n; ++j) {
    const MaxSum one{static_cast<double>(row[j]), 1.0};  // one score: m = x, l = e^0
    if (j < n / 2) left = merge(left, one); else right = merge(right, one);
  }
  MaxSum merged = merge(left, right);
  std::printf("  halves: (m, l) = (%.2f, %.6f) and (%.2f, %.6f); merged (%.2f, %.6f)\n", left.m,
              left.l, right.m, right.l, merged.m, merged.l);
  check(merged.m == run.m && std::abs(merged.l - run.l) < 1e-12 * run.l,
        "merged halves = the sequential pass: the order of reading does not matter");

  section("2. flash_attention = the composed attention, on the CPU");
  attn::Generator g(13);
  Tensor q = attn::randn({B, H, T, D}, attn::kFloat32, &g);
  Tensor k = attn::randn({B, H, T, D}, attn::kFloat32, &g);
  Tensor v = attn::randn({B, H, T, D}, attn::kFloat32, &g);
  Tensor w = attn::randn({B, H, T, D}, attn::kFloat32, &g);  // dL/dout
  Tensor lengths = attn::from_vector(std::vector<int64_t>{6, 3, 0}, {B});
  std::vector<Result> on_cpu = fused_against_composed(attn::kCPU, q, k, v, w, lengths);

  section("3. What S would weigh at T = 1024");
  const double Bb = 8, Hb = 8, Tb = 1024, Db = 64, MiB = 1024.0 * 1024.0;
  std::printf("  B=8 H=8 T=1024 D=64, float: q, k, v, out %.0f MiB each\n", Bb * Hb * Tb * Db * 4 / MiB);
  std::printf("  composed: S = q k^T and P = softmax(S) (B, H, T, T): %.0f MiB each\n",
              Bb * Hb * Tb * Tb * 4 / MiB);
  std::printf("  flash_attention keeps out and lse (B, H, T): lse is %.0f KiB\n",
              Bb * Hb * Tb * 4 / 1024.0);
  std::printf("  (the backward recomputes P from q, k and lse instead of keeping it)\n");

  section("4. The same on the GPU");
  if (!cuda::is_available()) {
    std::printf("  skipped: no usable GPU (%s)\n", cuda::why_unavailable().c_str());
  } else {
    std::printf("  GPU: %s\n", cuda::device_name().c_str());
    Tensor on_gpu_softmax = attn::softmax(x.to(attn::kCUDA), -1).cpu();
    check(largest_difference(on_gpu_softmax, three_t) < 1e-5,
          "softmax on the GPU (one read for m and l) = the hand computation");
    std::vector<Result> on_gpu = fused_against_composed(attn::kCUDA, q, k, v, w, lengths);
    double forward = 0, backward = 0;
    for (size_t i = 0; i < on_gpu.size(); ++i) {
      forward = std::max(forward, worst(on_gpu[i], on_cpu[i], false));
      backward = std::max(backward, worst(on_gpu[i], on_cpu[i], true));
    }
    std::printf("  GPU against CPU, all four runs: out %.2e, dq dk dv %.2e\n", forward, backward);
    // The tests' bound for ops with reductions (tests/kernels/test_cuda_ops.cpp).
    check(forward < 1e-4 && backward < 1e-4, "the GPU gives the CPU's numbers");

    // What each graph holds on the GPU at T = 1024 (B = 2, H = 4, D = 64).
    attn::Generator big(14);
    auto leaf = [&]() {
      return attn::randn({2, 4, 1024, 64}, attn::kFloat32, &big).to(attn::kCUDA).requires_grad_();
    };
    Tensor qb = leaf(), kb = leaf(), vb = leaf();
    auto held = [&](bool fused) {
      const size_t before = cuda::allocated_bytes();
      Tensor out = fused ? attn::flash_attention(qb, kb, vb)
                         : nn::scaled_dot_product_attention(qb, kb, vb).output;
      return static_cast<double>(cuda::allocated_bytes() - before);
    };
    const double fused_bytes = held(true), composed_bytes = held(false);
    const double s_bytes = 2.0 * 4 * 1024 * 1024 * 4;
    std::printf("  held by the graph after the forward: flash %.1f MiB, composed %.1f MiB "
                "(one S: %.0f MiB)\n", fused_bytes / MiB, composed_bytes / MiB, s_bytes / MiB);
    check(composed_bytes >= s_bytes && fused_bytes < s_bytes / 4,
          "the composed graph keeps a (T, T) matrix per head; flash_attention none");
  }

  std::printf("\n%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
