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
#include "codegen/loop/loop_plan.h"

namespace kiln {

class SequenceSession {
 public:
  virtual ~SequenceSession() = default;

  // Runs `tokens` at positions position() .. position() + n - 1 and returns
  // their logits, [n, vocab]. Fails without running anything when they do
  // not fit or an id is outside the vocabulary.
  virtual absl::StatusOr<HostTensor> Forward(std::span<const int32_t> tokens) = 0;

  // Forward's work, returning only the last token's logits, [1, vocab]
  // (what a generate loop samples from). A backend may skip the other
  // tokens' LM head; by default this is Forward's last row.
  virtual absl::StatusOr<HostTensor> ForwardLast(std::span<const int32_t> tokens) {
    absl::StatusOr<HostTensor> all = Forward(tokens);
    if (!all.ok() || all->shape.size() != 2 || all->shape[0] <= 1) return all;
    const int64_t vocab = all->shape[1];
    all->floats.erase(all->floats.begin(), all->floats.end() - vocab);
    all->shape = {1, vocab};
    return all;
  }

  // A request's whole generate loop as one plan (codegen/loop): `history`
  // is every token of the sequence (the cache holds position() of them, at
  // most all but the last); afterwards the session holds the history and
  // the generated tokens but the last. A sampled plan draws on the host
  // with `sample` where the backend samples on the host (the CPU), on the
  // device otherwise. Unimplemented where the backend runs the loop step
  // by step only (the reference executor).
  virtual absl::StatusOr<codegen::loop::LoopResult> RunLoop(
      const codegen::loop::LoopPlan& plan, std::span<const int32_t> history,
      const codegen::loop::LoopTokens& on_tokens, const codegen::loop::LoopSampler& sample) {
    (void)plan, (void)history, (void)on_tokens, (void)sample;
    return absl::UnimplementedError(
        "this backend runs the generate loop step by step only (no loop plan)");
  }

  // Forgets the positions from `position` on (0 <= position <= position()).
  virtual absl::Status Rewind(int64_t position) = 0;

  virtual int64_t position() const = 0;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_SEQUENCE_SESSION_H_
