// The thread pool behind parallel_for.
//
// N - 1 worker threads wait on a condition variable. run_on_pool publishes a
// task and a new "generation" number, wakes the workers, runs task 0 itself,
// then waits until every worker has reported back. Workers never spin, so an
// idle pool costs no CPU, which matters on the 2-core machines attn targets.
#include "kernels/cpu/parallel.h"

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace attn::kernels::cpu {
namespace {

thread_local bool inside_task = false;

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop_workers();
    stopping_ = false;
    // A new worker starts at the current generation: the tasks published
    // before it existed are not its to run.
    for (int t = 1; t < threads; ++t) {
      workers_.emplace_back([this, t, start = generation_] { work(t, start); });
    }
  }

  void run(int tasks, const std::function<void(int)>& task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      tasks_ = tasks;
      pending_ = tasks - 1;
      ++generation_;
    }
    wake_.notify_all();
    inside_task = true;
    task(0);
    inside_task = false;
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
  void work(int id, uint64_t seen) {
    for (;;) {
      const std::function<void(int)>* task;
      int tasks;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        task = task_;
        tasks = tasks_;
      }
      if (id < tasks) {
        inside_task = true;
        (*task)(id);
        inside_task = false;
        std::lock_guard<std::mutex> lock(mutex_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int tasks_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("ATTN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

Pool& pool() {
  static Pool instance(default_threads());
  return instance;
}

// run_on_pool is not reentrant across threads: one caller at a time.
std::mutex& caller_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int threads) {
  std::lock_guard<std::mutex> lock(caller_mutex());
  pool().resize(threads < 1 ? 1 : threads);
}

bool in_parallel_region() { return inside_task; }

void run_on_pool(int tasks, const std::function<void(int)>& task) {
  std::lock_guard<std::mutex> lock(caller_mutex());
  pool().run(tasks, task);
}

}  // namespace attn::kernels::cpu
