// One scenario every plan executor (on the emulator, on a GPU) is checked on,
// next to the reference executor: a plan test model compiled into four
// buckets that share one set of caches, as an engine's buckets do.
//   1. prefill_b2_s8: two random 8-token prompts at positions 0..7;
//   2. decode_b2 at positions 8..11, fed the reference's greedy tokens;
//   3. prefill_b1_s16: row 0 continues alone with a 16-token chunk at 12..27
//      (the batch-1 buckets use the caches' leading row);
//   4. decode_b1 at 28..30.
#ifndef KILN_TESTS_RUNTIME_CUDA_PLAN_SCENARIO_H_
#define KILN_TESTS_RUNTIME_CUDA_PLAN_SCENARIO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "codegen/plan/launch_plan.h"
#include "ir/module.h"
#include "passes/pipeline.h"
#include "runtime/reference/executor.h"
#include "runtime/session/plan_executor.h"
#include "runtime/session/session_util.h"

namespace kiln::testing {

// A plan model compiled into the scenario's buckets (cache 64), with seeded
// random weights, its static layout and one plan per bucket.
struct CompiledPlanModel {
  Module module;
  WeightMap weights;
  StaticLayout layout;
  std::vector<LaunchPlan> plans;
};
absl::StatusOr<CompiledPlanModel> CompilePlanModel(const std::string& family, DType dtype,
                                                   const codegen::GpuTarget& info);
// The same model and weights compiled into other buckets and capacity.
absl::StatusOr<CompiledPlanModel> CompilePlanModelInto(const std::string& family, DType dtype,
                                                       const codegen::GpuTarget& info,
                                                       const std::vector<BucketSpec>& buckets,
                                                       int64_t capacity);

// A tiny HF fixture (tests/fixtures/models/<family>/<dtype>: its config
// and Transformers-made weights) compiled into the batch-1 buckets
// HfFixtureBuckets() names, cache kHfFixtureCapacity, planned for `info`:
// what a PlanSession runs to compare a backend with Transformers
// (tests/support/hf_fixture.h).
inline constexpr int64_t kHfFixtureCapacity = 32;
absl::StatusOr<CompiledPlanModel> CompileHfFixture(const std::string& dir, DType dtype,
                                                   const codegen::GpuTarget& info);
std::vector<SessionBucket> HfFixtureBuckets();

// One step's outputs from the executor under test and from the reference.
struct ScenarioStep {
  std::string function;
  int32_t first_position = 0;
  std::vector<float> got, want;      // logits
  std::vector<int32_t> next_tokens;  // the executor's argmax kernel
};

// Runs the scenario through `executor` (fresh caches) and the reference.
// An error when either side fails a step.
absl::StatusOr<std::vector<ScenarioStep>> RunScenario(const CompiledPlanModel& model,
                                                      PlanExecutor& executor);

// max |got - want| over every step's logits; NaN if any difference is.
double MaxLogitDiff(const std::vector<ScenarioStep>& steps);

// Where the plan tests' NVRTC compiles are cached: $KILN_TEST_KERNEL_CACHE
// (check.sh shares it between the GPU suite and its sanitizer reruns), else
// the test's temporary directory under Bazel, else nowhere ("").
std::string TestKernelCacheDir();

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CUDA_PLAN_SCENARIO_H_
