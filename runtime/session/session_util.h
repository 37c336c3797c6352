// What the batch-1 and batched sessions share: checking and choosing
// compiled buckets, the static KV caches, and running one step.
#ifndef KILN_RUNTIME_SESSION_SESSION_UTIL_H_
#define KILN_RUNTIME_SESSION_SESSION_UTIL_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "runtime/reference/executor.h"

namespace kiln {

// A function compiled for a fixed number of tokens per step (and, in an
// engine, a fixed batch: the static first dim of its input_ids).
struct SessionBucket {
  std::string function;
  int64_t seq = 0;
};

// The batch `function` was compiled for: the static first dim of its
// input_ids, or 0 when that dim is symbolic (the generic @forward, which
// runs any batch). Fails when the module has no such step function
// (ir/step_function.h's forward signature).
absl::StatusOr<int64_t> StepFunctionBatch(const Module& module, const std::string& function);

// Checks that every bucket is a step function of `module` with a positive
// length that runs `batch` rows, and sorts them by length. Returns the
// function the caches are shaped after: the first bucket, or @forward when
// there are none.
absl::StatusOr<const Function*> PrepareBuckets(const Module& module, int64_t batch,
                                               std::vector<SessionBucket>& buckets);

// The bucket for a step with `rest` tokens still to run and `room` cache
// positions free: the smallest that holds them all, else the largest that
// fits (the step runs a chunk). Null when none fits. `buckets` is sorted.
const SessionBucket* PickBucket(std::span<const SessionBucket> buckets, int64_t rest, int64_t room);

// One step of a chunked run: `take` tokens from `position` on, in `bucket`
// (right-padded with token 0 to bucket->seq).
struct Chunk {
  const SessionBucket* bucket = nullptr;
  int64_t position = 0;
  int64_t take = 0;
};
// The chunks PickBucket gives `count` tokens starting at `position` in a
// cache of `capacity`; OutOfRange when a chunk fits no bucket.
absl::StatusOr<std::vector<Chunk>> PlanChunks(std::span<const SessionBucket> buckets,
                                              int64_t position, int64_t count, int64_t capacity);
// A chunk's token ids (from `tokens`, which start at the run's first
// position `first`) and positions, padded to its bucket.
void ChunkInputs(const Chunk& chunk, std::span<const int32_t> tokens, int64_t first,
                 std::vector<int32_t>& ids, std::vector<int32_t>& positions);

// Zeroed caches for the cache parameters of `forward` (all after input_ids
// and positions): [batch, capacity, ...the rest of the parameter's shape].
std::vector<HostTensor> ZeroCaches(const Function& forward, int64_t batch, int64_t capacity);

// Fails, naming `where` ("row 2: " or ""), when an id is outside the
// vocabulary of `forward`'s logits.
absl::Status CheckTokenIds(const Function& forward, std::span<const int32_t> tokens,
                           std::string_view where);

// Runs one step of `function` on ids and positions [batch, width]; the
// caches move into the call and come back updated in place. Returns the
// logits, [batch, width, vocab]. Inputs are checked by the sessions before,
// so a failure here is unexpected: the caches are then zeroed (the caller
// starts over, empty) and the error returned.
absl::StatusOr<HostTensor> RunStep(const ReferenceExecutor& executor, const std::string& function,
                                   HostTensor ids, HostTensor positions,
                                   std::vector<HostTensor>& caches);

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_SESSION_UTIL_H_
