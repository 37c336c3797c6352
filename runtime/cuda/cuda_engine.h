// An engine compiled for a CUDA target (compile-model --target sm_80|sm_90),
// loaded onto the GPU: the manifest and IR checked as for every engine, the
// kernel bundle checked (ABI version, each kernel's digests), the launch
// plans compile-model wrote read back as they are, and a CudaExecutor
// holding weights, caches and captured graphs.
#ifndef KILN_RUNTIME_CUDA_CUDA_ENGINE_H_
#define KILN_RUNTIME_CUDA_CUDA_ENGINE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan_json.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/engine/engine.h"
#include "runtime/session/session_util.h"

namespace kiln {

struct CudaEngine {
  // Manifest, IR (PlanSession reads the buckets' signatures), chat template
  // and generation defaults; the weights are on the device only.
  Engine engine;
  std::unique_ptr<CudaExecutor> executor;
  std::vector<SessionBucket> batch1_buckets;
};

// What a CUDA engine directory holds, read and checked without a GPU: the
// engine, its kernel bundle (ABI version and digests checked), its launch
// plans (checked against themselves, the IR, the buckets, the weights and
// the bundle) and the recorded GEMM algorithms, if any.
struct CudaEngineFiles {
  Engine engine;
  KernelBundle bundle;
  PlannedEngine planned;
  std::optional<GemmChoices> gemm_choices;
};

// Reads `dir`, compiled for `target` (sm_80 or sm_90). DataLoss when any
// part is damaged or belongs to another engine, FailedPrecondition for
// another format or kernel ABI version or a cpu engine.
absl::StatusOr<CudaEngineFiles> ReadCudaEngine(const std::string& dir, const std::string& target);

// Loads `dir`, which must have been compiled for `target` (sm_80 or sm_90).
// FailedPrecondition without a usable GPU (the reason from cudart), or for
// a cpu engine; the executor's own errors otherwise.
absl::StatusOr<CudaEngine> LoadCudaEngine(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions options = {});

}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_CUDA_ENGINE_H_
