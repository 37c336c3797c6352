#include "tests/runtime/cuda/emulated_executor.h"

#include "base/status_macros.h"
#include "codegen/plan/compile_kernels.h"
#include "codegen/plan/kernel_bundle.h"
#include "runtime/emulator/emulated_device.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln::testing {

absl::StatusOr<std::unique_ptr<CudaExecutor>> CreateEmulatedExecutor(
    const Module& module, const WeightMap& weights, const StaticLayout& layout,
    const std::vector<LaunchPlan>& plans, const codegen::GpuTarget& target,
    CudaExecutorOptions options) {
  KILN_ASSIGN_OR_RETURN(KernelBundle bundle,
                        CompileKernelBundle(plans, target, TestKernelCacheDir()));
  KILN_ASSIGN_OR_RETURN(options.device_api,
                        emulator::MakeEmulatedDevice({.arch = target.sm_arch()}));
  return CudaExecutor::Create(module, weights, layout, plans, bundle, std::move(options));
}

}  // namespace kiln::testing
