#include "tests/runtime/cuda/plan_scenario.h"

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/plan/build_launch_plan.h"
#include "models/checkpoint.h"
#include "models/config_reader.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "models/weights.h"
#include "tests/runtime/cuda/plan_models.h"
#include "tests/support/error_metrics.h"

namespace kiln::testing {
namespace {

// The reference executor's side: it carries the caches ([2, 64, ...]).
class ReferenceRun {
 public:
  explicit ReferenceRun(const CompiledPlanModel& model) : model_(model) {
    const Function& wide = *model.module.FindFunction("prefill_b2_s8");
    for (ValueId id : wide.params) {
      const Node& p = wide.node(id);
      if (p.name.find("cache") == std::string::npos) continue;
      std::vector<int64_t> shape;
      for (const Dim& d : p.type.shape) shape.push_back(d.size);
      caches_.push_back(HostTensor::Zeros(p.type.dtype, shape));
    }
  }

  // Runs `function` (batch `batch`) on the leading `batch` rows of the caches.
  absl::StatusOr<std::vector<float>> Run(const ReferenceExecutor& ex, const std::string& function,
                                         int64_t batch, int64_t seq,
                                         const std::vector<int32_t>& ids,
                                         const std::vector<int32_t>& pos) {
    std::vector<HostTensor> inputs;
    inputs.push_back(HostTensor::FromInts(DType::kI32, {batch, seq}, {ids.begin(), ids.end()}));
    inputs.push_back(HostTensor::FromInts(DType::kI32, {batch, seq}, {pos.begin(), pos.end()}));
    for (const HostTensor& c : caches_) {
      std::vector<int64_t> shape = c.shape;
      const int64_t row = c.numel() / shape[0];
      shape[0] = batch;
      inputs.push_back(HostTensor::FromFloats(c.dtype, shape,
                                              {c.floats.begin(), c.floats.begin() + batch * row}));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> out, ex.Run(function, std::move(inputs)));
    for (size_t i = 0; i < caches_.size(); ++i) {
      const std::vector<float>& updated = out[i + 1].floats;
      std::copy(updated.begin(), updated.end(), caches_[i].floats.begin());
    }
    return out[0].floats;
  }

 private:
  const CompiledPlanModel& model_;
  std::vector<HostTensor> caches_;
};

// Greedy token of each row's last position.
std::vector<int32_t> LastArgmax(const std::vector<float>& logits, int64_t batch, int64_t seq,
                                int64_t vocab) {
  std::vector<int32_t> out;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits.data() + ((b * seq) + seq - 1) * vocab;
    out.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row));
  }
  return out;
}

