// An engine's launch plans (kernel.launch_plans.json), read and bound to
// the rest of the engine: what every plan-running backend (CUDA, CPU) loads.
#ifndef KILN_RUNTIME_ENGINE_ENGINE_PLANS_H_
#define KILN_RUNTIME_ENGINE_ENGINE_PLANS_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/plan/launch_plan_json.h"
#include "runtime/engine/engine.h"

namespace kiln {

// The plans compile-model wrote into `engine` (loaded from `dir`), checked
// against themselves (LaunchPlansFromJson) and against the engine: one plan
// per bucket with its shape and the model's vocabulary, the layout's weights
// exactly the stored ones. DataLoss naming what does not match ("recompile
// with compile-model"), FailedPrecondition for another plan format version.
absl::StatusOr<PlannedEngine> ReadEnginePlans(const Engine& engine, const std::string& dir);

}  // namespace kiln

#endif  // KILN_RUNTIME_ENGINE_ENGINE_PLANS_H_
