// A persistent pool of worker threads for the CPU executor's kernels.
//
// Contract:
//   - ThreadPool(n) starts n - 1 workers; the thread that calls Run is
//     thread 0, so a pool of 1 runs everything inline and starts no thread.
//   - Run(fn) calls fn(thread, threads) once on every thread, thread in
//     [0, size()), and returns when every call has returned. fn is called
//     through a function pointer and a pointer to it (no std::function, no
//     allocation per Run). Only one thread may call Run at a time, and not
//     from inside a Run (no nesting).
//   - Barrier(thread), called by every thread of the current Run with its
//     own index, returns on each only when all have reached it: a caller
//     runs dependent phases in one Run (phase 1; Barrier; phase 2).
//   - Idle workers spin for a few microseconds (the next Run of a decode
//     step usually follows at once), then sleep on a futex, so an idle
//     pool costs no CPU time. The caller waits for stragglers the same way,
//     and so do threads at a Barrier (after a longer spin).
//   - fn must not throw (Kiln builds without exceptions in its kernels).
#ifndef KILN_RUNTIME_CPU_THREAD_POOL_H_
#define KILN_RUNTIME_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::cpu {

// A KILN_CPU_THREADS value: a positive decimal integer, at most 256 taken
// (larger values are capped at 256); anything else is an error naming it.
absl::StatusOr<int> ParseCpuThreads(absl::string_view text);

// $KILN_CPU_THREADS when ParseCpuThreads accepts it, else the number of
// physical cores this process may run on (distinct (package, core) pairs
// of /sys/devices/system/cpu/cpu*/topology among the CPUs of its affinity
// mask), else std::thread::hardware_concurrency(), else 1. A bad variable
// is ignored here; callers that report it call ParseCpuThreads themselves.
int DefaultCpuThreads();

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

  template <typename F>
  void Run(F&& fn) {
    using Fn = std::remove_reference_t<F>;
    RunTask([](void* context, int thread,
               int threads) { (*static_cast<Fn*>(context))(thread, threads); },
            const_cast<void*>(static_cast<const void*>(&fn)));
  }

  void Barrier(int thread);

 private:
  using Task = void (*)(void* context, int thread, int threads);

  // One cache line per independently written word, so the spinning of one
  // side does not slow the other's writes.
  struct alignas(64) PaddedFlag {
    std::atomic<uint32_t> value{0};
  };

  void RunTask(Task task, void* context);
  void WorkerLoop(int thread);

  const int threads_;
  std::vector<std::thread> workers_;

  // Published before each bump of generation_ and read after seeing it.
  Task task_ = nullptr;
  void* context_ = nullptr;
  bool stopping_ = false;

  PaddedFlag generation_;      // bumped once per Run (and at shutdown)
  PaddedFlag sleeping_;        // workers inside (or entering) a futex wait
  PaddedFlag pending_;         // workers not yet done with this Run
  PaddedFlag caller_waiting_;  // 1 while the caller sleeps on pending_

  // Sense-reversing barrier: the last arrival resets the count and flips
  // the shared sense; the others wait (spin, then sleep on the sense's
  // futex) until it equals their own flipped sense, so the barrier is
  // reusable at once.
  PaddedFlag barrier_count_;
  PaddedFlag barrier_sense_;
  PaddedFlag barrier_sleeping_;  // threads inside (or entering) that sleep
  std::unique_ptr<PaddedFlag[]> local_sense_;
};

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_THREAD_POOL_H_
