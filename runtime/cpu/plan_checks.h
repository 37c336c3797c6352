// What the CPU executor requires of a launch plan before it runs one, beyond
// what LaunchPlansFromJson / CheckPlannedEngine checked: every buffer a CPU
// kernel touches is large enough for what that kernel reads or writes in
// the dtype it uses, the dtypes of a step agree with each other, and the
// step inputs and outputs sit where the executor reads and writes them. A
// tampered or mismatched kernel.launch_plans.json is refused here
// (DataLoss naming the step and field) instead of reading or writing
// outside the executor's memory.
#ifndef KILN_RUNTIME_CPU_PLAN_CHECKS_H_
#define KILN_RUNTIME_CPU_PLAN_CHECKS_H_

#include "absl/status/status.h"
#include "codegen/plan/launch_plan.h"

namespace kiln::cpu {

// Whether two buffers start at the same place of the same arena space.
bool SamePlace(const DeviceBuffer& a, const DeviceBuffer& b);

// The plan's own buffers: input_ids and positions in the inputs space,
// fault, logits and next_tokens in scratch, each the size of one step.
absl::Status CheckPlanIo(const LaunchPlan& plan);

// One step of `plan` (laid out by `layout`), for the CPU kernels.
absl::Status CheckStep(const LaunchPlan& plan, const StaticLayout& layout, const LaunchStep& step);

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_PLAN_CHECKS_H_
