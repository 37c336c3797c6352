// The CUDA executor's end-to-end checks, for any device behind the seam
// (runtime/cuda/device_api.h): the GPU suite runs them on the CUDA
// runtime, the emulator suite on the CUDA emulator.
//   - CheckScenario: a plan test model family runs plan_scenario.h's
//     scenario (batch-2 prefill and decode, then batch-1 chunked prefill and
//     decode on the same caches), compared at every step with the reference
//     executor (f32 atol 1e-4: GEMMs sum in their own order; bf16/f16 atol
//     0.12, TESTING.md's tiny-model bound) and with itself launched eagerly
//     instead of from graphs (bit for bit). The argmax kernel's tokens must
//     be the argmax of the returned logits, and the on-device sampler must
//     draw what runtime/generate's SampleToken draws from those logits.
//   - CheckHfParity: the tiny HF fixtures through PlanSession against
//     Transformers' logits and greedy tokens (plan_hf_parity_test's bound).
// Failures are gtest expectations in the calling test.
#ifndef KILN_TESTS_RUNTIME_CUDA_EXECUTOR_CHECKS_H_
#define KILN_TESTS_RUNTIME_CUDA_EXECUTOR_CHECKS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "codegen/gpu_target.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/session/plan_executor.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln::testing {

struct ExecutorCase {
  std::string family;  // a plan test model / HF fixture family
  DType dtype;
};
// Every family in f32, bf16 and f16.
std::vector<ExecutorCase> AllExecutorCases();
std::string CaseName(const ExecutorCase& c);

// A fresh executor's options on the device under test.
using DeviceOptions = std::function<CudaExecutorOptions()>;

void CheckScenario(const ExecutorCase& c, const codegen::GpuTarget& target,
                   const DeviceOptions& device);
void CheckHfParity(const ExecutorCase& c, const codegen::GpuTarget& target,
                   const DeviceOptions& device);
// CheckHfParity on any plan executor `make` builds for the compiled fixture
// (the CPU executor's suite uses it).
using MakeExecutor = std::function<absl::StatusOr<std::unique_ptr<PlanExecutor>>(
    const CompiledPlanModel&)>;
void CheckHfParityOn(const ExecutorCase& c, const codegen::GpuTarget& target,
                     const MakeExecutor& make);

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CUDA_EXECUTOR_CHECKS_H_
