#include "runtime/cuda/cuda_engine.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/plan/launch_plan_json.h"
#include "runtime/engine/engine_plans.h"

namespace kiln {

absl::StatusOr<CudaEngineFiles> ReadCudaEngine(const std::string& dir, const std::string& target) {
  if (target == "cpu") {
    return absl::FailedPreconditionError("a cpu engine runs on the reference executor, not CUDA");
  }
  CudaEngineFiles files;
  KILN_ASSIGN_OR_RETURN(files.engine, LoadEngine(dir, target));
  KILN_ASSIGN_OR_RETURN(files.bundle, ReadKernelBundle(files.engine.kernel_files));
  if (files.bundle.arch != target) {
    return absl::DataLossError(absl::StrCat(dir, "/kernels.json holds ", files.bundle.arch,
                                            " kernels for a ", target, " engine"));
  }
  // The plans compile-model checked, run as written: the loader never plans.
  KILN_ASSIGN_OR_RETURN(files.planned, ReadEnginePlans(files.engine, dir));
  KILN_RETURN_IF_ERROR(CheckBundleCoversPlans(files.bundle, files.planned.plans));
  // The cuBLASLt algorithms compile-model measured, when it had this GPU.
  if (auto it = files.engine.kernel_files.find(kGemmChoicesFile);
      it != files.engine.kernel_files.end()) {
    KILN_ASSIGN_OR_RETURN(files.gemm_choices, ParseGemmChoices(it->second));
  }
  return files;
}

absl::StatusOr<CudaEngine> LoadCudaEngine(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions options) {
  if (target == "cpu") {
    return absl::FailedPreconditionError("a cpu engine runs on the reference executor, not CUDA");
  }
  // The cheap check first: no GPU means no reason to read gigabytes.
  if (options.device_api == nullptr) {
    KILN_RETURN_IF_ERROR(CudaDeviceAvailable(options.device).status());
  }
  KILN_ASSIGN_OR_RETURN(CudaEngineFiles files, ReadCudaEngine(dir, target));
  if (files.gemm_choices) options.gemm_choices = &*files.gemm_choices;
  CudaEngine out;
  KILN_ASSIGN_OR_RETURN(
      out.executor,
      CudaExecutor::Create(files.engine.module, files.engine.weights,
                           std::move(files.planned.layout), std::move(files.planned.plans),
                           files.bundle, options));
  for (const EngineBucket& b : files.engine.manifest.buckets) {
    if (b.batch == 1) out.batch1_buckets.push_back({b.function, b.seq});
  }
  files.engine.weights = WeightStore();  // on the device now: unmap the file
  files.engine.kernel_files.clear();
  out.engine = std::move(files.engine);
  return out;
}

}  // namespace kiln
