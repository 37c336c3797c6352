#include "runtime/cuda/cuda_engine.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan.h"
#include "codegen/plan/launch_plan_json.h"

namespace kiln {

absl::StatusOr<CudaEngine> LoadCudaEngine(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions options) {
  if (target == "cpu") {
    return absl::FailedPreconditionError("a cpu engine runs on the reference executor, not CUDA");
  }
  // The cheap check first: no GPU means no reason to read gigabytes.
  KILN_RETURN_IF_ERROR(CudaDeviceAvailable(options.device).status());
  KILN_ASSIGN_OR_RETURN(Engine engine, LoadEngine(dir, target));
  KILN_ASSIGN_OR_RETURN(KernelBundle bundle, ReadKernelBundle(engine.kernel_files));
  if (bundle.arch != target) {
    return absl::DataLossError(absl::StrCat(dir, "/kernels.json holds ", bundle.arch,
                                            " kernels for a ", target, " engine"));
  }
  // The plans compile-model checked, run as written: the loader never plans.
  auto plans_file = engine.kernel_files.find(kEngineLaunchPlansFile);
  if (plans_file == engine.kernel_files.end()) {
    return absl::DataLossError(absl::StrCat("the ", target, " engine in ", dir, " has no ",
                                            kEngineLaunchPlansFile, ": recompile with compile-model"));
  }
  KILN_ASSIGN_OR_RETURN(PlannedEngine planned, LaunchPlansFromJson(plans_file->second));
  StaticLayout& layout = planned.layout;
  std::vector<LaunchPlan>& plans = planned.plans;
  KILN_RETURN_IF_ERROR(CheckBundleCoversPlans(bundle, plans));
  // The cuBLASLt algorithms compile-model measured, when it had this GPU.
  GemmChoices gemm_choices;
  if (auto it = engine.kernel_files.find(kGemmChoicesFile); it != engine.kernel_files.end()) {
    KILN_ASSIGN_OR_RETURN(gemm_choices, ParseGemmChoices(it->second));
    options.gemm_choices = &gemm_choices;
  }
  CudaEngine out;
  KILN_ASSIGN_OR_RETURN(out.executor,
                        CudaExecutor::Create(engine.module, engine.weights, std::move(layout),
                                             std::move(plans), bundle, options));
  for (const EngineBucket& b : engine.manifest.buckets) {
    if (b.batch == 1) out.batch1_buckets.push_back({b.function, b.seq});
  }
  engine.weights = WeightStore();  // on the device now: unmap the file
  engine.kernel_files.clear();
  out.engine = std::move(engine);
  return out;
}

}  // namespace kiln
