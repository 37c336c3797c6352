#include "tests/runtime/bucketed_model.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/checkpoint.h"
#include "models/model.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "models/weights.h"

namespace kiln {
namespace {

// tools/compile_model.cc's pipeline after specialisation.

absl::StatusOr<std::unique_ptr<ReferenceExecutor>> Load(const std::string& dir, Module module) {
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
  KILN_ASSIGN_OR_RETURN(WeightMap weights, LoadWeights(module, checkpoint));
  KILN_ASSIGN_OR_RETURN(ReferenceExecutor executor,
                        ReferenceExecutor::Create(std::move(module), std::move(weights)));
  return std::make_unique<ReferenceExecutor>(std::move(executor));
}

}  // namespace

absl::StatusOr<BucketedModel> CompileBucketedModel(const std::string& dir, DType dtype,
                                                   const std::vector<int64_t>& batches,
                                                   const std::vector<int64_t>& lengths,
                                                   int64_t capacity) {
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModelFromDir(dir, BuildOptions{dtype, std::nullopt}));
  BucketedModel out;
  std::vector<BucketSpec> specs;
  for (int64_t batch : batches) {
    std::vector<SessionBucket>& own = out.buckets[batch];
    own.push_back({absl::StrCat("decode_b", batch), 1});
    for (int64_t len : lengths) own.push_back({absl::StrCat("prefill_b", batch, "_s", len), len});
    for (const SessionBucket& b : own) specs.push_back({b.function, batch, b.seq});
    out.all_buckets.insert(out.all_buckets.end(), own.begin(), own.end());
  }
  // As in an engine: compile-model's pipeline, only the buckets remain.
  KILN_RETURN_IF_ERROR(CompileBuckets(model.module, kForwardFunction, specs, capacity));
  KILN_ASSIGN_OR_RETURN(out.executor, Load(dir, std::move(model.module)));
  return out;
}

absl::StatusOr<std::unique_ptr<ReferenceExecutor>> LoadGenericModel(const std::string& dir,
                                                                    DType dtype) {
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModelFromDir(dir, BuildOptions{dtype, std::nullopt}));
  return Load(dir, std::move(model.module));
}

}  // namespace kiln
