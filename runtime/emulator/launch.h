// Launching an emulated kernel: CUDA's execution model on one host thread.
//
// The grid's blocks run one after another (z, y, x order); a block's
// threads are fibers (fiber.h) that the schedule interleaves at rendezvous
// points only: each runs until it reaches a barrier or a warp collective,
// then the next runnable thread in the schedule's order runs. Running one
// kernel under two schedules and comparing the results shows whether it
// depends on an order CUDA does not guarantee; the shared-memory checker
// shows the race itself.
//
// A kernel fault ends the launch with an Aborted status whose message
// starts with what it was and names the kernel, the block, the thread and
// the source line (kernel.cu, the text the emulator compiled):
//   "divergence: ..."        a barrier or warp collective that not all its
//                            threads reach (lanes that exited, a partial
//                            mask, a partial warp, different call sites)
//   "shared-memory race: ..." two unordered accesses, one a write
//   "uninitialized shared read: ..."
//   "out of bounds: ..."     an access outside every device allocation,
//                            the launch's dynamic shared memory and the
//                            thread's own stack
//   "misaligned: ..."        a typed or PTX vector access off its alignment
// A launch the hardware would refuse (block too large, too much shared
// memory, wrong argument count) is InvalidArgument.
#ifndef KILN_RUNTIME_EMULATOR_LAUNCH_H_
#define KILN_RUNTIME_EMULATOR_LAUNCH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/emulator/device_abi.h"
#include "runtime/emulator/kernel_module.h"

namespace kiln::emulator {

// The order in which runnable threads of a block run between rendezvous.
struct Schedule {
  enum Kind { kInOrder, kReversed, kRandom } kind = kInOrder;
  uint64_t seed = 0;  // kRandom only
  std::string Name() const;
};

// The schedules a checked run compares: in order, reversed, and seeded
// random.
std::vector<Schedule> StandardSchedules(uint64_t seed);

struct LaunchConfig {
  KilnEmuDim grid{1, 1, 1};
  KilnEmuDim block{1, 1, 1};
  size_t dynamic_shared_bytes = 0;
  // The block's shared-memory limit, static + dynamic: 48 KiB unless the
  // kernel opted in (cudaFuncAttributeMaxDynamicSharedMemorySize), up to
  // the device's maximum.
  size_t shared_limit_bytes = 48 * 1024;
  Schedule schedule;
  // Also run the launch under the other standard schedules (seeded by
  // schedule.seed) from the same device memory, and fail unless every byte
  // of every device allocation ends the same: a result that depends on the
  // order of a block's threads (a race in global memory, which the
  // shared-memory checker does not track) then shows as a
  // "schedule-dependent result". Blocks keep their fixed order, so races
  // between blocks stay unseen. The memory keeps `schedule`'s result.
  bool compare_schedules = false;
};

// What a launch did, for the emulator's speed report.
struct LaunchStats {
  int64_t blocks = 0;
  int64_t threads = 0;
  int64_t rendezvous = 0;  // completed barriers and warp collectives
};

// Runs `kernel` over the grid; `args` point at the parameter values
// (cudaLaunchKernel's convention) and must match its parameter count.
absl::Status Launch(const EmulatedKernel& kernel, const LaunchConfig& config,
                    const std::vector<void*>& args, LaunchStats* stats = nullptr);

// Graph conditional handles: a kernel's cudaGraphSetConditional(handle, v)
// stores v in the slot registered as `handle`; any other handle faults the
// launch. The slot must stay alive until unregistered.
unsigned long long RegisterCondition(unsigned* slot);
void UnregisterCondition(unsigned* slot);

// The table every module is bound to (kernel_module.cc).
const KilnEmuAbi* EmulatorAbi();

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_LAUNCH_H_
