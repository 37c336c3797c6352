// A single-sequence generation session on the reference executor.
#ifndef KILN_RUNTIME_REFERENCE_SESSION_H_
#define KILN_RUNTIME_REFERENCE_SESSION_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/reference/executor.h"

namespace kiln {

// Owns the static KV caches of one sequence and steps a model's @forward
// function (models/model.h's convention) through prefill and decode: each
// Forward call appends tokens at the next cache positions. The executor must
// outlive the session.
class ReferenceSession {
 public:
  // Allocates zeroed caches of `capacity` positions for batch 1.
  static absl::StatusOr<ReferenceSession> Create(const ReferenceExecutor& executor,
                                                 int64_t capacity);

  // Runs `tokens` at positions position() .. position() + n - 1 and returns
  // their logits, [n, vocab]. Fails without changing the session when the
  // tokens do not fit in the cache or an id is outside the vocabulary.
  absl::StatusOr<HostTensor> Forward(std::span<const int32_t> tokens);

  int64_t position() const { return position_; }
  int64_t capacity() const { return capacity_; }

 private:
  ReferenceSession(const ReferenceExecutor& executor, int64_t capacity,
                   std::vector<HostTensor> caches)
      : executor_(&executor), capacity_(capacity), caches_(std::move(caches)) {}

  const ReferenceExecutor* executor_;
  int64_t capacity_;
  int64_t position_ = 0;
  std::vector<HostTensor> caches_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_REFERENCE_SESSION_H_
