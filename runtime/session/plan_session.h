// One sequence on a launch-plan backend (PlanExecutor: the CUDA executor on
// a GPU or on the emulated device), with ReferenceSession's contract (runtime/reference/session.h):
// each Forward appends tokens at the next cache positions, running the
// smallest batch-1 bucket that holds the rest (right-padded; exact) or the
// largest that fits, in chunks; Rewind forgets positions. The sequence
// lives in row 0 of the executor's caches.
#ifndef KILN_RUNTIME_SESSION_PLAN_SESSION_H_
#define KILN_RUNTIME_SESSION_PLAN_SESSION_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "runtime/session/plan_executor.h"
#include "runtime/session/batch_session.h"
#include "runtime/session/sequence_session.h"
#include "runtime/session/session_util.h"
#include "base/host_tensor.h"

namespace kiln {

class PlanSession : public SequenceSession {
 public:
  // `executor` and `module` (the engine's, holding every bucket) must
  // outlive the session. `buckets` must be batch-1 step functions. The
  // caches are zeroed.
  static absl::StatusOr<PlanSession> Create(PlanExecutor& executor, const Module& module,
                                            int64_t capacity, std::vector<SessionBucket> buckets);

  // Runs `tokens` and returns their logits, [n, vocab] (the model dtype's
  // values). Fails without running anything when they do not fit or an id
  // is outside the vocabulary; a failed step starts the session over.
  absl::StatusOr<HostTensor> Forward(std::span<const int32_t> tokens) override;
  // The last token's logits only; the executor runs each chunk's LM head
  // for its last real token alone (PlanExecutor::Run's only_row).
  absl::StatusOr<HostTensor> ForwardLast(std::span<const int32_t> tokens) override;

  // Runs `tokens` and returns only the greedy next token (the argmax of the
  // last token's logits, computed on the device): no logits are copied.
  absl::StatusOr<int32_t> ForwardGreedy(std::span<const int32_t> tokens);

  // Runs `tokens` and samples the next token from the last one's logits on
  // the device (PlanExecutor::SampleRow): no logits are copied.
  absl::StatusOr<int32_t> ForwardSampled(std::span<const int32_t> tokens,
                                         const codegen::sampling::SampleParams& params);

  absl::Status Rewind(int64_t position) override;
  // The executor's RunLoop over this session's buckets and cache.
  absl::StatusOr<codegen::loop::LoopResult> RunLoop(
      const codegen::loop::LoopPlan& plan, std::span<const int32_t> history,
      const codegen::loop::LoopTokens& on_tokens,
      const codegen::loop::LoopSampler& sample) override;

  int64_t position() const override { return position_; }
  int64_t capacity() const { return capacity_; }

 private:
  PlanSession(PlanExecutor& executor, const Module& module, int64_t capacity,
              std::vector<SessionBucket> buckets)
      : executor_(&executor), module_(&module), capacity_(capacity), buckets_(std::move(buckets)) {}

  // Runs every chunk; `on_chunk` receives each step's output and the number
  // of real tokens in it; `last_function` is the last chunk's bucket. With
  // `last_row_only` each output holds the chunk's last real token alone.
  absl::Status RunChunks(std::span<const int32_t> tokens, bool copy_logits, bool last_row_only,
                         const std::function<void(PlanOutput&, int64_t, int64_t)>& on_chunk,
                         std::string* last_function = nullptr);

  PlanExecutor* executor_;
  const Module* module_;
  int64_t capacity_;
  int64_t position_ = 0;
  std::vector<SessionBucket> buckets_;  // sorted by seq
};

// A batch of sequences on `executor` (runtime/session/batch_session.h's
// left padding, exact), in its caches' leading `batch` rows, which it
// zeroes. `buckets` must be step functions compiled for `batch`; `module`
// (holding them) and `executor` must outlive the session.
absl::StatusOr<BatchSession> CreatePlanBatchSession(PlanExecutor& executor, const Module& module,
                                                    int64_t batch, int64_t capacity,
                                                    std::vector<SessionBucket> buckets);

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_PLAN_SESSION_H_
