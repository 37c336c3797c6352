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

// Thrown on a fiber to end its thread: by Fault, and by Yield in a thread
// the scheduler is tearing down. Unwinding runs every frame's destructors
// (a fault message's temporaries above all) and ThreadMain catches it, so
// no fiber is left switched away mid-call holding heap memory or stale
// ASan stack state. GCC declares the sanitizer callbacks nothrow, so a
// kernel frame with a destructor cannot be unwound from a fault raised in
// one (std::terminate); Kiln's kernels have no destructors.
struct ThreadUnwind {};

// Sorted thread ids as ranges: "0-15, 32-47, 60".
std::string ThreadRanges(const std::vector<int>& ids) {
  std::vector<std::string> ranges;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    ranges.push_back(i == j ? absl::StrCat(ids[i]) : absl::StrCat(ids[i], "-", ids[j]));
    i = j + 1;
  }
  return absl::StrJoin(ranges, ", ");
}

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
  thread.started = true;
  try {
    scheduler->kernel_.launch(scheduler->args_);
  } catch (const ThreadUnwind&) {
    // Ended by a fault or by the scheduler; its frames are gone.
  }
  thread.state = State::kDone;
  thread.fiber.SwitchTo(scheduler->scheduler_, /*leaving_for_good=*/true);
  __builtin_unreachable();
}

absl::Status BlockScheduler::RunBlock(const KilnEmuDim& block_idx) {
  for (int t = 0; t < thread_count_; ++t) {
    Thread& thread = threads_[t];
    thread.index.block_idx = block_idx;
    thread.state = State::kRunnable;
    thread.started = false;
    thread.fiber.Start((*stacks_)[t], &BlockScheduler::ThreadMain, this);
  }
  std::fill(warp_epochs_.begin(), warp_epochs_.end(), 0);
  block_epoch_ = 0;
  barrier_arrived_ = 0;
  const uint64_t linear =
      (uint64_t{block_idx.z} * config_.grid.y + block_idx.y) * config_.grid.x + block_idx.x;
  random_state_ = (config_.schedule.seed ^ (linear * 0x9E3779B97F4A7C15ull)) | 1;
  fault_ = absl::OkStatus();
  for (int next = PickNext(); next >= 0 && fault_.ok(); next = PickNext()) {
    current_ = next;
    scheduler_.SwitchTo(threads_[next].fiber);
  }
  current_ = -1;
  absl::Status status = fault_;
  if (status.ok()) {
    for (const Thread& thread : threads_) {
      if (thread.state != State::kDone) {
        status = DeadlockError();
        break;
      }
    }
  }
  UnwindWaitingThreads();
  return status;
}

// Threads still waiting at a rendezvous after a fault or a deadlock resume
// once more, and their Yield throws, so each fiber ends in ThreadMain.
void BlockScheduler::UnwindWaitingThreads() {
  unwinding_ = true;
  for (int t = 0; t < thread_count_; ++t) {
    if (!threads_[t].started || threads_[t].state == State::kDone) continue;
    current_ = t;
    scheduler_.SwitchTo(threads_[t].fiber);
  }
  current_ = -1;
  unwinding_ = false;
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
  if (unwinding_) throw ThreadUnwind{};
}

// The status moves into fault_ before anything unwinds; the caller's
// temporaries (the message's pieces) die as the exception passes them.
void BlockScheduler::Fault(absl::Status status) {
  fault_ = std::move(status);
  throw ThreadUnwind{};
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

// shfl.sync's source lane as PTX defines it: only b[4:0] of the lane or
// offset operand counts, and c = ((32 - width) << 8) | (up ? 0 : 0x1f)
// names the segment (segmask) and its bound (maxLane). A lane whose source
// falls past the bound reads itself; an xor may reach an earlier segment.
int BlockScheduler::ShuffleSource(int op, int lane, int arg, int width) {
  const int b = arg & 0x1f;
  const int segmask = ~(width - 1) & 0x1f;  // the lane bits naming its segment
  const int min_lane = lane & segmask;
  const int max_lane = op == kKilnEmuShflUp ? min_lane : min_lane | (0x1f & ~segmask);
  switch (op) {
    case kKilnEmuShflIdx: {
      const int j = min_lane | (b & ~segmask);
      return j <= max_lane ? j : lane;
    }
    case kKilnEmuShflUp: return lane - b >= max_lane ? lane - b : lane;
    case kKilnEmuShflDown: return lane + b <= max_lane ? lane + b : lane;
    case kKilnEmuShflXor: return (lane ^ b) <= max_lane ? (lane ^ b) : lane;
    default: return lane;
  }
}

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
    const int source = ShuffleSource(thread.op, l, thread.arg, thread.width);
    if (!(mask >> source & 1u)) {
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
    parts.push_back(absl::StrCat(
        ids.size() == 1 ? ThreadName(ids[0]) : absl::StrCat("threads ", ThreadRanges(ids)), " ",
        what));
  }
  return absl::AbortedError(absl::StrCat("divergence: kernel ", kernel_.name, ", block ",
                                         Dim(threads_[0].index.block_idx),
                                         " can never finish: ", absl::StrJoin(parts, "; ")));
}

}  // namespace kiln::emulator
