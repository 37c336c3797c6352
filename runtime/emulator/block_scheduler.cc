#include "runtime/emulator/block_scheduler.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::emulator {
namespace {

constexpr size_t kStackBytes = 128 * 1024;

// Fiber stacks, kept per host thread across launches (mapping and faulting
// in a thousand stacks per launch would dominate small kernels).
absl::StatusOr<std::vector<FiberStack>*> StackPool(size_t count) {
  thread_local std::vector<FiberStack> pool;
  while (pool.size() < count) {
    absl::StatusOr<FiberStack> stack = FiberStack::Create(kStackBytes);
    if (!stack.ok()) return stack.status();
    pool.push_back(*std::move(stack));
  }
  return &pool;
}

const char* BarrierName(int op) {
  switch (op) {
    case kKilnEmuSyncThreadsOr: return "__syncthreads_or";
    case kKilnEmuSyncThreadsAnd: return "__syncthreads_and";
    case kKilnEmuSyncThreadsCount: return "__syncthreads_count";
    default: return "__syncthreads";
  }
}

const char* WarpName(int op) {
  switch (op) {
    case kKilnEmuShflIdx: return "__shfl_sync";
    case kKilnEmuShflUp: return "__shfl_up_sync";
    case kKilnEmuShflDown: return "__shfl_down_sync";
    case kKilnEmuShflXor: return "__shfl_xor_sync";
    case kKilnEmuBallot: return "__ballot_sync";
    default: return "__syncwarp";
  }
}

std::string Dim(const KilnEmuDim& d) { return absl::StrCat("(", d.x, ",", d.y, ",", d.z, ")"); }

}  // namespace

BlockScheduler::BlockScheduler(const EmulatedKernel& kernel, const LaunchConfig& config,
                               void** args)
    : kernel_(kernel),
      config_(config),
      args_(args),
      thread_count_(static_cast<int>(config.block.x * config.block.y * config.block.z)),
      threads_(thread_count_),
      warp_epochs_((thread_count_ + 31) / 32, 0) {}

absl::Status BlockScheduler::Init() {
  absl::StatusOr<std::vector<FiberStack>*> pool = StackPool(thread_count_);
  if (!pool.ok()) return pool.status();
  stacks_ = *pool;
  for (int t = 0; t < thread_count_; ++t) {
    Thread& thread = threads_[t];
    thread.index.block_dim = config_.block;
    thread.index.grid_dim = config_.grid;
    thread.index.thread_idx = {t % config_.block.x, t / config_.block.x % config_.block.y,
                               t / (config_.block.x * config_.block.y)};
  }
  return absl::OkStatus();
}

void BlockScheduler::ThreadMain(void* self) {
  auto* scheduler = static_cast<BlockScheduler*>(self);
  Thread& thread = scheduler->threads_[scheduler->current_];
  FiberEntered(thread.fiber);
  scheduler->kernel_.launch(scheduler->args_);
  thread.state = State::kDone;
  thread.fiber.SwitchTo(scheduler->scheduler_, /*leaving_for_good=*/true);
  __builtin_unreachable();
}

absl::Status BlockScheduler::RunBlock(const KilnEmuDim& block_idx) {
  for (int t = 0; t < thread_count_; ++t) {
    Thread& thread = threads_[t];
    thread.index.block_idx = block_idx;
    thread.state = State::kRunnable;
    thread.fiber.Start((*stacks_)[t], &BlockScheduler::ThreadMain, this);
  }
  std::fill(warp_epochs_.begin(), warp_epochs_.end(), 0);
  block_epoch_ = 0;
  barrier_arrived_ = 0;
  const uint64_t linear =
      (uint64_t{block_idx.z} * config_.grid.y + block_idx.y) * config_.grid.x + block_idx.x;
  random_state_ = (config_.schedule.seed ^ (linear * 0x9E3779B97F4A7C15ull)) | 1;
  fault_ = absl::OkStatus();
  for (int next = PickNext(); next >= 0; next = PickNext()) {
    current_ = next;
    scheduler_.SwitchTo(threads_[next].fiber);
    if (!fault_.ok()) return fault_;
  }
  current_ = -1;
  for (const Thread& thread : threads_) {
    if (thread.state != State::kDone) return DeadlockError();
  }
  return absl::OkStatus();
}

int BlockScheduler::PickNext() {
  int count = 0;
  for (const Thread& t : threads_) count += t.state == State::kRunnable;
  if (count == 0) return -1;
  int skip = 0;
  switch (config_.schedule.kind) {
    case Schedule::kInOrder: skip = 0; break;
    case Schedule::kReversed: skip = count - 1; break;
    case Schedule::kRandom:
      random_state_ ^= random_state_ << 13;
      random_state_ ^= random_state_ >> 7;
      random_state_ ^= random_state_ << 17;
      skip = static_cast<int>(random_state_ % static_cast<uint64_t>(count));
      break;
  }
  for (int t = 0; t < thread_count_; ++t) {
    if (threads_[t].state == State::kRunnable && skip-- == 0) return t;
  }
  return -1;
}

