#include "runtime/cpu/cpu_engine.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/engine/engine_plans.h"

namespace kiln::cpu {

absl::Status CheckCpuEnvironment() {
  if (const char* threads = std::getenv("KILN_CPU_THREADS"); threads != nullptr && *threads) {
    absl::StatusOr<int> n = ParseCpuThreads(threads);
    if (!n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("KILN_CPU_THREADS: ", n.status().message()));
    }
  }
  absl::StatusOr<SimdLevel> simd = SimdLevelFromEnv();
  if (!simd.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("KILN_CPU_SIMD: ", simd.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<CpuEngine> LoadCpuEngine(const std::string& dir, CpuExecutorOptions options) {
  KILN_ASSIGN_OR_RETURN(std::string target, EngineTarget(dir));
  if (target != "cpu") {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " was compiled for ", target, ", not the cpu target: run it on a GPU, or recompile "
        "it with compile-model --target cpu"));
  }
  CpuEngine out;
  KILN_ASSIGN_OR_RETURN(out.engine, LoadEngine(dir, "cpu"));
  KILN_ASSIGN_OR_RETURN(PlannedEngine planned, ReadEnginePlans(out.engine, dir));
  KILN_ASSIGN_OR_RETURN(out.executor,
                        CpuExecutor::Create(out.engine.module, out.engine.weights,
                                            std::move(planned.layout), std::move(planned.plans),
                                            options));
  for (const EngineBucket& b : out.engine.manifest.buckets) {
    if (b.batch == 1) out.batch1_buckets.push_back({b.function, b.seq});
  }
  out.engine.kernel_files.clear();
  return out;
}

}  // namespace kiln::cpu
