// A barrier for the executor's item-parallel runs: a few per step, so it must cost
// microseconds, not the ~50-100 us of waking a sleeping OpenMP thread; and it must not
// hold a core when the machine is oversubscribed. So a waiter spins for a bounded time
// (the other threads are usually a few microseconds behind), then sleeps.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NENGO_NATIVE_PAUSE() _mm_pause()
#else
#define NENGO_NATIVE_PAUSE() ((void)0)
#endif

namespace nengo_native {

class Barrier {
 public:
  explicit Barrier(int threads) : threads_(threads) {}

  // Waits until all threads arrived or the run was stopped; true when stopped.
  bool wait() {
    const int64_t generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_seq_cst);
      wake();
      return stopped();
    }
    const auto passed = [&] {
      return generation_.load(std::memory_order_seq_cst) != generation || stopped();
    };
    const auto start = std::chrono::steady_clock::now();
    for (int spin = 1;; ++spin) {
      if (passed()) return stopped();
      if (spin < kPauses) {
        NENGO_NATIVE_PAUSE();
        continue;
      }
      // Still spinning, but a process waiting for this core gets it first.
      std::this_thread::yield();
      if (spin % 16 == 0 && std::chrono::steady_clock::now() - start > kSpinTime) break;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wakeup_.wait(lock, passed);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return stopped();
  }

  // Releases every waiter, now and at every later wait (a thread failed).
  void stop() {
    stopped_.store(true, std::memory_order_seq_cst);
    std::lock_guard<std::mutex> lock(mutex_);
    wakeup_.notify_all();
  }
  bool stopped() const { return stopped_.load(std::memory_order_seq_cst); }

 private:
  // A sleeper counts itself before it checks the generation again; the last arrival
  // advances the generation before it reads the count: one of them sees the other.
  void wake() {
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    wakeup_.notify_all();
  }

  // A thread that slept wakes ~50-100 us late and so makes the others wait at the next
  // barrier: they must rarely sleep while the run is going (its steps take far less
  // than the spin time), and only stop spinning when a step stalls (a Python node).
  static constexpr int kPauses = 256;
  static constexpr std::chrono::microseconds kSpinTime{2000};
  const int threads_;
  std::atomic<int> arrived_{0};
  std::atomic<int64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::condition_variable wakeup_;
};

}  // namespace nengo_native
