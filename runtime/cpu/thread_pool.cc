#include "runtime/cpu/thread_pool.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kiln::cpu {
namespace {

// How long a waiting thread spins before it sleeps. A decode step issues
// its Runs back to back, a few microseconds apart; a futex wake costs about
// as much again, so spinning this long keeps the common case off the
// kernel while an idle pool still sleeps almost at once.
constexpr std::chrono::microseconds kSpinTime{20};
// How long a thread waiting at a Barrier spins before it sleeps: longer,
// since the others are mid-step, a step's shares of work differ by tens of
// microseconds, and a sleep costs a wake on the other side.
constexpr std::chrono::microseconds kBarrierSpinTime{200};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// The futex word is the atomic's own storage: std::atomic<uint32_t> is
// lock-free with the layout of uint32_t on every platform Kiln builds for.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
uint32_t* Word(std::atomic<uint32_t>& a) { return reinterpret_cast<uint32_t*>(&a); }

// Sleeps while *word == expected (returns at once when it differs, on a
// wake, or spuriously: callers loop).
void FutexWait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, Word(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, Word(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

// Spins until done() or `time` has passed; true when done() held. The
// clock is read once every 64 pauses to keep the loop cheap.
template <typename Done>
bool SpinUntil(Done done, std::chrono::microseconds time = kSpinTime) {
  auto deadline = std::chrono::steady_clock::now() + time;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

absl::StatusOr<int> ParseCpuThreads(absl::string_view text) {
  constexpr int kMax = 256;
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("KILN_CPU_THREADS=\"", text, "\": expected a positive integer"));
  };
  if (text.empty()) return bad();
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return bad();
    // Saturate: any value past the cap is taken as the cap.
    value = std::min<int64_t>(value * 10 + (c - '0'), int64_t{1} << 40);
  }
  if (value == 0) return bad();
  return static_cast<int>(std::min<int64_t>(value, kMax));
}

int DefaultCpuThreads() {
  if (const char* env = std::getenv("KILN_CPU_THREADS")) {
    absl::StatusOr<int> parsed = ParseCpuThreads(env);
    if (parsed.ok()) return *parsed;
  }
  // Physical cores: SMT siblings share (package, core); count the pairs of
  // the CPUs this process may run on.
  cpu_set_t mask;
  CPU_ZERO(&mask);
  bool have_mask = sched_getaffinity(0, sizeof(mask), &mask) == 0;
  std::set<std::pair<std::string, std::string>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (have_mask && !CPU_ISSET(cpu, &mask)) continue;
    std::string dir = absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/topology/");
    std::ifstream core(dir + "core_id"), package(dir + "physical_package_id");
    std::string core_id, package_id;
    if (!(core >> core_id)) {
      if (!have_mask) break;  // without a mask, stop at the first absent CPU
      continue;
    }
    package >> package_id;
    cores.emplace(package_id, core_id);
  }
  if (!cores.empty()) return static_cast<int>(std::min<size_t>(cores.size(), 256));
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

ThreadPool::ThreadPool(int threads)
    : threads_(threads < 1 ? 1 : threads), local_sense_(new PaddedFlag[threads_]) {
  workers_.reserve(static_cast<size_t>(threads_ - 1));
  for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
}

ThreadPool::~ThreadPool() {
  if (workers_.empty()) return;
  stopping_ = true;
  generation_.value.fetch_add(1, std::memory_order_seq_cst);
  FutexWakeAll(generation_.value);
  for (std::thread& w : workers_) w.join();
}

// The caller publishes the task, sets pending_ and bumps generation_
// (release); workers see the new generation (acquire), run, and decrement
// pending_ (release); the caller returns once it reads 0 (acquire).
//
// Lost wakeups are ruled out by the seq_cst pairs: a worker increments
// sleeping_ before re-reading generation_, and the caller bumps generation_
// before reading sleeping_; so either the caller sees the sleeper and
// wakes it, or the sleeper sees the new generation (FUTEX_WAIT also
// re-checks the word atomically in the kernel). pending_ and
// caller_waiting_ pair the same way for the caller's own sleep.
void ThreadPool::RunTask(Task task, void* context) {
  if (threads_ == 1) {
    task(context, 0, 1);
    return;
  }
  task_ = task;
  context_ = context;
  pending_.value.store(static_cast<uint32_t>(threads_ - 1), std::memory_order_relaxed);
  generation_.value.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping_.value.load(std::memory_order_seq_cst) != 0) FutexWakeAll(generation_.value);

  task(context, 0, threads_);

  auto done = [&] { return pending_.value.load(std::memory_order_acquire) == 0; };
  if (SpinUntil(done)) return;
  caller_waiting_.value.store(1, std::memory_order_seq_cst);
  for (uint32_t left; (left = pending_.value.load(std::memory_order_seq_cst)) != 0;) {
    FutexWait(pending_.value, left);
  }
  caller_waiting_.value.store(0, std::memory_order_relaxed);
}

void ThreadPool::WorkerLoop(int thread) {
  // Generation 0 is the pool's state at construction: a worker that starts
  // after the first Run was published must still run it.
  uint32_t seen = 0;
  for (;;) {
    auto fresh = [&] { return generation_.value.load(std::memory_order_acquire) != seen; };
    if (!SpinUntil(fresh)) {
      sleeping_.value.fetch_add(1, std::memory_order_seq_cst);
      while (generation_.value.load(std::memory_order_seq_cst) == seen) {
        FutexWait(generation_.value, seen);
      }
      sleeping_.value.fetch_sub(1, std::memory_order_relaxed);
    }
    seen = generation_.value.load(std::memory_order_acquire);
    if (stopping_) return;
    task_(context_, thread, threads_);
    if (pending_.value.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        caller_waiting_.value.load(std::memory_order_seq_cst) != 0) {
      FutexWakeAll(pending_.value);
    }
  }
}

void ThreadPool::Barrier(int thread) {
  if (threads_ == 1) return;
  uint32_t sense = local_sense_[thread].value.load(std::memory_order_relaxed) ^ 1u;
  local_sense_[thread].value.store(sense, std::memory_order_relaxed);
  if (barrier_count_.value.fetch_add(1, std::memory_order_acq_rel) ==
      static_cast<uint32_t>(threads_ - 1)) {
    barrier_count_.value.store(0, std::memory_order_relaxed);
    barrier_sense_.value.store(sense, std::memory_order_seq_cst);
    if (barrier_sleeping_.value.load(std::memory_order_seq_cst) != 0) {
      FutexWakeAll(barrier_sense_.value);
    }
    return;
  }
  // A thread of the Run may be descheduled on a loaded machine: after a
  // spin, sleep rather than burn the core. Not sched_yield: a yielding
  // thread stays runnable, so another process (a nice 19 one included) may
  // keep the core for a whole scheduler tick (4 ms at 250 Hz, which made
  // SmolLM2's decode steps 8 or 12 ms instead of 5.5 beside a fuzzer); a
  // futex wake preempts it at once. The sleeper count pairs with the sense
  // as sleeping_ does with generation_ (RunTask's comment).
  auto arrived = [&] { return barrier_sense_.value.load(std::memory_order_acquire) == sense; };
  if (SpinUntil(arrived, kBarrierSpinTime)) return;
  barrier_sleeping_.value.fetch_add(1, std::memory_order_seq_cst);
  while (barrier_sense_.value.load(std::memory_order_seq_cst) != sense) {
    FutexWait(barrier_sense_.value, sense ^ 1u);
  }
  barrier_sleeping_.value.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace kiln::cpu
