// A single-sequence generation session on the reference executor.
#ifndef KILN_RUNTIME_REFERENCE_SESSION_H_
#define KILN_RUNTIME_REFERENCE_SESSION_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/reference/executor.h"
#include "runtime/session/sequence_session.h"
#include "runtime/session/session_util.h"

namespace kiln {

// Owns the static KV caches of one sequence and steps a model's forward
// function (ir/step_function.h's convention) through prefill and decode: each
// Forward call appends tokens at the next cache positions. The executor must
// outlive the session.
//
// Without buckets the generic @forward runs on exactly the given tokens.
// With buckets (an engine's specialised functions) each step runs the
// smallest bucket that holds the remaining tokens and fits in the cache,
// right-padding the last chunk; longer inputs run in chunks. Padding is
// exact: a padded token sits after every real one, so causal attention
// never lets a real token see it, and its cache slot is overwritten by the
// next real token written there. Buckets must be compiled for batch 1
// (batch_session.h runs the others).
class ReferenceSession : public SequenceSession {
 public:
  // Allocates zeroed caches of `capacity` positions for batch 1.
  static absl::StatusOr<ReferenceSession> Create(const ReferenceExecutor& executor,
                                                 int64_t capacity,
                                                 std::vector<SessionBucket> buckets = {});

  // Runs `tokens` at positions position() .. position() + n - 1 and returns
  // their logits, [n, vocab]. Fails without changing the session when the
  // tokens do not fit in the cache or an id is outside the vocabulary.
  absl::StatusOr<HostTensor> Forward(std::span<const int32_t> tokens) override;

  // Forgets the positions from `position` on (0 <= position <= position()):
  // the next Forward runs there again. Exact without clearing anything,
  // since a step writes a slot before any query may read it.
  absl::Status Rewind(int64_t position) override;

  int64_t position() const override { return position_; }
  int64_t capacity() const { return capacity_; }

 private:
  ReferenceSession(const ReferenceExecutor& executor, int64_t capacity,
                   std::vector<HostTensor> caches, std::vector<SessionBucket> buckets)
      : executor_(&executor),
        capacity_(capacity),
        caches_(std::move(caches)),
        buckets_(std::move(buckets)) {}

  // Runs one step of `function` on `tokens` padded to `padded_length`.
  absl::StatusOr<HostTensor> Step(const std::string& function, std::span<const int32_t> tokens,
                                  int64_t padded_length);

  const ReferenceExecutor* executor_;
  int64_t capacity_;
  int64_t position_ = 0;
  std::vector<HostTensor> caches_;
  std::vector<SessionBucket> buckets_;  // sorted by seq
};

}  // namespace kiln

#endif  // KILN_RUNTIME_REFERENCE_SESSION_H_
