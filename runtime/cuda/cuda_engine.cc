#include "runtime/cuda/cuda_engine.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/plan/launch_plan_json.h"

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

absl::StatusOr<CudaEngineFiles> ReadCudaEngine(const std::string& dir, const std::string& target) {
  if (target == "cpu") {
    return absl::FailedPreconditionError("a cpu engine runs on the reference executor, not CUDA");
  }
  CudaEngineFiles files;
  KILN_ASSIGN_OR_RETURN(files.engine, LoadEngine(dir, target));
  KILN_ASSIGN_OR_RETURN(files.bundle, ReadKernelBundle(files.engine.kernel_files));
  if (files.bundle.arch != target) {
    return absl::DataLossError(absl::StrCat(dir, "/kernels.json holds ", files.bundle.arch,
                                            " kernels for a ", target, " engine"));
  }
  // The plans compile-model checked, run as written: the loader never plans.
  auto plans_file = files.engine.kernel_files.find(kEngineLaunchPlansFile);
  if (plans_file == files.engine.kernel_files.end()) {
    return absl::DataLossError(absl::StrCat("the ", target, " engine in ", dir, " has no ",
                                            kEngineLaunchPlansFile,
                                            ": recompile with compile-model"));
  }
  KILN_ASSIGN_OR_RETURN(files.planned, LaunchPlansFromJson(plans_file->second));
  KILN_RETURN_IF_ERROR(CheckPlansMatchEngine(files.engine, files.planned));
  KILN_RETURN_IF_ERROR(CheckBundleCoversPlans(files.bundle, files.planned.plans));
  // The cuBLASLt algorithms compile-model measured, when it had this GPU.
  if (auto it = files.engine.kernel_files.find(kGemmChoicesFile);
      it != files.engine.kernel_files.end()) {
    KILN_ASSIGN_OR_RETURN(files.gemm_choices, ParseGemmChoices(it->second));
  }
  return files;
}

absl::StatusOr<CudaEngine> LoadCudaEngine(const std::string& dir, const std::string& target,
                                          CudaExecutorOptions options) {
  if (target == "cpu") {
    return absl::FailedPreconditionError("a cpu engine runs on the reference executor, not CUDA");
  }
  // The cheap check first: no GPU means no reason to read gigabytes.
  if (options.device_api == nullptr) {
    KILN_RETURN_IF_ERROR(CudaDeviceAvailable(options.device).status());
  }
  KILN_ASSIGN_OR_RETURN(CudaEngineFiles files, ReadCudaEngine(dir, target));
  if (files.gemm_choices) options.gemm_choices = &*files.gemm_choices;
  CudaEngine out;
  KILN_ASSIGN_OR_RETURN(
      out.executor,
      CudaExecutor::Create(files.engine.module, files.engine.weights,
                           std::move(files.planned.layout), std::move(files.planned.plans),
                           files.bundle, options));
  for (const EngineBucket& b : files.engine.manifest.buckets) {
    if (b.batch == 1) out.batch1_buckets.push_back({b.function, b.seq});
  }
  files.engine.weights = WeightStore();  // on the device now: unmap the file
  files.engine.kernel_files.clear();
  out.engine = std::move(files.engine);
  return out;
}

}  // namespace kiln
