// What the CPU executor allocates for an engine, computed from its static
// layout and launch plans alone (no weights, no executor): the executor
// sizes its kernel workspace with it and checks that its other allocations
// (caches, inputs, RoPE tables, activation arena) equal it
// (CpuExecutor::Create), and kiln-memory predicts an engine's memory with it
// before the engine exists.
// The weights are not part of it: the executor reads them in place from
// the engine's mapped weights file.
#ifndef KILN_RUNTIME_CPU_CPU_MEMORY_H_
#define KILN_RUNTIME_CPU_CPU_MEMORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/plan/launch_plan.h"

namespace kiln::cpu {

// Bytes by purpose; total() is everything the executor holds besides the
// mapped weights.
struct CpuMemory {
  int64_t caches = 0;       // the static KV caches (layout.caches_bytes)
  int64_t step_inputs = 0;  // input ids and positions (layout.inputs_bytes)
  int64_t rope_tables = 0;  // the cos/sin tables, held as f32
  int64_t scratch = 0;      // the largest plan's activation arena (plans run one at a time)
  // Kernel workspace: each thread's own scratch (row kernels, attention
  // tiles, the quantized activations of a product of a few rows), rounded
  // to 64 bytes, times `threads`; and what the threads share (a larger
  // product's quantized or converted activations, attention partials).
  int64_t thread_scratch_each = 0;
  int64_t thread_scratch = 0;
  int64_t shared = 0;
  int threads = 0;

  int64_t workspace() const { return thread_scratch + shared; }
  int64_t total() const { return caches + step_inputs + rope_tables + scratch + workspace(); }
  // "kv_cache 9.0 MiB, step_inputs 2.0 KiB, ... = 12.3 MiB (2 threads)".
  std::string Summary() const;
};

// InvalidArgument when `threads` < 1. The plans are sized as they are (the
// executor checks them before it allocates what this returns).
absl::StatusOr<CpuMemory> PlanCpuMemory(const StaticLayout& layout,
                                        const std::vector<LaunchPlan>& plans, int threads);

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_CPU_MEMORY_H_