// The static layout and one launch plan per function of `model.module`.
absl::Status PlanEveryBucket(CompiledPlanModel& model, const codegen::GpuTarget& info) {
  KILN_ASSIGN_OR_RETURN(model.layout, LayOutStaticSpaces(model.module));
  for (const Function& f : model.module.functions) {
    KILN_ASSIGN_OR_RETURN(model.plans.emplace_back(),
                          BuildLaunchPlan(model.module, f.name, model.layout, info));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompiledPlanModel> CompilePlanModel(const std::string& family, DType dtype,
                                                   const codegen::GpuTarget& info) {
  return CompilePlanModelInto(family, dtype, info,
                              {{"prefill_b2_s8", 2, 8},
                               {"decode_b2", 2, 1},
                               {"prefill_b1_s16", 1, 16},
                               {"decode_b1", 1, 1}},
                              64);
}

absl::StatusOr<CompiledPlanModel> CompilePlanModelInto(const std::string& family, DType dtype,
                                                       const codegen::GpuTarget& info,
                                                       const std::vector<BucketSpec>& buckets,
                                                       int64_t capacity) {
  KILN_ASSIGN_OR_RETURN(ConfigReader config, ConfigReader::Parse(PlanModelConfig(family)));
  KILN_ASSIGN_OR_RETURN(BuiltModel built, BuildModel(config, BuildOptions{dtype, std::nullopt}));
  CompiledPlanModel model;
  model.module = std::move(built.module);
  KILN_RETURN_IF_ERROR(CompileBuckets(model.module, kForwardFunction, buckets, capacity));
  model.weights = RandomWeights(model.module, 17);
  KILN_RETURN_IF_ERROR(PlanEveryBucket(model, info));
  return model;
}

absl::StatusOr<CompiledPlanModel> CompileHfFixture(const std::string& dir, DType dtype,
                                                   const codegen::GpuTarget& info) {
  KILN_ASSIGN_OR_RETURN(BuiltModel built, BuildModelFromDir(dir, BuildOptions{dtype, std::nullopt}));
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
  CompiledPlanModel model;
  KILN_ASSIGN_OR_RETURN(model.weights, LoadWeights(built.module, checkpoint));
  model.module = std::move(built.module);
  std::vector<BucketSpec> buckets;
  for (const SessionBucket& b : HfFixtureBuckets()) {
    buckets.push_back({b.function, 1, b.seq});
  }
  KILN_RETURN_IF_ERROR(CompileBuckets(model.module, kForwardFunction, buckets, kHfFixtureCapacity));
  KILN_RETURN_IF_ERROR(PlanEveryBucket(model, info));
  return model;
}

std::vector<SessionBucket> HfFixtureBuckets() {
  return {{"decode_b1", 1}, {"prefill_b1_s8", 8}, {"prefill_b1_s16", 16}};
}

absl::StatusOr<std::vector<ScenarioStep>> RunScenario(const CompiledPlanModel& model,
                                                      PlanExecutor& executor) {
  KILN_RETURN_IF_ERROR(executor.ResetCaches());
  KILN_ASSIGN_OR_RETURN(ReferenceExecutor ref,
                        ReferenceExecutor::Create(model.module, model.weights));
  ReferenceRun reference(model);
  const int64_t vocab = model.plans.front().vocab;
  std::vector<ScenarioStep> steps;
  auto step = [&](const std::string& fn, int64_t batch, int64_t seq, std::vector<int32_t> ids,
                  std::vector<int32_t> pos) -> absl::StatusOr<std::vector<int32_t>> {
    ScenarioStep s{fn, pos[0], {}, {}, {}};
    absl::StatusOr<PlanOutput> got = executor.Run(fn, ids, pos, /*copy_logits=*/true);
    if (!got.ok()) return absl::InternalError(absl::StrCat(fn, ": ", got.status().ToString()));
    KILN_ASSIGN_OR_RETURN(s.want, reference.Run(ref, fn, batch, seq, ids, pos));
    s.got = std::move(got->logits);
    s.next_tokens = std::move(got->next_tokens);
    if (s.got.size() != s.want.size()) return absl::InternalError(fn + ": logits sizes differ");
    steps.push_back(std::move(s));
    return LastArgmax(steps.back().want, batch, seq, vocab);
  };
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(vocab) - 1);
  std::vector<int32_t> ids(16), pos(16);
  for (int i = 0; i < 16; ++i) {
    ids[i] = token(rng);
    pos[i] = i % 8;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int32_t> next, step("prefill_b2_s8", 2, 8, ids, pos));
  for (int32_t p = 8; p < 12; ++p) {
    KILN_ASSIGN_OR_RETURN(next, step("decode_b2", 2, 1, next, {p, p}));
  }
  std::vector<int32_t> chunk(16), chunk_pos(16);
  for (int i = 0; i < 16; ++i) {
    chunk[i] = token(rng);
    chunk_pos[i] = 12 + i;
  }
  KILN_ASSIGN_OR_RETURN(next, step("prefill_b1_s16", 1, 16, chunk, chunk_pos));
  for (int32_t p = 28; p < 31; ++p) {
    KILN_ASSIGN_OR_RETURN(next, step("decode_b1", 1, 1, next, {p}));
  }
  return steps;
}

double MaxLogitDiff(const std::vector<ScenarioStep>& steps) {
  double worst = 0;
  for (const ScenarioStep& s : steps) {
    for (size_t i = 0; i < s.got.size(); ++i) {
      worst = MaxKeepingNan(worst, std::fabs(static_cast<double>(s.got[i]) - s.want[i]));
    }
  }
  return worst;
}

std::string TestKernelCacheDir() {
  if (const char* dir = std::getenv("KILN_TEST_KERNEL_CACHE"); dir != nullptr) return dir;
  if (const char* dir = std::getenv("TEST_TMPDIR"); dir != nullptr) {
    return std::string(dir) + "/nvrtc-cache";
  }
  return "";
}

}  // namespace kiln::testing
