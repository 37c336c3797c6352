// Fibers: user-space threads that switch only when told to, which is how
// the emulator runs a CUDA block's threads on one host thread. A thread
// runs until it reaches a rendezvous (a barrier, a warp collective) or
// ends, then switches back to the scheduler; nothing preempts it, so every
// interleaving the emulator produces is chosen by its schedule.
//
// x86-64 switches with a few instructions of its own (callee-saved
// registers, MXCSR and the x87 control word); other machines use
// ucontext. ASan builds tell the sanitizer about every switch.
#ifndef KILN_RUNTIME_EMULATOR_FIBER_H_
#define KILN_RUNTIME_EMULATOR_FIBER_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"

namespace kiln::emulator {

// A stack for one fiber, with an inaccessible guard page below it so an
// overflow faults instead of corrupting the neighbouring stack.
class FiberStack {
 public:
  static absl::StatusOr<FiberStack> Create(size_t bytes);
  FiberStack(FiberStack&& other) noexcept;
  FiberStack& operator=(FiberStack&& other) noexcept;
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  ~FiberStack();

  char* base() const { return base_; }  // lowest usable byte
  size_t size() const { return size_; }

 private:
  FiberStack(char* mapping, size_t mapping_bytes, char* base, size_t size)
      : mapping_(mapping), mapping_bytes_(mapping_bytes), base_(base), size_(size) {}
  char* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  char* base_ = nullptr;
  size_t size_ = 0;
};

struct FiberState;  // saved registers, per platform

// A context that can be switched to: either the scheduler's own (the host
// thread's stack, Fiber()) or a fiber started on a FiberStack.
class Fiber {
 public:
  Fiber();
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepares this fiber to run entry(arg) on `stack` at its next SwitchTo.
  // `entry` must never return: it ends by switching away for good. The
  // stack may have served an earlier fiber; ASan builds clear its poison.
  void Start(const FiberStack& stack, void (*entry)(void*), void* arg);

  // Saves the running context into `this` and resumes `to`. Returns when
  // something switches back to `this`. `leaving_for_good`: `this` will
  // never be resumed (ASan releases its bookkeeping).
  void SwitchTo(Fiber& to, bool leaving_for_good = false);

 private:
  friend void FiberEntered(Fiber& self);
  std::unique_ptr<FiberState> state_;
  const void* stack_bottom_ = nullptr;  // for ASan
  size_t stack_size_ = 0;
};

// Called first thing by an entry function on its new stack (ASan needs to
// hear that the switch completed).
void FiberEntered(Fiber& self);

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_FIBER_H_
