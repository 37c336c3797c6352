#include "runtime/generate/loop_plan_for.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/sampler.h"

namespace kiln {
namespace {

namespace loop = codegen::loop;

#include "codegen/loop/loop_control.h"

}  // namespace

absl::StatusOr<loop::LoopPlan> LoopPlanFor(const GenerationConfig& config,
                                           std::span<const SessionBucket> buckets, int64_t capacity,
                                           int64_t verify_tokens) {
  if (config.repetition_penalty != 1.0) {
    return absl::UnimplementedError(
        "the loop plan runs requests without a repetition penalty (its sampler never sees the "
        "history): run this one step by step");
  }
  if (config.assistant_engine != nullptr) {
    return absl::UnimplementedError(
        "the loop plan drafts by prompt lookup only; an assistant engine runs step by step");
  }
  if (config.prompt_lookup_num_tokens > verify_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt_lookup_num_tokens ", config.prompt_lookup_num_tokens,
                     " is longer than the engine's verify step of ", verify_tokens,
                     " drafted tokens: lower it, or recompile with compile-model --verify-tokens"));
  }
  if (config.prompt_lookup_num_tokens > kLoopMaxDraft) {
    return absl::UnimplementedError(absl::StrCat("the loop plan drafts at most ", kLoopMaxDraft,
                                                 " tokens a round, not ",
                                                 config.prompt_lookup_num_tokens));
  }
  if (config.eos_token_ids.size() > static_cast<size_t>(kLoopMaxEos)) {
    return absl::UnimplementedError(absl::StrCat("the loop plan stops on at most ", kLoopMaxEos,
                                                 " EOS ids, not ", config.eos_token_ids.size()));
  }
  loop::LoopPlan plan;
  plan.capacity = capacity;
  plan.max_new_tokens = config.max_new_tokens;
  plan.draft_cap = std::max(0, config.prompt_lookup_num_tokens);
  plan.first_draft_length = plan.draft_cap;
  plan.max_ngram = config.max_matching_ngram_size;
  plan.heuristic = config.num_assistant_tokens_schedule != "constant";
  plan.eos_ids = config.eos_token_ids;
  if (config.do_sample) plan.sample = DeviceSampleParams(config, 0);  // draw i: counter i
  std::vector<SessionBucket> ascending(buckets.begin(), buckets.end());
  std::sort(ascending.begin(), ascending.end(),
            [](const SessionBucket& a, const SessionBucket& b) { return a.seq < b.seq; });
  for (const SessionBucket& b : ascending) {
    if (plan.buckets.size() == static_cast<size_t>(kLoopMaxBranches)) break;
    plan.buckets.push_back({b.function, b.seq});
    if (b.seq >= plan.draft_cap + 1) break;
  }
  KILN_RETURN_IF_ERROR(loop::EncodeLoopConfig(plan).status());
  return plan;
}

loop::LoopSampler LoopSamplerFor(const GenerationConfig& config) {
  return [config](std::span<const float> logits, const codegen::sampling::SampleParams& params) {
    return SampleToken(logits, config, {}, params.counter);
  };
}

}  // namespace kiln
