// The launch plan helpers the runtime uses (launch_plan.h): finding a plan
// and filling a RoPE table. Building plans is build_launch_plan.h's.
#include <string>
#include <variant>
#include <vector>

#include "codegen/attention/attention_host.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

std::vector<codegen::attention::KernelVariant> AttentionKernelsOf(const LaunchStep& step) {
  if (const auto* r = std::get_if<RopeKvWriteStep>(&step.op)) return {r->variant};
  const auto* a = std::get_if<AttentionStep>(&step.op);
  if (a == nullptr) return {};
  if (a->variant.kind != codegen::attention::KernelKind::kDecode) return {a->variant};
  return {a->variant, a->combine};
}

absl::StatusOr<const LaunchPlan*> FindPlan(const std::vector<LaunchPlan>& plans,
                                           const std::string& function) {
  for (const LaunchPlan& plan : plans) {
    if (plan.function == function) return &plan;
  }
  return absl::NotFoundError("no launch plan for @" + function);
}

std::vector<float> RopeTableValues(const RopeTable& t) {
  if (!t.identity) {
    return codegen::attention::RopeCosSinTable(
        codegen::attention::RopeInverseFrequencies(t.params, t.head_dim), t.capacity, t.dtype);
  }
  std::vector<float> table(static_cast<size_t>(t.capacity * t.head_dim), 0.0f);
  for (int64_t p = 0; p < t.capacity; ++p) {
    for (int i = 0; i < t.head_dim / 2; ++i) table[p * t.head_dim + i] = 1.0f;
  }
  return table;
}

}  // namespace kiln
