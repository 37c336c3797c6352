// Building launch plans from a compiled module: compile-model's half of
// codegen/plan/launch_plan.h. The runtime reads the plans an engine carries
// (launch_plan_json.h) and never links this.
#ifndef KILN_CODEGEN_PLAN_BUILD_LAUNCH_PLAN_H_
#define KILN_CODEGEN_PLAN_BUILD_LAUNCH_PLAN_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "codegen/plan/launch_plan.h"
#include "ir/module.h"

namespace kiln {

// Lays out a compiled (specialised) module's engine-wide spaces.
absl::StatusOr<StaticLayout> LayOutStaticSpaces(const Module& module);

// Builds the plan of `function` of a compiled module (CompileBuckets'
// output) for `info`. The function's results must be the logits followed
// by its updated caches (ir/step_function.h).
absl::StatusOr<LaunchPlan> BuildLaunchPlan(const Module& module, const std::string& function,
                                           const StaticLayout& layout,
                                           const codegen::GpuTarget& info);

// A readable listing: one line per step with its operands' spaces, offsets
// and sizes (the engine's kernel.launch_plans.txt, tests).
std::string DumpLaunchPlan(const LaunchPlan& plan);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_BUILD_LAUNCH_PLAN_H_