void BlockScheduler::Yield() {
  threads_[current_].fiber.SwitchTo(scheduler_);
}

void BlockScheduler::Fault(absl::Status status) {
  fault_ = std::move(status);
  threads_[current_].state = State::kDone;
  threads_[current_].fiber.SwitchTo(scheduler_, /*leaving_for_good=*/true);
  __builtin_unreachable();
}

std::string BlockScheduler::ThreadName(int thread) const {
  return absl::StrCat("thread ", Dim(threads_[thread].index.thread_idx));
}

std::string BlockScheduler::Where() const {
  const Thread& t = threads_[std::max(current_, 0)];
  return absl::StrCat("kernel ", kernel_.name, ", block ", Dim(t.index.block_idx),
                      current_ >= 0 ? absl::StrCat(", ", ThreadName(current_)) : "");
}

AccessSite BlockScheduler::Site(const void* pc) const {
  return AccessSite{current_, current_ / 32, block_epoch_, warp_epochs_[current_ / 32], pc};
}

bool BlockScheduler::InCurrentStack(uintptr_t address, size_t bytes) const {
  const FiberStack& stack = (*stacks_)[current_];
  const auto lo = reinterpret_cast<uintptr_t>(stack.base());
  return address >= lo && address + bytes <= lo + stack.size();
}

// ---- Block barriers ---------------------------------------------------------

int BlockScheduler::Barrier(int op, int predicate, int line) {
  Thread& self = threads_[current_];
  self.state = State::kAtBarrier;
  self.op = op;
  self.line = line;
  self.value = predicate != 0;
  if (++barrier_arrived_ == thread_count_) {
    if (absl::Status s = CompleteBarrier(); !s.ok()) Fault(std::move(s));
  }
  Yield();
  return static_cast<int>(self.result);
}

absl::Status BlockScheduler::CompleteBarrier() {
  const Thread& first = threads_[0];
  int count = 0;
  for (int t = 0; t < thread_count_; ++t) {
    const Thread& thread = threads_[t];
    if (thread.op != first.op || thread.line != first.line) {
      return absl::AbortedError(absl::StrCat(
          "divergence: kernel ", kernel_.name, ", block ", Dim(first.index.block_idx), ": ",
          ThreadName(0), " waits at ", BarrierName(first.op), " on kernel.cu line ", first.line,
          " but ", ThreadName(t), " at ", BarrierName(thread.op), " on line ", thread.line,
          " (one barrier must be reached by every thread of the block)"));
    }
    count += static_cast<int>(thread.value);
  }
  uint64_t result = 0;
  if (first.op == kKilnEmuSyncThreadsOr) result = count > 0;
  if (first.op == kKilnEmuSyncThreadsAnd) result = count == thread_count_;
  if (first.op == kKilnEmuSyncThreadsCount) result = static_cast<uint64_t>(count);
  for (Thread& thread : threads_) {
    thread.result = result;
    thread.state = State::kRunnable;
  }
  barrier_arrived_ = 0;
  ++block_epoch_;
  ++rendezvous_;
  return absl::OkStatus();
}

// ---- Warp collectives ---------------------------------------------------------

unsigned BlockScheduler::WarpLanes(int warp) const {
  const int lanes = std::min(32, thread_count_ - warp * 32);
  return lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
}

int BlockScheduler::ThreadOfLane(int warp, int lane) const { return warp * 32 + lane; }

uint64_t BlockScheduler::Warp(int op, unsigned mask, uint64_t value, int arg, int width,
                              int line) {
  const int warp = current_ / 32, lane = current_ % 32;
  auto divergence = [&](const std::string& what) {
    Fault(absl::AbortedError(absl::StrCat("divergence: ", Where(), ": ", WarpName(op),
                                          " on kernel.cu line ", line, " with mask ",
                                          absl::Hex(mask, absl::kZeroPad8), " ", what)));
  };
  if ((mask >> lane & 1u) == 0) divergence("excludes the calling lane");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    divergence(absl::StrCat("has width ", width, ", not a power of two up to 32"));
  }
  if ((mask & ~WarpLanes(warp)) != 0) {
    divergence(absl::StrCat("names lanes that do not exist: the block has ", thread_count_,
                            " threads, so warp ", warp, " has lanes ",
                            absl::Hex(WarpLanes(warp), absl::kZeroPad8), " only"));
  }
  for (int l = 0; l < 32; ++l) {
    if ((mask >> l & 1u) && threads_[ThreadOfLane(warp, l)].state == State::kDone) {
      divergence(absl::StrCat("waits for lane ", l, ", which has exited"));
    }
  }
  Thread& self = threads_[current_];
  self.state = State::kAtWarp;
  self.op = op;
  self.mask = mask;
  self.value = value;
  self.arg = arg;
  self.width = width;
  self.line = line;
  bool all_arrived = true;
  for (int l = 0; l < 32; ++l) {
    if ((mask >> l & 1u) && threads_[ThreadOfLane(warp, l)].state != State::kAtWarp) {
      all_arrived = false;
    }
  }
  if (all_arrived) {
    if (absl::Status s = CompleteWarp(warp, mask); !s.ok()) Fault(std::move(s));
  }
  Yield();
  return self.result;
}

