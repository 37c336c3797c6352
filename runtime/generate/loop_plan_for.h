// The loop plan (codegen/loop/loop_plan.h) a request asks for: what a
// session's RunLoop runs when GenerationConfig::loop_plan is set.
#ifndef KILN_RUNTIME_GENERATE_LOOP_PLAN_FOR_H_
#define KILN_RUNTIME_GENERATE_LOOP_PLAN_FOR_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "codegen/loop/loop_plan.h"
#include "runtime/generate/generation_config.h"
#include "runtime/session/session_util.h"

namespace kiln {

// The loop plan of a request on a sequence session's `buckets` (batch 1):
// plain decoding or prompt lookup with its constant or heuristic schedule
// ("adaptive" runs heuristic: it needs the host's clock, and the tokens do
// not depend on the schedule), greedy or sampled (generated token i drawn
// with counter i, as the step-by-step generator draws it). Unimplemented,
// saying what to drop, for what the loop does not run: a repetition
// penalty, an assistant engine, more than 16 EOS ids; InvalidArgument for
// a draft longer than `verify_tokens` or sampling parameters the on-device
// sampler refuses.
absl::StatusOr<codegen::loop::LoopPlan> LoopPlanFor(const GenerationConfig& config,
                                                    std::span<const SessionBucket> buckets,
                                                    int64_t capacity, int64_t verify_tokens);

// The host sampler a loop plan of `config` draws with on the CPU: the
// step-by-step generator's rule (SampleToken, the draw's counter as its
// step; no penalty, so no history).
codegen::loop::LoopSampler LoopSamplerFor(const GenerationConfig& config);

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_LOOP_PLAN_FOR_H_
