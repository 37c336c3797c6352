#include "runtime/emulator/launch.h"

#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "base/status_macros.h"
#include "runtime/emulator/block_scheduler.h"
#include "runtime/emulator/device_memory.h"
#include "runtime/emulator/shared_checker.h"

namespace kiln::emulator {
namespace {

// The launch running on this host thread, which the ABI functions serve.
struct LaunchState {
  const EmulatedKernel* kernel = nullptr;
  BlockScheduler* scheduler = nullptr;
  std::vector<DeviceRange> device;
  SharedRegionChecker static_shared;   // the module's __shared__ variables
  SharedRegionChecker dynamic_shared;  // the launch's dynamic shared memory
  std::vector<char> dynamic_buffer;    // bytes + slack past the end
  size_t dynamic_bytes = 0;
};
thread_local LaunchState* current = nullptr;

constexpr size_t kDynamicSlack = 256;  // an overflow lands here, not elsewhere

std::string SourceAt(const void* pc) {
  std::string line = current->kernel->module->SourceLine(pc);
  return line.empty() ? "" : absl::StrCat(" (", line, ")");
}

std::string SharedName(uintptr_t address) {
  if (const SharedVariable* v = current->kernel->module->FindSharedVariable(address)) {
    return absl::StrCat("byte ", address - v->begin, " of __shared__ ", v->name);
  }
  if (current->dynamic_shared.Contains(address)) {
    return absl::StrCat("byte ", address - current->dynamic_shared.begin(),
                        " of dynamic shared memory");
  }
  return absl::StrCat("shared address ", absl::Hex(address));
}

void CheckShared(SharedRegionChecker& region, uintptr_t address, size_t bytes, bool is_write,
                 const void* pc) {
  BlockScheduler& s = *current->scheduler;
  std::optional<SharedConflict> conflict = region.Access(address, bytes, is_write, s.Site(pc));
  if (!conflict) return;
  const uintptr_t at = region.begin() + conflict->offset;
  if (conflict->kind == SharedConflict::kUninitializedRead) {
    s.Fault(absl::AbortedError(absl::StrCat("uninitialized shared read: ", s.Where(), " reads ",
                                            SharedName(at), SourceAt(pc),
                                            ", which no thread of this block has written")));
  }
  s.Fault(absl::AbortedError(absl::StrCat(
      "shared-memory race: ", s.Where(), " ", is_write ? "writes " : "reads ", SharedName(at),
      SourceAt(pc), ", which ", s.ThreadName(conflict->earlier.thread),
      conflict->earlier_was_write ? " wrote" : " read", SourceAt(conflict->earlier.pc),
      " with no barrier in between")));
}

// The static __shared__ variable holding all of [address, address + bytes).
const SharedVariable* StaticVariable(uintptr_t address, size_t bytes) {
  return current->kernel->module->FindSharedVariable(address, bytes);
}

// Every instrumented access: shared memory goes to the race checker, the
// rest must lie in a device allocation or the thread's own stack.
void CheckAccess(const void* pointer, size_t bytes, int is_write, const void* pc) {
  LaunchState& l = *current;
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  if (l.static_shared.Contains(address)) {
    if (StaticVariable(address, bytes) == nullptr) {
      l.scheduler->Fault(absl::AbortedError(absl::StrCat(
          "out of bounds: ", l.scheduler->Where(), is_write ? " writes " : " reads ", bytes,
          " bytes at ", SharedName(address), SourceAt(pc), ", past the end of that variable")));
    }
    CheckShared(l.static_shared, address, bytes, is_write != 0, pc);
    return;
  }
  const auto dynamic = reinterpret_cast<uintptr_t>(l.dynamic_buffer.data());
  if (address - dynamic < l.dynamic_buffer.size()) {
    if (address + bytes > dynamic + l.dynamic_bytes) {
      l.scheduler->Fault(absl::AbortedError(absl::StrCat(
          "out of bounds: ", l.scheduler->Where(), is_write ? " writes " : " reads ", bytes,
          " bytes at byte ", address - dynamic, " of dynamic shared memory", SourceAt(pc),
          ", but the launch gave it ", l.dynamic_bytes, " bytes")));
    }
    CheckShared(l.dynamic_shared, address, bytes, is_write != 0, pc);
    return;
  }
  if (FindRange(l.device, address, bytes) != nullptr) return;
  if (l.scheduler->InCurrentStack(address, bytes)) return;
  l.scheduler->Fault(absl::AbortedError(absl::StrCat(
      "out of bounds: ", l.scheduler->Where(), is_write ? " writes " : " reads ", bytes,
      " bytes at ", absl::Hex(address), SourceAt(pc),
      ", which is in no device allocation, shared memory or the thread's stack")));
}

void CheckedAccess(const void* pointer, size_t bytes, size_t alignment, int is_write, int line,
                   const char* what) {
  LaunchState& l = *current;
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  if (alignment > 1 && address % alignment != 0) {
    l.scheduler->Fault(absl::AbortedError(absl::StrCat(
        "misaligned: ", l.scheduler->Where(), ": ", what, " on kernel.cu line ", line, " at ",
        absl::Hex(address), ", which is not ", alignment, "-byte aligned")));
  }
  // ld.global reads global memory only; atomics may touch shared memory.
  const bool global_only = absl::string_view(what).substr(0, 9) == "ld.global";
  const auto dynamic = reinterpret_cast<uintptr_t>(l.dynamic_buffer.data());
  const bool in_dynamic = address - dynamic < l.dynamic_buffer.size() &&
                          address + bytes <= dynamic + l.dynamic_bytes;
  const bool in_shared = StaticVariable(address, bytes) != nullptr || in_dynamic;
  if ((!global_only && in_shared) || FindRange(l.device, address, bytes) != nullptr) return;
  l.scheduler->Fault(absl::AbortedError(absl::StrCat(
      "out of bounds: ", l.scheduler->Where(), ": ", what, " of ", bytes, " bytes on kernel.cu line ",
      line, " at ", absl::Hex(address), ", which is in no device allocation or shared memory")));
}

void Misaligned(const char* file, unsigned line, const void* pointer, size_t alignment) {
  absl::string_view name = file == nullptr ? "?" : file;
  if (size_t slash = name.rfind('/'); slash != absl::string_view::npos) name.remove_prefix(slash + 1);
  current->scheduler->Fault(absl::AbortedError(absl::StrCat(
      "misaligned: ", current->scheduler->Where(), ": access on ", std::string(name), " line ", line, " at ",
      absl::Hex(reinterpret_cast<uintptr_t>(pointer)), ", which its type needs ", alignment,
      "-byte aligned")));
}

// Conditional handles of the devices' loop graphs: each names a value slot.
std::mutex conditions_mutex;
std::set<unsigned*>& Conditions() {
  static std::set<unsigned*> conditions;
  return conditions;
}

void SetCondition(unsigned long long handle, unsigned value) {
  auto* slot = reinterpret_cast<unsigned*>(static_cast<uintptr_t>(handle));
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(conditions_mutex);
    known = Conditions().contains(slot);
  }
  if (!known) {
    current->scheduler->Fault(absl::AbortedError(
        absl::StrCat("cudaGraphSetConditional: ", current->scheduler->Where(), " sets handle ",
                     absl::Hex(handle), ", which no graph created")));
    return;
  }
  *slot = value;
}

const KilnEmuAbi kAbi = {
    kKilnEmuAbiVersion,
    +[]() { return current->scheduler->index(); },
    +[](int op, int predicate, int line) {
      return current->scheduler->Barrier(op, predicate, line);
    },
    +[](int op, unsigned mask, uint64_t value, int arg, int width, int line) {
      return current->scheduler->Warp(op, mask, value, arg, width, line);
    },
    +[]() -> void* { return current->dynamic_buffer.data(); },
    &CheckAccess,
    &CheckedAccess,
    +[](unsigned short h) { return F16ToFloat(h); },
    +[](float f) { return FloatToF16(f); },
    +[](float f) { return FloatToBF16(f); },
    &Misaligned,
    &SetCondition,
};

absl::Status ValidateLaunch(const EmulatedKernel& kernel, const LaunchConfig& c, size_t args) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid launch of ", kernel.name, ": ", why));
  };
  const uint64_t threads = uint64_t{c.block.x} * c.block.y * c.block.z;
  if (threads == 0 || threads > 1024 || c.block.z > 64) {
    return bad(absl::StrCat("block (", c.block.x, ",", c.block.y, ",", c.block.z,
                            ") is not 1..1024 threads with z <= 64"));
  }
  if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 || c.grid.x > 0x7fffffffu ||
      c.grid.y > 65535 || c.grid.z > 65535) {
    return bad(absl::StrCat("grid (", c.grid.x, ",", c.grid.y, ",", c.grid.z, ") is out of range"));
  }
  if (args != kernel.param_sizes.size()) {
    return bad(absl::StrCat("it takes ", kernel.param_sizes.size(), " parameters, ", args,
                            " were given"));
  }
  if (c.dynamic_shared_bytes > c.shared_limit_bytes) {
    return bad(absl::StrCat(c.dynamic_shared_bytes, " bytes of dynamic shared memory exceed the ",
                            c.shared_limit_bytes, "-byte limit"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Schedule::Name() const {
  switch (kind) {
    case kInOrder: return "in-order";
    case kReversed: return "reversed";
    case kRandom: return absl::StrCat("random(seed ", seed, ")");
  }
  return "?";
}

std::vector<Schedule> StandardSchedules(uint64_t seed) {
  return {Schedule{Schedule::kInOrder}, Schedule{Schedule::kReversed},
          Schedule{Schedule::kRandom, seed}};
}

const KilnEmuAbi* EmulatorAbi() { return &kAbi; }

namespace {

// Every live device allocation's bytes, to restore and compare.
struct MemoryImage {
  std::vector<DeviceRange> ranges;
  std::vector<std::string> bytes;

  static MemoryImage Take() {
    MemoryImage image;
    image.ranges = DeviceMemory::Global().Snapshot();
    for (const DeviceRange& r : image.ranges) {
      image.bytes.emplace_back(reinterpret_cast<const char*>(r.begin), r.end - r.begin);
    }
    return image;
  }
  void Restore() const {
    for (size_t i = 0; i < ranges.size(); ++i) {
      std::memcpy(reinterpret_cast<void*>(ranges[i].begin), bytes[i].data(), bytes[i].size());
    }
  }
};

absl::Status RunGrid(const EmulatedKernel& kernel, const LaunchConfig& config,
                     const std::vector<void*>& args, LaunchStats* stats);

}  // namespace

unsigned long long RegisterCondition(unsigned* slot) {
  std::lock_guard<std::mutex> lock(conditions_mutex);
  Conditions().insert(slot);
  return static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(slot));
}

void UnregisterCondition(unsigned* slot) {
  std::lock_guard<std::mutex> lock(conditions_mutex);
  Conditions().erase(slot);
}

absl::Status Launch(const EmulatedKernel& kernel, const LaunchConfig& config,
                    const std::vector<void*>& args, LaunchStats* stats) {
  if (absl::Status valid = ValidateLaunch(kernel, config, args.size()); !valid.ok()) return valid;
  if (current != nullptr) {
    return absl::FailedPreconditionError("a kernel launched from inside an emulated kernel");
  }
  // A module's static shared memory is one copy in the process: launches
  // run one at a time.
  static std::mutex launch_mutex;
  std::lock_guard<std::mutex> one_launch(launch_mutex);
  if (!config.compare_schedules) return RunGrid(kernel, config, args, stats);
  const MemoryImage before = MemoryImage::Take();
  KILN_RETURN_IF_ERROR(RunGrid(kernel, config, args, stats));
  const MemoryImage first = MemoryImage::Take();
  for (const Schedule& other : StandardSchedules(config.schedule.seed)) {
    if (other.kind == config.schedule.kind) continue;
    before.Restore();
    LaunchConfig again = config;
    again.schedule = other;
    if (absl::Status status = RunGrid(kernel, again, args, stats); !status.ok()) {
      first.Restore();  // never leave a half-run schedule's writes behind
      return status;
    }
    const MemoryImage result = MemoryImage::Take();
    for (size_t i = 0; i < first.ranges.size(); ++i) {
      const std::string& a = first.bytes[i];
      const std::string& b = result.bytes[i];
      for (size_t at = 0; at < a.size(); ++at) {
        if (a[at] == b[at]) continue;
        first.Restore();
        return absl::AbortedError(absl::StrCat(
            "schedule-dependent result: kernel ", kernel.name, " leaves byte ", at,
            " of the device allocation at ", absl::Hex(first.ranges[i].begin), " (",
            a.size(), " bytes) different under the ", config.schedule.Name(), " and ",
            other.Name(), " schedules: a race the shared-memory checker does not see "
            "(in global memory, say) within a block"));
      }
    }
  }
  first.Restore();
  return absl::OkStatus();
}

namespace {

absl::Status RunGrid(const EmulatedKernel& kernel, const LaunchConfig& config,
                     const std::vector<void*>& args, LaunchStats* stats) {
  LaunchState state;
  state.kernel = &kernel;
  state.device = DeviceMemory::Global().Snapshot();
  const std::vector<SharedVariable>& statics = kernel.module->shared_variables();
  if (!statics.empty()) {
    uintptr_t lo = statics.front().begin, hi = lo;
    for (const SharedVariable& v : statics) {
      lo = std::min(lo, v.begin);
      hi = std::max(hi, v.begin + v.bytes);
    }
    state.static_shared.Reset(lo, hi - lo);
  }
  state.dynamic_bytes = config.dynamic_shared_bytes;
  state.dynamic_buffer.assign(config.dynamic_shared_bytes + kDynamicSlack, '\xff');
  state.dynamic_shared.Reset(reinterpret_cast<uintptr_t>(state.dynamic_buffer.data()),
                             config.dynamic_shared_bytes);
  std::vector<void*> arg_copy = args;
  BlockScheduler scheduler(kernel, config, arg_copy.data());
  if (absl::Status init = scheduler.Init(); !init.ok()) return init;
  state.scheduler = &scheduler;
  current = &state;
  absl::Status status;
  int64_t blocks = 0;
  for (unsigned z = 0; z < config.grid.z && status.ok(); ++z) {
    for (unsigned y = 0; y < config.grid.y && status.ok(); ++y) {
      for (unsigned x = 0; x < config.grid.x && status.ok(); ++x) {
        // Shared memory is undefined at a block's start: poison it.
        for (const SharedVariable& v : statics) std::memset(reinterpret_cast<void*>(v.begin), 0xFF, v.bytes);
        std::fill(state.dynamic_buffer.begin(), state.dynamic_buffer.end(), '\xff');
        state.static_shared.NewBlock();
        state.dynamic_shared.NewBlock();
        status = scheduler.RunBlock({x, y, z});
        ++blocks;
      }
    }
  }
  current = nullptr;
  if (stats != nullptr) {
    stats->blocks += blocks;
    stats->threads += blocks * config.block.x * config.block.y * config.block.z;
    stats->rendezvous += scheduler.rendezvous();
  }
  return status;
}

}  // namespace

}  // namespace kiln::emulator
