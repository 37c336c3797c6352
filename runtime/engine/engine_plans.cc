#include "runtime/engine/engine_plans.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/engine_format.h"

namespace kiln {
namespace {

absl::Status PlansMismatch(const std::string& what) {
  return absl::DataLossError(absl::StrCat(kEngineLaunchPlansFile, " does not belong to model.ir: ",
                                          what, ": recompile with compile-model"));
}

// The plans were checked against themselves when parsed; this binds them to
// the rest of the engine: one plan per bucket with the bucket's shape and
// the model's vocabulary, and the layout's weights exactly the module's (a
// weight the layout left out would never be uploaded and read as zeros).
absl::Status CheckPlansMatchEngine(const Engine& engine, const PlannedEngine& planned) {
  std::set<std::string> planned_functions;
  for (const LaunchPlan& plan : planned.plans) {
    if (!planned_functions.insert(plan.function).second) {
      return PlansMismatch("two plans for @" + plan.function);
    }
  }
  for (const EngineBucket& b : engine.manifest.buckets) {
    absl::StatusOr<const LaunchPlan*> plan = FindPlan(planned.plans, b.function);
    if (!plan.ok()) return PlansMismatch("no plan for bucket @" + b.function);
    if ((*plan)->batch != b.batch || (*plan)->seq != b.seq) {
      return PlansMismatch(absl::StrCat("@", b.function, " is planned for batch ", (*plan)->batch,
                                        " x ", (*plan)->seq, " tokens, the bucket is ", b.batch,
                                        " x ", b.seq));
    }
    const Function* f = engine.module.FindFunction(b.function);
    if (f == nullptr) return PlansMismatch("model.ir has no @" + b.function);
    if (f->results.empty()) return PlansMismatch("@" + b.function + " returns nothing");
    const TensorType& logits = f->node(f->results.front()).type;
    if (logits.shape.empty() || logits.shape.back().size != (*plan)->vocab) {
      return PlansMismatch(absl::StrCat("@", b.function, " is planned for a vocabulary of ",
                                        (*plan)->vocab));
    }
  }
  if (planned.plans.size() != engine.manifest.buckets.size()) {
    return PlansMismatch(absl::StrCat(planned.plans.size(), " plans for ",
                                      engine.manifest.buckets.size(), " buckets"));
  }
  if (planned.layout.weights.size() != engine.weights.views().size()) {
    return PlansMismatch(absl::StrCat("the arena places ", planned.layout.weights.size(),
                                      " weights, the model has ", engine.weights.views().size()));
  }
  for (const auto& [name, buffer] : planned.layout.weights) {
    const WeightView* view = engine.weights.Find(name);
    if (view == nullptr || static_cast<int64_t>(view->bytes.size()) != buffer.bytes ||
        view->dtype != buffer.dtype) {
      return PlansMismatch("the arena's weight " + name + " is not the model's");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PlannedEngine> ReadEnginePlans(const Engine& engine, const std::string& dir) {
  auto file = engine.kernel_files.find(kEngineLaunchPlansFile);
  if (file == engine.kernel_files.end()) {
    return absl::DataLossError(absl::StrCat("the ", engine.manifest.target, " engine in ", dir,
                                            " has no ", kEngineLaunchPlansFile,
                                            ": recompile with compile-model"));
  }
  KILN_ASSIGN_OR_RETURN(PlannedEngine planned, LaunchPlansFromJson(file->second));
  KILN_RETURN_IF_ERROR(CheckPlansMatchEngine(engine, planned));
  return planned;
}

}  // namespace kiln
