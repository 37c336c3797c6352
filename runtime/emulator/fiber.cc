#include "runtime/emulator/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

#if defined(__SANITIZE_ADDRESS__)
#define KILN_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_FIBER_ASAN 1
#endif
#endif
#ifdef KILN_FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace kiln::emulator {
namespace {

// A stack is reused by the next fiber started on it. Whatever poison ASan
// left in its shadow (redzones of frames that were live when the last
// fiber switched away for good) belongs to frames that no longer exist:
// clear it, or the new fiber's first accesses there are false reports.
void ForgetStackPoison(const FiberStack& stack) {
#ifdef KILN_FIBER_ASAN
  ASAN_UNPOISON_MEMORY_REGION(stack.base(), stack.size());
#else
  (void)stack;
#endif
}

}  // namespace

#if defined(__x86_64__)

// kiln_fiber_switch(save, next): pushes the callee-saved registers and the
// floating-point control state on the current stack, stores the stack
// pointer in *save, loads `next` and pops the same frame from it. A new
// fiber's stack is laid out (Fiber::Start) so that the pop lands in
// kiln_fiber_trampoline with rbx = argument and r12 = entry.
extern "C" void kiln_fiber_switch(void** save, void* next);
extern "C" void kiln_fiber_trampoline();
asm(R"(
  .pushsection .text
  .globl kiln_fiber_switch
  .type kiln_fiber_switch, @function
kiln_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kiln_fiber_switch, .-kiln_fiber_switch

  .globl kiln_fiber_trampoline
  .type kiln_fiber_trampoline, @function
kiln_fiber_trampoline:
  movq %rbx, %rdi
  callq *%r12
  ud2
  .size kiln_fiber_trampoline, .-kiln_fiber_trampoline
  .popsection
)");

struct FiberState {
  void* sp = nullptr;
};

void Fiber::Start(const FiberStack& stack, void (*entry)(void*), void* arg) {
  // From the 16-byte aligned top down: the trampoline as return address,
  // then rbp, rbx (arg), r12 (entry), r13, r14, r15, and the MXCSR / x87
  // control word slot. After `ret` the stack pointer is the aligned top,
  // so the trampoline's call gives entry a correctly aligned frame.
  ForgetStackPoison(stack);
  auto top = reinterpret_cast<uintptr_t>(stack.base() + stack.size()) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top) - 8;
  uint32_t control[2] = {0x1F80u, 0x037Fu};  // default MXCSR, x87 control word
  std::memcpy(&frame[0], control, sizeof(control));
  frame[1] = 0;                                     // r15
  frame[2] = 0;                                     // r14
  frame[3] = 0;                                     // r13
  frame[4] = reinterpret_cast<uint64_t>(entry);     // r12
  frame[5] = reinterpret_cast<uint64_t>(arg);       // rbx
  frame[6] = 0;                                     // rbp
  frame[7] = reinterpret_cast<uint64_t>(&kiln_fiber_trampoline);
  state_->sp = frame;
  stack_bottom_ = stack.base();
  stack_size_ = stack.size();
}

namespace {
void RawSwitch(FiberState& from, FiberState& to) { kiln_fiber_switch(&from.sp, to.sp); }
}  // namespace

#else  // portable: ucontext

struct FiberState {
  ucontext_t context;
};

void Fiber::Start(const FiberStack& stack, void (*entry)(void*), void* arg) {
  ForgetStackPoison(stack);
  getcontext(&state_->context);
  state_->context.uc_stack.ss_sp = stack.base();
  state_->context.uc_stack.ss_size = stack.size();
  state_->context.uc_link = nullptr;
  // makecontext passes int arguments: the pointer travels as two halves.
  const auto bits = reinterpret_cast<uintptr_t>(arg);
  static_assert(sizeof(uintptr_t) <= 8);
  makecontext(&state_->context, reinterpret_cast<void (*)()>(+[](unsigned lo, unsigned hi, unsigned elo, unsigned ehi) {
                auto e = reinterpret_cast<void (*)(void*)>((uintptr_t{ehi} << 32) | elo);
                e(reinterpret_cast<void*>((uintptr_t{hi} << 32) | lo));
              }),
              4, static_cast<unsigned>(bits), static_cast<unsigned>(uint64_t{bits} >> 32),
              static_cast<unsigned>(reinterpret_cast<uintptr_t>(entry)),
              static_cast<unsigned>(uint64_t{reinterpret_cast<uintptr_t>(entry)} >> 32));
  stack_bottom_ = stack.base();
  stack_size_ = stack.size();
}

namespace {
void RawSwitch(FiberState& from, FiberState& to) { swapcontext(&from.context, &to.context); }
}  // namespace

#endif

namespace {
#ifdef KILN_FIBER_ASAN
// The host thread's stack as ASan reported it when the first fiber
// started; the scheduler's Fiber has no stack of its own to name.
thread_local const void* host_stack_bottom = nullptr;
thread_local size_t host_stack_size = 0;
#endif
}  // namespace

Fiber::Fiber() : state_(std::make_unique<FiberState>()) {}
Fiber::~Fiber() = default;

void Fiber::SwitchTo(Fiber& to, bool leaving_for_good) {
#ifdef KILN_FIBER_ASAN
  const void* bottom = to.stack_bottom_ != nullptr ? to.stack_bottom_ : host_stack_bottom;
  const size_t size = to.stack_bottom_ != nullptr ? to.stack_size_ : host_stack_size;
  void* saved = nullptr;
  __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &saved, bottom, size);
  RawSwitch(*state_, *to.state_);
  __sanitizer_finish_switch_fiber(saved, nullptr, nullptr);
#else
  (void)leaving_for_good;
  RawSwitch(*state_, *to.state_);
#endif
}

void FiberEntered(Fiber& self) {
  (void)self;
#ifdef KILN_FIBER_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
  if (host_stack_bottom == nullptr) {
    host_stack_bottom = bottom;
    host_stack_size = size;
  }
#endif
}

absl::StatusOr<FiberStack> FiberStack::Create(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t usable = (bytes + page - 1) / page * page;
  const size_t total = usable + page;
  void* mapping = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map a ", total, "-byte fiber stack: ", std::strerror(errno)));
  }
  char* low = static_cast<char*>(mapping);
  if (mprotect(low, page, PROT_NONE) != 0) {
    munmap(mapping, total);
    return absl::InternalError(absl::StrCat("cannot protect a fiber stack's guard page: ",
                                            std::strerror(errno)));
  }
  return FiberStack(low, total, low + page, usable);
}

FiberStack::FiberStack(FiberStack&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_bytes_(std::exchange(other.mapping_bytes_, 0)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

FiberStack& FiberStack::operator=(FiberStack&& other) noexcept {
  if (this != &other) {
    if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

FiberStack::~FiberStack() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
}

}  // namespace kiln::emulator
