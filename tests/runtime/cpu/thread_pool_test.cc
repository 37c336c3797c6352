// The CPU thread pool: every thread runs once per Run, no wakeup is lost
// over many Runs, Barrier orders phases, the degenerate pool of 1, and the
// thread-count parsing. The per-Run overhead is printed, not asserted.
#include "runtime/cpu/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::cpu {
namespace {

TEST(ThreadPool, EveryIndexRunsOncePerRun) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.size(), threads);
    for (int run = 0; run < 50; ++run) {
      std::vector<std::atomic<int>> hits(threads);
      std::atomic<int> bad_count{0};
      pool.Run([&](int t, int n) {
        if (n != threads || t < 0 || t >= n) {
          bad_count.fetch_add(1);
          return;
        }
        hits[t].fetch_add(1);
      });
      EXPECT_EQ(bad_count.load(), 0);
      for (int t = 0; t < threads; ++t) EXPECT_EQ(hits[t].load(), 1) << "thread " << t;
    }
  }
}

TEST(ThreadPool, CallerIsThreadZero) {
  ThreadPool pool(3);
  std::thread::id caller = std::this_thread::get_id(), seen;
  pool.Run([&](int t, int) {
    if (t == 0) seen = std::this_thread::get_id();
  });
  EXPECT_EQ(seen, caller);
}

// 10^5 tiny Runs in a row: a lost wakeup would hang here (the test's
// timeout) or miss a count.
TEST(ThreadPool, ManyTinyRunsLoseNoWakeup) {
  ThreadPool pool(std::max(2, DefaultCpuThreads()));
  const int runs = 100000;
  std::vector<int64_t> count(static_cast<size_t>(pool.size()) * 16, 0);  // one line each
  for (int r = 0; r < runs; ++r) {
    pool.Run([&](int t, int) { ++count[static_cast<size_t>(t) * 16]; });
  }
  for (int t = 0; t < pool.size(); ++t) EXPECT_EQ(count[t * 16], runs) << "thread " << t;
}

// Runs separated by sleeps longer than the spin time exercise the futex
// path on both sides.
TEST(ThreadPool, RunsAfterSleepingWake) {
  ThreadPool pool(3);
  std::atomic<int> total{0};
  for (int r = 0; r < 20; ++r) {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    pool.Run([&](int t, int) {
      if (t == 2) std::this_thread::sleep_for(std::chrono::microseconds(200));  // caller sleeps
      total.fetch_add(1);
    });
  }
  EXPECT_EQ(total.load(), 60);
}

// Phase k of every thread sees the writes of phase k - 1 of all threads.
TEST(ThreadPool, BarrierOrdersPhases) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    const int phases = 200;
    std::vector<int> slots(static_cast<size_t>(threads) * 16, 0);
    std::atomic<int> errors{0};
    for (int run = 0; run < 5; ++run) {
      pool.Run([&](int t, int n) {
        for (int phase = 1; phase <= phases; ++phase) {
          slots[static_cast<size_t>(t) * 16] = phase + run * phases;
          pool.Barrier(t);
          for (int u = 0; u < n; ++u) {
            if (slots[static_cast<size_t>(u) * 16] != phase + run * phases) errors.fetch_add(1);
          }
          pool.Barrier(t);
        }
      });
    }
    EXPECT_EQ(errors.load(), 0) << threads << " threads";
  }
}

// A thread that waits long at a Barrier sleeps: it must not spin (or yield
// in a loop) on its core while a late thread works. Its CPU time over a
// 40 ms wait stays far below 40 ms; the phases still order, with either
// thread the late one.
TEST(ThreadPool, BarrierSleepsWhileALateThreadWorks) {
  ThreadPool pool(2);
  auto thread_cpu_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  for (int late : {1, 0, 1}) {
    double waited_cpu_ms = 0;
    int order_errors = 0;
    int seen_by_waiter = 0;
    pool.Run([&](int t, int) {
      if (t == late) {
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
        seen_by_waiter = 1;
        pool.Barrier(t);
      } else {
        const double start = thread_cpu_ms();
        pool.Barrier(t);
        waited_cpu_ms = thread_cpu_ms() - start;
        if (seen_by_waiter != 1) ++order_errors;
      }
    });
    EXPECT_EQ(order_errors, 0);
    EXPECT_LT(waited_cpu_ms, 15.0) << "thread " << 1 - late << " burned its core at the barrier";
  }
}

TEST(ThreadPool, PoolOfOneRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.size(), 1);
  std::thread::id seen;
  int calls = 0;
  pool.Run([&](int t, int n) {
    EXPECT_EQ(t, 0);
    EXPECT_EQ(n, 1);
    seen = std::this_thread::get_id();
    pool.Barrier(t);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, std::this_thread::get_id());
  EXPECT_EQ(ThreadPool(0).size(), 1);  // a non-positive count means 1
}

TEST(ThreadPool, DestroysWhileIdle) {
  for (int i = 0; i < 20; ++i) {
    ThreadPool pool(4);
    if (i % 2) pool.Run([](int, int) {});
    if (i % 4 == 1) std::this_thread::sleep_for(std::chrono::microseconds(100));  // asleep
  }
}

TEST(ThreadPool, PrintsPerRunOverhead) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    std::atomic<int> sink{0};
    auto fn = [&](int t, int) { sink.fetch_add(t, std::memory_order_relaxed); };
    for (int i = 0; i < 1000; ++i) pool.Run(fn);  // warm up
    const int runs = 20000;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < runs; ++i) pool.Run(fn);
    double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    std::printf("ThreadPool(%d): %.3f us per back-to-back empty Run\n", threads, us / runs);
    // After the workers have gone to sleep: the futex wake path.
    const int cold_runs = 50;
    double cold_us = 0;
    for (int i = 0; i < cold_runs; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      auto s = std::chrono::steady_clock::now();
      pool.Run(fn);
      cold_us +=
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s).count();
    }
    std::printf("ThreadPool(%d): %.3f us per Run after the pool slept\n", threads,
                cold_us / cold_runs);
  }
}

TEST(CpuThreads, Parse) {
  EXPECT_EQ(*ParseCpuThreads("1"), 1);
  EXPECT_EQ(*ParseCpuThreads("16"), 16);
  EXPECT_EQ(*ParseCpuThreads("256"), 256);
  EXPECT_EQ(*ParseCpuThreads("257"), 256);
  EXPECT_EQ(*ParseCpuThreads("99999999999999999999999"), 256);
  for (const char* bad : {"", "0", "000", "-1", "+2", "2x", " 2", "1.5", "two"}) {
    absl::StatusOr<int> r = ParseCpuThreads(bad);
    EXPECT_FALSE(r.ok()) << "\"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("KILN_CPU_THREADS"), std::string::npos);
    }
  }
}

TEST(CpuThreads, DefaultFollowsEnvironment) {
  const char* old = std::getenv("KILN_CPU_THREADS");
  std::string saved = old ? old : "";
  setenv("KILN_CPU_THREADS", "3", 1);
  EXPECT_EQ(DefaultCpuThreads(), 3);
  setenv("KILN_CPU_THREADS", "bogus", 1);
  int fallback = DefaultCpuThreads();
  unsetenv("KILN_CPU_THREADS");
  EXPECT_EQ(fallback, DefaultCpuThreads());
  EXPECT_GE(fallback, 1);
  EXPECT_LE(fallback, 256);
  std::printf("DefaultCpuThreads() = %d here\n", fallback);
  if (old) setenv("KILN_CPU_THREADS", saved.c_str(), 1);
}

}  // namespace
}  // namespace kiln::cpu
