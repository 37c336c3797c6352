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
#include "codegen/sampling/sampling_params.h"

namespace kiln {

// The result of one step function run.
struct PlanOutput {
  std::vector<float> logits;         // [batch, seq, vocab], values of the model dtype
  std::vector<int32_t> next_tokens;  // argmax of each logits row (on-device greedy sampling)
};

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
  // its last real token's); -1 asks for every row. The caches are updated
  // the same either way.
  absl::StatusOr<PlanOutput> Run(const std::string& function, std::span<const int32_t> input_ids,
                                 std::span<const int32_t> positions, bool copy_logits,
                                 int64_t only_row = -1) {
    if (only_row < -1 || only_row >= static_cast<int64_t>(input_ids.size())) {
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

 protected:
  // Run's work, with only_row in [-1, batch * seq).
  virtual absl::StatusOr<PlanOutput> DoRun(const std::string& function,
                                           std::span<const int32_t> input_ids,
                                           std::span<const int32_t> positions, bool copy_logits,
                                           int64_t only_row) = 0;
};

// `out` cut down to row `row` (Run's only_row contract) when row >= 0.
inline void KeepOnlyRow(PlanOutput& out, int64_t row) {
  if (row < 0) return;
  const size_t rows = out.next_tokens.size();
  if (!out.logits.empty() && rows > 0) {
    const size_t vocab = out.logits.size() / rows;
    out.logits.erase(out.logits.begin() + static_cast<int64_t>((row + 1) * vocab), out.logits.end());
    out.logits.erase(out.logits.begin(), out.logits.begin() + static_cast<int64_t>(row * vocab));
  }
  out.next_tokens = {out.next_tokens[static_cast<size_t>(row)]};
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
