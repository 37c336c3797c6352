#include "runtime/cpu/cpu_memory.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "base/byte_units.h"
#include "runtime/cpu/cpu_steps.h"

namespace kiln::cpu {
namespace {

// What one step needs besides its operands: per thread, and shared.
struct StepWorkspace {
  int64_t per_thread = 0;
  int64_t shared = 0;
};

StepWorkspace StepNeeds(const LaunchStep& step) {
  if (const auto* s = std::get_if<RowKernelStep>(&step.op)) {
    return StepWorkspace{RowProgram::ScratchBytesFor(s->desc), 0};
  }
  if (const auto* g = std::get_if<GemmStep>(&step.op)) {
    const steps::GemmRun run{g->dtype, g->w.dtype, g->m, g->n, g->k};
    return StepWorkspace{run.ThreadBytes(), run.SharedBytes()};
  }
  if (const auto* a = std::get_if<AttentionStep>(&step.op)) {
    const auto& shape = a->variant.shape;
    const AttentionPlan plan =
        PlanAttention({a->batch, a->seq, shape.heads, shape.kv_heads, shape.head_dim, a->capacity});
    return StepWorkspace{plan.scratch_bytes, plan.partial_bytes};
  }
  return StepWorkspace{};  // RoPE + KV write, row gathers: none
}

}  // namespace

std::string CpuMemory::Summary() const {
  return absl::StrCat("kv_cache ", HumanBytes(caches), ", step_inputs ", HumanBytes(step_inputs),
                      ", rope_tables ", HumanBytes(rope_tables), ", activations ",
                      HumanBytes(scratch), ", workspace ", HumanBytes(workspace()), " (", threads,
                      " threads) = ", HumanBytes(total()));
}

absl::StatusOr<CpuMemory> PlanCpuMemory(const StaticLayout& layout,
                                        const std::vector<LaunchPlan>& plans, int threads) {
  if (threads < 1) return absl::InvalidArgumentError("the CPU executor needs at least 1 thread");
  CpuMemory m;
  m.threads = threads;
  m.caches = layout.caches_bytes;
  m.step_inputs = layout.inputs_bytes;
  for (const RopeTable& t : layout.tables) {
    const int64_t element = StorageBytes(t.dtype, 1).value_or(4);
    m.rope_tables += t.buffer.bytes / element * static_cast<int64_t>(sizeof(float));
  }
  int64_t per_thread = 0;
  for (const LaunchPlan& p : plans) {
    m.scratch = std::max(m.scratch, p.scratch_bytes);
    for (const LaunchStep& step : p.steps) {
      const StepWorkspace needs = StepNeeds(step);
      per_thread = std::max(per_thread, needs.per_thread);
      m.shared = std::max(m.shared, needs.shared);
    }
  }
  m.thread_scratch_each = (per_thread + 63) / 64 * 64;
  m.thread_scratch = m.thread_scratch_each * threads;
  return m;
}

}  // namespace kiln::cpu