absl::Status BlockScheduler::CompleteWarp(int warp, unsigned mask) {
  const Thread& me = threads_[current_];
  uint64_t ballot = 0;
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    const Thread& other = threads_[ThreadOfLane(warp, l)];
    if (other.op != me.op || other.mask != me.mask || other.line != me.line ||
        other.width != me.width) {
      return absl::AbortedError(absl::StrCat(
          "divergence: kernel ", kernel_.name, ", block ", Dim(me.index.block_idx), ", warp ",
          warp, ": ", ThreadName(current_), " is at ", WarpName(me.op), " on kernel.cu line ",
          me.line, " (mask ", absl::Hex(me.mask, absl::kZeroPad8), ") while ",
          ThreadName(ThreadOfLane(warp, l)), " is at ", WarpName(other.op), " on line ",
          other.line, " (mask ", absl::Hex(other.mask, absl::kZeroPad8), ")"));
    }
    if (other.value != 0) ballot |= uint64_t{1} << l;
  }
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    Thread& thread = threads_[ThreadOfLane(warp, l)];
    const int segment = l & ~(thread.width - 1);
    int source = l;
    switch (thread.op) {
      case kKilnEmuShflIdx: source = segment + (thread.arg & (thread.width - 1)); break;
      case kKilnEmuShflUp: source = l - thread.arg < segment ? l : l - thread.arg; break;
      case kKilnEmuShflDown:
        source = l + thread.arg >= segment + thread.width ? l : l + thread.arg;
        break;
      case kKilnEmuShflXor:
        source = (l ^ thread.arg) >= segment + thread.width ? l : (l ^ thread.arg);
        break;
      default: break;
    }
    if (source < 0 || source > 31 || !(mask >> source & 1u)) {
      return absl::AbortedError(absl::StrCat(
          "divergence: kernel ", kernel_.name, ", ", ThreadName(ThreadOfLane(warp, l)), ": ",
          WarpName(thread.op), " on kernel.cu line ", thread.line, " reads lane ", source,
          ", which is not in its mask ", absl::Hex(mask, absl::kZeroPad8),
          " (CUDA leaves the value undefined)"));
    }
    if (thread.op == kKilnEmuBallot) {
      thread.result = ballot;
    } else {
      thread.result = threads_[ThreadOfLane(warp, source)].value;
    }
  }
  for (int l = 0; l < 32; ++l) {
    if (mask >> l & 1u) threads_[ThreadOfLane(warp, l)].state = State::kRunnable;
  }
  // Only a whole-warp __syncwarp orders the lanes' memory accesses; CUDA
  // promises no ordering for shuffles and votes.
  if (me.op == kKilnEmuSyncWarp && mask == WarpLanes(warp)) ++warp_epochs_[warp];
  ++rendezvous_;
  return absl::OkStatus();
}

// ---- Deadlock: a rendezvous some threads never reach ------------------------------

absl::Status BlockScheduler::DeadlockError() const {
  // Group the threads by what they are doing, in thread order.
  std::map<std::string, std::vector<int>> groups;
  for (int t = 0; t < thread_count_; ++t) {
    const Thread& thread = threads_[t];
    std::string what;
    switch (thread.state) {
      case State::kDone: what = "have exited"; break;
      case State::kAtBarrier:
        what = absl::StrCat("wait at ", BarrierName(thread.op), " on kernel.cu line ", thread.line);
        break;
      case State::kAtWarp:
        what = absl::StrCat("wait at ", WarpName(thread.op), " on kernel.cu line ", thread.line,
                            " (mask ", absl::Hex(thread.mask, absl::kZeroPad8), ")");
        break;
      case State::kRunnable: what = "are runnable"; break;
    }
    groups[what].push_back(t);
  }
  std::vector<std::string> parts;
  for (const auto& [what, ids] : groups) {
    parts.push_back(absl::StrCat(ids.size() == 1 ? ThreadName(ids[0]) : absl::StrCat(
                                     "threads ", ids.front(), "..", ids.back(), " (", ids.size(), ")"),
                                 " ", what));
  }
  return absl::AbortedError(absl::StrCat("divergence: kernel ", kernel_.name, ", block ",
                                         Dim(threads_[0].index.block_idx),
                                         " can never finish: ", absl::StrJoin(parts, "; ")));
}

}  // namespace kiln::emulator
