// The generate loop of one sequence described as data: which step buckets
// a round may run, how it drafts, when it stops. Both sides run this one
// description through loop_control.h: the host loop
// (runtime/session/host_loop.h) on any plan executor, and the CUDA
// executor as one captured graph with a WHILE node (RunLoop).
#ifndef KILN_CODEGEN_LOOP_LOOP_PLAN_H_
#define KILN_CODEGEN_LOOP_LOOP_PLAN_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/sampling/sampling_params.h"

namespace kiln::codegen::loop {

// A batch-1 step function and the tokens it takes.
struct LoopBucket {
  std::string function;
  int64_t tokens = 0;
};

// A request's loop. Contract: buckets ascending by tokens, the first of one
// token (a decode step); EncodeLoopConfig checks it.
struct LoopPlan {
  // The buckets a round may run, ascending by tokens: the session's
  // batch-1 buckets up to the first that takes draft_cap + 1 tokens.
  std::vector<LoopBucket> buckets;
  int64_t capacity = 0;  // the cache's positions
  int64_t max_new_tokens = 0;
  // Prompt lookup: the longest draft (0: plain decoding), the first
  // round's length, the n-gram size; the schedule is constant, or
  // Transformers' heuristic (+2 after a fully accepted round, -1 else).
  int draft_cap = 0;
  int first_draft_length = 0;
  int max_ngram = 2;
  bool heuristic = false;
  std::vector<int32_t> eos_ids;
  // Sampled decoding: each row of a round's step draws its token from its
  // logits with these parameters, the counter being the request's first
  // draw's (generated token i uses counter + i); the draft is kept while
  // the draws agree with it (runtime/generate/acceptance.h's rule for a
  // deterministic drafter), so the tokens are plain sampling's.
  std::optional<sampling::SampleParams> sample;
};

// What a run of the loop did: the generated tokens, why it ended
// (loop_control.h KilnLoopFinish), its counts, and the host's waits on the
// device during the run (0 on the host).
// A run's tokens end where it stopped: at a stop, or before the row whose
// NaN logits ended it (LoopEndedOnNaN).
struct LoopResult {
  std::vector<int32_t> tokens;
  int finish = 0;
  int64_t drafted = 0, accepted = 0, steps = 0;
  int64_t host_synchronizations = 0;
};

// Called with the tokens generated so far (all of them, each call); true
// asks the loop to stop after its current round (a stop string matched).
using LoopTokens = std::function<bool(std::span<const int32_t> tokens)>;

// Draws a sampled plan's token on the host from one logits row ([vocab],
// no NaN) with one draw's parameters (counter included): what the host
// loop samples with (the Generator passes SampleToken's rule). A device
// draws with the on-device sampler from the same parameters instead.
using LoopSampler = std::function<absl::StatusOr<int32_t>(std::span<const float> logits,
                                                          const sampling::SampleParams& params)>;

// The config words of loop_control.h; InvalidArgument naming the field
// when the plan does not fit them (no bucket, more than 16 buckets or EOS
// ids, buckets not ascending or not starting at one token, values out of
// int32, sampling parameters out of range).
absl::StatusOr<std::vector<int32_t>> EncodeLoopConfig(const LoopPlan& plan);

// InvalidArgument unless a run of `plan` can start from a history of
// `length` tokens of which `cached` are in the cache: 1 <= length <
// capacity, 0 <= cached < length.
absl::Status CheckLoopHistory(const LoopPlan& plan, int64_t length, int64_t cached);

// The state words at the start of a request whose history holds `length`
// tokens (the cache holding all but the last).
std::vector<int32_t> InitialLoopState(const LoopPlan& plan, int64_t length);

// "eos", "length", "cache full", "fault", "host stop", "NaN logits" or
// "running".
const char* LoopFinishName(int finish);
// Whether the loop ended on NaN logits: the request fails (DataLoss) unless
// the caller's stop strings ended it at one of its tokens.
bool LoopEndedOnNaN(const LoopResult& result);

}  // namespace kiln::codegen::loop

#endif  // KILN_CODEGEN_LOOP_LOOP_PLAN_H_
