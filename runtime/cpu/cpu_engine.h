// An engine compiled for the cpu target, loaded onto the CPU executor: the
// manifest, IR and weights checked as for every engine (runtime/engine), the
// launch plans compile-model wrote read back as they are and bound to the
// engine (engine_plans.h), and a CpuExecutor over the mapped weights.
#ifndef KILN_RUNTIME_CPU_CPU_ENGINE_H_
#define KILN_RUNTIME_CPU_CPU_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cpu/cpu_executor.h"
#include "runtime/engine/engine.h"
#include "runtime/session/session_util.h"

namespace kiln::cpu {

struct CpuEngine {
  // Manifest, IR (PlanSession reads the buckets' signatures), weights (the
  // executor reads them in place), chat template and generation defaults.
  Engine engine;
  std::unique_ptr<CpuExecutor> executor;
  std::vector<SessionBucket> batch1_buckets;
};

// $KILN_CPU_THREADS and $KILN_CPU_SIMD, when set, must parse (the executor
// would otherwise quietly use its defaults): InvalidArgument naming the
// variable and its value. Tools call it before loading an engine.
absl::Status CheckCpuEnvironment();

// Loads `dir`, which must have been compiled for the cpu target.
// FailedPrecondition for a CUDA engine; LoadEngine's and ReadEnginePlans'
// errors for damaged or mismatched files; the executor's for a weight
// dtype without a CPU kernel.
absl::StatusOr<CpuEngine> LoadCpuEngine(const std::string& dir, CpuExecutorOptions options = {});

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_CPU_ENGINE_H_
