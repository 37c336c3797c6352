// One block's threads as fibers, and the rendezvous that synchronise them:
// block barriers (__syncthreads and its reductions) and warp collectives
// (shuffles, ballot, __syncwarp). See launch.h for the model.
#ifndef KILN_RUNTIME_EMULATOR_BLOCK_SCHEDULER_H_
#define KILN_RUNTIME_EMULATOR_BLOCK_SCHEDULER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/emulator/device_abi.h"
#include "runtime/emulator/fiber.h"
#include "runtime/emulator/kernel_module.h"
#include "runtime/emulator/launch.h"
#include "runtime/emulator/shared_checker.h"

namespace kiln::emulator {

// Runs one launch's blocks on the calling host thread, one block at a
// time, its threads as fibers from a per-host-thread pool. Every thread
// ends in ThreadMain, also after a fault or a deadlock: a fault unwinds the
// faulting thread's stack, and threads left waiting at a rendezvous are
// unwound before RunBlock returns, so no fiber is abandoned mid-call.
class BlockScheduler {
 public:
  BlockScheduler(const EmulatedKernel& kernel, const LaunchConfig& config, void** args);
  // Makes the fibers' stacks ready (reused across launches on this thread).
  absl::Status Init();

  // Runs every thread of block `block_idx` to its end, or to the first fault.
  absl::Status RunBlock(const KilnEmuDim& block_idx);

  // ---- Called by the running thread, through the ABI ----
  const KilnEmuThreadIndex* index() const { return &threads_[current_].index; }
  int Barrier(int op, int predicate, int line);
  uint64_t Warp(int op, unsigned mask, uint64_t value, int arg, int width, int line);
  // Ends the launch with `status` (the fault is the running thread's): the
  // running thread unwinds (a C++ exception caught in ThreadMain), so the
  // caller's temporaries are destroyed; kernel frames must not catch it.
  [[noreturn]] void Fault(absl::Status status);
  // The running thread as the race checker sees it.
  AccessSite Site(const void* pc) const;
  bool InCurrentStack(uintptr_t address, size_t bytes) const;

  // "kernel k_x, block (1,0,0), thread (33,0,0)": the running thread.
  std::string Where() const;
  std::string ThreadName(int thread) const;
  int64_t rendezvous() const { return rendezvous_; }

 private:
  enum class State { kRunnable, kAtBarrier, kAtWarp, kDone };
  struct Thread {
    Fiber fiber;
    KilnEmuThreadIndex index{};
    State state = State::kRunnable;
    bool started = false;  // its fiber has entered ThreadMain this block
    int line = 0;  // of the rendezvous it waits at
    int op = 0;
    unsigned mask = 0;
    int arg = 0;
    int width = 32;
    uint64_t value = 0;
    uint64_t result = 0;
  };

  static void ThreadMain(void* self);
  void Yield();
  void UnwindWaitingThreads();
  // The lane a shuffle of `op` by `lane` reads (PTX shfl.sync's rule).
  static int ShuffleSource(int op, int lane, int arg, int width);
  int PickNext();
  absl::Status DeadlockError() const;
  absl::Status CompleteBarrier();
  absl::Status CompleteWarp(int warp, unsigned mask);
  int ThreadOfLane(int warp, int lane) const;
  unsigned WarpLanes(int warp) const;  // bitmask of the lanes that exist

  const EmulatedKernel& kernel_;
  LaunchConfig config_;
  void** args_;
  int thread_count_ = 0;
  std::vector<Thread> threads_;
  std::vector<FiberStack>* stacks_ = nullptr;  // this host thread's pool
  std::vector<uint32_t> warp_epochs_;
  uint32_t block_epoch_ = 0;
  int barrier_arrived_ = 0;
  Fiber scheduler_;
  int current_ = -1;
  bool unwinding_ = false;  // resumed threads unwind instead of continuing
  uint64_t random_state_ = 0;
  absl::Status fault_;
  int64_t rendezvous_ = 0;
};

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_BLOCK_SCHEDULER_H_
