// Launch plans on the CUDA executor over the CUDA emulator: what the plan
// tests (sessions, the generate loop) run instead of a hand-written CPU
// twin of the plans. The kernels are compiled by NVRTC for `target` (the
// bundle an engine would carry: NVRTC checks the text, the emulator runs
// it), cached in $KILN_TEST_KERNEL_CACHE or the test's temporary
// directory.
#ifndef KILN_TESTS_RUNTIME_CUDA_EMULATED_EXECUTOR_H_
#define KILN_TESTS_RUNTIME_CUDA_EMULATED_EXECUTOR_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "base/host_tensor.h"
#include "codegen/gpu_target.h"
#include "codegen/plan/launch_plan.h"
#include "ir/module.h"
#include "runtime/cuda/cuda_executor.h"

namespace kiln::testing {

absl::StatusOr<std::unique_ptr<CudaExecutor>> CreateEmulatedExecutor(
    const Module& module, const WeightMap& weights, const StaticLayout& layout,
    const std::vector<LaunchPlan>& plans, const codegen::GpuTarget& target,
    CudaExecutorOptions options = {});

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CUDA_EMULATED_EXECUTOR_H_
