#include "runtime/cuda/cuda_engine.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "codegen/device_info.h"
#include "base/status_macros.h"
#include "runtime/cuda/gemm_choices.h"
#include "runtime/cuda/kernel_bundle.h"
#include "runtime/cuda/launch_plan.h"

namespace kiln {

absl::StatusOr<CudaEngine> LoadCudaEngine(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions options) {
  const auto start = std::chrono::steady_clock::now();
  if (target == "cpu") {
    return absl::FailedPreconditionError("a cpu engine runs on the reference executor, not CUDA");
  }
  // The cheap check first: no GPU means no reason to read gigabytes.
  KILN_RETURN_IF_ERROR(CudaDeviceAvailable(options.device).status());
  KILN_ASSIGN_OR_RETURN(codegen::DeviceInfo info, codegen::DeviceInfoForTarget(target));
  KILN_ASSIGN_OR_RETURN(Engine engine, LoadEngine(dir, target));
  KILN_ASSIGN_OR_RETURN(KernelBundle bundle, ReadKernelBundle(engine.kernel_files));
  if (bundle.arch != info.sm_arch()) {
    return absl::DataLossError(absl::StrCat(dir, "/kernels.json holds ", bundle.arch,
                                            " kernels for a ", target, " engine"));
  }
  KILN_ASSIGN_OR_RETURN(StaticLayout layout, LayOutStaticSpaces(engine.module));
  std::vector<LaunchPlan> plans;
  for (const Function& f : engine.module.functions) {
    KILN_ASSIGN_OR_RETURN(plans.emplace_back(),
                          BuildLaunchPlan(engine.module, f.name, layout, info));
  }
  // The cuBLASLt algorithms compile-model measured, when it had this GPU.
  GemmChoices gemm_choices;
  if (auto it = engine.kernel_files.find(kGemmChoicesFile); it != engine.kernel_files.end()) {
    KILN_ASSIGN_OR_RETURN(gemm_choices, ParseGemmChoices(it->second));
    options.gemm_choices = &gemm_choices;
  }
  CudaEngine out;
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  KILN_ASSIGN_OR_RETURN(out.executor,
                        CudaExecutor::Create(engine.module, engine.weights, std::move(layout),
                                             std::move(plans), bundle, options));
  for (const EngineBucket& b : engine.manifest.buckets) {
    if (b.batch == 1) out.batch1_buckets.push_back({b.function, b.seq});
  }
  engine.weights.clear();
  engine.kernel_files.clear();
  out.engine = std::move(engine);
  return out;
}

}  // namespace kiln
