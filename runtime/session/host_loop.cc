#include "runtime/session/host_loop.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln {
namespace {

namespace loop = codegen::loop;

#include "codegen/loop/loop_control.h"

// PlanSession's chunks of history[cached, length - 1).
absl::Status Prefill(PlanExecutor& executor, std::span<const SessionBucket> prefill,
                     std::span<const int32_t> history, int64_t cached, int64_t capacity) {
  const int64_t count = static_cast<int64_t>(history.size()) - 1 - cached;
  KILN_ASSIGN_OR_RETURN(std::vector<Chunk> chunks, PlanChunks(prefill, cached, count, capacity));
  std::vector<int32_t> ids, positions;
  for (const Chunk& chunk : chunks) {
    ChunkInputs(chunk, history, 0, ids, positions);
    KILN_RETURN_IF_ERROR(
        executor.Run(chunk.bucket->function, ids, positions, false, chunk.take - 1).status());
  }
  return absl::OkStatus();
}

// A sampled round: each row's token drawn by `sample` with its counter, in
// order, up to the rows finish reads (the first draw that differs from the
// draft, or the first NaN row: SampleToken refuses any NaN).
absl::Status SampleRows(const loop::LoopPlan& plan, const loop::LoopSampler& sample,
                        const std::vector<int32_t>& state, const std::vector<int32_t>& config,
                        const std::vector<int32_t>& step_ids, size_t vocab, PlanOutput& run,
                        std::vector<int32_t>& row_nan) {
  codegen::sampling::SampleParams params = *plan.sample;
  const uint64_t first = kiln_loop_sample_counter(state.data(), config.data());
  const int drafted = state[kLoopDrafted];
  for (int r = 0; r <= drafted; ++r) {
    const std::span<const float> row(run.logits.data() + static_cast<size_t>(r) * vocab, vocab);
    row_nan[r] = std::any_of(row.begin(), row.end(), [](float v) { return std::isnan(v); });
    if (row_nan[r] != 0) break;
    params.counter = first + static_cast<uint64_t>(r);
    KILN_ASSIGN_OR_RETURN(run.next_tokens[r], sample(row, params));
    if (r < drafted && run.next_tokens[r] != step_ids[static_cast<size_t>(r) + 1]) break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<loop::LoopResult> RunHostLoop(PlanExecutor& executor, const loop::LoopPlan& plan,
                                             std::span<const SessionBucket> prefill,
                                             std::span<const int32_t> history, int64_t cached,
                                             const loop::LoopTokens& on_tokens,
                                             const loop::LoopSampler& sample) {
  KILN_ASSIGN_OR_RETURN(const std::vector<int32_t> config, loop::EncodeLoopConfig(plan));
  const int64_t length = static_cast<int64_t>(history.size());
  KILN_RETURN_IF_ERROR(loop::CheckLoopHistory(plan, length, cached));
  if (plan.sample.has_value() && !sample) {
    return absl::FailedPreconditionError(
        "a sampled loop plan on the host needs a host sampler (the caller's SampleToken)");
  }
  KILN_RETURN_IF_ERROR(Prefill(executor, prefill, history, cached, plan.capacity));
  std::vector<int32_t> state = loop::InitialLoopState(plan, length);
  std::vector<int32_t> tokens(history.begin(), history.end());
  tokens.resize(static_cast<size_t>(plan.capacity), 0);
  std::vector<int32_t> out(static_cast<size_t>(plan.capacity), 0);
  int32_t out_count = 0;
  const size_t widest = static_cast<size_t>(plan.buckets.back().tokens);
  std::vector<int32_t> step_ids(widest), positions(widest), row_nan(widest);
  for (;;) {
    const int branch = kiln_loop_prepare_round(state.data(), config.data(), tokens.data(),
                                               step_ids.data(), positions.data());
    const loop::LoopBucket& bucket = plan.buckets[static_cast<size_t>(branch)];
    const size_t width = static_cast<size_t>(bucket.tokens);
    // The logits too: a NaN in a row the acceptance reads fails the request
    // (the argmax names a row's first NaN, as the reference's does).
    KILN_ASSIGN_OR_RETURN(
        PlanOutput run,
        executor.Run(bucket.function, std::span<const int32_t>(step_ids.data(), width),
                     std::span<const int32_t>(positions.data(), width), true));
    const size_t vocab = run.logits.size() / width;
    if (plan.sample.has_value()) {
      KILN_RETURN_IF_ERROR(SampleRows(plan, sample, state, config, step_ids, vocab, run, row_nan));
    } else {
      for (size_t r = 0; r < width; ++r) {
        row_nan[r] = std::isnan(run.logits[r * vocab + static_cast<size_t>(run.next_tokens[r])]);
      }
    }
    const int going = kiln_loop_finish_round(state.data(), config.data(), tokens.data(),
                                             step_ids.data(), run.next_tokens.data(),
                                             row_nan.data(), 0, 0, out.data(), &out_count);
    if (!going) break;
    // The host reads its own tokens at once: a stop request ends the loop
    // here, not a round later as on a device.
    if (on_tokens &&
        on_tokens(std::span<const int32_t>(out.data(), static_cast<size_t>(out_count)))) {
      state[kLoopFinish] = kLoopHostStop;
      break;
    }
  }
  if (on_tokens && state[kLoopFinish] != kLoopHostStop) {
    on_tokens(std::span<const int32_t>(out.data(), static_cast<size_t>(out_count)));
  }
  loop::LoopResult result;
  result.tokens.assign(out.begin(), out.begin() + out_count);
  result.finish = state[kLoopFinish];
  result.drafted = state[kLoopDraftedTotal];
  result.accepted = state[kLoopAcceptedTotal];
  result.steps = state[kLoopSteps];
  return result;
}

}  // namespace kiln
