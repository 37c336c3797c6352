// Runs launch plans (launch_plan.h) on the CPU: one host byte arena laid out
// exactly as the device arena, every step executed by its CPU twin:
//   - generated row kernels by their host rendering when the caller links it
//     (codegen/host_runtime.h's table), else by the reference executor on the
//     kernel's own IR (KernelDesc::ir), which is the kernel's specification;
//   - GEMMs by the reference's definition (f32 accumulation in order of k,
//     the bias added before one rounding to the dtype), the contract the
//     cuBLASLt call is held to;
//   - RoPE + KV write, flash prefill and split-KV decode + combine by the
//     attention kernels' CPU twins (codegen/attention/attention_host.h).
// So a test of this executor against the reference executor tests the plan
// itself: operand binding, launch order, scratch reuse, in-place updates,
// cache layout across buckets, table contents. What it cannot test is the
// CUDA execution of each kernel, which the GPU suite compares separately.
#ifndef KILN_TESTS_SUPPORT_PLAN_HOST_EXECUTOR_H_
#define KILN_TESTS_SUPPORT_PLAN_HOST_EXECUTOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "codegen/plan/launch_plan.h"
#include "runtime/session/plan_executor.h"
#include "runtime/reference/executor.h"

namespace kiln {

// What a host-rendered generated kernel looks like (codegen/render.h).
using HostKernelFn = void (*)(void* const* buffers, long long rows);

// Owns the host arena (weights uploaded once, caches zeroed) and the plans.
// Caches persist across Run calls, as on the device. Not thread-safe.
class HostPlanExecutor : public PlanExecutor {
 public:
  // `host_kernels` maps kernel names to host renderings to run instead of
  // the reference; a rendering is used only when its IR equals the plan's
  // kernel's (`host_kernel_ir`, same keys).
  static absl::StatusOr<std::unique_ptr<HostPlanExecutor>> Create(
      const Module& module, const WeightMap& weights, StaticLayout layout,
      std::vector<LaunchPlan> plans, std::map<std::string, HostKernelFn> host_kernels = {},
      std::map<std::string, std::string> host_kernel_ir = {});

  absl::StatusOr<PlanOutput> Run(const std::string& function, std::span<const int32_t> input_ids,
                                 std::span<const int32_t> positions, bool copy_logits) override;
  absl::StatusOr<int32_t> SampleRow(const std::string& function, int64_t row,
                                    const codegen::sampling::SampleParams& params) override;
  absl::Status ResetCaches() override;

  // Steps of the last Run executed by a host rendering and by the reference.
  int64_t host_rendered_steps() const { return host_rendered_steps_; }
  int64_t reference_steps() const { return reference_steps_; }

 private:
  HostPlanExecutor() = default;
  uint8_t* Address(const DeviceBuffer& b);
  std::vector<float> ReadFloats(const DeviceBuffer& b, int64_t count = -1);
  void WriteFloats(const DeviceBuffer& b, std::span<const float> values);
  absl::Status UploadWeights(const WeightMap& weights);
  void UploadTables();
  absl::Status RunStep(const LaunchStep& step);
  void SetFault();
  absl::Status RunRowKernel(const RowKernelStep& step);
  void RunGemm(const GemmStep& step);
  void RunRopeKvWrite(const RopeKvWriteStep& step);
  void RunAttention(const AttentionStep& step);

  StaticLayout layout_;
  std::vector<LaunchPlan> plans_;
  std::map<std::string, HostKernelFn> host_kernels_;
  std::map<std::string, std::string> host_kernel_ir_;
  std::map<std::string, std::unique_ptr<ReferenceExecutor>> kernel_refs_;
  std::map<ArenaSpace, std::vector<uint8_t>> spaces_;
  const LaunchPlan* running_ = nullptr;  // the plan Run is executing
  int64_t host_rendered_steps_ = 0;
  int64_t reference_steps_ = 0;
};

}  // namespace kiln

#endif  // KILN_TESTS_SUPPORT_PLAN_HOST_EXECUTOR_H_
