#include "kernels/cpu/gemm_recorder.h"

#include <atomic>
#include <mutex>

namespace attn::kernels::cpu {
namespace {

std::atomic<bool> recording{false};
std::mutex calls_mutex;
std::vector<GemmCall> calls;

}  // namespace

void start_recording_gemms() {
  std::lock_guard<std::mutex> lock(calls_mutex);
  calls.clear();
  recording.store(true, std::memory_order_relaxed);
}

std::vector<GemmCall> stop_recording_gemms() {
  recording.store(false, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(calls_mutex);
  std::vector<GemmCall> out;
  out.swap(calls);
  return out;
}

void record_gemm(const GemmCall& call) {
  if (!recording.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(calls_mutex);
  calls.push_back(call);
}

}  // namespace attn::kernels::cpu
