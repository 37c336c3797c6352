// One sequence stepped through a model on some backend: what the generate
// loop needs from the reference executor's ReferenceSession and from the
// launch-plan backends' PlanSession (a GPU, or the emulated device), so Generator
// runs on either.
#ifndef KILN_RUNTIME_SESSION_SEQUENCE_SESSION_H_
#define KILN_RUNTIME_SESSION_SEQUENCE_SESSION_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "base/host_tensor.h"

namespace kiln {

class SequenceSession {
 public:
  virtual ~SequenceSession() = default;

  // Runs `tokens` at positions position() .. position() + n - 1 and returns
  // their logits, [n, vocab]. Fails without running anything when they do
  // not fit or an id is outside the vocabulary.
  virtual absl::StatusOr<HostTensor> Forward(std::span<const int32_t> tokens) = 0;

  // Forgets the positions from `position` on (0 <= position <= position()).
  virtual absl::Status Rewind(int64_t position) = 0;

  virtual int64_t position() const = 0;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_SEQUENCE_SESSION_H_
