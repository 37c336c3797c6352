// The generate loop as one plan (codegen/loop/loop_plan.h), run on the host
// over any plan executor: what the CPU executor's RunLoop is. The CUDA
// executor runs the same plan as one graph (CudaExecutor::RunLoop); both
// follow codegen/loop/loop_control.h, so both give the tokens of the
// step-by-step generator (Generator, speculative.h) for the same request.
#ifndef KILN_RUNTIME_SESSION_HOST_LOOP_H_
#define KILN_RUNTIME_SESSION_HOST_LOOP_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "codegen/loop/loop_plan.h"
#include "runtime/session/plan_executor.h"
#include "runtime/session/session_util.h"

namespace kiln {

// Runs `plan` on the host over `executor`: the history's tokens from
// `cached` on but the last are prefilled in `prefill`'s buckets (as
// PlanSession chunks them), then each round prepares on the host, runs its
// bucket (argmax and logits of every row), draws a sampled plan's token
// with `sample` (needed then; unused by greedy plans) and finishes on the
// host. `on_tokens` sees the tokens after each round; its stop request
// ends the loop at once. The executor's cache then holds the history and
// the tokens but the last.
absl::StatusOr<codegen::loop::LoopResult> RunHostLoop(
    PlanExecutor& executor, const codegen::loop::LoopPlan& plan,
    std::span<const SessionBucket> prefill, std::span<const int32_t> history, int64_t cached,
    const codegen::loop::LoopTokens& on_tokens, const codegen::loop::LoopSampler& sample);

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_HOST_LOOP_H_
