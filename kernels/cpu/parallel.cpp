// The thread pool behind parallel_for.
//
// N - 1 worker threads wait for work. run_on_pool publishes a task and a new
// "generation" number, runs task 0 itself, then waits until every worker has
// reported back.
//
// Waiting can be done in two stages. With ATTN_POOL_SPIN_US=N (or
// set_pool_spin_us(N)), a worker that has just finished a task first spins
// for up to N microseconds watching the generation counter, and only then
// goes to sleep on a condition variable; the caller waits for the workers in
// the same two stages. A training step calls parallel_for hundreds of times
// with a few microseconds of serial work in between, and waking a sleeping
// thread through the kernel (futex wake, schedule, switch in) costs tens of
// microseconds each time; a spinning worker sees the next task within a
// fraction of a microsecond.
//
// Why 200 us by default. First measured at 20 us, on a quiet 2-core EPYC
// with AVX-512 (2026-12-07, nothing else running), at 2 threads, without
// spinning and with 20 us:
//   bench_train_step tiny, ms per step: Transformer 80.7 -> 73.9, RNNsearch
//   142.3 -> 119.8, Luong 92.0 -> 72.3; bench_decode --cached-only tiny,
//   26,659 -> 31,197 tok/s.
// On the AVX2 EPYC of 2026-12-08 (quiet, 2 threads) 20 us was still too
// short: between two kernels of a decoding step the caller does more than
// 20 us of bookkeeping often enough that the workers had gone to sleep, and
// waking them (futex, schedule, switch) was 10% of the profile. bench_decode
// --cached-only tiny, tok/s: 22,803 and 19,893 at 20 us, 28,293 and 28,193 at
// 100 us, 28,105 and 33,640 at 500 us, with less CPU time per run as the spin
// grew (1,240-1,373 ms at 20 us, 937-1,104 ms at 500 us: a futex round trip
// costs more than the spin it replaces). bench_train_step tiny, target tok/s:
// Transformer 11,422 / 12,660 / 13,254 at 20 / 100 / 300 us, Luong 10,530 /
// 14,219 / 11,143. 200 us sits in the middle of what helped; OpenMP's own
// default (GOMP_SPINCOUNT, which PyTorch's threads use) spins for longer.
// On a busy machine it is the other way round: with the VM at load average 5
// to 7 from other jobs, the tiny Transformer took 277/151/401 ms per step
// without spinning, 299/166/421 at 10 us and 501/470/480 at 50 us, because
// the spinning thread burns the CPU share the working thread needs (OpenMP's
// long active wait made a step 3 to 5 times slower for the same reason,
// bench/README.md, "Threads"). So the spin is always bounded, an idle pool
// is back to costing nothing within 200 us, it is switched off when the pool
// has more threads than the machine has cores, and ATTN_POOL_SPIN_US=0
// turns it off on a machine shared with other work.
//
// Spinning changes only *when* a worker notices its task, never which items
// it computes: the chunks are fixed by parallel_for before the task is
// published, so the bits of every result are the same with spinning on or off.
#include "kernels/cpu/parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace attn::kernels::cpu {
namespace {

thread_local bool inside_task = false;

// Tells the core that this is a spin-wait loop: on x86 `pause` lets the other
// hyper-thread run and avoids a pipeline flush when the awaited value
// changes. Elsewhere, give the time slice back to the OS instead.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until done() is true or `budget_us` microseconds have passed; returns
// done(). The clock is read once every 64 pauses (a pause is tens of cycles,
// a clock read about 20 ns): cheap enough to keep the bound honest.
template <typename Done>
bool spin_until(int budget_us, const Done& done) {
  if (budget_us <= 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(budget_us);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

constexpr int kDefaultSpinUs = 200;

int default_spin_us() {
  if (const char* env = std::getenv("ATTN_POOL_SPIN_US")) {
    int us = std::atoi(env);
    return us >= 0 ? us : 0;
  }
  return kDefaultSpinUs;  // see the measurements at the top of this file
}

class Pool {
 public:
  explicit Pool(int threads) : spin_us_(default_spin_us()) { resize(threads); }
  ~Pool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  int spin_us() const { return spin_us_.load(std::memory_order_relaxed); }
  void set_spin_us(int us) { spin_us_.store(us < 0 ? 0 : us, std::memory_order_relaxed); }

  void resize(int threads) {
    stop_workers();
    stopping_ = false;
    // More threads than cores: a spinning thread would hold the core another
    // thread of the pool needs, so everyone waits by sleeping.
    unsigned cores = std::thread::hardware_concurrency();
    oversubscribed_ = cores > 0 && static_cast<unsigned>(threads) > cores;
    // A new worker starts at the current generation: the tasks published
    // before it existed are not its to run.
    for (int t = 1; t < threads; ++t) {
      workers_.emplace_back([this, t, start = generation_.load()] { work(t, start); });
    }
  }

  void run(int tasks, const std::function<void(int)>& task) {
    {
      // Publishing under the mutex is what makes sleeping safe: a worker
      // checks the generation and goes to sleep under the same mutex, so it
      // either sees the new generation or is asleep before we notify.
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      tasks_ = tasks;
      pending_.store(tasks - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_relaxed) > 0) wake_.notify_all();
    inside_task = true;
    task(0);
    inside_task = false;
    auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(budget_us(), all_done)) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, all_done);
    }
  }

 private:
  int budget_us() const { return oversubscribed_ ? 0 : spin_us(); }

  void work(int id, uint64_t seen) {
    for (;;) {
      auto has_news = [&] {
        return stopping_.load(std::memory_order_relaxed) ||
               generation_.load(std::memory_order_acquire) != seen;
      };
      spin_until(budget_us(), has_news);
      const std::function<void(int)>* task;
      int tasks;
      {
        // Read the task under the mutex even after a successful spin: the
        // generation, task and count must be one consistent snapshot.
        std::unique_lock<std::mutex> lock(mutex_);
        if (!has_news()) {
          sleeping_.fetch_add(1, std::memory_order_relaxed);
          wake_.wait(lock, has_news);
          sleeping_.fetch_sub(1, std::memory_order_relaxed);
        }
        if (stopping_) return;
        seen = generation_.load(std::memory_order_relaxed);
        task = task_;
        tasks = tasks_;
      }
      if (id < tasks) {
        inside_task = true;
        (*task)(id);
        inside_task = false;
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          // The last one out wakes the caller in case it stopped spinning.
          // Locking first closes the gap between its check and its sleep.
          std::lock_guard<std::mutex> lock(mutex_);
          done_.notify_one();
        }
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
  const std::function<void(int)>* task_ = nullptr;  // guarded by mutex_
  int tasks_ = 0;                                     // guarded by mutex_
  std::atomic<int> pending_{0};        // workers still running this generation's task
  std::atomic<uint64_t> generation_{0};  // written under mutex_, read by spinners
  std::atomic<int> sleeping_{0};       // workers inside wake_.wait
  std::atomic<bool> stopping_{false};
  std::atomic<int> spin_us_;
  bool oversubscribed_ = false;
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

int pool_spin_us() { return pool().spin_us(); }

void set_pool_spin_us(int microseconds) { pool().set_spin_us(microseconds); }

bool in_parallel_region() { return inside_task; }

void run_on_pool(int tasks, const std::function<void(int)>& task) {
  std::lock_guard<std::mutex> lock(caller_mutex());
  pool().run(tasks, task);
}

}  // namespace attn::kernels::cpu
