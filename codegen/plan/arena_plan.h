// The device memory an engine needs on the CUDA backend, planned before
// anything is allocated: one arena holding the weights, the static KV
// caches, the step inputs and the activation arena of the memory plan.
#ifndef KILN_CODEGEN_PLAN_ARENA_PLAN_H_
#define KILN_CODEGEN_PLAN_ARENA_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/module.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

// The cuBLASLt workspace the CUDA executor allocates beside its arena, which
// every GEMM may use (split-K and stream-K algorithms need some); 32 MiB is
// what cuBLAS reserves on Hopper.
inline constexpr int64_t kCudaGemmWorkspaceBytes = int64_t{32} << 20;

// One region of the device arena.
struct ArenaRegion {
  std::string name;    // "weights", "kv_cache", "step_inputs", "activations"
  int64_t offset = 0;  // bytes from the arena start, 256-aligned
  int64_t bytes = 0;
};

// The layout of an engine's device arena. Contract:
//   - weights: every module weight in declaration order, each 256-aligned,
//     stored in its declared dtype;
//   - kv_cache: every cache parameter (k_cache.*, v_cache.*) of the
//     largest-batch step function, [batch, cache, kv_heads, head_dim]; the
//     smaller-batch functions use its leading rows, which are contiguous
//     because batch is the outermost dim;
//   - step_inputs: the largest input_ids + positions of any step function;
//   - activations: the largest activation peak of any step function (steps
//     run one at a time, so they share one arena), read from the `offset`
//     attributes plan-memory wrote.
// Regions are disjoint and in this order; total_bytes is their aligned sum.
struct DeviceArenaPlan {
  std::vector<ArenaRegion> regions;
  int64_t total_bytes = 0;

  const ArenaRegion* Find(const std::string& name) const;
  // "weights 512.0 MiB, kv_cache 90.0 MiB, ... = total 640.3 MiB".
  std::string Summary() const;
};

// An estimate from plan-memory alone, for engines without launch plans (the
// cpu target's summary): plans the arena of a compiled (specialised,
// memory-planned) module. Fails
// when a step function has a value without a static size, or no function
// has been memory-planned (run plan-memory first).
absl::StatusOr<DeviceArenaPlan> PlanDeviceArena(const Module& module);

// The arena the CUDA executor allocates for `plans` (launch_plan.h):
// regions weights, kv_cache, step_inputs, rope_tables and scratch (the
// largest plan's; plans run one at a time), each 256-aligned, in this order.
DeviceArenaPlan PlanDeviceArena(const StaticLayout& layout, const std::vector<LaunchPlan>& plans);

// OK when the plan fits in `free_bytes` of device memory; otherwise a
// ResourceExhausted error naming both numbers, each region, and the
// compile-model flags that shrink it.
absl::Status CheckArenaFits(const DeviceArenaPlan& plan, int64_t free_bytes,
                            const std::string& device_name);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_ARENA_PLAN_H_
