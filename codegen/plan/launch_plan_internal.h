// Helpers shared by the launch plan's source files (not part of its API).
#ifndef KILN_CODEGEN_PLAN_LAUNCH_PLAN_INTERNAL_H_
#define KILN_CODEGEN_PLAN_LAUNCH_PLAN_INTERNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/attention/attention_host.h"
#include "ir/module.h"
#include "codegen/plan/build_launch_plan.h"

namespace kiln::launch_internal {

// cudaMalloc's alignment, and what keeps every buffer's loads coalesced.
inline constexpr int64_t kArenaAlignment = 256;
int64_t AlignUp(int64_t n);

// Bytes of a statically shaped tensor; InvalidArgument naming `what` if any
// dim is symbolic.
absl::StatusOr<int64_t> StaticBytes(const TensorType& type, const std::string& what);

// A k_cache.N / v_cache.N parameter.
bool IsCacheParam(const Node& node);

// The rope node's attributes as the kernels take them (ir/op.cc defaults).
codegen::attention::RopeParams RopeParamsOf(const Node& rope);

// The name of the cos/sin table for these parameters (StaticLayout::tables).
std::string TableKey(bool identity, const codegen::attention::RopeParams& p, int head_dim,
                     DType dtype);

// A step before ordering, and the definition index of the last node it
// computes (the tie-break that keeps the plan in IR order).
struct PendingStep {
  LaunchStep step;
  int anchor = 0;
};

// One operand of a step and whether the step writes it.
struct Operand {
  DeviceBuffer* buffer;
  bool written;
};
std::vector<Operand> StepOperands(LaunchStep& step);

// The steps in an order that respects their data dependencies: a reader of
// a scratch value or cache runs after every step that writes it with an
// earlier anchor. InternalError on a cycle.
absl::StatusOr<std::vector<LaunchStep>> OrderSteps(std::vector<PendingStep> pending);

// Gives every scratch buffer of `plan.steps` its offset (the fault flag at
// 0; the logits and next tokens never freed) and sets plan.scratch_bytes,
// plan.logits, plan.next_tokens and plan.fault.
absl::Status PlaceScratch(LaunchPlan& plan);

}  // namespace kiln::launch_internal

#endif  // KILN_CODEGEN_PLAN_LAUNCH_PLAN_INTERNAL_H_
