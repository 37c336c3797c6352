// Compiling an engine's kernels: every kernel its launch plans use,
// rendered and compiled by NVRTC (compile-model's half of kernel_bundle.h).
#ifndef KILN_CODEGEN_PLAN_COMPILE_KERNELS_H_
#define KILN_CODEGEN_PLAN_COMPILE_KERNELS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "codegen/kernel_desc.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

// Compiles every kernel `plans` use for `info`, on every core, through the
// NVRTC cache in `cache_dir` when non-empty. `progress`, when set, is called
// after each compile with (done, total), one call at a time.
absl::StatusOr<KernelBundle> CompileKernelBundle(
    const std::vector<LaunchPlan>& plans, const codegen::GpuTarget& info,
    const std::string& cache_dir, const std::function<void(int, int)>& progress = nullptr);

// The structural identity of a row kernel: its CUDA source with the kernel
// and value names blanked, so two layers' identical kernels share one key.
absl::StatusOr<std::string> RowKernelKey(const codegen::KernelDesc& desc);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_COMPILE_KERNELS_H_
