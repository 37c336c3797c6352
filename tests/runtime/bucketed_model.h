// Fixture models compiled the way compile-model compiles an engine: @forward
// specialised into (batch, length) buckets, then fused, cleaned up and
// memory-planned, run on the reference executor.
#ifndef KILN_TESTS_RUNTIME_BUCKETED_MODEL_H_
#define KILN_TESTS_RUNTIME_BUCKETED_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "runtime/reference/executor.h"
#include "runtime/session/session_util.h"

namespace kiln {

struct BucketedModel {
  std::unique_ptr<ReferenceExecutor> executor;
  // For each batch: decode_b<batch> (seq 1), then prefill_b<batch>_s<len>.
  std::map<int64_t, std::vector<SessionBucket>> buckets;
  // Every bucket, as an engine's manifest lists them.
  std::vector<SessionBucket> all_buckets;
};

// Builds the model in `dir` (a fixture directory) in `dtype`, with one
// decode bucket and one prefill bucket per length for each batch, all with
// a cache of `capacity` positions.
absl::StatusOr<BucketedModel> CompileBucketedModel(const std::string& dir, DType dtype,
                                                   const std::vector<int64_t>& batches,
                                                   const std::vector<int64_t>& lengths,
                                                   int64_t capacity);

// The model in `dir` unspecialised: the generic @forward.
absl::StatusOr<std::unique_ptr<ReferenceExecutor>> LoadGenericModel(const std::string& dir,
                                                                    DType dtype);

}  // namespace kiln

#endif  // KILN_TESTS_RUNTIME_BUCKETED_MODEL_H_
