// What runs a launch plan: the CUDA executor (runtime/cuda/cuda_executor.h)
// on a GPU or on the CUDA emulator's device. An executor owns an arena laid
// out by the plan's StaticLayout and keeps the KV caches across runs, so a
// session drives any device the same way.
#ifndef KILN_RUNTIME_SESSION_PLAN_EXECUTOR_H_
#define KILN_RUNTIME_SESSION_PLAN_EXECUTOR_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/loop/loop_plan.h"
#include "codegen/sampling/sampling_params.h"
#include "runtime/session/session_util.h"

namespace kiln {

// The result of one step function run.
struct PlanOutput {
  std::vector<float> logits;         // [batch, seq, vocab], values of the model dtype
  std::vector<int32_t> next_tokens;  // argmax of each logits row (on-device greedy sampling)
};

// Run's `only_row` asking for the last token of each of the batch's
// sequences, rows seq - 1, 2 seq - 1, ...: what a left-padded batch step
// samples from (batch_session.h).
inline constexpr int64_t kLastOfEachSequence = -2;

// Runs the step functions of one engine. Not thread-safe.
class PlanExecutor {
 public:
  virtual ~PlanExecutor() = default;

  // Runs `function` with `input_ids` and `positions` ([batch, seq] each),
  // updating the caches. An error when a token id or position was out of
  // range (the kernels' fault flag); the caches are then unspecified.
  // Without `copy_logits` only the greedy tokens come back (a GPU then moves
  // 4 bytes a row instead of the vocabulary's logits). `only_row` >= 0 asks
  // for one row r = b * seq + s: the output then holds that row's logits
  // ([vocab], with copy_logits) and next token only, and an executor may
  // skip the other rows' LM head (the CPU executor does; a prefill needs
  // its last real token's); kLastOfEachSequence asks for the batch rows'
  // last tokens ([batch, vocab] logits, in batch order), with the same
  // freedom; -1 asks for every row. The caches are updated the same either
  // way.
  absl::StatusOr<PlanOutput> Run(const std::string& function, std::span<const int32_t> input_ids,
                                 std::span<const int32_t> positions, bool copy_logits,
                                 int64_t only_row = -1) {
    if (only_row < kLastOfEachSequence || only_row >= static_cast<int64_t>(input_ids.size())) {
      return absl::OutOfRangeError("@" + function + " has no row " + std::to_string(only_row));
    }
    return DoRun(function, input_ids, positions, copy_logits, only_row);
  }

  // Samples the next token from row `row` of the logits the last Run of
  // `function` left on the device (call it before running anything else),
  // with the on-device sampler (codegen/sampling: no repetition penalty;
  // params must pass ValidateSampleParams). DataLoss when the row holds a
  // NaN (SampleToken's error).
  virtual absl::StatusOr<int32_t> SampleRow(const std::string& function, int64_t row,
                                            const codegen::sampling::SampleParams& params) = 0;

  // Zeroes every KV cache.
  virtual absl::Status ResetCaches() = 0;

  // One sequence's generate loop as one plan (codegen/loop): the history's
  // tokens from `cached` on but the last are prefilled in `prefill`'s
  // buckets (as PlanSession chunks them), then the plan's rounds run until
  // a stop, streaming the tokens to `on_tokens` (may be empty). A sampled
  // plan draws with `sample` on an executor that samples on the host (the
  // CPU's), with the on-device sampler otherwise.
  // The cache then holds the history and the tokens but the last. The CPU
  // executor runs it on the host (session/host_loop.h), the CUDA executor
  // as one graph; Unimplemented elsewhere.
  virtual absl::StatusOr<codegen::loop::LoopResult> RunLoop(
      const codegen::loop::LoopPlan& plan, std::span<const SessionBucket> prefill,
      std::span<const int32_t> history, int64_t cached, const codegen::loop::LoopTokens& on_tokens,
      const codegen::loop::LoopSampler& sample) {
    (void)plan, (void)prefill, (void)history, (void)cached, (void)on_tokens, (void)sample;
    return absl::UnimplementedError("this executor runs the generate loop step by step only");
  }

 protected:
  // Run's work, with only_row in [kLastOfEachSequence, batch * seq).
  virtual absl::StatusOr<PlanOutput> DoRun(const std::string& function,
                                           std::span<const int32_t> input_ids,
                                           std::span<const int32_t> positions, bool copy_logits,
                                           int64_t only_row) = 0;
};

// The rows Run's `only_row` selects from a step of `rows` rows of `seq`
// tokens per sequence: all, one, or each sequence's last.
inline std::vector<int64_t> SelectedRows(int64_t only_row, int64_t rows, int64_t seq) {
  std::vector<int64_t> picked;
  if (only_row >= 0) {
    picked.push_back(only_row);
  } else {
    const int64_t stride = only_row == kLastOfEachSequence ? seq : 1;
    for (int64_t r = stride - 1; r < rows; r += stride) picked.push_back(r);
  }
  return picked;
}

// `out`, every row computed, cut down to the rows Run's `only_row` selects.
inline void KeepSelectedRows(PlanOutput& out, int64_t only_row, int64_t seq) {
  if (only_row == -1) return;
  const int64_t rows = static_cast<int64_t>(out.next_tokens.size());
  const size_t vocab = rows > 0 ? out.logits.size() / static_cast<size_t>(rows) : 0;
  PlanOutput kept;
  for (int64_t r : SelectedRows(only_row, rows, seq)) {
    kept.next_tokens.push_back(out.next_tokens[static_cast<size_t>(r)]);
    auto from = out.logits.begin() + static_cast<int64_t>(static_cast<size_t>(r) * vocab);
    if (!out.logits.empty()) kept.logits.insert(kept.logits.end(), from, from + vocab);
  }
  out = std::move(kept);
}

// SampleRow's preconditions: `row` is one of the plan's logits rows
// (OutOfRange otherwise) and `params` pass ValidateSampleParams.
inline absl::Status CheckSampleRow(const std::string& function, int64_t rows, int64_t row,
                                   const codegen::sampling::SampleParams& params) {
  if (row < 0 || row >= rows) {
    return absl::OutOfRangeError("@" + function + " has no logits row " + std::to_string(row));
  }
  return codegen::sampling::ValidateSampleParams(params);
}

}  // namespace kiln

#endif  // KILN_RUNTIME_SESSION_PLAN_EXECUTOR_H_
