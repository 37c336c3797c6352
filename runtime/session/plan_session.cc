#include "runtime/session/plan_session.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<PlanSession> PlanSession::Create(PlanExecutor& executor, const Module& module,
                                                int64_t capacity,
                                                std::vector<SessionBucket> buckets) {
  if (capacity <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache capacity must be positive, got ", capacity));
  }
  if (buckets.empty()) return absl::InvalidArgumentError("a plan session needs compiled buckets");
  KILN_RETURN_IF_ERROR(PrepareBuckets(module, 1, buckets).status());
  KILN_RETURN_IF_ERROR(executor.ResetCaches());
  return PlanSession(executor, module, capacity, std::move(buckets));
}

absl::Status PlanSession::RunChunks(
    std::span<const int32_t> tokens, bool copy_logits, bool last_row_only,
    const std::function<void(PlanOutput&, int64_t, int64_t)>& on_chunk,
    std::string* last_function) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  if (position_ + n > capacity_) {
    return absl::OutOfRangeError(absl::StrCat(n, " tokens at position ", position_,
                                              " do not fit in a cache of ", capacity_));
  }
  KILN_RETURN_IF_ERROR(
      CheckTokenIds(*module_->FindFunction(buckets_.front().function), tokens, ""));
  KILN_ASSIGN_OR_RETURN(std::vector<Chunk> chunks, PlanChunks(buckets_, position_, n, capacity_));
  std::vector<int32_t> ids, positions;
  const int64_t first = position_;
  for (const Chunk& chunk : chunks) {
    ChunkInputs(chunk, tokens, first, ids, positions);
    const int64_t take = chunk.take, seq = chunk.bucket->seq;
    absl::StatusOr<PlanOutput> out = executor_->Run(chunk.bucket->function, ids, positions,
                                                    copy_logits, last_row_only ? take - 1 : -1);
    if (!out.ok()) {
      position_ = 0;  // the caches are unspecified: start over, empty
      return out.status();
    }
    on_chunk(*out, take, seq);
    if (last_function != nullptr) *last_function = chunk.bucket->function;
    position_ += take;
  }
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> PlanSession::Forward(std::span<const int32_t> tokens) {
  HostTensor logits;
  logits.shape = {0, 0};
  KILN_RETURN_IF_ERROR(RunChunks(tokens, true, false, [&](PlanOutput& out, int64_t take, int64_t seq) {
    const int64_t vocab = static_cast<int64_t>(out.logits.size()) / seq;
    logits.dtype = DType::kF32;
    logits.floats.insert(logits.floats.end(), out.logits.begin(),
                         out.logits.begin() + take * vocab);
    logits.shape = {logits.shape[0] + take, vocab};
  }));
  return logits;
}

absl::StatusOr<HostTensor> PlanSession::ForwardLast(std::span<const int32_t> tokens) {
  HostTensor logits;
  KILN_RETURN_IF_ERROR(RunChunks(tokens, true, true, [&](PlanOutput& out, int64_t, int64_t) {
    logits.dtype = DType::kF32;
    logits.shape = {1, static_cast<int64_t>(out.logits.size())};
    logits.floats = std::move(out.logits);
  }));
  return logits;
}

absl::StatusOr<int32_t> PlanSession::ForwardGreedy(std::span<const int32_t> tokens) {
  int32_t next = -1;
  KILN_RETURN_IF_ERROR(RunChunks(tokens, false, true, [&](PlanOutput& out, int64_t, int64_t) {
    next = out.next_tokens[0];
  }));
  return next;
}

absl::StatusOr<int32_t> PlanSession::ForwardSampled(std::span<const int32_t> tokens,
                                                    const codegen::sampling::SampleParams& params) {
  KILN_RETURN_IF_ERROR(codegen::sampling::ValidateSampleParams(params));
  std::string function;
  int64_t last_row = 0;
  KILN_RETURN_IF_ERROR(RunChunks(
      tokens, false, false, [&](PlanOutput&, int64_t take, int64_t) { last_row = take - 1; },
      &function));
  return executor_->SampleRow(function, last_row, params);
}

absl::StatusOr<codegen::loop::LoopResult> PlanSession::RunLoop(
    const codegen::loop::LoopPlan& plan, std::span<const int32_t> history,
    const codegen::loop::LoopTokens& on_tokens, const codegen::loop::LoopSampler& sample) {
  // What can be refused is refused here, before the cache is touched.
  if (plan.capacity != capacity_) {
    return absl::InvalidArgumentError(absl::StrCat("the loop plan's cache of ", plan.capacity,
                                                   " is not the session's ", capacity_));
  }
  KILN_RETURN_IF_ERROR(
      codegen::loop::CheckLoopHistory(plan, static_cast<int64_t>(history.size()), position_));
  KILN_RETURN_IF_ERROR(codegen::loop::EncodeLoopConfig(plan).status());
  KILN_RETURN_IF_ERROR(CheckTokenIds(*module_->FindFunction(buckets_.front().function),
                                     history.subspan(static_cast<size_t>(position_)), ""));
  absl::StatusOr<codegen::loop::LoopResult> result =
      executor_->RunLoop(plan, buckets_, history, position_, on_tokens, sample);
  if (!result.ok()) {
    // The executor's refusals (no loop, no loop kernels) come before the
    // cache is touched; any other failure leaves it unspecified: start over.
    const absl::StatusCode code = result.status().code();
    if (code != absl::StatusCode::kUnimplemented && code != absl::StatusCode::kFailedPrecondition) {
      position_ = 0;
    }
    return result.status();
  }
  position_ = static_cast<int64_t>(history.size() + result->tokens.size()) - 1;
  return result;
}

absl::Status PlanSession::Rewind(int64_t position) {
  if (position < 0 || position > position_) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot rewind a session at position ", position_, " to ", position));
  }
  position_ = position;
  return absl::OkStatus();
}

absl::StatusOr<BatchSession> CreatePlanBatchSession(PlanExecutor& executor, const Module& module,
                                                    int64_t batch, int64_t capacity,
                                                    std::vector<SessionBucket> buckets) {
  KILN_RETURN_IF_ERROR(executor.ResetCaches());
  BatchSession::StepRunner run =
      [&executor, &module](const std::string& function, HostTensor ids, HostTensor positions,
                           bool last_only) -> absl::StatusOr<HostTensor> {
    std::vector<int32_t> ids32(ids.ints.begin(), ids.ints.end());
    std::vector<int32_t> positions32(positions.ints.begin(), positions.ints.end());
    KILN_ASSIGN_OR_RETURN(PlanOutput out, executor.Run(function, ids32, positions32, true,
                                                       last_only ? kLastOfEachSequence : -1));
    const Function& f = *module.FindFunction(function);
    HostTensor logits;
    logits.dtype = f.node(f.results[0]).type.dtype;  // the values are that dtype's
    const int64_t columns = last_only ? 1 : ids.shape[1];
    const int64_t rows = ids.shape[0] * columns;
    logits.shape = {ids.shape[0], columns, static_cast<int64_t>(out.logits.size()) / rows};
    logits.floats = std::move(out.logits);
    return logits;
  };
  return BatchSession::CreateWithRunner(module, std::move(run), batch, capacity,
                                        std::move(buckets));
}

}  // namespace kiln
